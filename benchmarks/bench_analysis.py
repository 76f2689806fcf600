"""Speed of the analysis toolkit with the `lite` preset on CPU.

Bars (issue 7): attribution of a 60-token report at 32 steps < 2 s; UMAP of 4,000 reports < 30 s after embedding.
Bars (issue 20), measured side by side in one run over the 72 MiniLM heads and 64 Open-I report pairs: attribution
patching <= 5 s after the model is loaded; exact verification of its top 10 <= 15 s; Spearman rho between patching
and the exact sweep over all 72 heads >= 0.8, and >= 7 of the exact top 10 in the patching top 10 (the exact sweep
of all heads is timed too). Reports are real Open-I reports.
"""

from __future__ import annotations

import argparse
import time

import torch


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two flat tensors (ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic)


def _timed(fn):
    """``(fn(), wall seconds, process CPU seconds)``. On a loaded machine the wall time grows with the load; the CPU
    time (all threads of this process) barely does, and bounds the wall time this process would take alone."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def heads_bench(model, reports: list[str], pairs: int, verify: int, exact_sweep: bool = True) -> None:
    from cxrvlp.analysis import head_sweep, refine_sweep
    from cxrvlp.analysis.corpus import negation_pairs
    from cxrvlp.analysis.heads import _length_chunks

    originals, negated = negation_pairs(reports, pairs=pairs, seed=0)
    n = len(originals)
    head_sweep(model, originals[:8], negated[:8], method="patching")  # warm-up (first backward allocates)

    def encode() -> torch.Tensor:
        chunks, restore = _length_chunks(model, originals + negated)
        with torch.inference_mode():
            return torch.cat([model.encode_text(c["input_ids"], c["attention_mask"]) for c in chunks])[restore]

    _, t_encode, c_encode = _timed(encode)  # one plain encoding pass of the 2N texts: the unit of work
    estimate, t_patch, c_patch = _timed(lambda: head_sweep(model, originals, negated, method="patching", top_k=verify))
    layers, heads = estimate.delta.shape
    print(f"heads, {layers}x{heads} MiniLM heads, {n} Open-I pairs, metric {estimate.metric}:", flush=True)
    print(f"  one plain encoding pass of the {2 * n} texts: wall {t_encode:.2f} s, CPU {c_encode:.2f} s (the unit)")
    print(
        f"  patching (1 forward + 1 backward per 8 pairs): wall {t_patch:.2f} s, CPU {c_patch:.2f} s"
        f" = {t_patch / t_encode:.2f} encoding passes (bar 5 s) wall {_ok(t_patch <= 5)}, CPU {_ok(c_patch <= 5)}",
        flush=True,
    )
    refined, t_verify, c_verify = _timed(lambda: refine_sweep(estimate, model, originals, negated, k=verify))
    print(
        f"  exact verification of the top {verify}: wall {t_verify:.2f} s, CPU {c_verify:.2f} s"
        f" = {t_verify / t_encode:.2f} encoding passes (bar 15 s)"
        f" wall {_ok(t_verify <= 15)}, CPU {_ok(c_verify <= 15)}",
        flush=True,
    )
    if not exact_sweep:
        return
    exact, t_exact, c_exact = _timed(lambda: head_sweep(model, originals, negated, top_k=verify))
    print(
        f"  exact sweep of all {layers * heads} heads: wall {t_exact:.2f} s, CPU {c_exact:.2f} s"
        f" = {t_exact / t_encode:.2f} encoding passes ({t_exact / t_patch:.1f}x patching)"
    )
    rho = spearman(estimate.delta, exact.delta)
    hits = len({h[:2] for h in exact.top_heads} & {h[:2] for h in estimate.top_heads})
    verified = ~refined.is_estimate()
    err = (refined.delta[verified] - exact.delta[verified]).abs().max().item()
    print(f"  Spearman rho, patching vs exact, {layers * heads} heads: {rho:.3f} (bar 0.8) {_ok(rho >= 0.8)}")
    print(f"  exact top {verify} in patching top {verify}: {hits}/{verify} (bar 7) {_ok(hits >= 7)}")
    print(f"  verified heads vs the full exact sweep: max |diff| {err:.2e}")
    for (layer, head, d), (pl, ph, pd) in zip(exact.top_heads, estimate.top_heads, strict=False):
        est = float(estimate.delta[layer, head])
        print(f"    exact L{layer}h{head} {d:+.5f} (estimate {est:+.5f}) | patching L{pl}h{ph} {pd:+.5f}")
    print(f"  estimate, all heads: {[round(x, 5) for x in estimate.delta.flatten().tolist()]}")
    print(f"  exact, all heads:    {[round(x, 5) for x in exact.delta.flatten().tolist()]}", flush=True)


def _ok(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--umap-reports", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--verify", type=int, default=10, help="heads the exact replay verifies (default 10)")
    parser.add_argument("--no-exact-sweep", action="store_true", help="time patching and verification only")
    parser.add_argument("--skip", nargs="*", default=[], choices=["attribution", "heads", "umap"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # `lite`'s projection heads are randomly initialised: seed them so runs compare

    from cxrvlp.analysis import attribute, project
    from cxrvlp.analysis.corpus import openi_texts
    from cxrvlp.inference import Predictor

    predictor = Predictor.from_preset("lite", device="cpu")
    model = predictor.model
    reports = openi_texts()

    if "attribution" not in args.skip:
        # the Open-I report whose length is closest to 60 tokens
        lengths = [len(ids) for ids in model.tokenizer(reports[:2000])["input_ids"]]
        text = reports[min(range(len(lengths)), key=lambda i: abs(lengths[i] - 60))]
        image = torch.nn.functional.normalize(
            torch.randn(model.config.embed_dim, generator=torch.Generator().manual_seed(0)), dim=0
        )
        attribute(model, text, image, n_steps=4)  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            a = attribute(model, text, image, n_steps=32)
            times.append(time.perf_counter() - t)
        n_tok = len(a.tokens)
        print(f"attribution, {n_tok} tokens, 32 steps: {min(times):.2f} s (best of 3; bar 2 s), delta {a.delta:+.2e}")

    if "heads" not in args.skip:
        heads_bench(model, reports, args.pairs, args.verify, not args.no_exact_sweep)

    if "umap" not in args.skip:
        texts = reports[: args.umap_reports]
        t = time.perf_counter()
        emb = predictor.embed_texts(texts, batch_size=128)
        t_embed = time.perf_counter() - t
        t = time.perf_counter()
        project(emb, method="umap", seed=0)
        t_umap = time.perf_counter() - t
        print(f"embedding {len(texts)} reports: {t_embed:.1f} s; UMAP after embedding: {t_umap:.1f} s (bar 30 s)")


if __name__ == "__main__":
    main()
