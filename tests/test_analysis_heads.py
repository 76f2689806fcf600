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
    assert s2.metric == "margin" and 0 <= s2.accuracy_baseline <= 1
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


def test_length_chunked_encoding_equals_one_padded_batch(tiny):
    from cxrvlp.analysis.heads import _encode_chunks, _length_chunks

    texts = ["No pneumothorax.", "Small right pleural effusion with adjacent atelectasis and a tiny nodule.", "Edema."]
    texts = texts * 7  # 21 texts, more than one chunk
    chunked = _encode_chunks(tiny, *_length_chunks(tiny, texts, chunk=4))
    torch.testing.assert_close(chunked, _encode(tiny, texts), atol=1e-5, rtol=1e-5)


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
