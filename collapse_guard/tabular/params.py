"""The ``tabular:`` section of params.yaml: what only tables need (plain pydantic, read by collapse_guard.config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedTableParams(_Section):
    """The embedded default table: a seeded 2-D mixture with rare modes."""

    rows: int = Field(4000, ge=50, le=10_000_000)
    rare_weight: float = Field(0.025, gt=0, lt=0.2)


class TabularParams(_Section):
    embedded: EmbeddedTableParams = EmbeddedTableParams()
    near_copy_radius: float = Field(0.01, ge=0, le=10)  # in anchor standard deviations; 0 = exact copies only
