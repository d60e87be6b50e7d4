"""Collapse on a transformer language model, in Shumailov et al.'s two arms (plus accumulate).

Shumailov et al. (Nature 2024, "AI models collapse when trained on recursively generated data") retrained
OPT-125m on its own generations and measured perplexity on real text: it rose generation after generation when
no original data was kept, and far less when 10 % was. Here the same experiment runs through the product's own
machinery: the text modality (its embedded anchor, curation, metrics), the HF path
(collapse_guard.text.hf.HFLanguageModel: a small GPT-2 trained from scratch every generation) and the collapse
experiment's chains (collapse_guard.pipeline.experiment.simulate_under), in three arms:

- ``0 % real kept``: policy ``replace``, each generation trains on the previous model's text only;
- ``10 % real kept``: ``replace`` with ``mixing.replace_real_fraction: 0.1``, the newest batch plus real
  documents drawn afresh each generation making up 10 % of the mixture;
- ``accumulate``: every real document and every synthetic batch so far (Gerstgrasser et al. 2024).

Every model shares one byte-level BPE tokenizer trained once on the anchor's train split
(``tokenizer_file``), so per-token held-out perplexities compare across generations and arms. Each generation
writes as many documents as the anchor's train split holds (Shumailov et al.'s synthetic sets are the size of
the original), sampled at ``--temperature``; the product's curation drops exact and near-copies; the
watermark is off (its green-list bias would be a second pressure on the distribution).

Prints per arm the held-out perplexity and the text metrics at generation 0 and at the last generation (mean
± standard deviation over seeds), the rise, the 10 %-arm's rise as a share of the 0 %-arm's, and the CPU time;
draws the metrics by generation (mean over seeds, band min–max) to docs/figures/transformer_collapse.png and
writes the table to reports/transformer_collapse.csv.

Run from the repository root (one torch thread per process; ``make bench-transformer``):
    OMP_NUM_THREADS=1 python benchmarks/transformer_collapse.py [--generations 8] [--seeds 3] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collapse_guard.config import DecodingParams, Params  # noqa: E402
from collapse_guard.modality.registry import load_params, modality_for  # noqa: E402
from collapse_guard.pipeline.experiment import ChainSpec, simulate_under  # noqa: E402
from collapse_guard.records.anchor import AnchorSplit, describe, split  # noqa: E402
from collapse_guard.reports import figures  # noqa: E402
from collapse_guard.text.corpus import TEXT  # noqa: E402

# arm -> (mixing policy, share of each mixture drawn afresh from the real documents)
ARMS: dict[str, tuple[str, float]] = {
    "0 % real kept": ("replace", 0.0),
    "10 % real kept": ("replace", 0.1),
    "accumulate": ("accumulate", 0.0),
}
PERPLEXITY = "heldout_perplexity"
REPORTED = (
    PERPLEXITY,
    "train_loss",  # nats per token on the model's own training mixture: falls as the text it learns narrows
    "rare_token_mass_retention",
    "rare_token_count_retention",
    "effective_vocabulary_ratio",
    "distinct_2",
)


@dataclass(frozen=True)
class Sizes:
    """What one run costs: the model, its training, the corpus and how much each generation writes and reads."""

    n_embd: int = 96
    n_layer: int = 2
    n_head: int = 4
    n_positions: int = 128
    vocabulary_size: int = 2000  # BPE tokens, trained once on the anchor's train split
    epochs: int = 5
    sequence_length: int = 64
    batch_size: int = 16
    learning_rate: float = 3e-3
    sample_tokens: int = 128  # at most, per generated document (a document ends at its end token)
    min_sample_tokens: int = 16
    generation_batch: int = 128  # documents sampled at once
    max_documents: int = 0  # of the embedded corpus (0 = all, about 600 paragraphs)
    synthetic_per_generation: int = 0  # 0 = as many as the anchor's train split holds
    evaluation_documents: int = 150  # sampled each generation for the text metrics
    metric_tokens: int = 20_000  # at most the held-out real text's length
    # > 0: first train a base model on this many words of installed packages' docstrings (another corpus), then
    # every generation fine-tunes that base for ``epochs`` epochs, as Shumailov et al. fine-tune OPT-125m
    pretrain_words: int = 0
    pretrain_epochs: int = 1

    def model_options(self, tokenizer_file: Path, base: Path | None = None) -> dict:
        """The HF model's options: from scratch with the shared tokenizer, or fine-tuning the ``base`` folder."""
        training = {
            "epochs": self.epochs,
            "sequence_length": self.sequence_length,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "sample_tokens": self.sample_tokens,
            "min_sample_tokens": self.min_sample_tokens,
            "generation_batch": self.generation_batch,
            "threads": 1,
        }
        if base is not None:
            return {"model_dir": str(base), **training}
        return {
            "config": {
                "model_type": "gpt2",
                "n_embd": self.n_embd,
                "n_layer": self.n_layer,
                "n_head": self.n_head,
                "n_positions": self.n_positions,
            },
            "tokenizer_file": str(tokenizer_file),
            "vocabulary_size": self.vocabulary_size,
            **training,
        }


