"""Speed of the analysis toolkit with the `lite` preset on CPU.

Bars (issue 7): attribution of a 60-token report at 32 steps < 2 s; head sweep over all heads of MiniLM with 64
report pairs < 60 s; UMAP of 4,000 reports < 30 s after embedding. Reports are real Open-I reports.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--umap-reports", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--skip", nargs="*", default=[], choices=["attribution", "heads", "umap"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from cxrvlp.analysis import attribute, head_sweep, project
    from cxrvlp.analysis.corpus import negation_pairs, openi_texts
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
        originals, negated = negation_pairs(reports, pairs=args.pairs, seed=0)
        t = time.perf_counter()
        sweep = head_sweep(model, originals, negated)
        dt = time.perf_counter() - t
        layers, heads = sweep.delta.shape
        print(f"head sweep, {layers}x{heads} heads, {len(originals)} pairs: {dt:.1f} s (bar 60 s)")

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
