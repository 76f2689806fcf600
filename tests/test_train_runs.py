"""Runs started and watched from outside the trainer (:mod:`cxrvlp.train.runs`, the app's Training page): logs,
config, a detached process group, its state through psutil, stopping it."""

from __future__ import annotations

import json
import sys
import time

import psutil
import pytest

from cxrvlp.train import runs
from cxrvlp.train.logger import read_log


def test_metric_frame_reads_numeric_terms_and_skips_bad_lines(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "not_a_run").mkdir()
    (run / "log.jsonl").write_text('{"step": 1, "loss": 2.5, "kind": "train", "ok": true}\nnot json\n[1]\n{"step"')
    frame = runs.run_metrics(run)
    assert list(frame["term"]) == ["loss"] and frame["value"][0] == 2.5
    assert runs.list_runs(tmp_path) == [run]
    assert runs.run_metrics(tmp_path / "not_a_run").empty
    with pytest.raises(json.JSONDecodeError):  # the trainer's own reader stays strict
        read_log(run)
    assert read_log(run, partial=True) == [{"step": 1, "loss": 2.5, "kind": "train", "ok": True}]


def test_total_steps_from_config(tmp_path):
    assert runs.total_steps(tmp_path) is None
    (tmp_path / "config.yaml").write_text("train:\n  max_steps: 50\n")
    assert runs.total_steps(tmp_path) == 50
    (tmp_path / "config.yaml").write_text("train:\n  max_steps: 0\n")
    assert runs.total_steps(tmp_path) is None
    (tmp_path / "config.yaml").write_text("train:\n  max_stepz: 50\n")  # unknown key: not a run config
    assert runs.total_steps(tmp_path) is None


def test_train_command():
    cmd = runs.train_command("runs/x", config="c.yaml", preset="tiny", overrides=["train.lr=1"])
    assert cmd[1:] == [
        "-m",
        "cxrvlp.cli",
        "train",
        "--config",
        "c.yaml",
        "--preset",
        "tiny",
        "--no-progress",
        "train.run_dir=runs/x",
        "train.lr=1",
    ]


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pred()


def test_start_finish_and_fail(tmp_path):
    assert runs.process_state(tmp_path) == "none"
    runs.start_run(tmp_path / "ok", [sys.executable, "-c", "print('hello')"])
    assert _wait(lambda: runs.process_state(tmp_path / "ok") == "finished")
    assert "hello" in runs.output_tail(tmp_path / "ok")
    runs.start_run(tmp_path / "bad", [sys.executable, "-c", "raise SystemExit(3)"])
    assert _wait(lambda: runs.process_state(tmp_path / "bad") == "failed (exit 3)")


def test_start_survives_and_stop_kills_the_group(tmp_path):
    pid = runs.start_run(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    info = json.loads((tmp_path / runs.PROCESS_FILE).read_text())
    assert info["pid"] == pid
    assert runs.process_state(tmp_path) == "running"
    with pytest.raises(RuntimeError, match="already going"):
        runs.start_run(tmp_path, [sys.executable, "-c", "pass"])
    assert runs.stop_run(tmp_path)
    assert _wait(lambda: runs.process_state(tmp_path) == "stopped")
    assert not runs.stop_run(tmp_path)


def test_a_reused_pid_is_not_the_run(tmp_path):
    """A pid recorded by a run that ended, now held by another process (here: this test's own), reads as stopped."""
    me = psutil.Process()
    info = {"pid": me.pid, "create_time": me.create_time() - 100.0, "command": ["x"]}
    (tmp_path / runs.PROCESS_FILE).write_text(json.dumps(info))
    assert runs.process_state(tmp_path) == "stopped"
    assert not runs.stop_run(tmp_path)  # and nothing is signalled
    info["create_time"] = me.create_time()
    (tmp_path / runs.PROCESS_FILE).write_text(json.dumps(info))
    assert runs.process_state(tmp_path) == "running"


def test_check_run_messages(tmp_path):
    with pytest.raises(ValueError, match="data.root is empty"):
        runs.check_run(preset="tiny")
    with pytest.raises(ValueError, match="does not exist"):
        runs.check_run(preset="tiny", overrides=[f"data.root={tmp_path / 'missing'}"])
    with pytest.raises(ValueError, match="unknown model preset"):
        runs.check_run(preset="nope", overrides=[f"data.root={tmp_path}"])
    runs.check_run(preset="tiny", overrides=[f"data.root={tmp_path}"])  # valid: no error
