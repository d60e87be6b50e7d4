"""Every step of a guarded generation is a Prefect task that logs when it starts and when it ends, with its
duration and its key figure (collapse_guard/step_log.py): one decorator, so no step can forget."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.step_log import logged_step

F = TypeVar("F", bound=Callable[..., Any])


def pipeline_step(name: str, says: Callable[[Any], str] | None = None, **task_options: Any) -> Callable[[F], Any]:
    """``@task(name=name)`` whose run is logged; ``says(result)`` is the key figure of its end line. The
    generation is the ``generation`` of the first argument that has one (a GenerationContext, an outcome)."""

    def decorate(function: F) -> Any:
        @functools.wraps(function)
        def logged(*args: Any, **kwargs: Any) -> Any:
            with logged_step(name, _generation_of(args, kwargs)) as step:
                result = function(*args, **kwargs)
                if says is not None:
                    step.says(says(result))
                return result

        return task(name=name, cache_policy=NO_CACHE, **task_options)(logged)

    return decorate


def _generation_of(args: tuple, kwargs: dict) -> int | None:
    if isinstance(kwargs.get("generation"), int):
        return kwargs["generation"]
    for value in (*args, *kwargs.values()):
        generation = getattr(value, "generation", None)
        if isinstance(generation, int):
            return generation
    return None
