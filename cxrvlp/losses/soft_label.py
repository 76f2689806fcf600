"""Ko & Park's dynamic soft-label contrastive loss, Eq. (1)-(10), with hard negatives and the graph modality.

Notation: ``B`` images (global batch after gathering), ``N`` reports: ``N = 2B`` with hard negatives
(``T = [T1; T2]``, ``C = [C1; C2]``, ``G = [G1; G2]``: originals of all ranks, then hard negatives of all ranks),
``N = B`` without. Report ``j < B`` is the one paired with image ``j``; report ``B + j`` is its hard negative.

Choices the paper leaves open (see also ``docs/losses.md``):

* **Clinical vector C.** The loss takes the raw ``[B, 14]`` vector of the text engine's ``clinical_vector``
  (CheXpert order, :data:`cxrvlp.types.CHEXPERT_CLASSES`) and only L2-normalises it, so the encoding of
  positive / negative / uncertain is the text engine's (documented there). The loss needs only that it is a real
  vector; an all-zero row (a report with no label) has self-similarity 0 and falls back to the one-hot target of
  its own pair (see :func:`~cxrvlp.losses.functional.soft_labels`), never NaN.
* **Hard negatives in text->image.** None. Eq. (2) is over ``T1`` only: a hard negative has no image, so it
  contributes rows only where its partner modality has one too (the (T, G) pair, below) and columns in
  image->text / image->graph. The text->image target of ``T1[i]`` is row ``i`` of the soft labels of the top-left
  ``B x B`` block of ``S`` (thresholded, then renormalised over the ``B`` images).
* **The (T, G) pair of Eq. (10).** Every report, hard negatives included, has both a text and a graph embedding,
  so text->graph and graph->text use all ``N`` rows and ``N`` columns, ``p(T, G)`` softmaxed over the ``N`` graphs
  (resp. texts), and the full ``N x N`` soft labels of each active stream (text, clinical, graph similarity all
  index reports, so the same target matrix serves both directions). Pairs with the image follow Eq. (1) / (2):
  image->graph over all ``N`` graphs like image->text, graph->image with ``G1`` rows over ``B`` images ("we use
  T1 and G1 when compared with I" read as: the rows paired with images are the originals).

Other choices:

* Targets are constants (computed in float32 from detached features, autocast off), as labels are; gradients flow
  only through the logits.
* Each directed term is halved, so with every soft stream off and no hard negatives the loss is exactly CLIP's
  symmetric InfoNCE ``(CE_i2t + CE_t2i) / 2``; Eq. (10) itself has no 1/2 (a constant factor 2 on the loss).
* With every soft stream off the targets are one-hot (the plain contrastive term): hard negatives only gives
  CLIP^N, graph pairs only CLIP^G.

Returned terms (the loop sums them): ``"{dir}_loss"`` for ``dir`` in ``i2t, t2i`` (+ ``i2g, g2i, t2g, g2t`` with
graph pairs), each ``1/2 * sum_s w_s * L_s(dir)`` over the active streams ``s`` (or ``1/2 * CE`` with one-hot
targets when no soft stream is on). The streams of one direction are combined before the product with
``log p`` (``sum_s w_s KL(y_s || p) = sum_s w_s sum y_s log y_s - (sum_s w_s y_s) . log p``), which makes the
cost of a direction independent of the number of streams; per-stream values are one
:func:`~cxrvlp.losses.functional.soft_kl` call away for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

from cxrvlp.config import LossConfig
from cxrvlp.losses import functional as LF
from cxrvlp.losses.distributed import gather_optional


@dataclass(frozen=True)
class _Direction:
    """One directed modality pair: rows ``rows[:num_rows]`` softmaxed over columns ``cols[:num_cols]``."""

    name: str
    rows: str
    cols: str
    num_rows: int
    num_cols: int


@dataclass(frozen=True)
class _Stream:
    """One soft-label stream: weight, threshold and the ``[N, d]`` float32 features its similarity is built from."""

    name: str
    weight: float
    tau: float
    features: Tensor
    partner: int = 0  # >0 (= B, the number of originals): mask each report's own hard negative (mask_own_hardneg)


def _mask_partners_(sim: Tensor, partner: int, row0: int) -> Tensor:
    """``sim`` (rows ``row0:row0 + R`` of an ``[N, M]`` similarity, a temporary) with ``-inf`` written in place at
    each row's partner: report ``i < B`` and its hard negative ``B + i`` (both ways), so thresholding gives them a
    zero target."""
    rows = torch.arange(sim.shape[0], device=sim.device)
    g = rows + row0
    cols = torch.where(g < partner, g + partner, g - partner)
    keep = cols < sim.shape[1]
    sim[rows[keep], cols[keep]] = float("-inf")
    return sim


def _similarity_fp32(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b.T`` in float32 with autocast off (targets must not be blurred by bf16 rounding near tau)."""
    with torch.autocast(device_type=a.device.type, enabled=False):
        return LF.similarity(LF.upcast(a), LF.upcast(b))


