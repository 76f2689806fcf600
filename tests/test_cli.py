from __future__ import annotations

import subprocess
import sys

from cxrvlp.cli import COMMANDS, main


def test_help_lists_subcommands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert len(COMMANDS) >= 3
    for name in ("info", "eval", "explain", "project", "heads", "softlabels"):
        assert name in out


def test_info_no_check(capsys):
    assert main(["info", "--no-check"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "lite" in out and "cuda" in out


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "cxrvlp.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cxrvlp ")


def test_checkpoint_errors_are_one_line(tmp_path, capsys):
    code = main(["probe", "--model", f"cxrvlp:{tmp_path}", "--image", str(tmp_path / "x.png"), "--report", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "error:" in err


def test_module_entry_point_prints_command_errors_as_one_line(tmp_path):
    """Under ``python -m cxrvlp.cli`` the commands' ``CLIError`` is still a user error (one line, exit 2)."""
    bad = tmp_path / "reports.xyz"
    bad.write_text("x\n")
    out = subprocess.run([sys.executable, "-m", "cxrvlp.cli", "label", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "unsupported input" in out.stderr
