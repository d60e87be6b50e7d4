"""A team's own pipeline: a data job that builds the training mixture, and a training job that fine-tunes a
Hugging Face causal LM on it. collapse-guard guards it from outside (docs/guard-your-pipeline.md):
`collapse-guard check` gates each mixture before training, `collapse-guard record-model` records each model.

    python pipeline.py base                      # stands in for the pretrained model you start from
    python pipeline.py mix --round 0             # the anchor's training split only
    python pipeline.py train --round 0           # fine-tune the base model on it
    python pipeline.py mix --round 1             # + synthetic text the round-0 model writes
    python pipeline.py train --round 1           # fine-tune the round-0 model on that

Files go to work/: base/ (the model to start from), mixture-N.parquet, model-N.pt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from collapse_guard import Guard
from collapse_guard.records.provenance import feature_columns
from collapse_guard.text.hf import HFLanguageModel

WORK = Path("work")
BASE = WORK / "base"
# A tiny random GPT-2, so the example runs on a CPU in seconds; your model is a save_pretrained folder.
TINY_GPT2 = {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 128}
TRAINING = {"epochs": 1, "sequence_length": 64, "batch_size": 16, "sample_tokens": 60, "min_sample_tokens": 40}


def base(guard: Guard) -> None:
    """The model the team starts from. Here: a random tiny GPT-2 with a BPE tokenizer trained on the anchor's
    text (no download); in practice, a pretrained model's folder."""
    model = HFLanguageModel(config=TINY_GPT2, vocabulary_size=500, epochs=0)
    model.fit(guard.anchor()[["text"]], seed=0)  # epochs=0: builds the tokenizer and the weights, no training
    model.model.save_pretrained(BASE)
    model.tokenizer.save_pretrained(BASE)  # tokenizer.json: params.yaml text.watermark.tokenizer names it


def mix(guard: Guard, round_: int, synthetic: int) -> Path:
    """The data job: the anchor's training split, plus (after round 0) text the previous round's model writes,
    sampled through the guard so it carries the workspace's watermark and provenance."""
    parts = [guard.anchor()]
    if round_ > 0:
        parts.append(guard.synthesize(WORK / f"model-{round_ - 1}.pt", synthetic))
    path = WORK / f"mixture-{round_}.parquet"
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False)
    return path


def train(round_: int) -> Path:
    """The training job: fine-tune the base model (round 0) or the previous round's (later) on the mixture's text
    (the payload: provenance never reaches the model)."""
    mixture = pd.read_parquet(WORK / f"mixture-{round_}.parquet")
    if round_ == 0:
        model = HFLanguageModel(model_dir=str(BASE), **TRAINING)
    else:
        model = HFLanguageModel.load(WORK / f"model-{round_ - 1}.pt")
    model.fit(mixture[feature_columns(mixture)], seed=round_)
    path = WORK / f"model-{round_}.pt"
    model.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["base", "mix", "train"])
    parser.add_argument("--round", type=int, default=0, dest="round_")
    parser.add_argument("--synthetic", type=int, default=40, help="texts the previous model writes (mix)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    if args.step == "train":
        print(train(args.round_))
        return
    guard = Guard.from_params(args.params)
    if args.step == "base":
        base(guard)
        print(BASE)
    else:
        print(mix(guard, args.round_, args.synthetic))


if __name__ == "__main__":
    main()
