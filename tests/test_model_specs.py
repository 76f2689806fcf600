"""One model-spec grammar: ``demo``, ``lite`` and ``preset:lite`` mean the same in every entry point."""

from __future__ import annotations

import pytest
import torch

from cxrvlp.inference import Predictor
from cxrvlp.models import load_model, parse_spec
from cxrvlp.models.loading import DEMO_DIR, SPEC_KINDS, SPEC_LOADERS
from cxrvlp.types import UserError


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_aliases_parse_to_their_kind() -> None:
    assert parse_spec("tiny") == parse_spec("preset:tiny") == ("preset", "tiny")
    assert parse_spec("demo") == ("cxrvlp", str(DEMO_DIR))
    assert set(SPEC_KINDS) == set(SPEC_LOADERS.names()) == {"preset", "cxrvlp", "hf", "open_clip", "openai_clip"}
    with pytest.raises(UserError, match="unknown model spec"):
        parse_spec("nonsense:thing")
    with pytest.raises(UserError):
        parse_spec("preset:")


def test_bare_preset_equals_prefixed_everywhere() -> None:
    a, b = load_model("tiny"), load_model("preset:tiny")
    assert _same_weights(a, b)  # model.seed makes a preset the same weights on every build
    p = Predictor.from_spec("tiny")
    assert p.spec == "preset:tiny" and _same_weights(p.model, b)


def test_demo_means_the_bundled_model_in_load_model_predictor_and_init_from() -> None:
    from cxrvlp.config import ExperimentConfig
    from cxrvlp.train.model_setup import build_model

    via_loader = load_model("demo")
    via_predictor = Predictor.from_spec("demo")
    assert via_predictor.spec == "demo"
    assert _same_weights(via_loader, via_predictor.model)
    cfg = ExperimentConfig()
    cfg.train.init_from = "demo"
    assert _same_weights(build_model(cfg), via_loader)
