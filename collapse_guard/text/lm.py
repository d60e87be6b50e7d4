"""The built-in text generator: a small word-level GRU language model in torch, behind the Generator interface.

Why a small recurrent model: recursive-training collapse shows in any maximum-likelihood language model
(Shumailov et al. 2024 used OPT-125m; the effect is the estimator's, not the size's), and a GRU (Cho et al.
2014) trains on the default corpus in a minute or two on two CPU cores, so the whole loop runs on a laptop.

Decoding controls (``DecodingParams``, recorded with every synthetic record): temperature, top-k, nucleus
top-p (Holtzman et al. 2020). Constructor options add novelty-constrained decoding (``no_copy_ngram``: never
complete an n-gram of that length seen in training; see collapse_guard.text.novelty) and the green-list
watermark (Kirchenbauer et al. 2023; see collapse_guard.text.watermark), which adds δ to the green logits of
every step so the pipeline can recognise its own text when it comes back in a crawl.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field

from collapse_guard.config import DecodingParams
from collapse_guard.errors import ConfigError, DataError
from collapse_guard.generator import Generator, read_model_file, write_model_file
from collapse_guard.records.runtime import deterministic_torch
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.novelty import NgramIndex
from collapse_guard.text.tokenizer import Tokenizer, token_ids
from collapse_guard.text.watermark import DEFAULT_SCHEME, WatermarkConfig, green_mask_context, load_key, scheme_of

WATERMARK_KEY_ID = "watermark_key_id"  # ``DataFrame.attrs`` entry of a sample: the key_id used, "" if none
SAVE_FORMAT = "collapse-guard-text-lm/1"
_LOSS_TOKENS_PER_BATCH = 4096
_LOSS_CHUNK_STEPS = 256


class TextLanguageModel(Generator):
    """A word-level GRU language model: ``fit`` on a frame with a ``text`` column, ``sample`` texts back.

    ``watermark`` is a WatermarkConfig (key in hand), or a dict ``{"gamma", "delta", "key_file"}`` whose key
    is read at sampling time from COLLAPSE_GUARD_WATERMARK_KEY or ``key_file``. The key is never saved.
    """

    def __init__(
        self,
        # The ranges params.yaml is checked against (collapse_guard.config.check_model_options).
        embedding_dim: Annotated[int, Field(ge=1, le=4096)] = 128,
        hidden_dim: Annotated[int, Field(ge=1, le=8192)] = 256,
        layers: Annotated[int, Field(ge=1, le=16)] = 1,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2,
        epochs: Annotated[int, Field(ge=1, le=10_000)] = 12,
        sequence_length: Annotated[int, Field(ge=2, le=4096)] = 64,
        batch_size: Annotated[int, Field(ge=1, le=65_536)] = 32,
        learning_rate: Annotated[float, Field(gt=0, le=10)] = 3e-3,
        vocabulary_size: Annotated[int, Field(ge=8, le=1_000_000)] = 8000,
        min_token_count: Annotated[int, Field(ge=1, le=1_000_000)] = 2,
        sample_tokens: Annotated[int, Field(ge=1, le=100_000)] = 200,
        min_sample_tokens: Annotated[int | None, Field(ge=0, le=100_000)] = None,
        no_copy_ngram: Annotated[int, Field(ge=0, le=64)] = 0,
        watermark: WatermarkConfig | dict | None = None,
        generation_batch: Annotated[int, Field(ge=1, le=65_536)] = 256,
        threads: Annotated[int, Field(ge=0, le=256)] = 1,
    ) -> None:
        if no_copy_ngram == 1 or no_copy_ngram < 0:
            raise ConfigError(f"no_copy_ngram is 0 (off) or an n-gram length >= 2, got {no_copy_ngram}")
        if sample_tokens < 1 or (min_sample_tokens is not None and not 0 <= min_sample_tokens <= sample_tokens):
            raise ConfigError("sample_tokens >= 1 and 0 <= min_sample_tokens <= sample_tokens")
        self.settings: dict[str, Any] = {
            "embedding_dim": embedding_dim,
            "hidden_dim": hidden_dim,
            "layers": layers,
            "dropout": dropout,
            "epochs": epochs,
            "sequence_length": sequence_length,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "vocabulary_size": vocabulary_size,
            "min_token_count": min_token_count,
            "sample_tokens": sample_tokens,
            "min_sample_tokens": sample_tokens if min_sample_tokens is None else min_sample_tokens,
            "no_copy_ngram": no_copy_ngram,
            "generation_batch": generation_batch,
            "threads": threads,
        }
        self.watermark_settings, self._watermark = _watermark_parts(watermark)
        self.tokenizer: Tokenizer | None = None
        self.network = None
        self.ngrams: NgramIndex | None = None
        self.train_loss = float("nan")

    @property
    def options(self) -> dict[str, Any]:
        return {**self.settings, "watermark": dict(self.watermark_settings) if self.watermark_settings else None}

    def diagnostics(self) -> dict[str, float]:
        return {
            "train_loss": self.train_loss,
            "vocabulary_size": float(len(self.tokenizer)) if self.tokenizer else 0.0,
            "novelty_ngrams": float(len(self.ngrams)) if self.ngrams else 0.0,
        }

    # -- training ---------------------------------------------------------------------------------------------
    def fit(self, features: pd.DataFrame, seed: int) -> None:
        """Build the vocabulary, index the training n-grams (if novelty decoding is on) and train the GRU on
        the documents joined into one stream (``<bos> doc <eos> <bos> doc <eos> ...``)."""
        import torch

        texts = _texts(features)
        s = self.settings
        self.tokenizer = Tokenizer.build(texts, min_count=s["min_token_count"], max_size=s["vocabulary_size"])
        documents = [self.tokenizer.encode(t, add_boundaries=True) for t in texts]
        self.ngrams = NgramIndex.build(documents, s["no_copy_ngram"]) if s["no_copy_ngram"] else None
        with _torch_threads(s["threads"]):
            torch.manual_seed(seed)
            self.network = _build_network(len(self.tokenizer), s)
            self.train_loss = _train(self.network, np.concatenate(documents), s, seed)

    # -- generation -------------------------------------------------------------------------------------------
    def watermark(self) -> WatermarkConfig | None:
        """The watermark to embed, its key loaded now (environment first, then the key file) if not given."""
        if self._watermark is None and self.watermark_settings:
            key = load_key(self.watermark_settings.get("key_file"))
            s = self.watermark_settings
            self._watermark = WatermarkConfig(key, s["gamma"], s["delta"], s.get("scheme", DEFAULT_SCHEME))
        return self._watermark

    def set_watermark(self, watermark: WatermarkConfig | dict | None) -> None:
        """Embed this watermark from now on (None: stop). The trained weights do not depend on it."""
        self.watermark_settings, self._watermark = _watermark_parts(watermark)

    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        """``n`` generated documents; ``attrs["watermark_key_id"]`` names the key used ("" if none)."""
        ids = self.generate_ids(n, decoding, seed)
        frame = pd.DataFrame({TEXT: [self.tokenizer.decode(row) for row in ids]})
        watermark = self.watermark()
        frame.attrs[WATERMARK_KEY_ID] = watermark.key.key_id if watermark else ""
        return frame

    def generate_ids(self, n: int, decoding: DecodingParams, seed: int) -> list[np.ndarray]:
        """Vocabulary ids of ``n`` documents (without ``<bos>``/``<eos>``), generated in batches."""
        import torch

        self._require_fitted()
        generator = torch.Generator().manual_seed(seed)
        batch = self.settings["generation_batch"]
        rows: list[np.ndarray] = []
        with _torch_threads(self.settings["threads"]):
            for start in range(0, n, batch):
                rows.extend(self._generate_batch(min(batch, n - start), decoding, generator))
        return rows

    def _generate_batch(self, rows: int, decoding: DecodingParams, generator) -> list[np.ndarray]:
        import torch

        eos = self.tokenizer.eos_id
        history = np.full((rows, 1), self.tokenizer.bos_id, dtype=np.int64)
        current, state = torch.from_numpy(history[:, 0]), None
        rules = _DecodingRules.of(self, decoding)
        with torch.inference_mode():
            for step in range(self.settings["sample_tokens"]):
                logits, state = _forward(self.network, current[:, None], state)
                current = _sample_next(rules.apply(logits[:, -1].double(), step, history), decoding, generator)
                history = np.concatenate([history, current.numpy()[:, None]], axis=1)
                if (history == eos).any(axis=1).all():
                    break
        return [_until_eos(row[1:], eos) for row in history]

    # -- scoring ----------------------------------------------------------------------------------------------
    def loss(self, features: pd.DataFrame) -> float:
        """Mean negative log-likelihood per predicted token (nats), each document scored on its own from
        ``<bos>`` through ``<eos>``; perplexity = exp(loss). Out-of-vocabulary words count as ``<unk>``."""
        import torch

        self._require_fitted()
        documents = [self.tokenizer.encode(t, add_boundaries=True) for t in _texts(features)]
        total, count = 0.0, 0
        with torch.inference_mode(), _torch_threads(self.settings["threads"]):
            for padded in _length_batches(documents, self.tokenizer.pad_id):
                total += _summed_nll(self.network, torch.from_numpy(padded), self.tokenizer.pad_id)
                count += int((padded[:, 1:] != self.tokenizer.pad_id).sum())
        return total / count

    # -- persistence ------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Everything but the watermark key, as plain tensors and values (loads with ``weights_only=True``)."""

        self._require_fitted()
        payload = {
            "format": SAVE_FORMAT,
            "options": self.options,
            "vocabulary": self.tokenizer.vocabulary,
            "network": self.network.state_dict(),
            "ngrams": self.ngrams.to_state() if self.ngrams else None,
            "train_loss": self.train_loss,
        }
        write_model_file(path, payload)

    @classmethod
    def load(cls, path: Path) -> TextLanguageModel:

        saved = read_model_file(path, SAVE_FORMAT)
        model = cls(**saved["options"])
        model.tokenizer = Tokenizer(saved["vocabulary"])
        model.network = _build_network(len(model.tokenizer), model.settings)
        model.network.load_state_dict(saved["network"])
        model.network.eval()
        model.ngrams = NgramIndex.from_state(saved["ngrams"]) if saved["ngrams"] else None
        model.train_loss = float(saved["train_loss"])
        return model

    def _require_fitted(self) -> None:
        if self.network is None or self.tokenizer is None:
            raise RuntimeError("TextLanguageModel: call fit (or load) first")


