from __future__ import annotations

import pytest
import torch

from cxrvlp.analysis import attention_out_projections, head_sweep, mask_heads
from cxrvlp.analysis.figures import head_heatmap
from cxrvlp.models import create_model

REPORTS = ["Small right pleural effusion.", "Mild cardiomegaly.", "Left lower lobe consolidation."]
NEGATED = ["No pleural effusion.", "No cardiomegaly.", "No consolidation."]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("tiny").eval()


def _encode(model, texts):
    with torch.no_grad():
        return model.encode_text(**model.tokenize(texts))


def test_masking_no_head_changes_nothing(tiny):
    before = _encode(tiny, REPORTS)
    with mask_heads(tiny.text.backbone, {}):
        same = _encode(tiny, REPORTS)
    torch.testing.assert_close(before, same, atol=0, rtol=0)


def test_masking_a_layer_changes_output_and_is_restored(tiny):
    before = _encode(tiny, REPORTS)
    with mask_heads(tiny.text.backbone, {0: [0, 1]}) as m:
        assert m[0].sum() == 0
        changed = _encode(tiny, REPORTS)
    assert (changed - before).abs().max() > 1e-4
    torch.testing.assert_close(_encode(tiny, REPORTS), before, atol=0, rtol=0)


def test_hooks_removed_when_the_block_raises(tiny):
    before = _encode(tiny, REPORTS)
    with pytest.raises(RuntimeError, match="boom"), mask_heads(tiny.text.backbone, [(1, 0)]):
        raise RuntimeError("boom")
    assert all(not p._forward_pre_hooks for p in attention_out_projections(tiny.text.backbone))
    torch.testing.assert_close(_encode(tiny, REPORTS), before, atol=0, rtol=0)


def test_out_of_range_head(tiny):
    with pytest.raises(ValueError, match="out of range"), mask_heads(tiny.text.backbone, [(9, 0)]):
        pass


def test_single_head_mask_equals_zeroed_value_slice(tiny):
    """Masking head h must equal zeroing that head's value projection rows (its context slice is then 0)."""
    model = create_model("tiny").eval()
    layer = model.text.backbone.encoder.layer[1].attention.self
    head_dim = layer.value.out_features // 2
    with torch.no_grad(), mask_heads(model.text.backbone, [(1, 1)]):
        masked = _encode(model, REPORTS)
    with torch.no_grad():
        layer.value.weight[head_dim:] = 0
        layer.value.bias[head_dim:] = 0
        zeroed = _encode(model, REPORTS)
    torch.testing.assert_close(masked, zeroed, atol=1e-6, rtol=1e-5)


def test_sweep_text_only_and_with_images(tiny):
    seen = []
    sweep = head_sweep(tiny, REPORTS, NEGATED, on_progress=lambda d, t: seen.append((d, t)))
    assert sweep.delta.shape == (2, 2) and sweep.metric == "text_distance" and seen[-1] == (4, 4)
    assert len(sweep.top_heads) == 4 and sweep.top_heads[0][2] == float(sweep.delta.min())
    with torch.no_grad():
        img = tiny.encode_image(torch.randn(3, 3, 64, 64))
    s2 = head_sweep(tiny, REPORTS, NEGATED, image_features=img)
    margins = (img * _encode(tiny, REPORTS)).sum(-1) - (img * _encode(tiny, NEGATED)).sum(-1)
    assert s2.metric == "margin" and s2.baseline == pytest.approx(float(margins.mean()), abs=1e-5)
    assert s2.accuracy_baseline == pytest.approx(float((margins > 0).double().mean()))
    assert not torch.isnan(s2.accuracy_delta).any()
    assert head_heatmap(s2).data[0].z.shape == (2, 2)
    with pytest.raises(ValueError, match="same non-zero number"):
        head_sweep(tiny, REPORTS, NEGATED[:2])


def test_clip_and_siglip_text_encoders_are_supported():
    from transformers import CLIPTextConfig, CLIPTextModel, SiglipTextConfig, SiglipTextModel

    for model in (
        CLIPTextModel(CLIPTextConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)),
        SiglipTextModel(
            SiglipTextConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
        ),
    ):
        model.eval()
        ids = torch.tensor([[1, 5, 7, 2]])
        assert len(attention_out_projections(model)) == 2
        with torch.no_grad():
            base = model(input_ids=ids).last_hidden_state
            with mask_heads(model, {1: [0, 1, 2, 3]}):
                masked = model(input_ids=ids).last_hidden_state
        assert (base - masked).abs().max() > 1e-5


