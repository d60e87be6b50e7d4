"""What each recorded metric means: its definition, its healthy value and which way is worse.

The docs site's metrics reference is generated from this catalog, and the end-to-end tests check that every metric
a generation records is in it (so a new metric cannot ship undocumented). The modalities contribute their own
metrics (collapse_guard/tabular/metric_catalog.py, collapse_guard/text/metric_catalog.py); the ones every modality
records are here.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGHER, LOWER, NEAR_ONE, NEAR_ZERO, COUNT = (
    "higher is healthier",
    "lower is healthier",
    "near 1 is healthy; away from 1 either way is drift",
    "near 0 is healthy",
    "a count (context, not a health signal)",
)


@dataclass(frozen=True)
class MetricInfo:
    name: str
    means: str  # what is measured, and on what
    healthy: str  # the value a model that kept the real distribution shows
    direction: str  # HIGHER, LOWER, NEAR_ONE, NEAR_ZERO or COUNT


def catalog(*infos: MetricInfo) -> dict[str, MetricInfo]:
    return {info.name: info for info in infos}


# why curation drops a generated record (CurationReport's reasons; text adds its own in its catalog)
CURATION_DROPS = {
    "invalid": "invalid (tabular: a missing or non-finite value; text: an empty text)",
    "duplicate": "an exact duplicate of another generated record",
    "anchor_copy": "an exact copy of an anchor record",
    "near_duplicate": "a near-duplicate of another generated record",
    "near_anchor_copy": "a near-copy of an anchor record",
}

COMMON = catalog(
    MetricInfo(
        "heldout_real_loss",
        "the model's mean negative log-likelihood of real records it never trained on (the anchor's held-out split), "
        "in nats per record (text: per token)",
        "the generation-0 model's value; a rise is the model forgetting real data",
        LOWER,
    ),
    MetricInfo(
        "drift_share",
        "the share of columns (text: descriptors) Evidently's drift preset finds drifted between the model's samples "
        "and the anchor's train split",
        "0",
        NEAR_ZERO,
    ),
    MetricInfo(
        "real_fraction",
        "the share of real records in the training mixture (recorded with the mixture, shown beside the metrics)",
        "at least gate.min_real_fraction",
        HIGHER,
    ),
    MetricInfo("anchor_rows", "records in the real anchor the generation used", "it only grows", COUNT),
    MetricInfo("synthetic_count", "synthetic records in the training mixture", "-", COUNT),
    MetricInfo("gate_failures", "checks the mixture gate found failing (0 when the mixture passed)", "0", COUNT),
    MetricInfo("generated", "synthetic records the model generated before curation", "-", COUNT),
    MetricInfo("kept", "generated records curation kept for the mixture", "-", COUNT),
    *(
        MetricInfo(f"dropped_{reason}", f"generated records curation dropped: {why}", "-", COUNT)
        for reason, why in CURATION_DROPS.items()
    ),
)


# Names derived from a catalogued metric (the collapse forecast's, one pair per forecast metric: MLflow only).
DERIVED = {
    "forecast_{metric}_generations": "generations until the forecast says `{metric}` crosses its floor (a large "
    "number when no crossing is forecast)",
    "forecast_{metric}_slope": "the forecast's fitted slope of `{metric}` per generation",
}


def describes(catalog: dict[str, MetricInfo], name: str) -> bool:
    """Whether ``name`` is a catalogued metric or a name derived from one (``DERIVED``)."""
    if name in catalog:
        return True
    for pattern in DERIVED:
        prefix, _, suffix = pattern.partition("{metric}")
        inner = name[len(prefix) : len(name) - len(suffix)]
        if name.startswith(prefix) and name.endswith(suffix) and inner in catalog:
            return True
    return False