# -- helpers ----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run torch with ``threads`` intra-op threads (0: leave torch's setting), then restore the setting.

    One thread is the default because this model's matrices are small: on a 2-core machine shared with a
    Prefect server, OpenMP threads spinning against other processes made a training step 10x slower.
    """
    with deterministic_torch(threads):  # and deterministic algorithms: the same fit every time
        yield


def _watermark_parts(watermark: WatermarkConfig | dict | None) -> tuple[dict | None, WatermarkConfig | None]:
    """(the settings safe to record, the config with its key if one was given)."""
    if watermark is None:
        return None, None
    if isinstance(watermark, WatermarkConfig):
        settings = {"gamma": watermark.gamma, "delta": watermark.delta, "key_file": None, "scheme": watermark.scheme}
        return settings, watermark
    unknown = set(watermark) - {"gamma", "delta", "key_file", "scheme"}
    if unknown:
        raise ConfigError(f"unknown watermark options {sorted(unknown)} (expected gamma, delta, key_file, scheme)")
    settings = {
        "gamma": float(watermark.get("gamma", 0.25)),
        "delta": float(watermark.get("delta", 2.0)),
        "key_file": None if watermark.get("key_file") is None else str(watermark["key_file"]),
        "scheme": scheme_of(watermark.get("scheme", DEFAULT_SCHEME)).name,
    }
    if not 0 < settings["gamma"] < 1 or settings["delta"] < 0:
        raise ConfigError("watermark gamma must be in (0, 1) and delta >= 0")
    return settings, None


def _texts(features: pd.DataFrame) -> list[str]:
    if TEXT not in features.columns:
        raise DataError(f"text features need a '{TEXT}' column (got {list(features.columns)})")
    texts = features[TEXT].tolist()
    if not texts or not all(isinstance(t, str) for t in texts):
        raise DataError(f"the '{TEXT}' column must hold at least one string, and only strings")
    return texts


def _build_network(vocabulary: int, settings: dict[str, Any]):
    import torch

    layers = settings["layers"]
    return torch.nn.ModuleDict(
        {
            "embed": torch.nn.Embedding(vocabulary, settings["embedding_dim"]),
            "drop": torch.nn.Dropout(settings["dropout"]),
            "rnn": torch.nn.GRU(
                settings["embedding_dim"],
                settings["hidden_dim"],
                num_layers=layers,
                dropout=settings["dropout"] if layers > 1 else 0.0,
                batch_first=True,
            ),
            "out": torch.nn.Linear(settings["hidden_dim"], vocabulary),
        }
    )


def _forward(network, ids, state=None):
    hidden, state = network["rnn"](network["drop"](network["embed"](ids)), state)
    return network["out"](network["drop"](hidden)), state


def _train(network, stream: np.ndarray, settings: dict[str, Any], seed: int) -> float:
    """Adam on windows of the token stream, a fresh random offset per epoch; returns the last epoch's loss."""
    import torch

    length, rng = settings["sequence_length"], np.random.default_rng(seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings["learning_rate"])
    network.train()
    epoch_loss = float("nan")
    for _ in range(settings["epochs"]):
        inputs, targets = _windows(stream, length, int(rng.integers(0, max(1, min(length, len(stream) - length)))))
        order = torch.from_numpy(rng.permutation(len(inputs)))
        losses = []
        for chunk in order.split(settings["batch_size"]):
            logits, _ = _forward(network, inputs[chunk])
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets[chunk].flatten())
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            losses.append(loss.item())
        epoch_loss = float(np.mean(losses))
    network.eval()
    return epoch_loss


