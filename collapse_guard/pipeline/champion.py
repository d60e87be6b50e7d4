"""Moving the alias ``champion`` by hand (``collapse-guard promote`` / ``rollback``), recorded in the ledger.

The ledger's promotion entries are the history of which version was champion when; rollback walks it back
to the champion before the current one.
"""

from __future__ import annotations

from collapse_guard.config import Params
from collapse_guard.errors import DataError
from collapse_guard.records import ledger, registry

PROMOTION_KINDS = ("model_promoted", "champion_moved")


def promote(params: Params, generation: int, reason: str = "promoted by hand") -> dict:
    """Make ``generation``'s registered model the champion."""
    uri, name = params.tracking_uri, params.promotion.model_name
    target = registry.version_of(uri, name, generation)
    if target is None:
        raise DataError(
            f"generation {generation} has no version in the MLflow registered model {name!r} (was it recorded with "
            "promotion.enabled?)",
            path=str(params.ledger_path),
        )
    return _move(params, target, reason, "promote")


def rollback(params: Params, reason: str = "rolled back by hand") -> dict:
    """Give the alias back to the champion before the current one."""
    uri, name = params.tracking_uri, params.promotion.model_name
    current = registry.champion(uri, name)
    history = [e["body"] for e in ledger.read(params.ledger_path) if e["kind"] in PROMOTION_KINDS]
    earlier = [b for b in history if current is None or str(b["version"]) != current.version]
    if not earlier:
        raise DataError(
            f"no earlier champion of {name!r} to roll back to (the ledger records none)", path=str(params.ledger_path)
        )
    previous = earlier[-1]
    target = registry.Version(str(previous["version"]), "", previous["generation"])
    return _move(params, target, reason, "rollback")


def _move(params: Params, target: registry.Version, reason: str, by: str) -> dict:
    from collapse_guard.pipeline import keys

    keys.check(params)  # before the alias moves: the move is recorded in the ledger, signed
    uri, name = params.tracking_uri, params.promotion.model_name
    before = registry.champion(uri, name)
    registry.mark(uri, name, target.version, registry.CHAMPION, f"{by}: {reason}")
    body = {
        "generation": target.generation,
        "registered_model": name,
        "version": target.version,
        "champion_before": before.version if before else None,
        "by": by,
        "reason": reason,
    }
    ledger.append(params.ledger_path, "champion_moved", body)
    return body
