"""The tests' oracle loop: recursive training with no product machinery at all.

The generators and closed forms live in collapse_guard.theory (a user reproduces them with
``collapse-guard experiment --theory``); ``run_chain`` is what the tests hold the product's chain against:
a loop that fits, samples and refits, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator


def run_chain(
    generator_factory: Callable[[], Generator],
    real_data: pd.DataFrame,
    generations: int,
    policy: Literal["replace", "accumulate"],
    samples_per_generation: int,
    seed: int,
    decoding: DecodingParams | None = None,
) -> list[Generator]:
    """Recursive training without orchestration: the fitted model of every generation, index = generation.

    Generation 0 is fitted on ``real_data``. Generation g ≥ 1 is fitted on ``samples_per_generation``
    fresh samples of generation g−1 (``replace``) or on the real data plus every synthetic batch drawn so
    far (``accumulate``). Fit and sample seeds are drawn from ``np.random.SeedSequence(seed)``, so one
    ``seed`` fixes the whole chain.
    """
    if policy not in ("replace", "accumulate"):
        raise ValueError("policy must be 'replace' or 'accumulate'")
    decoding = decoding or DecodingParams()
    seeds = np.random.SeedSequence(seed).generate_state(2 * generations + 1)
    model = generator_factory()
    model.fit(real_data, int(seeds[0]))
    models, batches = [model], [real_data]
    for generation in range(1, generations + 1):
        synthetic = models[-1].sample(samples_per_generation, decoding, int(seeds[2 * generation - 1]))
        batches = [*batches, synthetic] if policy == "accumulate" else [synthetic]
        model = generator_factory()
        model.fit(pd.concat(batches, ignore_index=True), int(seeds[2 * generation]))
        models.append(model)
    return models
