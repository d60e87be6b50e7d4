"""Where a cold command's time goes: a timeline per command, from the outside.

Each command runs as a fresh process (as cron or a Prefect worker would start it) on a default workspace made
by ``collapse-guard init`` in a temporary folder. For each one the benchmark prints

    process start -> first task started -> last task ended -> last line printed -> process exit

in wall seconds, and the CPU seconds of the process and everything it started (the temporary Prefect server
included) before the first task, while the tasks ran, and after the last one. The fixed cost is the CPU
outside the task window: what a run pays whatever its tasks do.

Task times come from Prefect's own records of the run (its database in the benchmark's PREFECT_HOME), so the
product's output is left as it is; CPU is sampled from /proc every 50 ms and interpolated at the task times.

Commands, in this order: ``run -n 1`` on the fresh workspace (generations 0 and 1), ``run -n 1`` (one
generation: the headline), ``promote -g 1``, ``rollback``, ``audit verify``; with ``--server persistent`` the
same against a Prefect server the benchmark starts first (PREFECT_API_URL set, no temporary server). Then a
bare fit-and-sample of the same model on the same mixture, also in a cold process, for the guard's ratio.

    python benchmarks/cold_run.py [--server temporary|persistent|both] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = str(BIN / "collapse-guard")
TICK = os.sysconf("SC_CLK_TCK")
ENV = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "OMP_NUM_THREADS": "1",
}

# A bare generation: sample the previous model, fit the same model on the recorded mixture, sample for
# evaluation. Nothing else: no Prefect, no gate, no records.
BARE = """
import sys
import pandas as pd
from collapse_guard.config import load_params
from collapse_guard.generator import build_generator, load_generator
from collapse_guard.records.anchor import read_records
from collapse_guard.records.provenance import feature_columns
from collapse_guard.records.workspace import generation_paths, pipeline_state

params = load_params("params.yaml")
state = pipeline_state(params)
g = state.last_generation
previous = load_generator(state.model_class, generation_paths(params, g - 1).model)
previous.sample(params.generation.synthetic_per_generation, params.decoding, seed=g)
mixture = read_records(generation_paths(params, g).mixture)
model = build_generator(params.model)
model.fit(mixture[feature_columns(mixture)], seed=g)
model.sample(params.evaluation.sample_size, params.decoding, seed=g + 500)
"""


def process_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


@dataclass
class Timeline:
    command: str
    wall: float = 0.0
    cpu: float = 0.0
    first_task: float | None = None
    last_task: float | None = None
    last_line: float = 0.0
    tasks: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    returncode: int = 0
    load: tuple[float, float] = (0.0, 0.0)

    def cpu_at(self, moment: float) -> float:
        """The process tree's CPU seconds at ``moment`` (interpolated between samples)."""
        before = [(t, c) for t, c in self.samples if t <= moment]
        after = [(t, c) for t, c in self.samples if t >= moment]
        if not before:
            return 0.0
        if not after:
            return self.cpu
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)


