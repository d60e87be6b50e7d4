"""Great Expectations' own human-readable report of a verdict (its Data Docs validation page), beside its JSON.

``gate.json`` is the validation results as GX returns them (tens of KB of JSON); a reviewer reads this page
instead: per suite, every expectation in GX's words, its status and what was observed, failed ones first in
the filter. It is rendered by the renderer and view GX's Data Docs site builder uses for a validation result,
one page for all the suites of a verdict. The page loads GX's stylesheets from their CDN: offline it shows
unstyled, with the same content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from collapse_guard.records import atomic


def validation_page(results: dict[str, dict], title: str) -> str:
    """One HTML page of every suite's validation result (GX result JSON, by suite name)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    renderer = ValidationResultsPageRenderer()
    # through JSON, as gate.json holds them: numpy scalars (a one-row frame's observed values) become plain numbers,
    # which GX's renderer formats (it cannot parse numpy 2's repr of a numpy float)
    plain = json.loads(json.dumps(results, default=_plain))
    documents = [renderer.render(ExpectationSuiteValidationResultSchema().load(r)) for r in plain.values()]
    page = documents[0]
    for document in documents[1:]:
        page.sections.extend(document.sections)
    page.page_title = title
    return DefaultJinjaPageView().render(page)


def write_validation_page(path: Path, results: dict[str, dict], title: str) -> Path | None:
    """``validation_page`` written atomically to ``path``; None (nothing written) when there are no results."""
    if not results:
        return None
    atomic.write_text(path, validation_page(results, title))
    return Path(path)


def _plain(value: object) -> object:
    """A numpy scalar or array as the Python value JSON can hold."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)
