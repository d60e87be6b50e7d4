"""Any Hugging Face causal language model as the pipeline's text generator, with our green-list watermark.

Why: users generate synthetic text with their own models, not with the built-in GRU. ``HFLanguageModel``
wraps a ``transformers`` causal LM behind the Generator interface; the watermark is a ``LogitsProcessor``
(``GreenListLogitsProcessor``) that adds δ to the green list of each step, under the same key, schemes and
hash as collapse_guard.text.watermark, so the same screen recognises the text after it leaves the pipeline.

The model's tokens are subwords: watermark ids are the 64-bit ids of the token *strings*
(``token_ids(tokenizer.convert_ids_to_tokens(...))``), and detection re-tokenises a text with the same
tokenizer (``HFTokenization``). The tokenizer travels with the saved model, and the screen is told which
tokenizer to use (``text.watermark.tokenizer``, or the generating model itself during curation).

Nothing is downloaded: ``model_dir`` is a local directory (``local_files_only``); without one a fresh model is
built from ``config`` (a GPT-2 config by default) with a byte-level BPE tokenizer trained on the data with
``tokenizers``, or read from ``tokenizer_file``. No hub weights are ever loaded.

A fixed ``tokenizer_file`` matters when generations are compared: a tokenizer trained on each generation's
own (partly synthetic) data changes what a token is, so per-token losses of two generations would not be
comparable; with one tokenizer (e.g. trained once on the real anchor) they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, PositiveInt

from collapse_guard.config import DecodingParams
from collapse_guard.errors import ConfigError
from collapse_guard.generator import Generator, read_model_file, write_model_file
from collapse_guard.text.corpus import TEXT
from collapse_guard.text.lm import WATERMARK_KEY_ID, _texts, _torch_threads, _watermark_parts
from collapse_guard.text.tokenizer import token_ids
from collapse_guard.text.watermark import (
    DEFAULT_SCHEME,
    WatermarkConfig,
    green_mask_context,
    load_key,
    scheme_of,
)

SAVE_FORMAT = "collapse-guard-hf-lm/1"
END = "<|endoftext|>"
TINY_GPT2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 256}


class ModelShape(BaseModel):
    """``model.options.config``: a transformers config for a model built from scratch. Its sizes are checked when
    params.yaml is loaded (each a positive count), so a mistake is a configuration error naming the key before
    anything runs, not a traceback from inside transformers in the middle of a run; other keys pass as given."""

    model_config = ConfigDict(extra="allow")

    model_type: str = "gpt2"
    n_layer: PositiveInt | None = None
    n_head: PositiveInt | None = None
    n_embd: PositiveInt | None = None
    n_positions: PositiveInt | None = None
    n_inner: PositiveInt | None = None
    vocab_size: PositiveInt | None = None
    num_hidden_layers: PositiveInt | None = None
    num_attention_heads: PositiveInt | None = None
    hidden_size: PositiveInt | None = None
    intermediate_size: PositiveInt | None = None
    max_position_embeddings: PositiveInt | None = None


def watermark_vocabulary(tokenizer, size: int) -> np.ndarray:
    """The watermark id of each logit column: the id of the token's string; columns past the tokenizer's
    vocabulary (padded embeddings, never sampled in practice) get the id of their index."""
    strings = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
    strings += [f"<column {i}>" for i in range(len(strings), size)]
    return token_ids([str(s) for s in strings])


def _logits_processor_base() -> type:
    from transformers import LogitsProcessor

    return LogitsProcessor


class GreenListLogitsProcessor(_logits_processor_base()):
    """``scores`` + δ on each row's green list, seeded by the row's last h tokens as the scheme says."""

    def __init__(self, watermark: WatermarkConfig, vocabulary_ids: np.ndarray) -> None:
        self.watermark = watermark
        self.vocabulary_ids = np.asarray(vocabulary_ids, dtype=np.uint64)
        self.context = scheme_of(watermark.scheme).context

    def __call__(self, input_ids, scores):
        import torch

        context = self.vocabulary_ids[input_ids[:, -self.context :].cpu().numpy()]
        w = self.watermark
        green = green_mask_context(context, self.vocabulary_ids[: scores.shape[-1]], w.key, w.gamma, w.scheme)
        return scores + torch.from_numpy(green).to(scores.device, scores.dtype) * w.delta


class HFTokenization:
    """Text -> watermark ids with a Hugging Face tokenizer: what detection needs for text a subword model
    wrote. ``name`` identifies it in screening results."""

    def __init__(self, tokenizer, name: str = "hf") -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.vocabulary_ids = watermark_vocabulary(tokenizer, len(tokenizer))

    @classmethod
    def from_file(cls, path: Path) -> HFTokenization:
        """A ``tokenizer.json`` file (or a directory holding one), read locally."""
        file = _tokenizer_json(Path(path))
        return cls(read_tokenizer(file), name=f"hf:{file.name}")

    def __call__(self, text: str) -> np.ndarray:
        return self.vocabulary_ids[np.asarray(self.tokenizer(text)["input_ids"], dtype=np.int64)]


class HFLanguageModel(Generator):
    """A ``transformers`` causal LM behind the Generator interface (see the module docstring).

    ``model_dir``: a local directory with a model and tokenizer saved by ``save_pretrained`` (fine-tuned by
    ``fit`` for ``epochs`` epochs; 0 keeps the weights). Without it, ``config`` (a dict with ``model_type``)
    builds a fresh model trained from scratch, with the tokenizer of ``tokenizer_file`` (a ``tokenizer.json``
    holding the ``<|endoftext|>`` token) or else a BPE tokenizer of ``vocabulary_size`` tokens trained on the
    data it is fitted on.
    """

    def __init__(
        self,
        model_dir: str | None = None,
        config: ModelShape | None = None,
        tokenizer_file: str | None = None,
        vocabulary_size: int = 2000,
        epochs: int = 2,
        sequence_length: int = 64,
        batch_size: int = 16,
        learning_rate: float = 1e-3,
        sample_tokens: int = 120,
        min_sample_tokens: int | None = None,
        generation_batch: int = 32,
        watermark: WatermarkConfig | dict | None = None,
        threads: int = 1,
    ) -> None:
        if sample_tokens < 1 or (min_sample_tokens is not None and not 0 <= min_sample_tokens <= sample_tokens):
            raise ConfigError("sample_tokens >= 1 and 0 <= min_sample_tokens <= sample_tokens")
        self.settings: dict[str, Any] = {
            "model_dir": model_dir,
            "config": _plain_config(config),
            "tokenizer_file": tokenizer_file,
            "vocabulary_size": vocabulary_size,
            "epochs": epochs,
            "sequence_length": sequence_length,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "sample_tokens": sample_tokens,
            "min_sample_tokens": sample_tokens if min_sample_tokens is None else min_sample_tokens,
            "generation_batch": generation_batch,
            "threads": threads,
        }
        self.watermark_settings, self._watermark = _watermark_parts(watermark)
        self.model = None
        self.tokenizer = None
        self.train_loss = float("nan")

    @property
    def options(self) -> dict[str, Any]:
        return {**self.settings, "watermark": dict(self.watermark_settings) if self.watermark_settings else None}

    def diagnostics(self) -> dict[str, float]:
        return {"train_loss": self.train_loss, "vocabulary_size": float(len(self.tokenizer or []))}

    # -- watermark --------------------------------------------------------------------------------------------
    def watermark(self) -> WatermarkConfig | None:
        if self._watermark is None and self.watermark_settings:
            s = self.watermark_settings
            key = load_key(s.get("key_file"))
            self._watermark = WatermarkConfig(key, s["gamma"], s["delta"], s.get("scheme", DEFAULT_SCHEME))
        return self._watermark

    def set_watermark(self, watermark: WatermarkConfig | dict | None) -> None:
        self.watermark_settings, self._watermark = _watermark_parts(watermark)

    def watermark_tokenization(self) -> HFTokenization:
        """How detection must tokenise this model's text (curation uses it on the batch just generated)."""
        self._require_fitted()
        return HFTokenization(self.tokenizer, name="hf:model")

    # -- training ---------------------------------------------------------------------------------------------
    def fit(self, features: pd.DataFrame, seed: int) -> None:
        import torch

        texts = _texts(features)
        with _torch_threads(self.settings["threads"]):
            torch.manual_seed(seed)
            if self.model is None:
                self.model, self.tokenizer = self._initial_model(texts)
            self.train_loss = _train(self.model, self.tokenizer, texts, self.settings, seed)

    def _initial_model(self, texts: list[str]):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        if self.settings["model_dir"]:
            where = self.settings["model_dir"]
            try:
                tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(where, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load the model from its local directory ({exc})", path=where) from exc
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            return model, tokenizer
        if self.settings["tokenizer_file"]:
            tokenizer = read_tokenizer(Path(self.settings["tokenizer_file"]))
            if tokenizer.bos_token_id is None:  # documents start and end with it, in training and sampling
                raise ConfigError(f"the tokenizer has no {END} token", path=self.settings["tokenizer_file"])
        else:
            tokenizer = train_tokenizer(texts, self.settings["vocabulary_size"])
        config = dict(self.settings["config"])
        model_type = config.pop("model_type", "gpt2")
        special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
        hf_config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **special, **config)
        return AutoModelForCausalLM.from_config(hf_config), tokenizer

    # -- generation -------------------------------------------------------------------------------------------
    def sample(self, n: int, decoding: DecodingParams, seed: int) -> pd.DataFrame:
        """``n`` texts; ``attrs["watermark_key_id"]`` names the key used ("" if none)."""
        import torch

        self._require_fitted()
        watermark = self.watermark()
        processors = []
        if watermark is not None:
            size = self.model.get_output_embeddings().weight.shape[0]
            processors.append(GreenListLogitsProcessor(watermark, watermark_vocabulary(self.tokenizer, size)))
        texts: list[str] = []
        with _torch_threads(self.settings["threads"]), torch.inference_mode():
            torch.manual_seed(seed)
            for start in range(0, n, self.settings["generation_batch"]):
                rows = min(self.settings["generation_batch"], n - start)
                texts.extend(self._generate(rows, decoding, processors))
        frame = pd.DataFrame({TEXT: texts})
        frame.attrs[WATERMARK_KEY_ID] = watermark.key.key_id if watermark else ""
        return frame

    def _generate(self, rows: int, decoding: DecodingParams, processors: list) -> list[str]:
        import torch
        from transformers import LogitsProcessorList

        self.model.eval()
        start = torch.full((rows, 1), self.tokenizer.bos_token_id, dtype=torch.long)
        out = self.model.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            do_sample=True,
            temperature=decoding.temperature,
            top_k=decoding.top_k or None,
            top_p=decoding.top_p,
            max_new_tokens=self.settings["sample_tokens"],
            min_new_tokens=self.settings["min_sample_tokens"],
            logits_processor=LogitsProcessorList(processors),
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out[:, 1:], skip_special_tokens=True)]

    # -- scoring ----------------------------------------------------------------------------------------------
    def loss(self, features: pd.DataFrame) -> float:
        """Mean negative log-likelihood per predicted token (nats), each text from its start token."""
        import torch

        self._require_fitted()
        total, count = 0.0, 0
        self.model.eval()
        with torch.inference_mode(), _torch_threads(self.settings["threads"]):
            for ids in _encoded(self.tokenizer, _texts(features), _context_length(self.model)):
                tensor = torch.tensor([ids])
                out = self.model(input_ids=tensor, labels=tensor)
                total += float(out.loss) * (len(ids) - 1)
                count += len(ids) - 1
        return total / max(count, 1)

    # -- persistence ------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """One file: options, the model config (JSON), weights and the tokenizer (JSON); never the key."""

        self._require_fitted()
        payload = {
            "format": SAVE_FORMAT,
            "options": json.dumps(self.options),
            "config": self.model.config.to_json_string(),
            "weights": self.model.state_dict(),
            "tokenizer": self.tokenizer.backend_tokenizer.to_str(),
            "train_loss": self.train_loss,
        }
        write_model_file(path, payload)

    @classmethod
    def load(cls, path: Path) -> HFLanguageModel:
        from tokenizers import Tokenizer
        from transformers import AutoConfig, AutoModelForCausalLM

        saved = read_model_file(path, SAVE_FORMAT)
        model = cls(**json.loads(saved["options"]))
        config = json.loads(saved["config"])
        model.model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
        model.model.load_state_dict(saved["weights"], strict=False)
        model.model.tie_weights()
        model.tokenizer = _wrap(Tokenizer.from_str(saved["tokenizer"]))
        model.train_loss = float(saved["train_loss"])
        return model

    def _require_fitted(self) -> None:
        if self.model is None or self.tokenizer is None:
            raise RuntimeError("HFLanguageModel: call fit (or load) first")