# Seconds per generation on one core: the shape of the experiment, not its outcome (the test runs this).
TINY = Sizes(
    n_embd=32,
    n_layer=1,
    n_head=2,
    n_positions=64,
    vocabulary_size=400,
    epochs=1,
    sequence_length=32,
    batch_size=32,
    sample_tokens=40,
    min_sample_tokens=8,
    max_documents=120,
    synthetic_per_generation=60,
    evaluation_documents=100,
    metric_tokens=1000,
)


def experiment_params(sizes: Sizes, tokenizer_file: Path, arm: str, base: Path | None = None) -> Params:
    """The text workspace's params (examples/text/params.yaml) with the HF model, the arm's mixing, no watermark,
    in experiment mode."""
    policy, kept = ARMS[arm]
    return load_params(
        ROOT / "examples/text/params.yaml",
        overrides={
            "run.mode": "experiment",
            "model.class": "collapse_guard.text.hf:HFLanguageModel",
            "model.options": sizes.model_options(tokenizer_file, base),
            "mixing.policy": policy,
            "mixing.replace_real_fraction": kept,
            "text.watermark.enabled": False,
            "text.embedded.max_documents": sizes.max_documents,
            "text.metric_tokens": sizes.metric_tokens,
            "evaluation.sample_size": sizes.evaluation_documents,
        },
    )


def real_anchor(params: Params) -> AnchorSplit:
    """The text modality's embedded anchor, split into train and held-out as the pipeline splits it."""
    frame = modality_for(params).initial_anchor()
    train, held_out = split(frame, params.data.holdout_fraction)
    return AnchorSplit(frame, train, held_out, describe(frame))


def run(
    sizes: Sizes,
    generations: int,
    seeds: int,
    temperature: float = 1.0,
    workers: int = 1,
    progress: bool = True,
    partial: Path | None = None,
    arms: tuple[str, ...] = tuple(ARMS),
) -> pd.DataFrame:
    """One chain per (arm of ``arms``, seed), ``workers`` chains at a time (processes, one torch thread each);
    one row per chain and generation: the chain's metrics, its arm and its CPU seconds. ``partial``: a CSV
    rewritten after every chain, to look at a long run while it runs."""
    from collapse_guard.text.hf import train_tokenizer

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="transformer-collapse-") as folder:
        tokenizer_file = Path(folder) / "tokenizer.json"
        anchor = real_anchor(experiment_params(sizes, tokenizer_file, "accumulate"))
        tokenizer = train_tokenizer(anchor.train[TEXT].tolist(), sizes.vocabulary_size)
        tokenizer.backend_tokenizer.save(str(tokenizer_file))
        per_generation = sizes.synthetic_per_generation or len(anchor.train)
        base = None
        if sizes.pretrain_words:
            base = Path(folder) / "base"
            pretrain(sizes, tokenizer_file, base, anchor, progress)
        jobs = [
            (
                sizes,
                tokenizer_file,
                base,
                anchor,
                arm,
                ChainSpec(policy, seed, generations, per_generation),
                temperature,
            )
            for arm, (policy, _) in ARMS.items()
            if arm in arms
            for seed in range(seeds)
        ]
        for chain in _map(one_chain, jobs, workers):
            rows += chain
            if progress:
                first, last = chain[0], chain[-1]
                print(
                    f"  {last['arm']:15s} seed {last['seed']}: perplexity {first[PERPLEXITY]:7.1f} → "
                    f"{last[PERPLEXITY]:7.1f}, {last['chain_cpu_seconds']:6.0f} CPU s",
                    flush=True,
                )
            if partial is not None:
                partial.parent.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_csv(partial, index=False)
    order = {arm: i for i, arm in enumerate(ARMS)}
    table = pd.DataFrame(rows)
    return table.sort_values(["arm", "seed", "generation"], key=lambda c: c.map(order) if c.name == "arm" else c)


