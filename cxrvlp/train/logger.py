"""Run logs: one JSON object per line in ``RUN_DIR/log.jsonl`` and, when installed, TensorBoard scalars."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_NAME = "log.jsonl"


class RunLogger:
    """Writes metrics of the main process (other ranks get ``enabled=False`` and write nothing).

    Args:
        run_dir: the run's folder; ``log.jsonl`` and ``tensorboard/`` go there.
        enabled: False makes every call a no-op.
        resume_step: when resuming, lines with ``step`` beyond it (written by the interrupted run after its last
            checkpoint) are dropped, so the log reads as one uninterrupted run.
    """

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, resume_step: int | None = None) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / LOG_NAME
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed: logging to %s only (pip install tensorboard for curves)", self.path)
        else:
            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=resume_step)

    def log(self, step: int, metrics: dict[str, Any], *, kind: str = "train") -> None:
        """Append ``{"kind": kind, "step": step, **metrics}``; numeric metrics also go to TensorBoard."""
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, "step": step, **metrics}) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_log(run_dir: str | Path, *, partial: bool = False) -> list[dict[str, Any]]:
    """The entries of ``RUN_DIR/log.jsonl`` in order.

    Args:
        partial: the log of a run that may still be writing it: lines that are not a whole JSON object (the line
            being written, a corrupt one) are skipped instead of raising.

    Raises:
        OSError: no readable log. json.JSONDecodeError: a malformed line (without ``partial``).
    """
    path = Path(run_dir) / LOG_NAME
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not partial:
        return [json.loads(line) for line in lines]
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
