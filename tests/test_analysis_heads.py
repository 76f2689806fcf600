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