def _windows(stream: np.ndarray, length: int, offset: int):
    import torch

    usable = stream[offset:]
    count = max(1, (len(usable) - 1) // length)
    length = min(length, len(usable) - 1)
    inputs = usable[: count * length].reshape(count, length)
    targets = usable[1 : count * length + 1].reshape(count, length)
    return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(np.ascontiguousarray(targets))


@dataclass(frozen=True)
class _DecodingRules:
    """What shapes each step's logits before sampling, in the order applied: tokens never written, no end
    before ``min_sample_tokens``, the watermark's +δ on the green list, temperature, the novelty ban.

    The watermark bias comes before the temperature, as in the paper's reference implementation (a logits
    processor ahead of the temperature warper), so the effective bias is δ / T.
    """

    never: list[int]
    eos: int
    min_tokens: int
    temperature: float
    watermark: WatermarkConfig | None
    vocabulary_ids: np.ndarray | None
    ngrams: NgramIndex | None

    @classmethod
    def of(cls, model: TextLanguageModel, decoding: DecodingParams) -> _DecodingRules:
        tokenizer, watermark = model.tokenizer, model.watermark()
        return cls(
            never=[tokenizer.pad_id, tokenizer.bos_id, tokenizer.unk_id],  # <unk> would not survive decoding
            eos=tokenizer.eos_id,
            min_tokens=model.settings["min_sample_tokens"],
            temperature=decoding.temperature,
            watermark=watermark,
            vocabulary_ids=token_ids(tokenizer.vocabulary) if watermark else None,
            ngrams=model.ngrams,
        )

    def apply(self, logits, step: int, history: np.ndarray):
        logits[:, self.never] = -np.inf
        if step < self.min_tokens:
            logits[:, self.eos] = -np.inf
        if self.watermark is not None:
            logits = logits + _green_bias(history, self.vocabulary_ids, self.watermark)
        return _forbid_copies(logits / self.temperature, history, self.ngrams)


def _green_bias(history: np.ndarray, vocabulary_ids: np.ndarray, watermark: WatermarkConfig):
    """δ on each row's green list, the list seeded by the row's last tokens as the scheme says (a torch
    tensor). Early steps with fewer than h tokens use what there is: detection does not score them."""
    import torch

    context = vocabulary_ids[history[:, -scheme_of(watermark.scheme).context :]]
    green = green_mask_context(context, vocabulary_ids, watermark.key, watermark.gamma, watermark.scheme)
    return torch.from_numpy(green) * watermark.delta


def _forbid_copies(logits, history: np.ndarray, ngrams: NgramIndex | None):
    """-inf on every token that would complete a training n-gram; a row with nothing left is left alone."""
    import torch

    if ngrams is None or history.shape[1] < ngrams.n - 1:
        return logits
    rows, tokens = ngrams.forbidden(history[:, -(ngrams.n - 1) :])
    if len(rows) == 0:
        return logits
    banned = logits.clone()
    banned[torch.from_numpy(rows), torch.from_numpy(tokens)] = -np.inf
    stuck = ~torch.isfinite(banned).any(dim=1)
    banned[stuck] = logits[stuck]
    return banned


def _sample_next(logits, decoding: DecodingParams, generator):
    """One token per row from softmax(logits) after top-k and nucleus (top-p) truncation."""
    import torch

    if 0 < decoding.top_k < logits.shape[1]:
        kth = torch.topk(logits, decoding.top_k, dim=1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -np.inf)
    if decoding.top_p < 1.0:
        ordered, order = torch.sort(logits, dim=1, descending=True)
        probabilities = torch.softmax(ordered, dim=1)
        # keep the smallest prefix whose mass reaches top_p: drop a token once the mass before it does
        outside = torch.cumsum(probabilities, dim=1) - probabilities >= decoding.top_p
        outside[:, 0] = False
        logits = torch.full_like(logits, -np.inf).scatter(1, order, ordered.masked_fill(outside, -np.inf))
    return torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)[:, 0]