def pretrain(sizes: Sizes, tokenizer_file: Path, base: Path, anchor: AnchorSplit, progress: bool) -> None:
    """The base model every generation fine-tunes: trained from scratch with the shared tokenizer on
    ``sizes.pretrain_words`` words of docstrings (not the anchor's corpus), saved as a local model folder."""
    from collapse_guard.text.hf import HFLanguageModel

    options = sizes.model_options(tokenizer_file)
    model = HFLanguageModel(**{**options, "epochs": sizes.pretrain_epochs})
    texts = docstring_paragraphs(sizes.pretrain_words)
    started = time.process_time()
    model.fit(pd.DataFrame({TEXT: texts}), seed=0)
    model.model.save_pretrained(base)
    model.tokenizer.save_pretrained(base)
    if progress:
        perplexity = float(np.exp(model.loss(anchor.held_out[[TEXT]])))
        print(
            f"  base model: {len(texts)} docstring paragraphs ({sizes.pretrain_words} words), "
            f"{time.process_time() - started:.0f} CPU s; held-out perplexity before fine-tuning {perplexity:.1f}",
            flush=True,
        )


# Installed packages whose docstrings are the base model's corpus: English about code, written by people,
# and not the Python manual the anchor holds.
DOCSTRING_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "matplotlib", "torch", "transformers", "pydantic")


def docstring_paragraphs(words: int, min_words: int = 20) -> list[str]:
    """Prose paragraphs of installed packages' docstrings (no doctest lines, no rulers), deduplicated, in a
    fixed order, until they hold ``words`` words."""
    import re

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from installed_docstrings import installed_docstrings

    ruler = re.compile(r"[-=~]{4,}|>>>|::")
    seen: set[str] = set()
    paragraphs: list[str] = []
    total = 0
    for _, doc in installed_docstrings(DOCSTRING_PACKAGES):
        for paragraph in re.split(r"\n\s*\n", doc):
            cleaned = " ".join(paragraph.split())
            count = len(cleaned.split())
            if count >= min_words and not ruler.search(cleaned) and cleaned not in seen:
                seen.add(cleaned)
                paragraphs.append(cleaned)
                total += count
                if total >= words:
                    return paragraphs
    return paragraphs


def one_chain(job: tuple) -> list[dict]:
    """One arm's chain for one seed: the experiment's ``simulate_under`` under that arm's params."""
    sizes, tokenizer_file, base, anchor, arm, spec, temperature = job
    params = experiment_params(sizes, tokenizer_file, arm, base)
    started = time.process_time()
    result = simulate_under(params, spec, anchor, modality_for(params), DecodingParams(temperature=temperature))
    seconds = time.process_time() - started
    return [{"arm": arm, **row, "chain_cpu_seconds": seconds} for row in result.rows]


def _map(function, jobs: list, workers: int):
    """``function`` over ``jobs`` in this process (1 worker) or in ``workers`` fresh processes, as they finish."""
    if workers <= 1:
        yield from map(function, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(function, job) for job in jobs]):
            yield future.result()


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm and metric: mean ± sd over seeds at generation 0 and at the last generation, and of the rise."""
    last = table["generation"].max()
    out = []
    for arm, chains in table.groupby("arm", sort=False):
        first = chains[chains["generation"] == 0].set_index("seed")
        final = chains[chains["generation"] == last].set_index("seed")
        for metric in REPORTED:
            rise = final[metric] - first[metric]
            out.append(
                {
                    "arm": arm,
                    "metric": metric,
                    "generation 0": _mean_sd(first[metric]),
                    f"generation {last}": _mean_sd(final[metric]),
                    "change": _mean_sd(rise),
                }
            )
    return pd.DataFrame(out)


def perplexity_rise(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm and seed: the rise of held-out perplexity from generation 0 to the last, and the share of
    generation-to-generation steps in which it rose (1 = it rose at every generation)."""

    def one_chain(chain: pd.DataFrame) -> pd.Series:
        values = chain.sort_values("generation")[PERPLEXITY].to_numpy()
        steps = np.diff(values)
        return pd.Series({"rise": values[-1] - values[0], "rising_steps": float((steps > 0).mean())})

    return table.groupby(["arm", "seed"], sort=False).apply(one_chain, include_groups=False).reset_index()


def verdict(rises: pd.DataFrame) -> str:
    """Shumailov et al.'s pattern in one line: with no real data kept perplexity rises in every chain; with 10 %
    kept it rises at most a third as much (mean rise over seeds; per seed too, against the 0 % chain that starts
    from the same generation-0 model)."""
    rise = rises.pivot(index="seed", columns="arm", values="rise")
    none = rise.get("0 % real kept", pd.Series(dtype=float))
    some = rise.get("10 % real kept", pd.Series(dtype=float))
    ratio = some.mean() / none.mean() if none.mean() else np.nan
    paired = (some / none).dropna()
    rising = bool(len(none)) and bool((none > 0).all())
    within = rising and ratio <= 1 / 3
    return (
        f"0 % arm: mean rise {none.mean():+.1f} ({'every seed rose' if rising else 'not every seed rose'}); "
        f"10 % arm: mean rise {some.mean():+.1f} = {ratio:.2f} of the 0 % arm's "
        f"({'at most' if within else 'more than'} a third); per seed {', '.join(f'{r:.2f}' for r in paired)}"
    )


