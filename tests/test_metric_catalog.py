"""The metric catalog describes catalogued names and the names derived from them, nothing else."""

from collapse_guard.modality.metric_catalog import COMMON, describes
from collapse_guard.tabular.modality import TabularModality
from collapse_guard.text.modality import TextModality


def test_derived_names_are_described_only_for_catalogued_metrics():
    catalog = TabularModality.metric_catalog
    assert describes(catalog, "tail_coverage")
    assert describes(catalog, "forecast_tail_coverage_generations")
    assert describes(catalog, "forecast_tail_coverage_slope")
    assert not describes(catalog, "forecast_no_such_metric_slope")
    assert not describes(catalog, "forecast_tail_coverage")
    assert not describes(catalog, "no_such_metric")


def test_every_modality_catalogs_the_common_metrics_and_curation_counts():
    for modality in (TabularModality, TextModality):
        assert set(COMMON) <= set(modality.metric_catalog)
        assert {"generated", "kept", "dropped_near_duplicate", "synthetic_count"} <= set(modality.metric_catalog)
    assert "dropped_unwatermarked" in TextModality.metric_catalog
