"""Tasks of the safe-zone search: one chain at one real fraction, then the table, the figure, MLflow and
the ledger's certificate."""

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from collapse_guard.config import Params
from collapse_guard.modality.base import Modality
from collapse_guard.pipeline import safe_zone
from collapse_guard.records import atomic, ledger, tracking
from collapse_guard.records.anchor import AnchorSplit
from collapse_guard.reports import figures


@task(name="safe-zone-chain", cache_policy=NO_CACHE, task_run_name="r{fraction}-seed{seed}")
def probe_chain(
    params: Params, anchor: AnchorSplit, modality: Modality, fraction: float, seed: int
) -> safe_zone.ChainOutcome:
    return safe_zone.run_chain(params, anchor, modality, fraction, seed)


@task(name="save-safe-zone", cache_policy=NO_CACHE)
def save_safe_zone(params: Params, zone: safe_zone.SafeZone) -> dict[str, Path]:
    """Every chain of every tested fraction (CSV) and the result (JSON), in ``experiment.output_dir``."""
    out = params.resolve(params.experiment.output_dir)
    table = pd.DataFrame(safe_zone.probes_table(zone))
    atomic.write_text(out / "safe_fraction_chains.csv", table.to_csv(index=False))
    atomic.write_json(out / "safe_fraction.json", zone.to_dict())
    return {"chains": out / "safe_fraction_chains.csv", "result": out / "safe_fraction.json"}


@task(name="draw-safe-zone", cache_policy=NO_CACHE)
def draw_safe_zone(params: Params, zone: safe_zone.SafeZone) -> Path:
    out = params.resolve(params.experiment.output_dir)
    table = pd.DataFrame(safe_zone.probes_table(zone))
    interval = (zone.low, zone.high)
    return figures.safe_fraction(
        table, zone.metrics, zone.settings.tolerance, zone.r_star, interval, out / "safe_fraction.png"
    )


@task(name="log-safe-zone", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def log_safe_zone(params: Params, zone: safe_zone.SafeZone, artifacts: list[Path], anchor: AnchorSplit) -> str:
    """One MLflow run in the experiments' experiment: the settings, r* and its interval, the compute."""
    uri = params.tracking_uri
    experiment = tracking.experiment_id(
        uri, params.tracking.experiment_name + "-experiments", params.resolve(params.tracking.mlflow_artifacts)
    )
    run_id = tracking.start_run(uri, experiment, "safe-zone")
    tracking.log(
        uri,
        run_id,
        params={
            **{f"safe_zone.{k}": v for k, v in zone.settings.model_dump().items()},
            "model_class": params.model.class_path,
            "anchor_digest": anchor.digest,
            "anchor_rows": anchor.record.rows,
            "metrics": ",".join(zone.metrics),
        },
        metrics={
            "r_star": zone.r_star,
            "r_star_low": zone.low,
            "r_star_high": zone.high,
            "fits": zone.fits,
            "sweep_fits": zone.sweep_fits,
            "compute_share": zone.compute_share,
        },
        tags={"certified": str(zone.certified).lower()},
        artifacts=artifacts,
    )
    tracking.finish(uri, run_id)
    return run_id


@task(name="certify-safe-fraction", cache_policy=NO_CACHE)
def certify(params: Params, modality: Modality, zone: safe_zone.SafeZone, body: dict) -> dict:
    """Append the certificate to the ledger (only a certified r* is recorded): what `gate.min_real_fraction:
    auto` reads."""
    return ledger.append(params.ledger_path, "safe_fraction_certified", body)