def test_length_chunked_sweep_features_equal_one_padded_batch(tiny):
    from cxrvlp.analysis.heads import _sweep_features

    texts = ["No pneumothorax.", "Small right pleural effusion with adjacent atelectasis and a tiny nodule.", "Edema."]
    texts = texts * 7  # 21 texts: two length-sorted chunks, restored to input order
    features, layers, heads = _sweep_features(tiny, texts, None, only=set())  # no head masked: every row unmasked
    assert features.shape[0] == 1 + layers * heads
    torch.testing.assert_close(features[0], _encode(tiny, texts), atol=1e-5, rtol=1e-5)


def _naive_sweep(model, reports, negated):
    """Mask each head and re-encode everything from scratch: the reference the sweep must equal."""
    layers, heads = len(attention_out_projections(model.text.backbone)), model.text.backbone.config.num_attention_heads

    def distance():
        r, n = _encode(model, reports), _encode(model, negated)
        return float((1 - (r * n).sum(-1)).mean())

    base = distance()
    delta = torch.zeros(layers, heads)
    for layer in range(layers):
        for head in range(heads):
            with mask_heads(model.text.backbone, [(layer, head)]):
                delta[layer, head] = distance() - base
    return base, delta


def test_sweep_replaying_lower_layers_equals_masking_from_scratch(tiny):
    """The sweep records layers below the masked head once per chunk and replays them; same numbers as re-encoding
    every text for every head, over more than one chunk of uneven lengths, and the model is untouched after."""
    reports = [f"{r} Also {k} small nodules in the right upper lobe." * (k % 3 + 1) for k, r in enumerate(REPORTS * 7)]
    negated = [f"{n} Stable {k}." for k, n in enumerate(NEGATED * 7)]
    base, delta = _naive_sweep(tiny, reports, negated)
    sweep = head_sweep(tiny, reports, negated)
    assert sweep.baseline == pytest.approx(base, abs=1e-6)
    torch.testing.assert_close(sweep.delta, delta, atol=1e-6, rtol=0)
    assert all("forward" not in m.__dict__ for m in tiny.modules())
    assert _naive_sweep(tiny, reports, negated)[0] == pytest.approx(base, abs=1e-7)


