"""Pure metric functions of cxrvlp.eval against hand-computed values and naive references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from cxrvlp.eval import (
    AdversarialPair,
    PromptSet,
    adversarial_pairs,
    align_correct,
    align_scores,
    check_prompt_set,
    label_prf,
    resample_weights,
    score_adversarial,
    score_align,
    score_negated_prompt_retrieval,
    score_normal_case_detection,
    score_report_retrieval,
    score_text_diagnostics,
    score_zeroshot,
    topk_credit,
    weighted_auroc,
    weighted_mean,
)
from cxrvlp.eval.bootstrap import auroc, mean_metric, nanmean0
from cxrvlp.eval.results import EvalResult


def unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


# ------------------------------------------------------------------------------------------------ bootstrap


def test_resample_weights_are_seeded_counts():
    w = resample_weights(50, 200, seed=3)
    assert w.shape == (200, 50)
    assert np.all(w.sum(axis=1) == 50)
    assert np.array_equal(w, resample_weights(50, 200, seed=3))
    assert not np.array_equal(w, resample_weights(50, 200, seed=4))
    assert resample_weights(50, 0).shape == (0, 50)


def test_weighted_auroc_matches_sklearn_with_ties_and_on_expanded_resamples():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=80).astype(float)  # many ties
    labels = rng.random(80) < 0.4
    assert weighted_auroc(scores, labels, np.ones((1, 80)))[0] == pytest.approx(roc_auc_score(labels, scores))
    w = resample_weights(80, 5, seed=1)
    boot = weighted_auroc(scores, labels, w)
    for r in range(5):
        idx = np.repeat(np.arange(80), w[r].astype(int))  # the resample written out
        assert boot[r] == pytest.approx(roc_auc_score(labels[idx], scores[idx]))


def test_weighted_auroc_nan_without_both_classes():
    assert math.isnan(weighted_auroc(np.array([1.0, 2.0]), np.array([True, True]), np.ones((1, 2)))[0])


def test_auroc_and_nanmean0_helpers():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=80).astype(float)  # many ties
    labels = rng.random(80) < 0.4
    assert auroc(scores, labels) == weighted_auroc(scores, labels, np.ones((1, 80)))[0]
    assert math.isnan(auroc(np.array([1.0, 2.0]), np.array([True, True])))
    out = nanmean0([np.array([1.0, np.nan, np.nan]), np.array([3.0, 2.0, np.nan])])
    assert out[:2].tolist() == [2.0, 2.0] and math.isnan(out[2])


def test_weighted_mean_with_mask_and_ci():
    v = np.array([1.0, 0.0, 1.0, 1.0])
    assert weighted_mean(v, np.ones((1, 4)), np.array([True, True, False, False]))[0] == 0.5
    m = mean_metric(np.r_[np.ones(70), np.zeros(30)], resample_weights(100, 1000, seed=0))
    assert m.value == pytest.approx(0.7)
    assert m.low < 0.7 < m.high
    assert 0.05 < m.high - m.low < 0.25  # about 2 * 1.96 * sqrt(.21 / 100) = 0.18
    assert m.n == 100


# ------------------------------------------------------------------------------------------------ CXR-Align


def test_align_correct_hand_values_and_ties():
    sims = np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.0], [0.3, 0.3, 0.3], [0.4, 0.2, 0.4]])
    c = align_correct(sims)
    assert c["task_a"].tolist() == [1.0, 0.0, 0.5, 1.0]
    assert c["task_b"].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert c["three_way"].tolist() == pytest.approx([1.0, 0.0, 1 / 3, 0.5])


def test_align_perfect_model_100_constant_model_50():
    n = 40
    img = unit(*[[1.0, 0.0, float(i % 3)] for i in range(n)])
    good = img.clone()
    bad = unit(*[[-1.0, 1.0, 0.0]] * n)
    findings = ["Edema" if i % 2 else "Cardiomegaly" for i in range(n)]
    perfect = score_align(align_scores(img, good, bad, bad), findings, n_bootstrap=200)
    assert perfect.metrics["task_a"].value == 1.0 and perfect.metrics["task_b"].value == 1.0
    assert perfect.metrics["three_way"].value == 1.0
    assert perfect.metrics["task_a"].low == 1.0  # every resample is perfect too
    same = unit(*[[0.3, 0.4, 0.5]] * n)
    const = score_align(align_scores(img, same, same, same), findings, n_bootstrap=200)
    assert const.metrics["task_a"].value == 0.5 and const.metrics["task_b"].value == 0.5
    assert const.metrics["three_way"].value == pytest.approx(1 / 3)
    assert const.metrics["margin_a"].value == pytest.approx(0.0, abs=1e-6)
    assert set(const.breakdown) == {"Edema", "Cardiomegaly"}
    assert const.breakdown["Edema"]["task_a"].n == 20


def test_align_per_finding_breakdown_separates_findings():
    sims = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    res = score_align(sims, ["A", "A", "B"], n_bootstrap=50)
    assert res.breakdown["A"]["task_a"].value == 1.0
    assert res.breakdown["B"]["task_a"].value == 0.0
    assert res.metrics["task_a"].value == pytest.approx(2 / 3)


# ------------------------------------------------------------------------------------------------ zero-shot


def test_zeroshot_hand_values():
    scores = np.array([[0.3, 1.0, 0.1], [0.2, 1.0, 0.2], [-0.1, 1.0, 0.3], [-0.4, 1.0, 0.4]])
    y = np.array([[1, 1, 1], [0, 1, -1], [1, 1, 0], [0, 1, 1]], dtype=np.int8)
    res = score_zeroshot(scores, y, ["A", "B", "C"], n_bootstrap=100)
    assert res.breakdown["A"]["auroc"].value == pytest.approx(0.75)
    assert res.breakdown["A"]["accuracy"].value == pytest.approx(0.5)
    # C: the -1 row is ignored; positives {0.1, 0.4} vs negative {0.3}: one of two pairs right
    assert res.breakdown["C"]["auroc"].value == pytest.approx(0.5)
    assert res.breakdown["C"]["auroc"].n == 3
    assert res.info["skipped"] == ["B"]  # all positive: no AUROC
    assert res.metrics["auroc"].value == pytest.approx((0.75 + 0.5) / 2)


def test_zeroshot_one_positive_gets_no_confidence_interval():
    """84 images, 1 positive (the COVID-19 test split's one normal film): resamples without it are dropped, so a
    percentile CI would be a narrow band around that image's rank. No CI for that finding, nor for a macro made of
    such findings only; a finding with enough positives keeps its CI."""
    rng = np.random.default_rng(0)
    y = np.zeros((84, 2), dtype=np.int8)
    y[0, 0] = 1  # A: one positive
    y[:30, 1] = 1  # B: 30 positives
    scores = rng.normal(size=(84, 2))
    scores[0, 0] = 2.5  # near the top: a high, meaningless AUROC
    alone = score_zeroshot(scores[:, :1], y[:, :1], ["A"], n_bootstrap=200, controls={"shuffled": scores[::-1, :1]})
    a = alone.breakdown["A"]["auroc"]
    assert a.value > 0.9 and math.isnan(a.low) and math.isnan(a.high)
    assert math.isnan(alone.metrics["auroc"].low) and math.isnan(alone.metrics["auroc_grounding_gap"].low)
    assert alone.info["counts"] == {"A": [1, 83]} and alone.info["few"] == ["A"]
    assert "Too few images" in EvalResult(model="m", dataset="d", tasks={"zeroshot": alone}).to_markdown()
    both = score_zeroshot(scores, y, ["A", "B"], n_bootstrap=200)
    assert math.isnan(both.breakdown["A"]["auroc"].low) and not math.isnan(both.breakdown["B"]["auroc"].low)
    assert not math.isnan(both.metrics["auroc"].low) and both.info["few"] == ["A"]


def test_zeroshot_constant_scores_are_chance():
    y = np.array([[1], [0], [1], [0]], dtype=np.int8)
    res = score_zeroshot(np.zeros((4, 1)), y, ["A"], n_bootstrap=100)
    assert res.metrics["auroc"].value == 0.5 and res.metrics["accuracy"].value == 0.5


def test_prompt_guard_rejects_no_no_finding_and_overlap():
    check_prompt_set(PromptSet("No Finding", ("no acute abnormality",), ("abnormal chest x-ray",)))
    with pytest.raises(ValueError, match="No Finding"):
        check_prompt_set(PromptSet("No Finding", ("no finding",), ("no No Finding",)))
    with pytest.raises(ValueError, match="both positive and negative"):
        check_prompt_set(PromptSet("Edema", ("edema",), ("edema",)))
    with pytest.raises(ValueError, match="needs both"):
        check_prompt_set(PromptSet("Edema", ("edema",), ()))


# ------------------------------------------------------------------------------------------------ adversarial


def test_adversarial_both_must_be_right_and_constant_is_quarter():
    classes = ["No Finding", "A", "B"]
    y = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=np.int8)
    pairs = adversarial_pairs(y, classes, ["x", "y", "z"], seed=0)
    assert [(p.index, p.present, p.absent) for p in pairs] == [(0, 1, 2), (1, 1, 2)]  # z: nothing present
    scores = np.array([[0.0, 0.2, -0.1], [0.0, 0.3, 0.1], [0.0, 0.0, 0.0]])
    res = score_adversarial(scores, pairs, classes, n_bootstrap=50)
    assert res.metrics["positive_query"].value == 1.0
    assert res.metrics["negative_query"].value == 0.5
    assert res.metrics["both"].value == 0.5
    const = score_adversarial(np.zeros((2, 3)), [AdversarialPair(0, 1, 2), AdversarialPair(1, 1, 2)], classes)
    assert const.metrics["both"].value == 0.25


# ------------------------------------------------------------------------------------------------ retrieval, NCD


def test_topk_credit_expected_rank_with_ties():
    sims = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.2, 0.2, 0.2]])
    c = topk_credit(sims, np.array([1, 0]), ks=(1, 2, 3))
    assert c[1].tolist() == [0.0, 0.25]
    assert c[2].tolist() == [0.5, 0.5]
    assert c[3].tolist() == [1.0, 0.75]


def test_label_prf_hand_values():
    prf = label_prf([frozenset({"A", "B"}), frozenset({"No Finding"})], [frozenset({"A"}), frozenset({"C"})])
    assert prf["precision"].tolist() == [0.5, 0.0]
    assert prf["recall"].tolist() == [1.0, 0.0]
    assert prf["f1"].tolist() == pytest.approx([2 / 3, 0.0])


def test_report_retrieval_perfect_and_labels():
    img = unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    gallery = unit([1, 0, 0], [0, 1, 0.1], [0, 0, 1])
    labels = [frozenset({"A"}), frozenset({"B"}), frozenset({"A", "B"})]
    res = score_report_retrieval(img, gallery, np.array([0, 1, 2]), labels, ks=(1, 5), n_bootstrap=50)
    assert res.metrics["top1"].value == 1.0 and res.metrics["f1"].value == 1.0
    # image 2 retrieves report 1 instead of its own report 2: top1 2/3, label P 1, R 1/2 on that query
    swapped = score_report_retrieval(img, gallery, np.array([0, 1, 1]), labels, ks=(1,), n_bootstrap=0)
    assert swapped.metrics["top1"].value == pytest.approx(2 / 3)
    assert swapped.metrics["precision"].value == pytest.approx((1 + 1 + 0.5) / 3)
    assert swapped.metrics["recall"].value == pytest.approx(1.0)


def test_normal_case_detection_hand_values_and_constant():
    img = unit([1, 0], [0, 1])
    normal = unit([1, 0], [1, 0])
    abnormal = unit([0.5, 0.5], [0, 1])
    res = score_normal_case_detection(img, normal, abnormal, n_bootstrap=20)
    assert res.metrics["accuracy"].value == 0.5  # image 0 finds its report first, image 1 does not
    same = unit([1, 1])
    const = score_normal_case_detection(unit([1, 0], [0, 1]), same.expand(2, 2), same.expand(3, 2), n_bootstrap=0)
    assert const.metrics["accuracy"].value == pytest.approx(0.25)  # 1 / (3 abnormal + 1)


# ------------------------------------------------------------------------------------------------ negated prompts


def test_negated_prompt_retrieval_bag_of_words_model_has_a_gap():
    img = torch.eye(4)
    y = np.array([[1], [1], [0], [0]], dtype=np.int8)
    pos_q = unit([1, 1, 0, 0])
    neg_q = unit([1, 0.9, 0, 0])  # "no X" lands near "X": retrieves the positives
    res = score_negated_prompt_retrieval(
        img, torch.cat([pos_q, neg_q]), [0, 0], [False, True], y, ["X"], ks=(1, 2, 10), n_bootstrap=30
    )
    assert res.metrics["pos_p@1"].value == 1.0 and res.metrics["neg_p@1"].value == 0.0
    assert res.metrics["gap@2"].value == 1.0
    assert res.metrics["pos_p@10"].value == 0.5  # K capped at the 4 images
    assert res.info["chance"]["pos"] == 0.5
    good_neg = unit([0, 0, 1, 1])
    res = score_negated_prompt_retrieval(img, torch.cat([pos_q, good_neg]), [0, 0], [False, True], y, ["X"], ks=(2,))
    assert res.metrics["gap@2"].value == 0.0 and res.metrics["neg_p@2"].value == 1.0


def test_negated_prompt_retrieval_ignores_unknown_images():
    img = torch.eye(3)
    y = np.array([[1], [-1], [0]], dtype=np.int8)
    q = unit([0.1, 1, 0], [0.1, 1, 0])  # both prefer the unknown image 1
    res = score_negated_prompt_retrieval(img, q, [0, 0], [False, True], y, ["X"], ks=(1,), n_bootstrap=0)
    assert res.metrics["pos_p@1"].value == 1.0 and res.metrics["neg_p@1"].value == 0.0


# ------------------------------------------------------------------------------------------------ text diagnostics


def test_text_diagnostics_hand_values():
    r = unit([1, 0], [1, 0])
    rn = unit([1, 0], [-1, 0])  # first encoder ignores the negation, second flips it
    rr = unit([1, 1], [1, 1])
    res = score_text_diagnostics(r, rn, rr, n_bootstrap=20)
    assert res.metrics["cos_negation"].value == pytest.approx(0.0, abs=1e-6)
    assert res.metrics["cos_omitted"].value == pytest.approx(math.sqrt(0.5))
    assert res.metrics["negation_closer"].value == 0.5
    assert not res.metrics["cos_negation"].percent
    assert sum(res.info["histogram"]["negation"]) == 2
