"""How a command's process uses Python's cyclic garbage collector: seldom while it works, not at all at exit.

A command that runs a flow imports Prefect, torch, MLflow, Great Expectations and Evidently: over a million
objects tracked by the collector, nearly all of which live as long as the process. CPython walks every tracked
object in each full collection, and starts one whenever the tracked objects have grown by a quarter since the
last: while the libraries load, that is a dozen walks of an ever larger heap (about 2 CPU s of a guarded
generation's process). And on the way out, after the last line, the interpreter runs the libraries' exit
handlers and clears every module, walking the whole heap again each time a collection comes due: with no Python
frame left on the stack, that was most of the 5-50 s between a command's last line and its exit on a loaded
2-core machine.

Both are set by the console script only (not when the CLI runs inside another process, e.g. a test).
"""

from __future__ import annotations

import gc

# Full collections wait for this many collections of the middle generation (CPython's default: 10). Garbage in
# reference cycles among long-lived objects is still freed, a few hundred thousand allocations later.
FULL_COLLECTION_EVERY = 100


def collect_old_objects_less_often() -> None:
    """Make full collections ten times rarer than CPython's default (the young generations are unchanged)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def settle_heap_for_exit() -> None:
    """Once the command has returned or failed, move every surviving object out of the collector's reach
    (``gc.freeze``), after one collection of the young generations: that one is cheap and still finalises
    recent garbage (an unclosed file in a reference cycle is flushed and closed). A process about to end has no
    use for what the full walks could free. Nothing else changes: the exit handlers run (Prefect drains its logs
    and events, the temporary Prefect server is stopped), files are flushed and closed, the exit code stays."""
    gc.collect(1)
    gc.freeze()
