"""The audit trail as one page: what the served model was trained on, whether every step was signed and gated,
and whether the lineage is healthy, answered at a glance (``collapse-guard audit report``).

Two steps, so each can be tested alone: ``gather`` reads the workspace (the ledger, each generation's folder and
signature, the alerts' journal) into a typed ``AuditView``; ``render`` turns a view into one self-contained HTML
file (a Jinja2 template shipped with the package, figures as inline SVG drawn by matplotlib, the lineage as
hand-written SVG): no script, no CDN, nothing fetched, so it opens offline and from a file share.

Every threshold the page draws is the one the ledger says was applied (collapse_guard/reports/verdicts.py): the
gate's floor of each generation from its ``gate_verdict`` entry, the forecast's floors from the last recorded
generation; never today's params.yaml.

Whether the audit trail verifies is decided by the caller (the ledger's chain, and the signed workspace's checks
that live in collapse_guard.pipeline.trust, a layer above this one) and handed in as a list of problems.
"""

from __future__ import annotations

import html
import io
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from collapse_guard.config import Params
from collapse_guard.errors import CollapseGuardError
from collapse_guard.records import alerts, attestation, ledger, signing
from collapse_guard.records.workspace import generation_paths, promotion_page, relative
from collapse_guard.reports import forecast as forecast_mod
from collapse_guard.reports import verdicts

TEMPLATE = "audit.html.j2"
PROMOTION_KINDS = ("model_promoted", "promotion_refused", "champion_moved")


@dataclass(frozen=True)
class Verification:
    """The audit trail's verdict in plain words; ``broken_lines`` are the ledger lines the problems name."""

    ok: bool
    problems: list[str]
    entries: int
    signed: bool

    @property
    def broken_lines(self) -> list[int]:
        return sorted({int(n) for p in self.problems for n in re.findall(r"\bline (\d+)", p)})

    @property
    def headline(self) -> str:
        if self.ok:
            how = "hash chain, signed head and signatures" if self.signed else "hash chain (unsigned workspace)"
            return f"Audit trail verified: {self.entries} ledger entries, {how} intact."
        lines = self.broken_lines
        where = f" Broken entry: ledger line {', '.join(map(str, lines))}." if lines else ""
        return f"Audit trail does NOT verify.{where} Do not trust what follows until it is explained."


@dataclass(frozen=True)
class AnchorVersion:
    seq: int
    kind: str
    at: str
    rows: int
    digest: str
    dvc_md5: str


@dataclass
class GenerationView:
    """One generation as the reviewer needs it: trained on what, signed, gated, promoted, healthy."""

    generation: int
    status: str  # recorded | blocked
    seq: int  # its ledger line (the gate's line when blocked)
    at: str
    model_id: str = ""
    parent_model_id: str = ""
    anchor_rows: int = 0
    anchor_digest: str = ""
    policy: str = ""
    mixture_rows: int = 0
    real: int = 0
    synthetic: int = 0
    real_fraction: float = 0.0
    mixture_digest: str = ""
    composition: dict[str, int] = field(default_factory=dict)  # "real" / "gen N" -> records in the mixture
    curation: dict[str, int] = field(default_factory=dict)  # reason -> records dropped
    generated: int = 0
    gate: str = ""  # passed | blocked | (not recorded)
    gate_failures: list[str] = field(default_factory=list)
    floor: float | None = None  # the real-fraction floor its gate applied (None: not recorded)
    floor_source: str = ""
    applied: dict[str, Any] = field(default_factory=dict)  # the gate entry's ``applied`` as recorded
    signature: str = "unsigned"  # verified | missing | broken | unsigned
    signature_detail: str = ""
    promotion: str = ""  # champion | candidate | ""
    promotion_reasons: list[str] = field(default_factory=list)
    mlflow_run_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    drift_html: str = ""  # workspace-relative paths, "" when absent
    gate_json: str = ""
    gate_report: str = ""  # Great Expectations' page of the gate's validation (gate.html)
    promotion_report: str = ""  # ... and of the promotion check (reports/verdicts/)
    trained: str = ""  # "elsewhere": a model trained outside the flow, recorded by `record-model`

    @property
    def applied_lines(self) -> list[str]:
        """What its gate applied, one line per threshold and suite (empty: the entry recorded none)."""
        return verdicts.describe_applied(self.applied) if self.applied else []


