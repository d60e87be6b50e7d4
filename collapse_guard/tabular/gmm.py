"""The default generator: a Gaussian mixture with diagonal covariances, fitted in torch by Adam.

It fits the embedded default data in well under a second on a CPU, and its failure mode under
recursive training is the textbook one: small mixture components (the rare modes) lose their weight
first, then the variances shrink (Shumailov et al. 2024, section 3).

Categorical columns (anything non-numeric) get a categorical distribution per component, so a rare
level that lives in a rare mode is modelled with it: p(x) = Σₖ wₖ · N(x_num | μₖ, σₖ²) · Πc πₖ,c(x_c).

Integer and boolean columns with few values (a 1-5 rating, a yes/no answer) are modelled as levels too and
come back as numbers of their type; wider integer columns are rounded and clipped to their observed range, and
a share (a column within [0, 1]) or a non-negative column is clipped to that bound
(collapse_guard.tabular.column_kinds), so samples keep the real data's types and ranges.

Decoding controls: ``temperature`` T sharpens the component weights and every categorical
distribution (logits / T) and scales every variance by T (so T < 1 is the sampling bias λ of the
theory); ``top_p`` keeps the smallest set of components holding at least that much weight (nucleus
sampling over components).

Training cost: ``epochs`` Adam steps, each on at most ``batch_rows`` rows. Data that fits in one batch (the
embedded default, and every experiment chain at its default sizes) is fitted full-batch, exactly as before the
option existed; a larger table is fitted on mini-batches drawn with the seed, so a 1M-row mixture costs
``epochs × batch_rows`` row evaluations plus a few linear passes (standardising, k-means++), not ``epochs``
passes over every row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field

from collapse_guard.config import DecodingParams
from collapse_guard.generator import Generator, read_model_file, write_model_file
from collapse_guard.records.runtime import deterministic_torch
from collapse_guard.tabular.column_kinds import column_kinds, restore_kinds

SAVE_FORMAT = "collapse-guard-gmm/1"


class GaussianMixtureGenerator(Generator):
    # The ranges params.yaml is checked against (collapse_guard.config.check_model_options).
    def __init__(
        self,
        components: Annotated[int, Field(ge=1, le=256)] = 8,
        epochs: Annotated[int, Field(ge=1, le=100_000)] = 250,
        learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.05,
        threads: Annotated[int, Field(ge=0, le=256)] = 1,  # 1 = the same fit every time (records/runtime.py)
        batch_rows: Annotated[int, Field(ge=64, le=100_000_000)] = 16_384,  # rows per Adam step (larger: full batch)
    ) -> None:
        self.components = components
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.threads = threads
        self.batch_rows = batch_rows
        self.columns: list[str] = []
        self.state: dict[str, np.ndarray] = {}

    @property
    def options(self) -> dict:
        return {
            "components": self.components,
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "threads": self.threads,
            "batch_rows": self.batch_rows,
        }

    # Parameters live in standardised units; `state` holds plain arrays so save/load need no torch module.
    def fit(self, features: pd.DataFrame, seed: int) -> None:
        with deterministic_torch(self.threads):
            self._fit(features, seed)

    def _fit(self, features: pd.DataFrame, seed: int) -> None:
        import torch

        self.columns = list(features.columns)
        kinds = column_kinds(features)
        discrete = [c for c, kind in kinds.items() if kind["discrete"]]
        numeric = [c for c in self.columns if pd.api.types.is_numeric_dtype(features[c]) and c not in discrete]
        categorical = [c for c in self.columns if c not in numeric]
        raw = features[numeric].to_numpy(dtype=np.float64)
        centre, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-9
        x = torch.as_tensor((raw - centre) / scale, dtype=torch.float32)
        levels = {c: sorted(features[c].astype(str).unique().tolist()) for c in categorical}
        codes = [torch.as_tensor(_codes(features[c], levels[c])) for c in categorical]
        generator = torch.Generator().manual_seed(seed)
        k = min(self.components, len(x))
        means = torch.nn.Parameter(_kmeans_plus_plus(x, k, generator))
        log_scales = torch.nn.Parameter(torch.full((k, x.shape[1]), math.log(0.3)))
        logits = torch.nn.Parameter(torch.zeros(k))
        # every component starts from the levels' overall frequencies, so a rare level starts rare
        level_logits = [
            torch.nn.Parameter(_frequency_logits(code, len(levels[c]), k))
            for c, code in zip(categorical, codes, strict=True)
        ]
        optimiser = torch.optim.Adam([means, log_scales, logits, *level_logits], lr=self.learning_rate)
        full_batch = len(x) <= self.batch_rows
        for _ in range(self.epochs):
            optimiser.zero_grad()
            if full_batch:
                batch_x, batch_codes = x, codes
            else:  # rows drawn with replacement from the seeded generator: O(batch), and the same fit every run
                rows = torch.randint(len(x), (self.batch_rows,), generator=generator)
                batch_x, batch_codes = x[rows], [code[rows] for code in codes]
            nll = -_log_density(batch_x, means, log_scales, logits, batch_codes, level_logits).mean()
            nll.backward()
            optimiser.step()
            with torch.no_grad():
                log_scales.clamp_(min=math.log(1e-3))
        self.state = {
            "numeric": numeric,
            "centre": centre,
            "scale": scale,
            "means": means.detach().numpy().astype(np.float64),
            "log_scales": log_scales.detach().numpy().astype(np.float64),
            "logits": logits.detach().numpy().astype(np.float64),
            "levels": levels,
            "kinds": kinds,  # integer, boolean and bounded columns keep their type and range in samples
            "level_logits": {
                c: p.detach().numpy().astype(np.float64) for c, p in zip(categorical, level_logits, strict=True)
            },
        }

    def diagnostics(self) -> dict[str, float]:
        # Rare modes live in the smallest components: their weight is the first thing collapse takes.
        weights = self._weights()
        variances = np.exp(2 * self.state["log_scales"]) * self.state["scale"] ** 2
        mixed = (weights[:, None] * variances).sum(axis=0)
        return {
            "min_component_weight": float(weights.min()),
            "mean_component_variance": float(mixed.mean()) if mixed.size else 0.0,  # 0: every column discrete
        }

    def _weights(self, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        logits = self.state["logits"] / temperature
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        if top_p < 1.0:
            order = np.argsort(-weights)
            keep_count = int(np.searchsorted(np.cumsum(weights[order]), top_p) + 1)
            mask = np.zeros_like(weights, dtype=bool)
            mask[order[:keep_count]] = True
            weights = np.where(mask, weights, 0.0)
            weights /= weights.sum()
        return weights

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        weights = self._weights(decoding.temperature, decoding.top_p)
        which = rng.choice(len(weights), size=n, p=weights)
        numeric = self.state["numeric"]
        sd = np.exp(self.state["log_scales"])[which] * math.sqrt(decoding.temperature)
        z = self.state["means"][which] + sd * rng.standard_normal((n, len(numeric)))
        frame = pd.DataFrame(z * self.state["scale"] + self.state["centre"], columns=numeric)
        for column, logits in self.state["level_logits"].items():
            probabilities = _softmax(logits[which] / decoding.temperature)
            picks = (probabilities.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
            frame[column] = np.asarray(self.state["levels"][column], dtype=object)[
                np.minimum(picks, logits.shape[1] - 1)
            ]
        return restore_kinds(frame, self.state.get("kinds", {}))[self.columns]

    def loss(self, features: pd.DataFrame) -> float:
        with deterministic_torch(self.threads):
            return self._loss(features)

    def _loss(self, features: pd.DataFrame) -> float:
        import torch

        raw = features[self.state["numeric"]].to_numpy(dtype=np.float64)
        z = torch.as_tensor((raw - self.state["centre"]) / self.state["scale"])
        columns = list(self.state["level_logits"])
        log_density = _log_density(
            z,
            torch.as_tensor(self.state["means"]),
            torch.as_tensor(self.state["log_scales"]),
            torch.as_tensor(self.state["logits"]),
            [torch.as_tensor(_codes(features[c], self.state["levels"][c])) for c in columns],
            [torch.as_tensor(self.state["level_logits"][c]) for c in columns],
        )
        # back to the original units: the density of x is that of z divided by the scales
        return float(-log_density.mean()) + float(np.log(self.state["scale"]).sum())

    def save(self, path: Path) -> None:
        state = _tensors(self.state)
        write_model_file(
            path, {"format": SAVE_FORMAT, "options": self.options, "columns": self.columns, "state": state}
        )

    @classmethod
    def load(cls, path: Path) -> GaussianMixtureGenerator:
        """Plain tensors, lists and numbers only (``weights_only=True``): a crafted file cannot run code."""
        saved = read_model_file(path, SAVE_FORMAT)
        model = cls(**saved["options"])
        model.columns, model.state = list(saved["columns"]), _arrays(saved["state"])
        return model


def _tensors(value):
    """numpy arrays as torch tensors, recursively: what ``torch.load(weights_only=True)`` accepts."""
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    return value


def _arrays(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    return value


def _log_density(x, means, log_scales, logits, codes=(), level_logits=()):
    import torch

    diff = (x[:, None, :] - means[None, :, :]) / torch.exp(log_scales)[None]
    per_component = -0.5 * (diff**2).sum(-1) - log_scales.sum(-1)[None] - 0.5 * x.shape[1] * math.log(2 * math.pi)
    for code, table in zip(codes, level_logits, strict=True):
        # an unseen level (code -1) gets no categorical term: the numeric part still scores the record
        known = (code >= 0).to(per_component.dtype)
        per_level = torch.log_softmax(table, dim=1)[:, code.clamp(min=0)].T
        per_component = per_component + per_level.to(per_component.dtype) * known[:, None]
    return torch.logsumexp(torch.log_softmax(logits, 0)[None] + per_component, dim=1)


def _codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Each value's index in ``levels``, -1 for a level not seen in training (vectorised: a 1M-row column is one
    hash join, not a Python loop)."""
    return pd.Categorical(values.astype(str), categories=levels).codes.astype(np.int64)


def _frequency_logits(codes, levels: int, components: int):
    import torch

    counts = torch.bincount(codes, minlength=levels).to(torch.float32) + 0.5
    return torch.log(counts / counts.sum()).repeat(components, 1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _kmeans_plus_plus(x, k: int, generator):
    """Spread the initial means (Arthur & Vassilvitskii 2007) so isolated rare modes get a component."""
    import torch

    if x.shape[1] == 0:  # every column is discrete: the components differ by their level tables only
        return torch.zeros(k, 0)
    chosen = [int(torch.randint(len(x), (1,), generator=generator))]
    distance = ((x - x[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        nxt = int(torch.multinomial(distance / distance.sum(), 1, generator=generator))
        chosen.append(nxt)
        distance = torch.minimum(distance, ((x - x[nxt]) ** 2).sum(1))
    return x[chosen].clone()