@dataclass(frozen=True)
class _Targets:
    """Weighted soft targets ``sum_s w_s y_s`` of ``r`` rows over ``m`` columns, in one or both layouts."""

    rows: Tensor | None  # [r, m], row i = the targets of row i
    cols: Tensor | None  # [m, r], the transpose (square blocks of a symmetric S only)
    neg_entropy: Tensor  # [r], sum_s w_s sum_j y_s log y_s


def _soft_targets(
    sims: list[Tensor], streams: list[_Stream], widths: dict[int, tuple[bool, bool]], row0: int = 0
) -> dict[int, _Targets]:
    """Per column count ``m`` in ``widths``: ``sum_s w_s * y_s`` and the per-row ``sum_s w_s * sum_j y_s log y_s``,
    where ``y_s = soft_labels(sims[s][:r, :m], tau_s, diagonal_offset=row0)`` and ``r = min(R, m)``.

    ``sum_s w_s KL(y_s || p) = const - (sum_s w_s y_s) . log p``, so one product with ``log p`` per direction serves
    every stream. The widths share one thresholded similarity ``z = (S - tau)_+`` per stream (written over ``sims``,
    which must be temporaries) and one ``z log z``: with ``Z = sum_j z_j`` over a row's first ``m`` columns,
    ``y_j = z_j / Z`` and ``sum_j y_j log y_j = (sum_j z_j log z_j) / Z - log Z``. A row with ``Z = 0`` gets the
    one-hot of its own pair and entropy 0, as in :func:`~cxrvlp.losses.functional.soft_labels`.

    The column layout (the transpose, for a direction that reads a logits matrix by columns) is built without a
    transposed copy: ``S`` is a Gram matrix (``z[r, c] = z[c, r]``), so ``y.T = z / Z`` with ``Z`` broadcast over
    the columns. (``S[r, c]`` and ``S[c, r]`` are the same dot product; floating point may round them a last bit
    apart.)

    Args:
        sims: per stream, ``[R, M]`` float32 (or float64) similarities of rows ``row0 : row0 + R``; overwritten.
        streams: the streams (weights, thresholds), same order.
        widths: column count ``m <= M`` (``N`` and ``B``) -> (row layout wanted, column layout wanted); each with
            ``row0 + min(R, m) <= m``; the column layout needs ``row0 = 0`` and ``R >= m`` (a square block).
        row0: index of the first row (its own pair is column ``row0``).

    Returns:
        ``{m: _Targets}``, contiguous; rows of the targets sum to ``sum_s w_s``.
    """
    ordered = sorted(widths)
    out: dict[int, _Targets] = {}
    for sim, s in zip(sims, streams, strict=True):
        if s.partner:
            _mask_partners_(sim, s.partner, row0)
        z = sim.sub_(s.tau).clamp_min_(0.0)  # (R, M), Eq. 4 numerator (1 / (1 - tau) cancels below)
        zlogz = torch.xlogy(z, z)  # (R, M), 0 log 0 = 0
        total, ent, start = None, None, 0  # running row sums of z and z log z over columns :m
        for k, m in enumerate(ordered):
            part, part_ent = z[:, start:m].sum(dim=1), zlogz[:, start:m].sum(dim=1)  # (R,)
            total = part if total is None else total + part
            ent = part_ent if ent is None else ent + part_ent
            start = m
            r = min(z.shape[0], m)
            want_rows, want_cols = widths[m]
            norm = total[:r].clone()  # (r,)
            empty = (norm == 0).to(z.dtype)  # (r,) 1 for rows with nothing above tau
            norm.add_(empty)
            e = ent[:r].div(norm).sub_(norm.log())  # (r,) sum_j y log y
            last = k == len(ordered) - 1 and r == z.shape[0] and m == z.shape[1]
            y = yt = None
            if want_rows:
                y = z.div_(norm.unsqueeze(1)) if last and not want_cols else z[:r, :m] / norm.unsqueeze(1)
                y.diagonal(offset=row0).add_(empty)  # fallback: one-hot of the own pair
            if want_cols:
                if row0 != 0 or r != m:
                    raise ValueError(f"column layout needs a square block at row 0, got {r} x {m} at {row0}")
                yt = z.div_(norm) if last else z[:m, :m] / norm  # (m, r): column c / Z[c] by symmetry
                yt.diagonal().add_(empty)
            if s.weight != 1.0:
                e = e.mul_(s.weight)
                y, yt = (None if t is None else t.mul_(s.weight) for t in (y, yt))
            if m in out:
                prev = out[m]
                for acc, t in ((prev.rows, y), (prev.cols, yt), (prev.neg_entropy, e)):
                    if acc is not None:
                        acc.add_(t)
            else:
                out[m] = _Targets(y, yt, e)
    return out