@dataclass
class AuditView:
    workspace: str
    written_at: str
    verification: Verification
    anchors: list[AnchorVersion]
    generations: list[GenerationView]
    promotions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    champion: int | None
    forecasts: list[forecast_mod.Forecast]
    forecast_note: str  # where the forecast's floors come from, or why there is none
    metric_labels: dict[str, str]  # metric -> title, the modality's figure metrics
    ledger_kinds: list[tuple[int, str, str]]  # (line, kind, at) for the ledger table

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verification.ok,
            "problems": self.verification.problems,
            "broken_lines": self.verification.broken_lines,
            "entries": self.verification.entries,
            "champion": self.champion,
            "generations": [asdict(g) for g in self.generations],
            "forecast": [f.to_dict() for f in self.forecasts],
            "forecast_note": self.forecast_note,
            "alerts": self.alerts,
        }


# -- gather -------------------------------------------------------------------------------------------------
def gather(
    params: Params, problems: list[str], metric_labels: dict[str, str], keys: signing.Keys | None = None
) -> AuditView:
    """Read the workspace into a view; ``problems`` are what the verification found (empty: intact). ``keys``: the
    workspace's keys with the retired ones its key chain names (collapse_guard.pipeline.trust.workspace_keys), so
    what a key signed before a rotation still shows as verified; default: the current key alone."""
    try:
        entries = ledger.read(params.ledger_path)
    except CollapseGuardError as exc:  # a line that is not JSON: show what can be shown, say why
        entries, problems = [], [*problems, str(exc)]
    keys = keys or signing.Keys(params.workspace)
    signed = keys.public.is_file()
    verification = Verification(not problems, list(problems), len(entries), signed)
    generations = _generations(params, entries, keys if signed else None)
    promotions = [_promotion(e) for e in entries if e["kind"] in PROMOTION_KINDS]
    champion = _champion(promotions)
    for view in generations:
        view.promotion = _role(view.generation, promotions, champion)
    forecasts, forecast_note = _forecasts(entries)
    return AuditView(
        workspace=str(params.workspace),
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        verification=verification,
        anchors=[
            AnchorVersion(
                e["seq"], e["kind"], e["at"], **{k: e["body"]["anchor"][k] for k in ("rows", "digest", "dvc_md5")}
            )
            for e in entries
            if e["kind"] in ("anchor_initialised", "anchor_ingested", "anchor_migrated", "anchor_restored")
            and "anchor" in e["body"]
        ],
        generations=generations,
        promotions=promotions,
        alerts=alerts.kept(alerts.journal_path(params.ledger_path)),
        champion=champion,
        forecasts=forecasts,
        forecast_note=forecast_note,
        metric_labels=metric_labels,
        ledger_kinds=[(e.get("seq", i), e.get("kind", "?"), e.get("at", "")) for i, e in enumerate(entries, start=1)],
    )


def _forecasts(entries: list[dict]) -> tuple[list[forecast_mod.Forecast], str]:
    """The forecast after the last recorded generation, with the settings that generation's run recorded."""
    settings = verdicts.forecast_settings(entries)
    if settings is None:
        recorded = any(e.get("kind") == "generation_recorded" for e in entries)
        return [], "forecast floors not recorded for the last generation" if recorded else ""
    last = max(g for g, _ in forecast_mod.recorded_history(entries))
    made = forecast_mod.for_history(forecast_mod.recorded_history(entries), settings)
    return made, f"floors as recorded with generation {last}"


def _generations(params: Params, entries: list[dict], keys: signing.Keys | None) -> list[GenerationView]:
    """Recorded generations and generations the gate blocked, by generation (the last record of each wins)."""
    gates = verdicts.gate_entries(entries)
    views: dict[int, GenerationView] = {}
    for entry in entries:
        if entry["kind"] == "generation_recorded":
            views[entry["body"]["generation"]] = _recorded(params, entry, keys)
        elif entry["kind"] == "gate_verdict" and entry["body"].get("verdict") != "passed":
            body = entry["body"]
            mixture = body.get("mixture", {})
            observed = body.get("anchor_observed") or {}
            views[body["generation"]] = GenerationView(
                generation=body["generation"],
                status="blocked",
                seq=entry["seq"],
                at=entry["at"],
                anchor_rows=observed.get("rows", 0),
                anchor_digest=observed.get("digest", ""),
                policy=mixture.get("policy", ""),
                mixture_rows=mixture.get("rows", 0),
                real=mixture.get("real", 0),
                synthetic=mixture.get("synthetic", 0),
                real_fraction=mixture.get("real_fraction", 0.0),
                composition={"real": mixture.get("real", 0), "synthetic": mixture.get("synthetic", 0)},
                gate="blocked",
                gate_failures=list(body.get("failures", [])),
                mlflow_run_id=body.get("mlflow_run_id", ""),
                gate_json=_existing(params, generation_paths(params, body["generation"]).gate),
                gate_report=_existing(params, generation_paths(params, body["generation"]).gate_html),
            )
    for generation, view in views.items():
        gate = gates.get(generation)
        if view.status == "recorded":
            view.gate = gate["body"].get("verdict", "") if gate else "(not recorded)"
            view.gate_failures = list(gate["body"].get("failures", [])) if gate else []
        floor = verdicts.applied_floor(gate["body"] if gate else None)
        view.floor, view.floor_source = floor.value, floor.source
        view.applied = dict((gate["body"].get("applied") if gate else None) or {})
    return [views[g] for g in sorted(views)]


