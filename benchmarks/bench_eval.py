"""Speed of the evaluation suite: the metric stage on synthetic embeddings, and (when ``cxrvlp.inference`` is
importable) the embedding stage of the ``lite`` preset on CPU.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_eval.py [--images 1000] [--embed-images 64] [--skip-embed]

Goal (issue 6): 1,000 images x 3 report variants with ``lite`` on CPU in under 2 minutes; metrics under 1 s.
The metric stage is timed on exactly what ``evaluate`` computes after embedding: CXR-Align (3 variants per image),
zero-shot over 14 findings, adversarial pairs, image -> report retrieval, NCD against 2,999 abnormal reports,
negated-prompt retrieval and text diagnostics, each with 1,000 bootstrap resamples. The embedding stage is timed on
``--embed-images`` synthetic 256 px images and 3x as many report-length texts, then extrapolated to ``--images``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cxrvlp.eval import (
    adversarial_pairs,
    align_scores,
    class_scores,
    score_adversarial,
    score_align,
    score_negated_prompt_retrieval,
    score_normal_case_detection,
    score_report_retrieval,
    score_text_diagnostics,
    score_zeroshot,
)

D = 512
C = 14


def unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def time_metrics(n: int, n_bootstrap: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    img = unit(torch.randn(n, D, generator=g))
    rep = unit(img + 0.8 * torch.randn(n, D, generator=g))
    neg = unit(rep + 0.3 * torch.randn(n, D, generator=g))
    omi = unit(rep + 0.3 * torch.randn(n, D, generator=g))
    y = (torch.rand(n, C, generator=g) < 0.2).numpy().astype(np.int8)
    pos_p, neg_p = unit(torch.randn(C, D, generator=g)), unit(torch.randn(C, D, generator=g))
    queries = unit(torch.randn(4 * C, D, generator=g))
    abnormal = unit(torch.randn(2999, D, generator=g))
    findings = [f"f{i % C}" for i in range(n)]
    labels = [frozenset({f"f{i % C}"}) for i in range(n)]
    boot = {"n_bootstrap": n_bootstrap, "seed": 0}
    t: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        fn()
        t[name] = time.perf_counter() - t0

    timed("align", lambda: score_align(align_scores(img, rep, neg, omi), findings, **boot))
    scores = class_scores(img, pos_p, neg_p)
    timed("zeroshot", lambda: score_zeroshot(scores, y, [f"c{j}" for j in range(C)], **boot))
    pairs = adversarial_pairs(y, [f"c{j}" for j in range(C)], [str(i) for i in range(n)])
    timed("adversarial", lambda: score_adversarial(scores, pairs, [f"c{j}" for j in range(C)], **boot))
    timed("retrieval", lambda: score_report_retrieval(img, rep, np.arange(n), labels, **boot))
    timed("ncd", lambda: score_normal_case_detection(img[: n // 10], rep[: n // 10], abnormal, **boot))
    qc = [j for j in range(C) for _ in range(4)]
    qn = [k >= 2 for _ in range(C) for k in range(4)]
    timed(
        "negprompt",
        lambda: score_negated_prompt_retrieval(img, queries, qc, qn, y, [f"c{j}" for j in range(C)], **boot),
    )
    timed("textdiag", lambda: score_text_diagnostics(rep, neg, omi, **boot))

    # grounding controls (issue 16): the same tasks with their controls, from the same embeddings
    from cxrvlp.eval.bootstrap import derangement
    from cxrvlp.eval.tasks import align_controls

    image_findings = [frozenset({f"f{i % C}"}) for i in range(n)]

    def align_with_controls() -> None:
        ctrl = align_controls(img, list(range(n)), findings, image_findings, rep, neg, omi, 0)
        score_align(align_scores(img, rep, neg, omi), findings, controls=ctrl, **boot)

    def zeroshot_controls() -> None:
        mean = unit(img.mean(dim=0, keepdim=True))
        ctrl = {"shuffled": scores[derangement(n)], "text_only": np.repeat(class_scores(mean, pos_p, neg_p), n, 0)}
        score_zeroshot(scores, y, [f"c{j}" for j in range(C)], controls=ctrl, **boot)

    timed("align+controls", align_with_controls)
    timed("zeroshot+controls", zeroshot_controls)
    timed(
        "negprompt+controls",
        lambda: score_negated_prompt_retrieval(
            img, queries, qc, qn, y, [f"c{j}" for j in range(C)], shuffled_images=img[derangement(n)], **boot
        ),
    )
    return t


def time_embedding(n_images: int) -> dict[str, float] | None:
    try:
        from cxrvlp.inference import Predictor
    except ImportError:
        print("cxrvlp.inference not importable: embedding stage skipped")
        return None
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).convert("RGB") for _ in range(n_images)]
    sentence = "There is a small left pleural effusion with adjacent atelectasis. The heart size is normal. "
    texts = [f"Study {i}. " + sentence * 3 for i in range(3 * n_images)]
    t0 = time.perf_counter()
    model = Predictor.from_preset("lite", device="cpu")
    out = {"load_model": time.perf_counter() - t0}
    model.embed_images(images[:2])  # warm-up
    t0 = time.perf_counter()
    model.embed_images(images, batch_size=32)
    out["embed_images"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.embed_texts(texts, batch_size=64)
    out["embed_texts"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--embed-images", type=int, default=64, help="images actually embedded to time the model")
    ap.add_argument("--skip-embed", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    t = time_metrics(args.images, args.bootstrap)
    total = sum(v for k, v in t.items() if "+controls" not in k)
    print(f"metric stage, {args.images} images x 3 variants, {args.bootstrap} bootstrap resamples:")
    for k, v in t.items():
        print(f"  {k:<18s} {v * 1000:8.1f} ms")
    ok = "OK" if total < 1 else "MISSED"
    print(f"  {'total':<18s} {total * 1000:8.1f} ms   (goal < 1000 ms: {ok}; the +controls rows are not in it:")
    print("  they repeat their task with the grounding controls added)")

    if args.skip_embed:
        return
    e = time_embedding(args.embed_images)
    if e is None:
        return
    per_image = e["embed_images"] / args.embed_images
    per_text = e["embed_texts"] / (3 * args.embed_images)
    projected = args.images * (per_image + 3 * per_text)
    print(f"embedding stage, lite on CPU ({torch.get_num_threads()} threads), {args.embed_images} images:")
    print(f"  load_model   {e['load_model']:8.2f} s")
    print(f"  embed_images {e['embed_images']:8.2f} s  ({per_image * 1000:.1f} ms / image)")
    print(f"  embed_texts  {e['embed_texts']:8.2f} s  ({per_text * 1000:.1f} ms / text)")
    print(
        f"  projected for {args.images} images x 3 texts: {projected:.1f} s + metrics {total:.2f} s "
        f"(goal < 120 s: {'OK' if projected + total < 120 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