def run(command: list[str], cwd: Path, env: dict, prefect_db: Path | None) -> Timeline:
    timeline = Timeline(" ".join(command))
    timeline.load = (os.getloadavg()[0], 0.0)
    started_utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = time.perf_counter()
    process = subprocess.Popen(
        [CLI, *command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stamps: list[float] = []

    def read(stream) -> None:
        for line in stream:
            stamps.append(time.perf_counter() - start)
            timeline.lines.append(line.rstrip())

    readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            cpu = sum(process_cpu(pid) for pid in tree(process.pid))
            timeline.samples.append((time.perf_counter() - start, cpu))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    timeline.wall = time.perf_counter() - start
    done.set()
    sampler.join()
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    timeline.returncode = process.returncode
    timeline.cpu = usage.ru_utime + usage.ru_stime
    timeline.samples.append((timeline.wall, timeline.cpu))
    timeline.last_line = max(stamps, default=0.0)
    timeline.load = (timeline.load[0], os.getloadavg()[0])
    if prefect_db is not None and prefect_db.exists():
        first, last, count = task_window(prefect_db, started_utc)
        if count:
            base = started_utc
            timeline.first_task = (first - base).total_seconds()
            timeline.last_task = (last - base).total_seconds()
            timeline.tasks = count
    return timeline


def task_window(database: Path, since: dt.datetime) -> tuple[dt.datetime, dt.datetime, int]:
    """First start and last end of the task runs Prefect recorded since ``since`` (UTC)."""
    for _ in range(20):  # the server writes task states from events: give it a moment
        with sqlite3.connect(database, timeout=10) as connection:
            row = connection.execute(
                "select min(start_time), max(end_time), count(*), sum(end_time is null) from task_run "
                "where start_time >= ?",
                (since.isoformat(sep=" "),),
            ).fetchone()
        if row[2] and not row[3]:
            break
        time.sleep(0.5)
    parse = dt.datetime.fromisoformat
    if not row[2]:
        return since, since, 0
    return parse(row[0]).replace(tzinfo=None), parse(row[1]).replace(tzinfo=None), row[2]


def show(timeline: Timeline) -> None:
    t = timeline
    exit_after = t.wall - t.last_line
    load = f"load {t.load[0]:.1f}->{t.load[1]:.1f}"
    print(f"\n{t.command}   (exit {t.returncode}; {load})")
    if t.returncode:
        print("  " + "\n  ".join(t.lines[-8:]))
    if t.first_task is not None:
        before, during = t.cpu_at(t.first_task), t.cpu_at(t.last_task) - t.cpu_at(t.first_task)
        after = t.cpu - before - during
        print(
            f"  wall  start -> first task {t.first_task:6.1f} s -> last task ended {t.last_task:6.1f} s -> "
            f"last line {t.last_line:6.1f} s -> exit {t.wall:6.1f} s   ({t.tasks} task runs)"
        )
        print(
            f"  CPU   before first task {before:5.1f} s, tasks {during:5.1f} s, after last task {after:5.1f} s; "
            f"total {t.cpu:5.1f} s; fixed (outside the tasks) {before + after:5.1f} s"
        )
    else:
        print(f"  wall  start -> last line {t.last_line:6.1f} s -> exit {t.wall:6.1f} s;   CPU {t.cpu:5.1f} s")
    print(f"  exit {exit_after:4.1f} s after the last line")


def make_workspace(root: Path, drift_report: str) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["paths"]["expectations_dir"] = str(REPO / "expectations")
    params["evaluation"]["drift_report"] = drift_report
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    start = time.perf_counter()
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_UI_ENABLED": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - start < 180:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    return server, url, time.perf_counter() - start


def commands(first: int) -> list[list[str]]:
    return [["run", "-n", "1"], ["promote", "-g", str(first)], ["rollback"], ["audit", "verify"]]


def bare(cwd: Path, env: dict) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", BARE], cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit("the bare generation failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["temporary", "persistent", "both"], default="both")
    parser.add_argument("--drift-report", choices=["html", "summary", "off"], default="html")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (its path is printed)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cg-cold-"))
    home = root / "prefect-home"
    env = {**os.environ, **ENV, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    database = home / "prefect.db"
    workspace = root / "ws"
    workspace.mkdir()
    make_workspace(workspace, args.drift_report)
    print(
        f"cold processes on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"{dt.datetime.now():%Y-%m-%d %H:%M}; default params.yaml (evaluation.drift_report: {args.drift_report}), "
        "OMP_NUM_THREADS=1"
    )
    server = None
    try:
        init = run(["init"], workspace, env, None)
        show(init)
        show(run(["run", "-n", "1"], workspace, env, database))  # generations 0 and 1
        guarded = []
        modes = ["temporary", "persistent"] if args.server == "both" else [args.server]
        for number, mode in enumerate(modes):
            mode_env = dict(env)
            if mode == "persistent":
                server, url, seconds = start_server(env)
                mode_env["PREFECT_API_URL"] = url
                print(f"\n== a persistent Prefect server ({url}), up in {seconds:.1f} s")
            else:
                print("\n== no PREFECT_API_URL: a temporary Prefect server per process")
            for command in commands(first=1 + number):
                timeline = run(command, workspace, mode_env, database)
                show(timeline)
                if command[0] == "run":
                    guarded.append((mode, timeline))
            if server is not None:
                own = sum(process_cpu(pid) for pid in tree(server.pid))
                print(f"  (the persistent server's own CPU so far: {own:.1f} s, paid once)")
        bare_wall, bare_cpu = bare(workspace, env)
        print(
            f"\nbare generation (sample, fit the same mixture, sample; cold process): {bare_cpu:.1f} CPU s, "
            f"{bare_wall:.1f} s wall"
        )
        for mode, timeline in guarded:
            print(
                f"guarded / bare, one generation, {mode} server: {timeline.cpu / bare_cpu:.1f}x CPU "
                f"({timeline.cpu:.1f} / {bare_cpu:.1f} s)"
            )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if args.keep:
            print(f"workspace kept: {workspace}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