def _until_eos(row: np.ndarray, eos: int) -> np.ndarray:
    ends = np.flatnonzero(row == eos)
    return row[: ends[0]] if len(ends) else row


def _length_batches(documents: list[np.ndarray], pad: int):
    """Documents sorted by length, padded into batches of about ``_LOSS_TOKENS_PER_BATCH`` tokens."""
    order = sorted(range(len(documents)), key=lambda i: len(documents[i]))
    start = 0
    while start < len(order):
        longest = len(documents[order[start]])
        rows = 1
        while start + rows < len(order):
            longest = len(documents[order[start + rows]])
            if (rows + 1) * longest > _LOSS_TOKENS_PER_BATCH:
                break
            rows += 1
        chosen = [documents[i] for i in order[start : start + rows]]
        padded = np.full((rows, max(len(d) for d in chosen)), pad, dtype=np.int64)
        for row, document in enumerate(chosen):
            padded[row, : len(document)] = document
        yield padded
        start += rows


def _summed_nll(network, padded, pad: int) -> float:
    """Sum of -log p(next token) over the non-padding targets, in time chunks that carry the GRU state."""
    import torch

    inputs, targets = padded[:, :-1], padded[:, 1:]
    total, state = 0.0, None
    for start in range(0, inputs.shape[1], _LOSS_CHUNK_STEPS):
        logits, state = _forward(network, inputs[:, start : start + _LOSS_CHUNK_STEPS], state)
        chunk_targets = targets[:, start : start + _LOSS_CHUNK_STEPS]
        total += float(
            torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).double(), chunk_targets.flatten(), ignore_index=pad, reduction="sum"
            )
        )
    return total
