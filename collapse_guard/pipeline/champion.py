"""Moving the alias ``champion`` by hand (``collapse-guard promote`` / ``rollback``), recorded in the ledger.

The ledger's promotion entries are the history of which version was champion when. That history is a stack, as a
browser's is: a promotion (by the check or by hand) pushes the new champion; each rollback pops one, so rolling
back twice goes two champions back (``rollback --to N`` pops until generation N is champion). A promotion after a
rollback starts a new line from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collapse_guard.config import Params
from collapse_guard.errors import ConfigError, DataError
from collapse_guard.records import ledger, registry

CHAMPION_MOVES = ("model_promoted", "champion_moved")


@dataclass(frozen=True)
class Reign:
    """One champion of the history: its registered version, generation and since when (the ledger entry)."""

    version: str
    generation: int | None
    since: str
    seq: int


def history(entries: list[dict[str, Any]]) -> list[Reign]:
    """The champions the alias went through and still leads back to, oldest first; the last is the champion."""
    stack: list[Reign] = []
    for entry in entries:
        body = entry["body"]
        if entry["kind"] == "model_promoted" and body.get("role") == registry.CHAMPION:
            stack.append(Reign(str(body["version"]), body.get("generation"), entry["at"], entry["seq"]))
        elif entry["kind"] == "champion_moved" and body.get("by") == "rollback":
            while stack and stack[-1].version != str(body["version"]):
                stack.pop()
            if not stack:  # a rollback to a version this history does not hold (an older ledger): start from it
                stack.append(Reign(str(body["version"]), body.get("generation"), entry["at"], entry["seq"]))
        elif entry["kind"] == "champion_moved":
            stack.append(Reign(str(body["version"]), body.get("generation"), entry["at"], entry["seq"]))
    return stack


def promote(params: Params, generation: int, reason: str = "promoted by hand") -> dict:
    """Make ``generation``'s registered model the champion."""
    uri, name = params.tracking_uri, params.promotion.model_name
    target = registry.version_of(uri, name, generation)
    if target is None:
        raise DataError(
            f"generation {generation} has no version in the MLflow registered model {name!r}: it was never recorded "
            "(blocked by the gate, or run with promotion.enabled: false). `collapse-guard audit show` lists the "
            "recorded generations",
            path=str(params.ledger_path),
        )
    current = registry.champion(uri, name)
    if current is not None and current.version == target.version:
        raise ConfigError(f"generation {generation} (version {target.version} of {name!r}) is already the champion")
    return _move(params, target, reason, "promote")


def rollback(params: Params, reason: str = "rolled back by hand", to: int | None = None) -> dict:
    """Give the alias back to the champion before the current one, or (``to``) to the earlier champion that was
    generation ``to``."""
    name = params.promotion.model_name
    reigns = history(ledger.read(params.ledger_path))
    if len(reigns) < 2:
        raise ConfigError(
            f"no earlier champion of {name!r} to roll back to: the ledger records "
            f"{'one champion' if reigns else 'none'} (promote a generation with `collapse-guard promote -g N`)"
        )
    if to is None:
        target = reigns[-2]
    else:
        earlier = [r for r in reigns[:-1] if r.generation == to]
        if not earlier:
            held = ", ".join(str(r.generation) for r in reigns[:-1])
            if reigns[-1].generation == to:
                raise ConfigError(f"generation {to} is the champion already")
            raise ConfigError(
                f"generation {to} is not an earlier champion of {name!r} (earlier champions, oldest first: {held}); "
                f"to serve it, promote it: `collapse-guard promote -g {to}`"
            )
        target = earlier[-1]
    return _move(params, registry.Version(target.version, "", target.generation), reason, "rollback")


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
        "generation_before": before.generation if before else None,
        "by": by,
        "reason": reason,
    }
    ledger.append(params.ledger_path, "champion_moved", body)
    return body