def _recorded(params: Params, entry: dict, keys: signing.Keys | None) -> GenerationView:
    body = entry["body"]
    paths = generation_paths(params, body["generation"])
    mixture = body["mixture"]
    curation = body.get("curation") or {}
    signature, detail = _signature(params, paths.dir, keys)
    return GenerationView(
        generation=body["generation"],
        status="recorded",
        seq=entry["seq"],
        at=entry["at"],
        model_id=body["model_id"],
        parent_model_id=body.get("parent_model_id") or "",
        anchor_rows=body["anchor"]["rows"],
        anchor_digest=body["anchor"]["digest"],
        policy=mixture.get("policy", ""),
        mixture_rows=mixture["rows"],
        real=mixture["real"],
        synthetic=mixture["synthetic"],
        real_fraction=mixture["real_fraction"],
        mixture_digest=mixture.get("digest", ""),
        composition=_composition(params.resolve(mixture["file"]), mixture),
        curation={k.removeprefix("dropped_"): v for k, v in curation.items() if k.startswith("dropped_")},
        generated=curation.get("generated", 0),
        signature=signature,
        signature_detail=detail,
        mlflow_run_id=body.get("mlflow_run_id", ""),
        metrics=body.get("metrics") or {},
        drift_html=_existing(params, paths.drift_html),
        gate_json=_existing(params, paths.gate),
        gate_report=_existing(params, paths.gate_html),
        promotion_report=_existing(params, promotion_page(params, body["generation"])),
        trained=body.get("trained", ""),
    )


def _composition(mixture_file: Path, recorded: dict) -> dict[str, int]:
    """Records in the mixture by generation of origin (from its ``generation`` provenance column); the ledger's
    real/synthetic counts when the file cannot be read."""
    try:
        import pandas as pd

        origin = pd.read_parquet(mixture_file, columns=["generation"])["generation"]
    except Exception:  # missing or unreadable: the ledger's counts still say real vs synthetic
        return {"real": recorded["real"], "synthetic": recorded["synthetic"]}
    counts = origin.value_counts().sort_index()
    return {("real" if int(g) == 0 else f"gen {int(g)}"): int(n) for g, n in counts.items()}


def _signature(params: Params, folder: Path, keys: signing.Keys | None) -> tuple[str, str]:
    if keys is None:
        return "unsigned", "the workspace has no signing key"
    if not (folder / attestation.SIGNATURE).is_file():
        return "missing", f"{attestation.SIGNATURE} is missing"
    try:
        attestation.verify_generation(folder, keys, relative(params, folder))
    except CollapseGuardError as exc:
        return "broken", str(exc)
    return "verified", ""


def _promotion(entry: dict) -> dict[str, Any]:
    body = entry["body"]
    why = "; ".join(body.get("reasons") or [body.get("reason", "")])
    applied = body.get("applied")
    shown = "; ".join(verdicts.describe_applied(applied)) if applied and applied.get("parameters") else ""
    return {"seq": entry["seq"], "at": entry["at"], "kind": entry["kind"], "why": why, "applied_text": shown, **body}


def _champion(promotions: list[dict]) -> int | None:
    """The generation the alias ``champion`` last moved to, by the ledger."""
    for body in reversed(promotions):
        if body["kind"] == "champion_moved" or body.get("role") == "champion":
            return body.get("generation")
    return None