def _mean_sd(values: pd.Series) -> str:
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{_figure(values.mean(), 3)} ± {_figure(spread, 2)}"


def _figure(value: float, digits: int) -> str:
    """``digits`` significant digits, never in e-notation for the magnitudes printed here."""
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def conditions(sizes: Sizes, generations: int, seeds: int, temperature: float, arms: int = len(ARMS)) -> str:
    load = os.getloadavg()
    return (
        f"{date.today().isoformat()}, {platform.machine()} {os.cpu_count()} cores, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"Python {platform.python_version()}; {generations} generations × {seeds} seeds × {arms} arms, "
        f"temperature {temperature}; sizes {asdict(sizes)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=1.0, help="how each model samples the next generation")
    parser.add_argument("--epochs", type=int, default=Sizes.epochs, help="per generation (fine-tuning, with a base)")
    parser.add_argument(
        "--pretrained-words",
        type=int,
        default=0,
        help="> 0: fine-tune, every generation, a base model first trained on this many words of docstrings",
    )
    parser.add_argument("--pretrain-epochs", type=int, default=Sizes.pretrain_epochs)
    parser.add_argument(
        "--arms", nargs="+", choices=list(ARMS), default=list(ARMS), metavar="ARM", help=f"of {list(ARMS)}"
    )
    parser.add_argument("--workers", type=int, default=1, help="chains run at a time, one process and thread each")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and corpus: the shape in about a minute")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/figures/transformer_collapse.png")
    parser.add_argument("--table", type=Path, default=ROOT / "reports/transformer_collapse.csv")
    parser.add_argument(
        "--from-table",
        type=Path,
        nargs="+",
        metavar="TABLE",
        help="report and draw the tables earlier runs wrote (e.g. one per arm), taken together; run nothing",
    )
    args = parser.parse_args()
    sizes = replace(
        TINY if args.tiny else replace(Sizes(), epochs=args.epochs),
        pretrain_words=args.pretrained_words,
        pretrain_epochs=args.pretrain_epochs,
    )
    if args.from_table:  # the figures and numbers of an earlier run, again
        report(pd.concat([pd.read_csv(table) for table in args.from_table], ignore_index=True), args.figure)
        return
    print(conditions(sizes, args.generations, args.seeds, args.temperature, len(args.arms)), flush=True)
    wall = time.perf_counter()
    table = run(
        sizes, args.generations, args.seeds, args.temperature, args.workers, partial=args.table, arms=tuple(args.arms)
    )
    args.table.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.table, index=False)
    report(table, args.figure)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)  # the workers' too, once they have ended
    print(f"\n{cpu:.0f} CPU s, {time.perf_counter() - wall:.0f} s wall; load average now {os.getloadavg()[0]:.1f}")
    print(f"table: {_shown(args.table)}")


def report(table: pd.DataFrame, figure: Path) -> None:
    """Print the summary, the perplexity by chain and by generation and the verdict; draw the figure."""
    pd.set_option("display.width", 200)
    seeds = table.groupby("arm")["seed"].nunique()
    chain_seconds = table.groupby(["arm", "seed"])["chain_cpu_seconds"].first().groupby("arm").mean()
    print(f"\nmean ± sd over {seeds.min()}–{seeds.max()} seeds:")
    print(summary(table).to_string(index=False))
    rises = perplexity_rise(table)
    print("\nheld-out perplexity by chain:")
    print(rises.round(3).to_string(index=False))
    print("\n" + verdict(rises))
    by_generation = table.groupby(["arm", "generation"], sort=False)[PERPLEXITY].mean().unstack("generation")
    print("\nheld-out perplexity by generation (mean over seeds):")
    print(by_generation.round(1).to_string())
    print("\nCPU seconds per chain (mean): " + ", ".join(f"{arm} {s:.0f}" for arm, s in chain_seconds.items()))
    print(f"figure: {_shown(draw(table, figure))}")


def draw(table: pd.DataFrame, path: Path) -> Path:
    """The experiment's metric curves (collapse_guard.reports.figures), one line per arm."""
    from collapse_guard.text.modality import FIGURE_METRICS

    others = {metric: label for metric, label in FIGURE_METRICS.items() if metric != PERPLEXITY}
    labels = {
        PERPLEXITY: "held-out real perplexity (per BPE token)",
        "train_loss": "training loss (nats per BPE token)",
        **others,
    }
    return figures.metric_curves(table.assign(policy=table["arm"]), path, labels)


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    main()
