from __future__ import annotations

import numpy as np
import pytest
import torch

from cxrvlp.analysis.figures import matrix_heatmap
from cxrvlp.analysis.softlabels import soft_label_matrices
from cxrvlp.losses import functional as LF
from cxrvlp.losses.soft_label import DynamicSoftLabelLoss
from cxrvlp.models import create_model

REPORTS = ["Small right pleural effusion.", "No acute cardiopulmonary process.", "No acute cardiopulmonary process."]
HARDNEG = ["No pleural effusion.", "Mild cardiomegaly.", "Right upper lobe pneumonia."]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("tiny", graph={"enabled": True, "hidden_dim": 32}).eval()


@pytest.fixture(scope="module")
def images(model):
    with torch.no_grad():
        return model.encode_image(torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)))


def test_matrices_shapes_and_rows(model, images):
    m = soft_label_matrices(model, REPORTS, HARDNEG, image_features=images, tau_t=0.5, tau_c=0.5, tau_g=0.5)
    assert [s.name for s in m.streams] == ["text", "clinical", "graph"] and m.num_originals == 3
    for s in m.streams:
        assert s.similarity.shape == (6, 6) and s.targets.shape == (6, 6)
        np.testing.assert_allclose(s.targets.sum(1), np.ones(6), atol=1e-6)
        assert s.loss is not None and np.isfinite(s.loss)
    clinical = m.streams[1]
    # the two normal reports and the hard negative "No pleural effusion." have the same clinical vector
    np.testing.assert_allclose(clinical.targets[1, [1, 2, 3]], [1 / 3] * 3, atol=1e-6)
    assert clinical.targets[0, 0] == pytest.approx(1.0)


def test_matrices_are_what_the_loss_trains_on(model, images):
    """The text stream's loss rebuilt from the displayed targets equals DynamicSoftLabelLoss on the same batch."""
    m = soft_label_matrices(model, REPORTS, HARDNEG, image_features=images, tau_t=0.3, streams=["text"])
    s = m.streams[0]
    tok = model.tokenize(REPORTS + HARDNEG)
    with torch.no_grad():
        t = model.encode_text(**tok)
    scale = model.scale().detach()
    np.testing.assert_allclose(s.similarity, (t @ t.T).numpy(), atol=1e-6)
    y = torch.from_numpy(s.targets)
    i2t = LF.soft_kl(LF.logits(images, t, scale), y[:3])
    t2i = LF.soft_kl(LF.logits(t[:3], images, scale), LF.soft_labels(torch.from_numpy(s.similarity[:3, :3]), 0.3))
    expected = 0.5 * (i2t + t2i)
    assert s.loss == pytest.approx(float(expected), rel=1e-5)
    ref = DynamicSoftLabelLoss(text_stream=True, clinical_stream=False, graph_stream=False, tau_t=0.3, gather=False)
    terms = ref(image_features=images, text_features=t[:3], hardneg_text_features=t[3:], logit_scale=scale)
    assert s.loss == pytest.approx(float(sum(terms.values())), rel=1e-6)


def test_without_images_and_graph(images):
    plain = create_model("tiny").eval()
    m = soft_label_matrices(plain, REPORTS)
    assert m.total_loss is None and "graph" in m.skipped and len(m.streams) == 2
    assert m.streams[0].similarity.shape == (3, 3)
    fig = matrix_heatmap(m.streams[0].targets, m.reports, title="y_t")
    assert fig.data[0].z.shape == (3, 3)
    with pytest.raises(ValueError, match="unknown streams"):
        soft_label_matrices(plain, REPORTS, streams=["txt"])
    with pytest.raises(ValueError, match="hard negatives"):
        soft_label_matrices(plain, REPORTS, HARDNEG[:2])
