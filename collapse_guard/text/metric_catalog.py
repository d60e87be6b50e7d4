"""The text modality's metrics (collapse_guard/modality/metric_catalog.py explains the catalog)."""

from __future__ import annotations

from collapse_guard.modality.metric_catalog import COUNT, HIGHER, LOWER, NEAR_ONE, MetricInfo, catalog

TEXT_METRICS = catalog(
    MetricInfo(
        "dropped_unwatermarked",
        "generated texts curation dropped: the watermark detector does not find the key's mark in them",
        "-",
        COUNT,
    ),
    MetricInfo(
        "rare_token_mass_retention",
        "the share of sample tokens that are rare in the anchor (its tail vocabulary) divided by the share in "
        "held-out real text: the early-collapse signal (rare words go first)",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "rare_token_mass_retention_anchor_halves",
        "Evidently's own estimate of rare-token retention, with the tail vocabulary and real share from two halves "
        "of the anchor's train split (a second estimator, reported under its own name)",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "rare_token_count_retention",
        "distinct rare words the samples still produce / distinct rare words in held-out real text",
        "1",
        HIGHER,
    ),
    MetricInfo(
        "rare_token_mass", "the share of sample tokens in the anchor's tail vocabulary", "the real share", HIGHER
    ),
    MetricInfo("rare_token_types", "distinct tail-vocabulary words in the samples", "-", COUNT),
    MetricInfo("tail_vocabulary_size", "words in the anchor's tail vocabulary", "-", COUNT),
    MetricInfo("tokens_compared", "sample tokens the metrics were computed on", "-", COUNT),
    MetricInfo(
        "effective_vocabulary_ratio",
        "exp(unigram entropy) of the samples / that of held-out real text: the late-collapse signal (the vocabulary "
        "narrows)",
        "1",
        NEAR_ONE,
    ),
    MetricInfo("distinct_1", "distinct unigrams / unigrams in the samples", "the real text's value", HIGHER),
    MetricInfo("distinct_2", "distinct bigrams / bigrams in the samples", "the real text's value", HIGHER),
    MetricInfo("distinct_3", "distinct trigrams / trigrams in the samples", "the real text's value", HIGHER),
    MetricInfo(
        "unigram_entropy", "the entropy of the samples' word distribution, in nats", "the real text's value", HIGHER
    ),
    MetricInfo(
        "heldout_perplexity",
        "exp(heldout_real_loss): the model's perplexity on real text it never trained on",
        "the generation-0 model's value",
        LOWER,
    ),
    MetricInfo(
        "train_loss", "the built-in model's last training loss, in nats per token (a model diagnostic)", "-", LOWER
    ),
    MetricInfo("vocabulary_size", "the built-in model's vocabulary size (a model diagnostic)", "-", COUNT),
    MetricInfo(
        "novelty_ngrams",
        "n-grams the built-in model refuses to copy from its training text (its no-copy filter; a diagnostic)",
        "-",
        COUNT,
    ),
)
