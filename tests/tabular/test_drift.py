"""The Evidently report, for real: drift plus the collapse metrics as Evidently metrics."""

import numpy as np

from collapse_guard.tabular.default_data import sample_default
from collapse_guard.tabular.evidently_metrics import drift_report


def test_report_flags_a_collapsed_model_and_not_a_healthy_one(tmp_path):
    rng = np.random.default_rng(0)
    reference = sample_default(3000, 0.025, rng)
    healthy = drift_report(sample_default(3000, 0.025, rng), reference, tmp_path / "healthy.html")
    collapsed = drift_report(sample_default(3000, 0.0, rng) * 0.7, reference, tmp_path / "collapsed.html")
    assert healthy.drift_share == 0.0 and collapsed.drift_share == 1.0
    assert abs(healthy.report_tail_coverage - 1.0) < 0.2 and collapsed.report_tail_coverage < 0.1
    assert abs(healthy.report_variance_ratio - 1.0) < 0.1 and collapsed.report_variance_ratio < 0.6
    html = (tmp_path / "collapsed.html").read_text()
    assert "Tail coverage" in html and "Variance ratio" in html
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temp file left behind
