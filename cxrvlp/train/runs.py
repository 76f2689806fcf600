"""Training runs started and watched from outside the trainer (the app's Training page): list runs, read their
logs, start a run as a detached process, watch it, stop it.

A run started this way is a process group of its own (``start_new_session=True``) whose pid and start time are
written to ``RUN_DIR/app_process.json``, so a page reload or a new browser session still finds it and can stop it
(:func:`os.killpg`); the start time tells the run from an unrelated process that got the same pid later. Processes
are inspected with ``psutil``. The command runs under ``sh -c`` which writes its exit code to ``RUN_DIR/app_exitcode``
when it ends by itself; a run that was stopped or killed leaves no exit code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import psutil

from cxrvlp.config import ConfigError
from cxrvlp.train.logger import LOG_NAME, read_log
from cxrvlp.train.runconfig import RUN_CONFIG, build_config

PROCESS_FILE = "app_process.json"
EXIT_FILE = "app_exitcode"
OUTPUT_FILE = "app_output.log"
NOT_METRICS = {"step", "epoch", "kind", "time", "timestamp", "wall", "elapsed"}


def list_runs(root: str | Path) -> list[Path]:
    """Sub-folders of ``root`` that hold a trainer log (``log.jsonl``) or a process started by :func:`start_run`,
    newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if d.is_dir() and ((d / LOG_NAME).is_file() or (d / PROCESS_FILE).is_file())]
    return sorted(runs, key=lambda d: d.stat().st_mtime, reverse=True)


def metric_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Long table ``step, kind, term, value`` of every finite numeric entry of records that have a ``step``
    (``records`` as :func:`~cxrvlp.train.logger.read_log` returns them)."""
    rows = []
    for r in records:
        step = r.get("step")
        if not isinstance(step, int | float):
            continue
        kind = str(r.get("kind", "train"))
        for key, value in r.items():
            if key in NOT_METRICS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                rows.append({"step": step, "kind": kind, "term": key, "value": float(value)})
    return pd.DataFrame(rows, columns=["step", "kind", "term", "value"])


def run_metrics(run_dir: str | Path) -> pd.DataFrame:
    """:func:`metric_frame` of the run's log (empty when it has none yet)."""
    return metric_frame(read_log(run_dir, partial=True) if (Path(run_dir) / LOG_NAME).is_file() else [])


def total_steps(run_dir: str | Path) -> int | None:
    """``train.max_steps`` of the run's resolved ``config.yaml`` (read as ``cxrvlp train --resume`` reads it) when
    it is set (> 0), else None (no config, or one that does not parse)."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        return None
    try:
        steps = build_config(path).train.max_steps
    except (ConfigError, KeyError):
        return None
    return steps if steps > 0 else None


def train_command(
    run_dir: str | Path, *, config: str = "", preset: str = "", overrides: Sequence[str] = ()
) -> list[str]:
    """``python -m cxrvlp.cli train [--config C] [--preset P] --no-progress train.run_dir=RUN_DIR OVERRIDES``."""
    cmd = [sys.executable, "-m", "cxrvlp.cli", "train"]
    if config:
        cmd += ["--config", config]
    if preset:
        cmd += ["--preset", preset]
    return [*cmd, "--no-progress", f"train.run_dir={run_dir}", *overrides]


def check_run(*, config: str = "", preset: str = "", overrides: Sequence[str] = ()) -> None:
    """Resolve the run's configuration as ``cxrvlp train`` will and check what would make it fail at once.

    Raises:
        ValueError: an unknown key or preset, an unreadable config file, or a ``data.root`` that is empty or
            missing; the message says what to set.
    """
    try:
        cfg = build_config(config or None, preset=preset or None, overrides=list(overrides))
    except KeyError as e:
        raise ValueError(f"unknown model preset: {e.args[0] if e.args else preset}") from e
    root = str(cfg.data.root or "").strip()
    if not root:
        raise ValueError(
            "no dataset: data.root is empty. Fill in 'Dataset (data.root)' with a dataset folder or a manifest CSV "
            "(e.g. ../shared/data/nih_cxr14_sample/manifest.csv), or give a config file that sets it."
        )
    if not Path(root).expanduser().exists():
        raise ValueError(f"data.root {root} does not exist")


def start_run(run_dir: str | Path, command: Sequence[str], *, cwd: str | Path | None = None) -> int:
    """Start ``command`` detached in its own process group; stdout and stderr go to ``RUN_DIR/app_output.log``.

    Raises:
        RuntimeError: when a process started by :func:`start_run` is still running in ``run_dir``.
    """
    run_dir = Path(run_dir)
    if process_state(run_dir) == "running":
        raise RuntimeError(f"a run is already going in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / EXIT_FILE).unlink(missing_ok=True)
    script = 'exit_file="$1"; shift; "$@"; echo $? > "$exit_file"'
    with (run_dir / OUTPUT_FILE).open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", script, "sh", str((run_dir / EXIT_FILE).resolve()), *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    created = None
    with contextlib.suppress(psutil.Error):
        created = psutil.Process(proc.pid).create_time()
    info = {"pid": proc.pid, "create_time": created, "command": list(command), "started": time.time()}
    (run_dir / PROCESS_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return proc.pid


def _process(run_dir: Path) -> psutil.Process | None:
    """The process :func:`start_run` started in ``run_dir`` while it exists (a zombie included), else None; a pid
    now held by a process started later is not it."""
    try:
        info = json.loads((run_dir / PROCESS_FILE).read_text(encoding="utf-8"))
        pid, created = int(info["pid"]), info.get("create_time")
        proc = psutil.Process(pid)
        if created is not None and abs(proc.create_time() - float(created)) > 1.0:
            return None  # the pid was reused
        return proc
    except (OSError, ValueError, KeyError, TypeError, psutil.NoSuchProcess):
        return None
    except psutil.AccessDenied:  # exists, but is another user's: it cannot be ours
        return None


def _alive(proc: psutil.Process) -> bool:
    """Whether ``proc`` still runs; an ended child of ours (a zombie) is reaped."""
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(proc.pid, os.WNOHANG)
    return False


def process_state(run_dir: str | Path) -> str:
    """``"none"`` (not started by :func:`start_run`), ``"running"``, ``"finished"`` (exit 0), ``"failed (exit N)"``
    or ``"stopped"`` (killed or stopped before it could write its exit code)."""
    run_dir = Path(run_dir)
    if not (run_dir / PROCESS_FILE).is_file():
        return "none"
    exit_file = run_dir / EXIT_FILE
    if exit_file.is_file():
        code = exit_file.read_text().strip()
        return "finished" if code == "0" else f"failed (exit {code})"
    proc = _process(run_dir)
    return "running" if proc is not None and _alive(proc) else "stopped"


def stop_run(run_dir: str | Path, *, timeout: float = 5.0) -> bool:
    """SIGTERM the run's process group, then SIGKILL after ``timeout`` seconds; True when something was stopped."""
    run_dir = Path(run_dir)
    proc = _process(run_dir)
    if proc is None or process_state(run_dir) != "running":
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return True


def output_tail(run_dir: str | Path, lines: int = 30) -> str:
    """The last ``lines`` lines the started process printed ("" when there is no output file)."""
    path = Path(run_dir) / OUTPUT_FILE
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
