"""Naive references for the loss tests: explicit Python loops over rows, written from the paper's equations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def make_outputs(b: int, d: int = 16, *, seed: int = 0, dtype: torch.dtype = torch.float64, dup: bool = True) -> dict:
    """Model-output dict for ``b`` samples. With ``dup``, sample 1 repeats sample 0's report, graph and labels (a
    templated duplicate, so the soft labels are genuinely soft), and clinical row 2 is all zero (fallback path)."""
    g = torch.Generator().manual_seed(seed)

    def feats(n: int) -> torch.Tensor:
        return F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)

    text, graph, hn_text, hn_graph = feats(b), feats(b), feats(b), feats(b)
    clinical = torch.randint(0, 2, (b, 14), generator=g).to(dtype)
    hn_clinical = torch.randint(0, 2, (b, 14), generator=g).to(dtype)
    if dup:
        text[1] = F.normalize(text[0] + 0.05 * text[1], dim=-1)
        graph[1] = F.normalize(graph[0] + 0.1 * graph[1], dim=-1)
        hn_text[1] = F.normalize(text[0] + 0.2 * hn_text[1], dim=-1)
        clinical[1] = clinical[0]
        clinical[2] = 0.0
    return {
        "image_features": feats(b),
        "text_features": text,
        "hardneg_text_features": hn_text,
        "graph_features": graph,
        "hardneg_graph_features": hn_graph,
        "clinical": clinical,
        "hardneg_clinical": hn_clinical,
        "logit_scale": torch.tensor(7.0, dtype=dtype),
    }


def naive_soft_row(sims: list[float], tau: float, own: int) -> list[float]:
    """Eq. 4 for one row, then row normalisation; an empty row falls back to the one-hot of ``own``."""
    y = [(s - tau) / (1 - tau) if s > tau else 0.0 for s in sims]
    total = sum(y)
    if total == 0:
        return [1.0 if j == own else 0.0 for j in range(len(sims))]
    return [v / total for v in y]


def naive_kl_row(targets: list[float], logit_row: list[torch.Tensor]) -> torch.Tensor:
    """KL(targets || softmax(logit_row)) for one row, with torch scalars so autograd gives reference grads."""
    lse = torch.log(sum(torch.exp(v) for v in logit_row))
    out = torch.zeros((), dtype=logit_row[0].dtype)
    for t, v in zip(targets, logit_row, strict=True):
        if t > 0:
            out = out + t * (math.log(t) - (v - lse))
    return out


def naive_dsl(out: dict, *, hard_negatives: bool, streams: dict[str, tuple[float, float]], graph_pairs: bool) -> dict:
    """Eq. 1-10 with loops. ``streams``: name -> (tau, weight). Returns {"{dir}_loss": 1/2 sum_s w_s L_s(dir)}."""
    image = out["image_features"]
    b = image.shape[0]
    text, graph, clinical = out["text_features"], out["graph_features"], out["clinical"]
    if hard_negatives:
        text = torch.cat([text, out["hardneg_text_features"]])
        graph = torch.cat([graph, out["hardneg_graph_features"]])
        clinical = torch.cat([clinical, out["hardneg_clinical"]])
    rows_c = []
    for row in clinical.tolist():
        norm = math.sqrt(sum(v * v for v in row))
        rows_c.append([v / norm for v in row] if norm > 0 else [0.0] * len(row))
    target_vectors = {"text": text.detach().tolist(), "clinical": rows_c, "graph": graph.detach().tolist()}
    n = text.shape[0]
    mods = {"i": image, "t": text, "g": graph}
    dirs = [("i2t", "i", "t", b, n), ("t2i", "t", "i", b, b)]
    if graph_pairs:
        dirs += [("i2g", "i", "g", b, n), ("g2i", "g", "i", b, b), ("t2g", "t", "g", n, n), ("g2t", "g", "t", n, n)]
    scale = out["logit_scale"]
    terms = {}
    for name, r, c, nr, nc in dirs:
        sums = {s: torch.zeros((), dtype=image.dtype) for s in streams} or {"contrastive": 0.0}
        for i in range(nr):
            logit_row = [scale * torch.dot(mods[r][i], mods[c][j]) for j in range(nc)]
            if not streams:
                sums["contrastive"] = sums["contrastive"] + naive_kl_row([float(j == i) for j in range(nc)], logit_row)
            for s, (tau, _) in streams.items():
                x = target_vectors[s]
                sims = [sum(p * q for p, q in zip(x[i], x[j], strict=True)) for j in range(nc)]
                sums[s] = sums[s] + naive_kl_row(naive_soft_row(sims, tau, i), logit_row)
        weighted = [(streams[s][1] if s in streams else 1.0) * total for s, total in sums.items()]
        terms[f"{name}_loss"] = 0.5 * sum(weighted) / nr
    return terms