class _PairTargetLogProb(torch.autograd.Function):
    """``(sum(y_rows * log_softmax(lg, 1)), sum(y_cols * log_softmax(lg[:m, :r], 0)))`` for the two directions of a
    modality pair that share one logits matrix ``lg`` ``[R, M]`` (the second reads it by columns, its targets in
    the column layout ``[m, r]``).

    The values are those of :func:`torch.log_softmax` and a dot product. The backward writes both directions'
    gradient, ``g * (y - softmax * sum(y))`` per direction, into one ``[R, M]`` buffer from the saved log-
    probabilities, instead of autograd's per-direction temporaries, a zero-padded copy for the column block and
    their sum.
    """

    @staticmethod
    def forward(ctx, lg: Tensor, y_rows: Tensor, y_cols: Tensor) -> tuple[Tensor, Tensor]:
        with torch.autocast(device_type=lg.device.type, enabled=False):
            m, r = y_cols.shape
            logp_rows = torch.log_softmax(lg, dim=1)  # (R, M)
            logp_cols = torch.log_softmax(lg[:m, :r], dim=0)  # (m, r)
            ctx.save_for_backward(logp_rows, logp_cols, y_rows, y_cols)
            return (
                torch.dot(y_rows.reshape(-1), logp_rows.reshape(-1)),
                torch.dot(y_cols.reshape(-1), logp_cols.reshape(-1)),
            )

    @staticmethod
    @once_differentiable
    def backward(ctx, g_rows: Tensor, g_cols: Tensor) -> tuple[Tensor, None, None]:
        logp_rows, logp_cols, y_rows, y_cols = ctx.saved_tensors
        with torch.autocast(device_type=logp_rows.device.type, enabled=False):
            m, r = y_cols.shape
            # d/dlg sum(y * log_softmax(lg)) = y - softmax(lg) * sum(y) over the softmax dim
            grad = logp_rows.exp().mul_(y_rows.sum(dim=1, keepdim=True).mul_(-g_rows)).addcmul_(y_rows, g_rows)
            cols = logp_cols.exp().mul_(y_cols.sum(dim=0, keepdim=True).mul_(-g_cols)).addcmul_(y_cols, g_cols)
            grad[:m, :r].add_(cols)
        return grad, None, None


def _direction_sum(logp: Tensor, targets: tuple[Tensor, Tensor] | None, row0: int) -> Tensor:
    """Sum over rows of ``sum_s w_s KL(y_s || p)``; with ``targets=None`` the one-hot NLL (own pair ``row0 + r``).

    ``logp`` and ``targets[0]`` have the same layout (either ``[R, M]``, or both transposed); ``targets[1]`` is
    ``[R]``."""
    if targets is None:
        return -logp.diagonal(offset=row0).sum()
    combined, neg_entropy = targets
    # one fused dot product instead of an [R, M] temporary and a sum (same value; d/d logp = combined)
    return neg_entropy.sum() - torch.dot(combined.to(logp.dtype).reshape(-1), logp.reshape(-1))