def _role(generation: int, promotions: list[dict], champion: int | None) -> str:
    if generation == champion:
        return "champion"
    decided = [p for p in promotions if p.get("generation") == generation and p["kind"] != "champion_moved"]
    return "former champion" if any(p.get("role") == "champion" for p in decided) else ("candidate" if decided else "")


def _existing(params: Params, path: Path) -> str:
    return relative(params, path) if path.is_file() else ""


# -- render -------------------------------------------------------------------------------------------------
def render(view: AuditView, page: Path) -> str:
    """The page's HTML; links are relative to where the page will be written (``page``)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("collapse_guard.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    workspace = Path(view.workspace)

    def link(workspace_path: str) -> str:
        return os.path.relpath(workspace / workspace_path, Path(page).resolve().parent) if workspace_path else ""

    return environment.get_template(TEMPLATE).render(
        view=view,
        link=link,
        lineage_svg=lineage_svg(view, link),
        composition_svg=composition_svg(view),
        metrics_svg=metrics_svg(view),
    )


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (text kept as text, so it is searchable and tested)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "collapse-guard"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def composition_svg(view: AuditView) -> str:
    """Stacked bars of each mixture by generation of origin, and the real fraction against the gate's floor."""
    if not view.generations:
        return ""
    plt = _pyplot()
    generations = [g.generation for g in view.generations]
    origins = sorted({o for g in view.generations for o in g.composition}, key=_origin_order)
    fig, (bars, fraction) = plt.subplots(1, 2, figsize=(10, 3.4))
    bottom = np.zeros(len(generations))
    colours = plt.get_cmap("viridis")(np.linspace(0.15, 0.9, max(1, len(origins) - 1)))
    for index, origin in enumerate(origins):
        counts = np.array([g.composition.get(origin, 0) for g in view.generations], dtype=float)
        colour = "#2b6cb0" if origin == "real" else colours[(index - 1) % len(colours)]
        bars.bar(generations, counts, bottom=bottom, color=colour, label=origin, edgecolor="white", linewidth=0.5)
        bottom += counts
    bars.set_xlabel("generation")
    bars.set_ylabel("records in the training mixture")
    bars.set_title("mixture composition by generation of origin")
    bars.legend(fontsize=7, ncol=2)
    real = [g.real_fraction for g in view.generations]
    fraction.plot(generations, real, marker="o", color="#2b6cb0", label="real fraction")
    floors = [(g.generation, g.floor) for g in view.generations if g.floor is not None]
    if floors:
        values = {f for _, f in floors}
        label = f"gate floor {floors[0][1]:g}" if len(values) == 1 else "gate floor applied"
        xs, ys = zip(*floors, strict=True)
        fraction.plot(xs, ys, color="#c53030", linestyle="--", marker="_", ms=14, drawstyle="steps-mid", label=label)
    for g in view.generations:
        if g.floor is None:
            fraction.annotate(verdicts.NOT_RECORDED, (g.generation, 0.02), color="#718096", fontsize=7, rotation=90)
        if g.status == "blocked":
            fraction.annotate("blocked", (g.generation, g.real_fraction), color="#c53030", fontsize=8)
    fraction.set_ylim(-0.02, 1.02)
    fraction.set_xlabel("generation")
    fraction.set_title("real fraction vs the floor each gate applied")
    fraction.legend(fontsize=7)
    for ax in (bars, fraction):
        ax.set_xticks(generations)
        ax.grid(alpha=0.3)
    return _svg(fig)


def _origin_order(origin: str) -> tuple[int, int]:
    return (0, 0) if origin == "real" else (1, int(origin.split()[-1]) if origin.split()[-1].isdigit() else 0)


