"""Exact resume: SIGKILL a ``cxrvlp train`` process mid-epoch, ``--resume`` it, compare with an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train_loop import write_dataset

from cxrvlp import cli
from cxrvlp.models import CXRClip
from cxrvlp.train import find_checkpoint, load_trainer_state
from cxrvlp.train.logger import read_log

REPO = Path(__file__).resolve().parents[1]


def _max_logged_step(run: Path) -> int:
    try:
        lines = (run / "log.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError, KeyError):  # a line being written
            steps.append(json.loads(line)["step"])
    return max(steps, default=0)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    manifest = write_dataset(tmp_path / "ds", n=16, n_val=0)  # 16 train pairs, B=4: 4 steps per epoch
    args = [
        "train", "--preset", "tiny", "--no-progress", f"data.root={manifest}", f"data.cache_dir={tmp_path / 'cache'}",
        "data.num_workers=0", "train.batch_size=4", "train.epochs=2", "train.save_every=3", "train.log_every=1",
        "train.lr=1e-3", "train.warmup_steps=2",
    ]  # fmt: skip
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert cli.main([*args, f"train.run_dir={reference}"]) == 0

    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "cxrvlp.cli", *args, f"train.run_dir={run}"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while _max_logged_step(run) < 4:  # past the step-3 checkpoint
            assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "training did not reach step 4 in time"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = load_trainer_state(find_checkpoint(run / "checkpoints" / "last"))
    assert state["step"] in (3, 6) and state["micro"] != 0  # killed mid-epoch, some steps lost

    assert cli.main(["train", "--resume", str(run), "--no-progress"]) == 0
    ours = CXRClip.from_pretrained(run / "checkpoints" / "last").state_dict()
    theirs = CXRClip.from_pretrained(reference / "checkpoints" / "last").state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], msg=key)
    steps = [e["step"] for e in read_log(run) if e["kind"] == "train"]
    assert steps == list(range(1, 9))  # the lost steps' log lines were dropped, then replayed
    ref_losses = [e["loss"] for e in read_log(reference) if e["kind"] == "train"]
    assert [e["loss"] for e in read_log(run) if e["kind"] == "train"] == pytest.approx(ref_losses, rel=1e-5)