def _chunk_sum(
    rows: Tensor, cols: Tensor, logit_scale: Tensor, row0: int, streams: list[_Stream], num_cols: int
) -> Tensor:
    """:func:`_direction_sum` for rows ``row0 : row0 + r`` (``rows`` is ``[r, D]``, ``cols`` ``[M, D]``)."""
    logp = torch.log_softmax(LF.upcast(LF.logits(rows, cols, logit_scale)), dim=-1)  # (r, M)
    targets = None
    if streams:
        end = row0 + rows.shape[0]
        with torch.no_grad():
            sims = [_similarity_fp32(s.features[row0:end], s.features[:num_cols]) for s in streams]
            t = _soft_targets(sims, streams, {num_cols: (True, False)}, row0)[num_cols]
            targets = (t.rows, t.neg_entropy)
    return _direction_sum(logp, targets, row0)


class DynamicSoftLabelLoss(nn.Module):
    """Eq. (10): sum over directed modality pairs and soft-label streams of ``w_s * KL(y_s || p)`` (halved).

    Args:
        hard_negatives: append hard-negative texts / graphs / clinical vectors as rows ``B..2B-1`` (Eq. 1).
        text_stream: soft labels from ``S_t = T T^T`` (Eq. 3, 4, 6).
        clinical_stream: soft labels from ``S_c = C C^T`` of the L2-normalised clinical vectors (Eq. 3, 5, 7).
        graph_stream: soft labels from ``S_g = G G^T`` (Eq. 8, 9).
        graph_pairs: add the modality pairs (I, G), (G, I), (T, G), (G, T) of Eq. (10).
        tau_t: threshold of the text stream. tau_c, tau_g likewise.
        w_t: weight of the text stream in Eq. (10). w_c, w_g likewise.
        gather: gather features from all ranks (with gradients) before building S and y.
        chunk_size: >0 computes each direction in row chunks of this size under activation checkpointing, so
            memory is O(chunk_size * N) instead of O(N^2); same value and gradients as the dense path.
        mask_own_hardneg: with hard negatives, the text- and graph-stream targets of report ``i`` put zero mass on
            its own hard negative ``B + i`` (and row ``B + i`` none on ``i``), then rows are renormalised as usual
            (:func:`~cxrvlp.losses.functional.soft_labels`). Off = the paper's literal Eq. 4 / 9.
    """

    def __init__(
        self,
        *,
        hard_negatives: bool = True,
        text_stream: bool = True,
        clinical_stream: bool = True,
        graph_stream: bool = False,
        graph_pairs: bool = False,
        tau_t: float = 0.9,
        tau_c: float = 0.9,
        tau_g: float = 0.9,
        w_t: float = 1.0,
        w_c: float = 1.0,
        w_g: float = 1.0,
        gather: bool = True,
        chunk_size: int = 0,
        mask_own_hardneg: bool = False,
    ) -> None:
        super().__init__()
        for key, tau in (("tau_t", tau_t), ("tau_c", tau_c), ("tau_g", tau_g)):
            if not -1.0 <= tau < 1.0:
                raise ValueError(f"{key} must lie in [-1, 1), got {tau}")
        if chunk_size < 0:
            raise ValueError(f"chunk_size must be >= 0, got {chunk_size}")
        self.hard_negatives = hard_negatives
        self.text_stream = text_stream
        self.clinical_stream = clinical_stream
        self.graph_stream = graph_stream
        self.graph_pairs = graph_pairs
        self.taus = {"text": tau_t, "clinical": tau_c, "graph": tau_g}
        self.weights = {"text": w_t, "clinical": w_c, "graph": w_g}
        self.gather = gather
        self.chunk_size = chunk_size
        self.mask_own_hardneg = mask_own_hardneg

    @classmethod
    def from_config(cls, cfg: LossConfig) -> DynamicSoftLabelLoss:
        """Build from a :class:`~cxrvlp.config.LossConfig`."""
        return cls(
            hard_negatives=cfg.hard_negatives,
            text_stream=cfg.text_stream,
            clinical_stream=cfg.clinical_stream,
            graph_stream=cfg.graph_stream,
            graph_pairs=cfg.graph_pairs,
            tau_t=cfg.tau_t,
            tau_c=cfg.tau_c,
            tau_g=cfg.tau_g,
            w_t=cfg.w_t,
            w_c=cfg.w_c,
            w_g=cfg.w_g,
            gather=cfg.gather,
            chunk_size=cfg.chunk_size,
            mask_own_hardneg=cfg.mask_own_hardneg,
        )

    def extra_repr(self) -> str:
        streams = [s for s, on in self._stream_flags().items() if on] or ["one-hot"]
        return (
            f"hard_negatives={self.hard_negatives}, streams={'+'.join(streams)}, graph_pairs={self.graph_pairs}, "
            f"taus={self.taus}, weights={self.weights}, chunk_size={self.chunk_size}"
        )

    def _stream_flags(self) -> dict[str, bool]:
        return {"text": self.text_stream, "clinical": self.clinical_stream, "graph": self.graph_stream}

    # ------------------------------------------------------------------------------------------------- inputs

    def _require(self, name: str, value: Tensor | None, why: str) -> Tensor:
        if value is None:
            raise ValueError(f"{type(self).__name__}: {why} needs {name!r} in the model outputs")
        return value

    def _reports(self, originals: Tensor | None, hardneg: Tensor | None, key: str, why: str) -> Tensor:
        """Gathered ``[N, d]``: originals of all ranks, then (with hard negatives) hard negatives of all ranks."""
        x = gather_optional(self._require(key, originals, why)) if self.gather else originals
        if not self.hard_negatives:
            return x
        h = self._require(f"hardneg_{key}", hardneg, f"{why} with hard_negatives=True")
        return torch.cat([x, gather_optional(h) if self.gather else h], dim=0)

    def forward(
        self,
        image_features: Tensor | None = None,
        text_features: Tensor | None = None,
        hardneg_text_features: Tensor | None = None,
        graph_features: Tensor | None = None,
        hardneg_graph_features: Tensor | None = None,
        clinical: Tensor | None = None,
        hardneg_clinical: Tensor | None = None,
        distractor_image_features: Tensor | None = None,
        logit_scale: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Compute the loss terms from the model's outputs (``distractor_image_features`` is not used here).

        Args:
            image_features: ``[b, D]`` L2-normalised (``b`` rows on this rank; ``B = world * b`` after gathering).
            text_features: ``[b, D]`` L2-normalised report embeddings ``T1``.
            hardneg_text_features: ``[b, D]`` hard-negative report embeddings ``T2`` (with hard negatives).
            graph_features: ``[b, D]`` graph embeddings ``G1`` (graph stream or graph pairs).
            hardneg_graph_features: ``[b, D]`` ``G2``.
            clinical: ``[b, 14]`` raw clinical vectors ``C1`` (clinical stream); normalised here.
            hardneg_clinical: ``[b, 14]`` ``C2``.
            distractor_image_features: ignored (CON2 only).
            logit_scale: scalar ``1 / tau``, already exponentiated and clamped.

        Returns:
            ``{"{dir}_loss": scalar}``, see the module docstring.
        """
        image = self._require("image_features", image_features, "every configuration")
        scale = self._require("logit_scale", logit_scale, "every configuration")
        if self.gather:
            image = gather_optional(image)
        text = self._reports(text_features, hardneg_text_features, "text_features", "every configuration")
        feats = {"image": image, "text": text}
        use_graph = self.graph_pairs or self.graph_stream
        if use_graph:
            why = "graph_pairs / graph_stream"
            feats["graph"] = self._reports(graph_features, hardneg_graph_features, "graph_features", why)
        num_images, num_reports = image.shape[0], feats["text"].shape[0]
        for key, x in feats.items():
            expected = num_images if key == "image" else num_reports
            if x.shape[0] != expected:
                raise ValueError(f"{key} features have {x.shape[0]} rows, expected {expected}")

        target_features = {}
        if self.text_stream:
            target_features["text"] = LF.upcast(feats["text"].detach())
        if self.clinical_stream:
            c = self._reports(clinical, hardneg_clinical, "clinical", "clinical_stream")
            target_features["clinical"] = LF.normalize_clinical(c)
        if self.graph_stream:
            target_features["graph"] = LF.upcast(feats["graph"].detach())
        b, n = num_images, num_reports
        masked = ("text", "graph") if self.mask_own_hardneg and self.hard_negatives else ()
        streams = [
            _Stream(k, self.weights[k], self.taus[k], x, partner=b if k in masked else 0)
            for k, x in target_features.items()
        ]

        directions = [_Direction("i2t", "image", "text", b, n), _Direction("t2i", "text", "image", b, b)]
        if self.graph_pairs:
            directions += [
                _Direction("i2g", "image", "graph", b, n),
                _Direction("g2i", "graph", "image", b, b),
                _Direction("t2g", "text", "graph", n, n),
                _Direction("g2t", "graph", "text", n, n),
            ]
        if self.chunk_size and max(d.num_rows for d in directions) > self.chunk_size:
            return self._chunked(feats, streams, directions, scale)
        return self._dense(feats, streams, directions, scale)

    # ------------------------------------------------------------------------------------------------- paths

    def _dense(
        self, feats: dict[str, Tensor], streams: list[_Stream], directions: list[_Direction], scale: Tensor
    ) -> dict[str, Tensor]:
        """All matrices at once; shares ``S``, ``y`` and the logits between the two directions of each pair.

        The second direction of a pair (``t2i``, ``g2i``, ``g2t``) reads the first one's logits by columns: its
        log-softmax runs over dim 0 of the shared matrix and its targets come in that (column) layout, so nothing
        is transposed, with or without gradient.
        """
        rows_needed = max(d.num_rows for d in directions)
        reverse: dict[str, bool] = {}  # direction -> reads the logits of its pair's first direction by columns
        firsts: set[tuple[str, str]] = set()
        for d in directions:
            reverse[d.name] = (d.cols, d.rows) in firsts
            firsts.add((d.rows, d.cols))
        targets: dict[int, _Targets] = {}
        if streams:
            layouts: dict[int, tuple[bool, bool]] = {}
            for d in directions:
                rows_wanted, cols_wanted = layouts.get(d.num_cols, (False, False))
                layouts[d.num_cols] = (rows_wanted or not reverse[d.name], cols_wanted or reverse[d.name])
            with torch.no_grad():
                sims = [_similarity_fp32(s.features[:rows_needed], s.features) for s in streams]  # (rows_needed, N)
                targets = _soft_targets(sims, streams, layouts)

        pair_logits: dict[tuple[str, str], Tensor] = {}
        sums: dict[str, Tensor] = {}  # direction -> sum over its rows of y . log p
        for d in directions:
            if reverse[d.name]:
                continue
            lg = LF.upcast(LF.logits(feats[d.rows], feats[d.cols], scale))  # (R, M), float32 even under autocast
            pair_logits[d.rows, d.cols] = lg
            back = next((e for e in directions if reverse[e.name] and (e.cols, e.rows) == (d.rows, d.cols)), None)
            if not streams:
                continue
            y_rows = targets[d.num_cols].rows[: d.num_rows].to(lg.dtype)  # (R, M): lg is the whole matrix
            if back is None:
                sums[d.name] = torch.dot(y_rows.reshape(-1), torch.log_softmax(lg, dim=1).reshape(-1))
            else:
                y_cols = targets[back.num_cols].cols[:, : back.num_rows].to(lg.dtype)
                sums[d.name], sums[back.name] = _PairTargetLogProb.apply(lg, y_rows, y_cols)

        terms: dict[str, Tensor] = {}
        for d in directions:
            if streams:
                total = targets[d.num_cols].neg_entropy[: d.num_rows].sum() - sums[d.name]
            elif reverse[d.name]:  # one-hot: the own pair is on the diagonal in either layout
                lg = pair_logits[d.cols, d.rows][: d.num_cols, : d.num_rows]
                total = -torch.log_softmax(lg, dim=0).diagonal().sum()
            else:
                total = -torch.log_softmax(pair_logits[d.rows, d.cols], dim=1).diagonal().sum()
            terms[f"{d.name}_loss"] = 0.5 * total / d.num_rows
        return terms

    def _chunked(
        self, feats: dict[str, Tensor], streams: list[_Stream], directions: list[_Direction], scale: Tensor
    ) -> dict[str, Tensor]:
        """Row chunks of ``chunk_size`` under activation checkpointing: O(chunk_size * N) memory."""
        terms: dict[str, Tensor] = {}
        for d in directions:
            rows, cols = feats[d.rows][: d.num_rows], feats[d.cols][: d.num_cols]
            total = None
            for r0 in range(0, d.num_rows, self.chunk_size):
                chunk = rows[r0 : r0 + self.chunk_size]
                part = checkpoint(_chunk_sum, chunk, cols, scale, r0, streams, d.num_cols, use_reentrant=False)
                total = part if total is None else total + part
            terms[f"{d.name}_loss"] = 0.5 * total / d.num_rows
        return terms