class SynthIDDetector:
    """Another vendor's watermark: transformers' SynthID-Text Bayesian detector as an external detector
    (``text.watermark.external_detectors``), so ``ingest`` and ``detect`` quarantine text that a SynthID-marked
    model wrote. Both directories are local (a trained ``BayesianDetectorModel`` saved with
    ``save_pretrained``, whose config carries the watermarking config, and the marking model's tokenizer);
    nothing is downloaded. A text is flagged when the detector's posterior is at least ``threshold``.

    In a module of yours: ``detect = SynthIDDetector("detectors/synthid", "models/mine")``, then list
    ``"yourmodule:detect"`` in ``text.watermark.external_detectors``.
    """

    def __init__(self, detector_dir: str | Path, tokenizer_dir: str | Path, threshold: float = 0.5) -> None:
        from transformers import (
            AutoTokenizer,
            BayesianDetectorModel,
            SynthIDTextWatermarkDetector,
            SynthIDTextWatermarkLogitsProcessor,
        )

        try:
            model = BayesianDetectorModel.from_pretrained(str(detector_dir), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the SynthID detector or its tokenizer ({exc})", path=str(detector_dir)
            ) from exc
        if not model.config.watermarking_config:
            raise ConfigError("the SynthID detector's config has no watermarking_config", path=str(detector_dir))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        processor = SynthIDTextWatermarkLogitsProcessor(**model.config.watermarking_config, device="cpu")
        self.tokenizer, self.threshold = tokenizer, threshold
        self.detector = SynthIDTextWatermarkDetector(model, processor, tokenizer)

    def posteriors(self, texts: list[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros(0)
        ids = self.tokenizer(list(texts), return_tensors="pt", padding=True).input_ids
        with torch.inference_mode():
            return np.asarray(self.detector(ids), dtype=np.float64).reshape(-1)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.posteriors(texts) >= self.threshold


def train_tokenizer(texts: list[str], vocabulary_size: int):
    """A byte-level BPE tokenizer trained locally on ``texts`` (``tokenizers``), with one special token
    serving as start, end and padding, as GPT-2's does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocabulary_size, special_tokens=[END], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer)
    return _wrap(tokenizer)


def read_tokenizer(path: Path):
    """A ``tokenizer.json`` file (or a directory holding one), read locally; ConfigError naming it if unreadable."""
    from tokenizers import Tokenizer

    file = _tokenizer_json(Path(path))
    try:
        return _wrap(Tokenizer.from_file(str(file)))
    except Exception as exc:  # tokenizers raises its own Exception type for a bad file
        raise ConfigError(f"cannot read the tokenizer ({exc})", path=str(file)) from exc


def _tokenizer_json(path: Path) -> Path:
    return path / "tokenizer.json" if path.is_dir() else path


def _wrap(tokenizer):
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer)
    if wrapped.convert_tokens_to_ids(END) is not None and END in wrapped.get_vocab():
        wrapped.bos_token = wrapped.eos_token = wrapped.pad_token = END
    return wrapped


def _context_length(model) -> int:
    """The longest input the model takes (its position embeddings), 1024 if its config does not say."""
    config = model.config
    return int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 1024)


def _encoded(tokenizer, texts: list[str], limit: int) -> list[list[int]]:
    """Each text as ``<start> tokens <end>``, cut to ``limit`` tokens."""
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [([start, *tokenizer(t)["input_ids"], end])[:limit] for t in texts]


def _train(model, tokenizer, texts: list[str], settings: dict[str, Any], seed: int) -> float:
    """AdamW on windows of the joined token stream, shuffled per epoch; returns the last epoch's mean loss."""
    import torch

    stream = np.concatenate([np.asarray(ids) for ids in _encoded(tokenizer, texts, 10**9)])
    length, rng = settings["sequence_length"] + 1, np.random.default_rng(seed)
    windows = torch.from_numpy(stream[: len(stream) // length * length].reshape(-1, length).astype(np.int64))
    if not len(windows) or settings["epochs"] == 0:
        return float("nan")
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"])
    model.train()
    losses: list[float] = []
    for _ in range(settings["epochs"]):
        losses = []
        for chunk in torch.from_numpy(rng.permutation(len(windows))).split(settings["batch_size"]):
            batch = windows[chunk]
            loss = model(input_ids=batch, labels=batch).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
    model.eval()
    return float(np.mean(losses))


def _plain_config(config: ModelShape | dict | None) -> dict[str, Any]:
    """The config as the dict transformers takes (params.yaml gives a dict; a ModelShape is accepted too)."""
    if config is None:
        return dict(TINY_GPT2)
    if isinstance(config, BaseModel):
        return config.model_dump(exclude_none=True)
    return dict(config)
