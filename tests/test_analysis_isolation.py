"""Model-changing analyses run on a private copy: another thread using the shared model sees no change."""

from __future__ import annotations

import threading

import pytest
import torch

from cxrvlp.analysis import heads, isolation, occlusion
from cxrvlp.models import create_model

REPORTS = ["Small right pleural effusion.", "Mild cardiomegaly.", "Left lower lobe consolidation."]
NEGATED = ["No pleural effusion.", "No cardiomegaly.", "No consolidation."]
PROBE = "Large left pneumothorax with mediastinal shift and a small right pleural effusion."


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return create_model("tiny").eval()


def _encode(model, texts):
    with torch.no_grad():
        return model.encode_text(**model.tokenize(texts))


def _reference(model):
    return _encode(model, ["No acute cardiopulmonary abnormality."])[0]


def _overlapping(sweep_fn, model, reader):
    """Run ``sweep_fn`` in a thread and ``reader()`` in this one while the sweep is inside layer 1's masked passes
    (its on_progress holds the sweep there until the reader is done). Returns (sweep result, reader result or
    the exception it raised)."""
    inside, read = threading.Event(), threading.Event()
    out: dict = {}

    def progress(done: int, total: int) -> None:
        if done == 3:  # tiny: 2 layers x 2 heads; pass 3 = layer 1, head 0 (layer 0 is replayed from a recording)
            inside.set()
            read.wait(timeout=60)

    def sweep() -> None:
        try:
            out["sweep"] = sweep_fn(model, REPORTS, NEGATED, on_progress=progress)
        finally:
            inside.set()

    t = threading.Thread(target=sweep)
    t.start()
    assert inside.wait(timeout=60)
    try:
        out["reader"] = reader()
    except Exception as e:  # the failure on the shared model
        out["reader"] = e
    finally:
        read.set()
        t.join(timeout=120)
    return out["sweep"], out["reader"]


def test_unisolated_sweep_breaks_a_concurrent_reader(tiny):
    """The failure the isolation fixes: the raw sweep patches the shared model under a concurrent occlusion."""
    ref = _reference(tiny)
    serial = occlusion(tiny, PROBE, ref)
    _, concurrent = _overlapping(heads.head_sweep, tiny, lambda: occlusion(tiny, PROBE, ref))
    broken = isinstance(concurrent, Exception) or concurrent.similarity != pytest.approx(serial.similarity, abs=1e-6)
    assert broken


def test_isolated_sweep_and_concurrent_occlusion_equal_serial(tiny):
    ref = _reference(tiny)
    serial_occ = occlusion(tiny, PROBE, ref)
    serial_sweep = heads.head_sweep(tiny, REPORTS, NEGATED)
    sweep, occ = _overlapping(isolation.head_sweep, tiny, lambda: occlusion(tiny, PROBE, ref))
    assert not isinstance(occ, Exception), occ
    assert occ.similarity == pytest.approx(serial_occ.similarity, abs=1e-6)
    assert [w.score for w in occ.words] == pytest.approx([w.score for w in serial_occ.words], abs=1e-6)
    assert sweep.baseline == pytest.approx(serial_sweep.baseline, abs=1e-6)
    torch.testing.assert_close(sweep.delta, serial_sweep.delta, atol=1e-6, rtol=0)
    # and a concurrent isolated occlusion / masked embedding are unaffected too
    sweep2, occ2 = _overlapping(isolation.head_sweep, tiny, lambda: isolation.occlusion(tiny, PROBE, ref))
    assert occ2.similarity == pytest.approx(serial_occ.similarity, abs=1e-6)
    torch.testing.assert_close(sweep2.delta, serial_sweep.delta, atol=1e-6, rtol=0)


