"""The champion history the ledger records is a stack: promotions push, each rollback pops one."""

from __future__ import annotations

from collapse_guard.pipeline.champion import history


def entry(seq: int, kind: str, version: int, generation: int, **body: object) -> dict:
    return {
        "seq": seq,
        "kind": kind,
        "at": f"t{seq}",
        "body": {"version": str(version), "generation": generation, **body},
    }


def checked(seq: int, version: int, promoted: bool = True) -> dict:
    kind = "model_promoted" if promoted else "promotion_refused"
    return entry(seq, kind, version, version - 1, role="champion" if promoted else "candidate")


def moved(seq: int, version: int, by: str) -> dict:
    return entry(seq, "champion_moved", version, version - 1, by=by)


def test_promotions_push_refusals_do_not_and_each_rollback_goes_one_further_back():
    entries = [checked(1, 1), checked(2, 2), checked(3, 3, promoted=False), moved(4, 3, "promote")]
    assert [r.version for r in history(entries)] == ["1", "2", "3"]
    entries.append(moved(5, 2, "rollback"))
    assert [r.version for r in history(entries)] == ["1", "2"]
    entries.append(moved(6, 1, "rollback"))
    assert [r.version for r in history(entries)] == ["1"]
    assert history(entries)[-1].since == "t1"  # champion since its own promotion, not since the rollback


def test_a_promotion_after_a_rollback_starts_a_new_line_from_there():
    entries = [checked(1, 1), checked(2, 2), moved(3, 1, "rollback"), checked(4, 3)]
    assert [r.version for r in history(entries)] == ["1", "3"]


def test_a_rollback_to_several_steps_back_pops_to_it():
    entries = [checked(1, 1), checked(2, 2), checked(3, 3), checked(4, 4), moved(5, 2, "rollback")]
    assert [(r.version, r.generation) for r in history(entries)] == [("1", 0), ("2", 1)]


def test_a_rollback_the_history_does_not_explain_starts_from_its_target():
    assert [r.version for r in history([moved(1, 5, "rollback")])] == ["5"]
    assert history([]) == []
