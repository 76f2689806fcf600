"""Forward-pass time of the `lite` preset on CPU: one image, one report (median of repeated runs)."""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from cxrvlp.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="lite")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_model(args.preset).eval()
    s = model.config.image_size
    img = torch.randn(1, 3, s, s)
    tok = model.tokenize(["Small right pleural effusion. No pneumothorax. Heart size is normal."])
    times_i, times_t = [], []
    with torch.inference_mode():
        for _ in range(3):
            model.encode_image(img)
            model.encode_text(**tok)
        for _ in range(args.repeats):
            t = time.perf_counter()
            model.encode_image(img)
            times_i.append(time.perf_counter() - t)
            t = time.perf_counter()
            model.encode_text(**tok)
            times_t.append(time.perf_counter() - t)
    n_tok = int(tok["attention_mask"].sum())
    print(f"{args.preset} on CPU ({args.threads} threads), median of {args.repeats}:")
    print(f"  one {s} px image : {statistics.median(times_i) * 1e3:7.1f} ms")
    print(f"  one {n_tok}-token report: {statistics.median(times_t) * 1e3:7.1f} ms")
    print(f"  image / report ratio: {statistics.median(times_i) / statistics.median(times_t):.2f}")


if __name__ == "__main__":
    main()