def test_masked_embeddings_on_a_copy_leave_the_shared_model_alone(tiny):
    before = _encode(tiny, REPORTS)
    masked = isolation.masked_text_embeddings(tiny, REPORTS, [(1, 0)])
    with heads.mask_heads(tiny.text.backbone, [(1, 0)]):
        expected = _encode(tiny, REPORTS)
    torch.testing.assert_close(masked, expected.float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(_encode(tiny, REPORTS), before, atol=0, rtol=0)
    assert isolation.state_fingerprint(tiny) == isolation.state_fingerprint(create_model("tiny").eval())


class Interrupted(BaseException):
    """Stands in for Streamlit's StopException / RerunException (BaseException, raised inside st calls)."""


def test_interrupted_sweep_leaves_no_model_masked(tiny):
    clean = isolation.state_fingerprint(tiny)
    before = _encode(tiny, REPORTS)

    def stop(done: int, total: int) -> None:
        if done == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        isolation.head_sweep(tiny, REPORTS, NEGATED, on_progress=stop)
    assert isolation.state_fingerprint(tiny) == clean
    torch.testing.assert_close(_encode(tiny, REPORTS), before, atol=0, rtol=0)
    for spare in isolation.spare_copies(tiny):  # a copy in the pool is as clean as the model
        assert isolation.state_fingerprint(spare) == clean
        torch.testing.assert_close(_encode(spare, REPORTS), before, atol=0, rtol=0)


def test_a_copy_left_dirty_is_dropped_not_lent_again(tiny):
    with isolation.private_copy(tiny) as m:
        pass
    assert isolation.spare_copies(tiny) == [m]  # a clean copy is kept and lent again
    with isolation.private_copy(tiny) as again:
        assert again is m
        handle = again.text.backbone.register_forward_hook(lambda *a: None)  # "forgotten" by an analysis
    assert isolation.spare_copies(tiny) == []
    handle.remove()
    with isolation.private_copy(tiny) as fresh:
        assert fresh is not m
        assert isolation.state_fingerprint(fresh) == isolation.state_fingerprint(tiny)


def test_isolated_attribution_equals_direct(tiny):
    ref = _reference(tiny)
    direct = isolation._attribution.attribute(tiny, PROBE, ref, n_steps=8)
    copied = isolation.attribute(tiny, PROBE, ref, n_steps=8)
    assert copied.similarity == pytest.approx(direct.similarity, abs=1e-6)
    assert copied.token_scores == pytest.approx(direct.token_scores, abs=1e-6)
    assert isolation.state_fingerprint(tiny) == isolation.state_fingerprint(create_model("tiny").eval())


def test_shared_text_cache_is_consistent_under_threads():
    from concurrent.futures import ThreadPoolExecutor

    from cxrvlp.inference import Predictor
    from cxrvlp.ui.loaders import SharedEmbeddingCache

    torch.manual_seed(0)
    predictor = Predictor(create_model("tiny"), device="cpu", spec="preset:tiny")
    texts = [f"Report {i}: small pleural effusion." for i in range(40)]
    expected = predictor.embed_texts(texts)
    cache = SharedEmbeddingCache(max_items=16)  # small: eviction runs while other threads read

    def job(k: int) -> tuple[torch.Tensor, list[str]]:
        order = texts[k % 7 :] + texts[: k % 7]
        return cache.embed_texts(predictor, order, batch_size=8), order

    with ThreadPoolExecutor(4) as pool:
        for got, order in pool.map(job, range(12)):
            torch.testing.assert_close(got, expected[[texts.index(t) for t in order]], atol=1e-6, rtol=0)
    assert len(cache) <= 16


def test_interrupted_embedding_leaves_no_half_written_cache_entry():
    from cxrvlp.inference import Predictor
    from cxrvlp.ui.loaders import SharedEmbeddingCache

    torch.manual_seed(0)
    predictor = Predictor(create_model("tiny"), device="cpu", spec="preset:tiny")
    texts = [f"Report {i}: mild cardiomegaly." for i in range(20)]
    cache = SharedEmbeddingCache()

    def stop(done: int, total: int) -> None:
        if done < total:  # after the first batch of 8
            raise Interrupted

    with pytest.raises(Interrupted):
        cache.embed_texts(predictor, texts, batch_size=8, on_progress=stop)
    assert len(cache) == 0  # nothing stored from the unfinished call
    torch.testing.assert_close(cache.embed_texts(predictor, texts), predictor.embed_texts(texts), atol=1e-6, rtol=0)
    assert len(cache) == 20
