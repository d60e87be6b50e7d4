"""The embedded default real data: a seeded 2-D mixture with three common modes and three rare ones.

The rare modes play the seed's "rare events": together they hold a few percent of the mass, far
from the bulk, so they are the first thing a recursively trained model forgets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ("x0", "x1")
COMMON_MODES: tuple[tuple[tuple[float, float], float], ...] = (
    ((0.0, 0.0), 0.6),
    ((4.0, 0.0), 0.6),
    ((2.0, 3.5), 0.6),
)
RARE_MODES: tuple[tuple[tuple[float, float], float], ...] = (
    ((-4.0, 5.0), 0.3),
    ((8.0, 5.0), 0.3),
    ((2.0, -5.0), 0.3),
)


def mode_weights(rare_weight: float) -> np.ndarray:
    """Each rare mode gets ``rare_weight``; the common modes share the rest equally."""
    common = (1.0 - rare_weight * len(RARE_MODES)) / len(COMMON_MODES)
    return np.array([common] * len(COMMON_MODES) + [rare_weight] * len(RARE_MODES))


def sample_default(n: int, rare_weight: float, rng: np.random.Generator) -> pd.DataFrame:
    modes = COMMON_MODES + RARE_MODES
    which = rng.choice(len(modes), size=n, p=mode_weights(rare_weight))
    centres = np.array([m[0] for m in modes])[which]
    scales = np.array([m[1] for m in modes])[which, None]
    points = centres + scales * rng.standard_normal((n, 2))
    return pd.DataFrame(points, columns=list(FEATURES))
