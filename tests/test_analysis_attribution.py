from __future__ import annotations

import pytest
import torch

from cxrvlp.analysis import attribute, merge_words, occlusion
from cxrvlp.analysis.figures import attribution_bar, attribution_html, attribution_pair_html
from cxrvlp.models import create_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("tiny").eval()


@pytest.fixture(scope="module")
def image_feature(tiny):
    with torch.no_grad():
        return tiny.encode_image(torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)))[0]


def test_completeness_with_enough_steps(tiny, image_feature):
    a = attribute(tiny, "Small right pleural effusion. No pneumothorax.", image_feature, n_steps=64)
    total = sum(a.token_scores)
    assert total == pytest.approx(a.similarity - a.baseline_similarity, abs=1e-3)
    assert abs(a.delta) < 1e-3 and not a.delta_is_large
    assert a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]"


def test_similarity_matches_the_model(tiny, image_feature):
    text = "No pleural effusion."
    a = attribute(tiny, text, image_feature, n_steps=8)
    tok = tiny.tokenize([text])
    with torch.no_grad():
        expected = float(tiny.encode_text(**tok)[0] @ image_feature)
    assert a.similarity == pytest.approx(expected, abs=1e-5)


def test_text_reference_and_empty_input(tiny):
    a = attribute(tiny, "Pneumothorax.", "No pneumothorax.", n_steps=8)
    assert [w.word for w in a.words] == ["Pneumothorax", "."]
    with pytest.raises(ValueError, match="empty"):
        attribute(tiny, "   ", "x")


def test_word_pieces_merge_to_typed_words(tiny):
    text = "Pneumomediastinum  unchanged,bibasilar"
    enc = tiny.tokenizer(text, return_offsets_mapping=True)
    pieces = tiny.tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert any(p.startswith("##") for p in pieces)  # the example really has word pieces
    words = merge_words(text, enc["offset_mapping"], enc.word_ids(), [1.0] * len(pieces))
    assert [w.word for w in words] == ["Pneumomediastinum", "unchanged", ",", "bibasilar"]
    assert all(text[w.start : w.end] == w.word for w in words)
    n_pieces = sum(1 for wid in enc.word_ids() if wid == 0)
    assert words[0].score == n_pieces > 1


def test_occlusion(tiny, image_feature):
    o = occlusion(tiny, "No acute cardiopulmonary process.", image_feature)
    assert [w.word for w in o.words] == ["No", "acute", "cardiopulmonary", "process", "."]
    assert o.method == "occlusion"


def test_html_escapes_report_text(tiny, image_feature):
    a = attribute(tiny, "No <script>alert('x')</script> effusion & \"quotes\"", image_feature, n_steps=4)
    page = attribution_html(a)
    assert "<script>" not in page and "&lt;" in page and "&amp;" in page and "alert" in page
    pair = attribution_pair_html(a, a, titles=("<b>r</b>", "r^n"))
    assert "<script>" not in pair and "&lt;b&gt;r&lt;/b&gt;" in pair
    fig = attribution_bar(a)
    assert all("<script>" not in y for y in fig.data[0].y)
