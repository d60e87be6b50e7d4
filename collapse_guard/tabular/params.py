"""The ``tabular:`` section of params.yaml: what only tables need, and ``ParamsWithTabular``, the params of a
tabular workspace (collapse_guard.modality.registry loads a file as it when ``data.modality`` is tabular)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from collapse_guard.config import Params


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedTableParams(_Section):
    """The embedded default table: a seeded 2-D mixture with rare modes."""

    rows: int = Field(4000, ge=50, le=10_000_000)
    rare_weight: float = Field(0.025, gt=0, lt=0.2)


class TabularParams(_Section):
    embedded: EmbeddedTableParams = EmbeddedTableParams()
    near_copy_radius: float = Field(0.01, ge=0, le=10)  # in anchor standard deviations; 0 = exact copies only


class ParamsWithTabular(Params):
    """params.yaml of a tabular workspace: the shared sections (collapse_guard.config.Params) and ``tabular:``."""

    tabular: TabularParams = TabularParams()
