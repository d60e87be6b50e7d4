"""Text collapse metrics. Recursive training on generated text loses the tails of the language first — its rare
words — then its diversity (Shumailov et al. 2024, "AI models collapse when trained on recursively generated
data"). Every metric here is computed on a fixed token budget, because diversity counts grow with sample size.

Definitions (tokens are the word-level tokens of collapse_guard.text.tokenizer):

- tail vocabulary T (``tail_vocabulary``): the anchor's rarest token types seen at least twice, taken from
  the rarest up while their occurrences together stay within ``tail_mass`` (default 5 %) of all anchor tokens
  (ties broken alphabetically, so T is deterministic).
- rare-token mass retention: the share of the sample's tokens that belong to T, divided by the share of T in
  a real reference of the same length (1 ≈ the tail is kept; → 0 as the rare words vanish).
- rare-token count retention: how many distinct types of T the sample contains, divided by how many an
  equally long real reference contains.
  The reference is held-out real text truncated to the sample's length when given; without it, the expected
  values under the anchor's unigram distribution (share = the anchor's tail share; distinct types =
  Σ_t 1 − (1 − p_t)^N for N sampled tokens).
- distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models"):
  distinct n-grams / all n-grams in the sample, n-grams not crossing documents.
- unigram entropy: Shannon entropy (bits) of the sample's token frequencies.
- held-out perplexity: exp of the model's mean per-token negative log-likelihood on held-out real documents
  (``Generator.loss``), i.e. how surprised the model is by real text it never saw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from collapse_guard.text.tokenizer import words


def tokens_of(texts: Sequence[str], budget: int | None = None) -> list[str]:
    """All tokens of ``texts`` in order, cut at ``budget`` tokens if given."""
    tokens: list[str] = []
    for text in texts:
        tokens.extend(words(text))
        if budget is not None and len(tokens) >= budget:
            return tokens[:budget]
    return tokens


def tail_vocabulary(anchor_texts: Sequence[str], tail_mass: float = 0.05, min_count: int = 2) -> tuple[set[str], float]:
    """The tail vocabulary T of the anchor and the share of anchor tokens that fall in T.

    Words seen fewer than ``min_count`` times are left out: a word-level model cannot learn a word it saw
    once (the built-in tokenizer maps it to ``<unk>``), so counting those would measure the vocabulary
    cut-off, not collapse. T is the rare end of what a model *can* say."""
    counts = Counter(tokens_of(anchor_texts))
    total = sum(counts.values())
    tail, running = set(), 0
    learnable = ((t, c) for t, c in counts.items() if c >= min_count)
    for token, count in sorted(learnable, key=lambda item: (item[1], item[0])):
        if running + count > tail_mass * total:
            break
        running += count
        tail.add(token)
    return tail, (running / total if total else 0.0)


def rare_token_retention(
    sample_texts: Sequence[str],
    anchor_texts: Sequence[str],
    reference_texts: Sequence[str] | None = None,
    tail_mass: float = 0.05,
    budget: int | None = None,
) -> dict[str, float]:
    """Mass and count retention of the anchor's tail vocabulary in the first ``budget`` sample tokens
    (default: all of them, or as many as the reference has, whichever is fewer)."""
    tail, anchor_share = tail_vocabulary(anchor_texts, tail_mass)
    sample = tokens_of(sample_texts, budget)
    if reference_texts is not None:
        reference = tokens_of(reference_texts, len(sample))
        sample = sample[: len(reference)]
        reference_share = sum(t in tail for t in reference) / max(len(reference), 1)
        reference_types = float(len({t for t in reference if t in tail}))
    else:
        reference_share = anchor_share
        reference_types = _expected_tail_types(anchor_texts, tail, len(sample))
    in_tail = [t for t in sample if t in tail]
    sample_share = len(in_tail) / max(len(sample), 1)
    return {
        "rare_token_mass": sample_share,
        "rare_token_types": float(len(set(in_tail))),
        "rare_token_mass_retention": sample_share / reference_share if reference_share else float("nan"),
        "rare_token_count_retention": len(set(in_tail)) / reference_types if reference_types else float("nan"),
        "tail_vocabulary_size": float(len(tail)),
        "tokens_compared": float(len(sample)),
    }


def _expected_tail_types(anchor_texts: Sequence[str], tail: set[str], draws: int) -> float:
    """E[distinct tail types in ``draws`` tokens drawn i.i.d. from the anchor's unigram distribution]."""
    counts = Counter(tokens_of(anchor_texts))
    total = sum(counts.values())
    p = np.array([counts[t] / total for t in tail])
    return float((1.0 - (1.0 - p) ** draws).sum()) if len(p) else 0.0


def distinct_n(texts: Sequence[str], n: int, budget: int | None = None) -> float:
    """Distinct n-grams / total n-grams over the documents (Li et al. 2016), within a token budget."""
    grams: list[tuple[str, ...]] = []
    used = 0
    for text in texts:
        tokens = words(text)
        if budget is not None:
            tokens = tokens[: max(budget - used, 0)]
        used += len(tokens)
        grams.extend(zip(*(tokens[i:] for i in range(n)), strict=False))
    return len(set(grams)) / len(grams) if grams else 0.0


def unigram_entropy(texts: Sequence[str], budget: int | None = None) -> float:
    """Shannon entropy in bits of the token frequencies of the first ``budget`` tokens."""
    counts = np.fromiter(Counter(tokens_of(texts, budget)).values(), dtype=np.float64)
    if counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def effective_vocabulary_ratio(sample_texts: Sequence[str], reference_texts: Sequence[str]) -> float:
    """2^H(sample) / 2^H(reference), both on the first N tokens with N the smaller token count: the text
    analogue of a variance ratio (the spread of the word distribution; < 1 when the model narrows it)."""
    budget = min(len(tokens_of(sample_texts)), len(tokens_of(reference_texts)))
    if budget == 0:
        return float("nan")
    return float(2.0 ** (unigram_entropy(sample_texts, budget) - unigram_entropy(reference_texts, budget)))


def text_metrics(
    sample_texts: Sequence[str],
    anchor_texts: Sequence[str],
    reference_texts: Sequence[str] | None = None,
    budget: int = 20_000,
    tail_mass: float = 0.05,
) -> dict[str, float]:
    """Every sample-based text metric above, on the same token budget."""
    retention = rare_token_retention(sample_texts, anchor_texts, reference_texts, tail_mass, budget)
    used = int(retention["tokens_compared"])
    return {
        **retention,
        "distinct_1": distinct_n(sample_texts, 1, used),
        "distinct_2": distinct_n(sample_texts, 2, used),
        "distinct_3": distinct_n(sample_texts, 3, used),
        "unigram_entropy": unigram_entropy(sample_texts, used),
    }
