"""Training runs for the Training page: read JSONL logs, start a run as a detached process, watch it, stop it.

No Streamlit here. A run started from the app is a process group of its own (``start_new_session=True``) whose
pid is written to ``RUN_DIR/app_process.json``, so a page reload or a new browser session still finds it and can
stop it with :func:`os.killpg`. The command runs under ``sh -c`` which writes its exit code to
``RUN_DIR/app_exitcode`` when it ends by itself; a run that was stopped or killed leaves no exit code.
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

from cxrvlp.config import ConfigError, read_config_file

PROCESS_FILE = "app_process.json"
EXIT_FILE = "app_exitcode"
OUTPUT_FILE = "app_output.log"
LOG_NAMES = ("log.jsonl", "metrics.jsonl")  # the trainer's log first; any other *.jsonl is read as a fallback
NOT_METRICS = {"step", "epoch", "kind", "time", "timestamp", "wall", "elapsed"}


def find_log(run_dir: str | Path) -> Path | None:
    """The run's JSONL log (``log.jsonl`` / ``metrics.jsonl`` / any ``*.jsonl``), or None."""
    run_dir = Path(run_dir)
    for name in LOG_NAMES:
        if (run_dir / name).is_file():
            return run_dir / name
    return next(iter(sorted(run_dir.glob("*.jsonl"))), None)


def list_runs(root: str | Path) -> list[Path]:
    """Sub-folders of ``root`` that hold a JSONL log or were started from the app, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if d.is_dir() and (find_log(d) is not None or (d / PROCESS_FILE).is_file())]
    return sorted(runs, key=lambda d: d.stat().st_mtime, reverse=True)


def read_jsonl(path: str | Path) -> list[dict]:
    """Every JSON object line of ``path``; malformed lines (e.g. one being written) are skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            records.append(obj)
    return records


def metric_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Long table ``step, kind, term, value`` of every finite numeric entry of records that have a ``step``."""
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


def total_steps(run_dir: str | Path) -> int | None:
    """``train.max_steps`` of the run's resolved ``config.yaml`` when it is set (> 0), else None."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        steps = int((read_config_file(path).get("train") or {}).get("max_steps") or 0)
    except (ConfigError, AttributeError, TypeError, ValueError):
        return None
    return steps or None


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
    from cxrvlp.train import build_config

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
        RuntimeError: when a process started from the app is still running in ``run_dir``.
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
    info = {"pid": proc.pid, "command": list(command), "started": time.time()}
    (run_dir / PROCESS_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return proc.pid


def _pid(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / PROCESS_FILE).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that has ended: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def process_state(run_dir: str | Path) -> str:
    """``"none"`` (not started from the app), ``"running"``, ``"finished"`` (exit 0), ``"failed (exit N)"`` or
    ``"stopped"`` (killed or stopped before it could write its exit code)."""
    run_dir = Path(run_dir)
    pid = _pid(run_dir)
    if pid is None:
        return "none"
    exit_file = run_dir / EXIT_FILE
    if exit_file.is_file():
        code = exit_file.read_text().strip()
        return "finished" if code == "0" else f"failed (exit {code})"
    return "running" if _alive(pid) else "stopped"


def stop_run(run_dir: str | Path, *, timeout: float = 5.0) -> bool:
    """SIGTERM the run's process group, then SIGKILL after ``timeout`` seconds; True when something was stopped."""
    run_dir = Path(run_dir)
    pid = _pid(run_dir)
    if pid is None or process_state(run_dir) != "running":
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


def output_tail(run_dir: str | Path, lines: int = 30) -> str:
    """The last ``lines`` lines the app-started process printed ("" when there is no output file)."""
    path = Path(run_dir) / OUTPUT_FILE
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