def test_sweep_replay_with_clip_style_layers():
    """CLIP text layers (output projection inside the attention module) replay only the layers below."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from cxrvlp.analysis.heads import _record, _replay, _transformer_layers

    model = CLIPTextModel(
        CLIPTextConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
    ).eval()
    layers = [layer for layer, _ in _transformer_layers(model)]
    ids = torch.tensor([[1, 5, 7, 9, 2], [1, 6, 2, 0, 0]])
    with torch.no_grad():
        with _record(layers) as rec:
            model(input_ids=ids)
        for layer in range(3):
            with mask_heads(model, [(layer, 1)]):
                scratch = model(input_ids=ids).last_hidden_state
                with _replay(layers, layer, rec):
                    replayed = model(input_ids=ids).last_hidden_state
            torch.testing.assert_close(replayed, scratch, atol=1e-6, rtol=0)
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_sweep_computes_only_what_lies_above_the_masked_head(tiny, monkeypatch):
    """Counting calls: each chunk runs every self-attention once unmasked; a masked pass of layer l reruns only the
    self-attention of layers above l (layer l's own attention is replayed too)."""
    from cxrvlp.analysis.heads import _self_attention, _transformer_layers

    layers = [layer for layer, _ in _transformer_layers(tiny.text.backbone)]
    attention_cls = type(_self_attention(layers[0]))
    calls = []
    original = attention_cls.forward

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(attention_cls, "forward", counting)
    n_layers, n_heads = len(layers), tiny.text.backbone.config.num_attention_heads
    head_sweep(tiny, REPORTS, NEGATED)  # 6 texts: one chunk
    expected = n_layers + sum(n_heads * (n_layers - 1 - layer) for layer in range(n_layers))
    assert len(calls) == expected < n_layers * (1 + n_layers * n_heads)


def test_replay_really_skips_the_lower_layers():
    """With layers below 2 replayed, other token ids give the recorded result: those layers did not run."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from cxrvlp.analysis.heads import _record, _replay, _transformer_layers

    model = CLIPTextModel(
        CLIPTextConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
    ).eval()
    layers = [layer for layer, _ in _transformer_layers(model)]
    ids, other = torch.tensor([[1, 5, 7, 9, 2]]), torch.tensor([[1, 8, 3, 4, 2]])
    with torch.no_grad():
        with _record(layers) as rec:
            recorded = model(input_ids=ids).last_hidden_state
        with _replay(layers, 2, rec):
            replayed = model(input_ids=other).last_hidden_state
        fresh = model(input_ids=other).last_hidden_state
    torch.testing.assert_close(replayed, recorded)
    assert (fresh - recorded).abs().max() > 1e-4


# ------------------------------------------------------------------------------------ attribution patching
def _metric_at(model, scale, reports, negated, images=None):
    """The mean negation metric with every head's context scaled by ``scale`` (re-encoded from scratch)."""
    from cxrvlp.analysis import scale_heads

    with torch.no_grad(), scale_heads(model.text.backbone, scale):
        r, n = _encode(model, reports), _encode(model, negated)
    if images is None:
        return float((1 - (r * n).sum(-1)).mean())
    return float(((images * r).sum(-1) - (images * n).sum(-1)).mean())


def _check_first_order_limit(model, reports, negated, heads, images=None):
    """Masking head h by a factor (1 - eps) changes the metric by eps * (-dM/dg_h) + O(eps^2): the finite difference
    / eps must converge to the patching estimate linearly in eps (10x smaller eps, about 10x smaller error)."""
    est = head_sweep(model, reports, negated, image_features=images, method="patching")
    assert est.method == "patching" and bool(est.is_estimate().all()) and torch.isnan(est.accuracy_delta).all()
    dtype = next(model.parameters()).dtype
    ones = torch.ones(est.delta.shape, dtype=dtype)
    base = _metric_at(model, ones, reports, negated, images)
    assert est.baseline == pytest.approx(base, abs=1e-9)
    for layer, head in heads:
        errors = []
        for eps in (1e-2, 1e-3, 1e-4):
            scale = ones.clone()
            scale[layer, head] = 1 - eps
            slope = (_metric_at(model, scale, reports, negated, images) - base) / eps
            errors.append(abs(slope - float(est.delta[layer, head])))
        scale_of = max(abs(float(est.delta[layer, head])), 1e-6)
        assert errors[-1] < 2e-3 * scale_of, (layer, head, errors)
        assert errors[1] < 0.3 * errors[0] + 1e-9 and errors[2] < 0.3 * errors[1] + 1e-9, (layer, head, errors)
    return est


def test_patching_is_the_first_order_limit_of_scaled_masking_tiny():
    """In float64 on `tiny`, text-only and with images, every head: the estimate is the derivative of the metric
    along the masking direction (the gradient is the right one, with the right sign and scale)."""
    torch.manual_seed(0)
    model = create_model("tiny").eval().double()
    reports = REPORTS + ["Right upper lobe nodule and a small left effusion, both stable since the prior study."]
    negated = NEGATED + ["No nodule. No effusion."]
    every = [(layer, head) for layer in range(2) for head in range(2)]
    _check_first_order_limit(model, reports, negated, every)
    with torch.no_grad():
        images = model.encode_image(torch.randn(4, 3, 64, 64, dtype=torch.float64))
    _check_first_order_limit(model, reports, negated, every, images=images)


def test_patching_ranking_agrees_with_the_exact_sweep_tiny(tiny):
    est = head_sweep(tiny, REPORTS, NEGATED, method="patching", top_k=4)
    exact = head_sweep(tiny, REPORTS, NEGATED, top_k=4)
    assert [h[:2] for h in est.top_heads] == [h[:2] for h in exact.top_heads]
    assert est.baseline == pytest.approx(exact.baseline, abs=1e-6)
    torch.testing.assert_close(est.delta, exact.delta, atol=0.2 * float(exact.delta.abs().max()), rtol=0)


def test_refine_replaces_the_top_estimates_by_exact_effects(tiny):
    from cxrvlp.analysis import refine_sweep

    est = head_sweep(tiny, REPORTS, NEGATED, method="patching", top_k=4)
    exact = head_sweep(tiny, REPORTS, NEGATED)
    seen = []
    refined = refine_sweep(est, tiny, REPORTS, NEGATED, k=2, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2, 2)  # two masked passes, one chunk
    chosen = {h[:2] for h in est.top_heads[:2]}
    assert refined.method == "patching+exact" and len(refined.top_heads) == 4
    for layer in range(2):
        for head in range(2):
            if (layer, head) in chosen:
                assert not refined.is_estimate()[layer, head]
                assert float(refined.delta[layer, head]) == pytest.approx(float(exact.delta[layer, head]), abs=1e-7)
            else:
                assert refined.is_estimate()[layer, head]
                assert float(refined.delta[layer, head]) == float(est.delta[layer, head])
    cells = [str(c) for row in head_heatmap(refined).data[0].text for c in row]
    assert cells.count("exact") == 2 and cells.count("") == 2


def test_exact_sweep_of_chosen_heads_only(tiny):
    part = head_sweep(tiny, REPORTS, NEGATED, heads=[(1, 0)])
    full = head_sweep(tiny, REPORTS, NEGATED)
    assert int((~torch.isnan(part.delta)).sum()) == 1 and part.top_heads[0][:2] == (1, 0)
    assert float(part.delta[1, 0]) == pytest.approx(float(full.delta[1, 0]), abs=1e-7)
    with pytest.raises(ValueError, match="out of range"):
        head_sweep(tiny, REPORTS, NEGATED, heads=[(5, 0)])
    with pytest.raises(ValueError, match="method must be"):
        head_sweep(tiny, REPORTS, NEGATED, method="fast")
    with pytest.raises(ValueError, match="exact method only"):
        head_sweep(tiny, REPORTS, NEGATED, method="patching", heads=[(0, 0)])


def test_patching_leaves_the_model_as_it_was(tiny):
    before = _encode(tiny, REPORTS)
    tiny.train()
    head_sweep(tiny, REPORTS, NEGATED, method="patching")
    assert tiny.training
    tiny.eval()
    assert all(p.grad is None for p in tiny.parameters())
    assert all(not p._forward_pre_hooks for p in attention_out_projections(tiny.text.backbone))
    torch.testing.assert_close(_encode(tiny, REPORTS), before, atol=0, rtol=0)


def test_unsupported_towers_raise_one_typed_line():
    from cxrvlp.analysis import HeadAblationUnsupportedError

    class NoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.text = torch.nn.Module()
            self.text.backbone = torch.nn.TransformerEncoder(
                torch.nn.TransformerEncoderLayer(16, 2, batch_first=True), 1, enable_nested_tensor=False
            )

    for method in ("patching", "exact"):
        with pytest.raises(HeadAblationUnsupportedError) as info:
            head_sweep(NoHeads(), ["a"], ["b"], method=method)
        assert "\n" not in str(info.value) and "TransformerEncoder" in str(info.value)

    class Adapter(NoHeads):
        unsupported = {"head_ablation": "open_clip's own text transformer fuses its heads"}

        def supports(self, analysis):
            return analysis not in self.unsupported

    with pytest.raises(HeadAblationUnsupportedError, match="fuses its heads"):
        head_sweep(Adapter(), ["a"], ["b"], method="patching")
    assert issubclass(HeadAblationUnsupportedError, NotImplementedError)  # the app's existing guard catches it


def test_patching_on_clip_style_text_tower():
    """CLIP-style layers (output projection inside self_attn): the estimate is the eps -> 0 limit there too."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from cxrvlp.analysis import scale_heads
    from cxrvlp.analysis.heads import _patching

    class Tower(torch.nn.Module):
        """The attributes `_patching` needs: text.backbone, tokenize, encode_text."""

        def __init__(self):
            super().__init__()
            self.text = torch.nn.Module()
            self.text.backbone = CLIPTextModel(
                CLIPTextConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
            ).double()
            self.text.max_length = 16

        def tokenizer(self, texts, **kwargs):
            return {"input_ids": [[1] + [3 + (ord(c) % 90) for c in t][:10] + [2] for t in texts]}

        def tokenize(self, texts):
            ids = self.tokenizer(texts)["input_ids"]
            width = max(map(len, ids))
            return {
                "input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids]),
                "attention_mask": torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids]),
            }

        def encode_text(self, input_ids, attention_mask):
            out = self.text.backbone(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return torch.nn.functional.normalize(out, dim=-1)

    torch.manual_seed(0)
    model = Tower().eval()
    reports, negated = ["effusion", "big heart"], ["no effusion", "no big heart"]
    base, grad = _patching(model, reports, negated, None, None)

    def metric(scale):
        with torch.no_grad(), scale_heads(model.text.backbone, scale):
            r = model.encode_text(**model.tokenize(reports))
            n = model.encode_text(**model.tokenize(negated))
        return float((1 - (r * n).sum(-1)).mean())

    assert base == pytest.approx(metric(torch.ones(2, 4, dtype=torch.float64)), abs=1e-12)
    for layer, head in ((0, 1), (1, 3)):
        scale = torch.ones(2, 4, dtype=torch.float64)
        scale[layer, head] = 1 - 1e-5
        slope = (metric(scale) - base) / 1e-5
        assert slope == pytest.approx(-float(grad[layer, head]), rel=1e-3, abs=1e-9)


@pytest.fixture(scope="module")
def minilm():
    return create_model("lite").eval()


MINI_REPORTS = [
    "Small right pleural effusion.",
    "Mild cardiomegaly with pulmonary vascular congestion.",
    "Left lower lobe consolidation concerning for pneumonia.",
    "Small left apical pneumothorax.",
    "Moderate pulmonary edema.",
    "Right upper lobe nodule.",
]
MINI_NEGATED = [
    "No pleural effusion.",
    "No cardiomegaly. No pulmonary vascular congestion.",
    "No consolidation.",
    "No pneumothorax.",
    "No pulmonary edema.",
    "No nodule.",
]


def test_patching_first_order_limit_minilm(minilm):
    """MiniLM (the `lite` preset's text tower, BERT-style) in float64, six pairs: the limit holds on heads of the
    first, a middle and the last layer."""
    model = create_model("lite").eval().double()
    _check_first_order_limit(model, MINI_REPORTS, MINI_NEGATED, [(0, 3), (2, 7), (5, 11)])


def test_patching_ranking_agrees_with_the_exact_sweep_minilm(minilm):
    """All 72 MiniLM heads, six pairs: estimates rank the heads like the exact sweep does."""
    from scipy.stats import spearmanr

    est = head_sweep(minilm, MINI_REPORTS, MINI_NEGATED, method="patching", top_k=10)
    exact = head_sweep(minilm, MINI_REPORTS, MINI_NEGATED, top_k=10)
    assert est.delta.shape == exact.delta.shape == (6, 12)
    rho = spearmanr(est.delta.flatten().numpy(), exact.delta.flatten().numpy()).statistic
    hits = len({h[:2] for h in est.top_heads} & {h[:2] for h in exact.top_heads})
    assert rho >= 0.8 and hits >= 6, (rho, hits)


def test_cli_heads_patching_with_verify_writes_the_matrix(tmp_path, capsys):
    from cxrvlp.cli import main

    reports = tmp_path / "reports.txt"
    reports.write_text("\n".join(MINI_REPORTS) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["heads", "--model", "preset:tiny", "--reports", str(reports), "--pairs", "4", "--out", str(out)]
    assert main([*args, "--verify", "2", "--top", "4"]) == 0
    import json

    payload = json.loads((out / "heads.json").read_text())
    assert payload["method"] == "patching+exact" and payload["pairs"] == 4
    assert len(payload["delta"]) == 2 and len(payload["delta"][0]) == 2
    assert sum(not e for row in payload["estimated"] for e in row) == 2
    assert [h["estimated"] for h in payload["top_heads"]].count(False) == 2
    rows = (out / "heads.csv").read_text().splitlines()
    assert rows[0] == "layer,h0,h1" and len(rows) == 3
    assert (out / "heads.html").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "(exact)" in printed and "(estimate)" in printed
    assert main([*args, "--method", "exact"]) == 0
    assert json.loads((out / "heads.json").read_text())["method"] == "exact"
    assert "estimate" not in capsys.readouterr().out.split("lowers it most")[1]