def metrics_svg(view: AuditView) -> str:
    """The collapse metrics over generations (the experiment's panels), the champion marked, and each forecast's
    line and interval drawn ahead to its floor."""
    recorded = [g for g in view.generations if g.status == "recorded"]
    metrics = [m for m in view.metric_labels if any(m in g.metrics for g in recorded)]
    if not metrics:
        return ""
    plt = _pyplot()
    forecasts = {f.metric: f for f in view.forecasts}
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.1 * rows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        points = [(g.generation, g.metrics[metric]) for g in recorded if g.metrics.get(metric) is not None]
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", ms=3, color="#2d3748")
        if view.champion is not None and view.champion in xs:
            ax.plot([view.champion], [ys[xs.index(view.champion)]], marker="*", ms=14, color="#d69e2e", ls="none")
        made = forecasts.get(metric)
        if made is not None:
            _draw_forecast(ax, made)
        ax.set_title(view.metric_labels[metric], fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    fig.suptitle("collapse metrics by generation (star: champion; dashed: forecast to the floor)", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def _draw_forecast(ax, made: forecast_mod.Forecast) -> None:
    ax.axhline(made.floor, color="#c53030", linestyle=":", linewidth=1)
    ahead = made.generations_until if made.generations_until is not None else 3
    end = made.last_generation + max(1.0, min(ahead, 10))
    slope = made.slope
    if made.basis != "trend" and made.generations_until:  # the lead's crossing: a straight line to the floor there
        slope = (made.floor - made.last_value) / made.generations_until
    reached = made.last_value + slope * (end - made.last_generation)
    ax.plot(
        [made.last_generation, end],
        [made.last_value, reached],
        color="#c53030",
        linestyle="--",
        linewidth=1,
    )
    if made.generations_until:
        label = f"{made.direction} floor in {made.generations_until:g}"
        if made.basis != "trend":
            label += f" ({made.basis})"
        ax.annotate(label, (end, made.floor), color="#c53030", fontsize=7, ha="right", va="bottom")


def lineage_svg(view: AuditView, link) -> str:
    """anchor version → mixture → model, one row per generation, each node with its digest and statuses, linked
    to its drift report and gate JSON (hand-written SVG: boxes and arrows need no library)."""
    if not view.generations:
        return ""
    row_height, width = 74, 1100
    height = 20 + row_height * len(view.generations)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a5568"/></marker></defs>',
    ]
    columns = {"anchor": 10, "mixture": 380, "model": 750}
    box_width = 330
    for row, g in enumerate(view.generations):
        y = 10 + row * row_height
        gate_colour = {"passed": "#c6f6d5", "blocked": "#fed7d7"}.get(g.gate, "#edf2f7")
        signature_colour = {"verified": "#c6f6d5", "broken": "#fed7d7", "missing": "#fed7d7"}.get(
            g.signature, "#edf2f7"
        )
        seen = "anchor observed" if g.status == "blocked" else "anchor"
        anchor = [f"{seen}: {g.anchor_rows or '?'} rows", f"digest {g.anchor_digest[:16] or '?'}"]
        floor = "floor ?" if g.floor is None else f"floor {g.floor:g}"
        mixture = [
            f"mixture gen {g.generation}: {g.mixture_rows} rows ({g.policy})",
            f"real {g.real_fraction:.2f} ({floor}) · gate {g.gate} · digest {g.mixture_digest[:10] or '-'}",
        ]
        model = [
            f"model {g.model_id or '(not trained)'}",
            f"signature {g.signature} · {g.promotion or 'not promoted'}",
        ]
        parts.append(_node(columns["anchor"], y, box_width, anchor, "#ebf8ff", ""))
        parts.append(_node(columns["mixture"], y, box_width, mixture, gate_colour, link(g.gate_report or g.gate_json)))
        if g.status == "recorded":
            colour = "#fefcbf" if g.promotion == "champion" else signature_colour
            parts.append(_node(columns["model"], y, box_width, model, colour, link(g.drift_html)))
            parts.append(_arrow(columns["mixture"] + box_width, y + 24, columns["model"], y + 24))
        parts.append(_arrow(columns["anchor"] + box_width, y + 24, columns["mixture"], y + 24))
        if row > 0 and view.generations[row - 1].status == "recorded" and g.generation > 0:
            model_x, mixture_x = columns["model"] + box_width / 2, columns["mixture"] + box_width / 2
            parts.append(
                f'<path d="M {model_x} {y - row_height + 48} L {mixture_x} {y}" stroke="#a0aec0" '
                'stroke-dasharray="4 3" fill="none" marker-end="url(#arrow)"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _node(x: float, y: float, width: float, lines: list[str], fill: str, href: str) -> str:
    text = "".join(
        f'<text x="{x + 8}" y="{y + 18 + 16 * i}">{html.escape(line)}</text>' for i, line in enumerate(lines)
    )
    box = f'<rect x="{x}" y="{y}" width="{width}" height="48" rx="6" fill="{fill}" stroke="#4a5568"/>{text}'
    return f'<a href="{html.escape(href)}">{box}</a>' if href else box


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<path d="M {x1} {y1} L {x2} {y2}" stroke="#4a5568" fill="none" marker-end="url(#arrow)"/>'
