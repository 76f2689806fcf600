"""One typed error (``cxrvlp.types.UserError``) for bad input and "this model cannot do that"; bugs keep tracebacks."""

from __future__ import annotations

import logging

import pytest
from torch import nn

import cxrvlp.commands.info as info_command
from cxrvlp.analysis.heads import attention_out_projections
from cxrvlp.cli import CLIError, build_parser, main
from cxrvlp.commands import MODEL_SPEC_HELP, MODEL_SPEC_KINDS
from cxrvlp.commands.eval import TASK_NAMES
from cxrvlp.config import ConfigError
from cxrvlp.data.images import ImageReadError
from cxrvlp.eval.runner import TASKS
from cxrvlp.models.clip import CheckpointError
from cxrvlp.models.loading import SPEC_KINDS
from cxrvlp.models.weights import WeightsError
from cxrvlp.registry import Registry
from cxrvlp.types import UnknownNameError, UnsupportedError, UserError


def _run_raising(monkeypatch, error: BaseException, *argv: str) -> int:
    def run(_args):
        raise error

    monkeypatch.setattr(info_command, "run", run)  # `register` binds `run` when the parser is built
    return main([*argv, "info"])


def test_unsupported_analysis_is_one_line(monkeypatch, capsys):
    message = "head_ablation is not supported for open_clip:X: no out_proj"
    code = _run_raising(monkeypatch, UnsupportedError(message))
    assert code == 2 and capsys.readouterr().err.strip() == f"cxrvlp info: error: {message}"


@pytest.mark.parametrize("bug", [ValueError("shapes [2, 3] and [4, 5]"), KeyError("logit_scale"), TypeError("x")])
def test_bugs_keep_their_traceback(monkeypatch, bug):
    with pytest.raises(type(bug)):
        _run_raising(monkeypatch, bug)


def test_verbose_logs_the_traceback_of_a_user_error(monkeypatch, caplog, capsys):
    with caplog.at_level(logging.DEBUG):
        code = _run_raising(monkeypatch, UserError("bad manifest"), "-v")
    assert code == 2 and "bad manifest" in capsys.readouterr().err
    assert any(r.exc_info and r.exc_info[1].args == ("bad manifest",) for r in caplog.records)


@pytest.mark.parametrize(
    "cls", [CLIError, ConfigError, ImageReadError, WeightsError, CheckpointError, UnsupportedError, UnknownNameError]
)
def test_every_user_facing_error_is_a_user_error(cls):
    assert issubclass(cls, UserError)


def test_compatible_builtin_bases():
    assert issubclass(UnsupportedError, NotImplementedError) and issubclass(UnknownNameError, KeyError)
    assert issubclass(WeightsError, RuntimeError) and issubclass(ConfigError, ValueError)


def test_unknown_name_is_a_readable_one_liner():
    reg: Registry[int] = Registry("loss")
    reg.add("clip", 1)
    with pytest.raises(UnknownNameError) as e:
        reg.get("clp")
    assert str(e.value) == "unknown loss 'clp'; valid names: clip"  # no KeyError quotes


def test_head_ablation_on_an_encoder_without_out_proj_is_unsupported():
    with pytest.raises(UnsupportedError, match="head ablation supports"):
        attention_out_projections(nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 2)))


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_eval_help_lists_tasks_and_every_spec_kind(capsys):
    assert TASK_NAMES == TASKS
    assert set(MODEL_SPEC_KINDS) == {"demo", *SPEC_KINDS}
    assert f"any of: {', '.join(TASKS)}" in _help(capsys, "eval")
    for argv in (["eval"], ["eval", "finetune"], ["eval", "textdiag"], ["probe"], ["explain"], ["heads"]):
        assert " ".join(MODEL_SPEC_HELP.split()) in _help(capsys, *argv), argv
    assert "demo (" in MODEL_SPEC_HELP and all(f"{kind}:" in MODEL_SPEC_HELP for kind in SPEC_KINDS)
