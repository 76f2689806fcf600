"""CoN-CLIP-style objective (Singh et al., "Learn 'No' to Say 'Yes' Better"): Vu & Sheshappanavar's CON2.

With ``B`` images ``I``, their captions ``T``, the negated captions ``Tn`` (``hardneg_text_features``) and, when the
data provides them, distractor images ``Id`` (an image that the negated caption describes), following CoN-CLIP's
reference loss:

* ``i2t``: each image against ``[T; Tn]`` (2B captions), positive its own caption: negated captions are extra
  negatives;
* ``t2i``: each caption against ``[I; Id]`` (2B images, or B without distractors), positive its own image;
* ``distractor``: each distractor image against ``[T; Tn]``, positive the negated caption it illustrates.

The terms are averaged (divided by 3, or by 2 without distractors, as the reference does), the distractor term
scaled by ``distractor_weight``. Gathering across ranks orders rows as originals of all ranks, then negated
captions (resp. distractors) of all ranks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cxrvlp.config import LossConfig
from cxrvlp.losses import functional as LF
from cxrvlp.losses.distributed import gather_optional


class ConCLIPLoss(nn.Module):
    """CON2 objective; returns ``{"i2t_loss", "t2i_loss"[, "distractor_loss"]}``.

    Args:
        distractor_weight: weight of the distractor-image term (1 reproduces CoN-CLIP's plain mean).
        gather: gather features from all ranks (with gradients) first.
    """

    def __init__(self, *, distractor_weight: float = 1.0, gather: bool = True) -> None:
        super().__init__()
        self.distractor_weight = distractor_weight
        self.gather = gather

    @classmethod
    def from_config(cls, cfg: LossConfig) -> ConCLIPLoss:
        """Build from a :class:`~cxrvlp.config.LossConfig`."""
        return cls(distractor_weight=cfg.conclip_distractor_weight, gather=cfg.gather)

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
        """Args: ``image_features``, ``text_features``, ``hardneg_text_features`` (negated captions) ``[b, D]``,
        optional ``distractor_image_features [b, D]``, ``logit_scale``; graphs and clinical vectors are ignored.

        Returns:
            scalar terms ``i2t_loss``, ``t2i_loss`` and, with distractors, ``distractor_loss`` (already weighted).
        """
        needed = {"image_features": image_features, "text_features": text_features}
        needed |= {"hardneg_text_features": hardneg_text_features, "logit_scale": logit_scale}
        missing = [k for k, v in needed.items() if v is None]
        if missing:
            raise ValueError(f"ConCLIPLoss needs {', '.join(map(repr, missing))} in the model outputs")
        g = gather_optional if self.gather else (lambda x: x)
        image, text, negated = g(image_features), g(text_features), g(hardneg_text_features)
        distractor = g(distractor_image_features)
        b = image.shape[0]
        captions = torch.cat([text, negated], dim=0)  # (2B, D)
        images = image if distractor is None else torch.cat([image, distractor], dim=0)  # (B or 2B, D)
        lg = LF.upcast(LF.logits(images, captions, logit_scale))  # (B or 2B, 2B)
        labels = torch.arange(b, device=lg.device)
        denominator = 2.0 if distractor is None else 3.0
        terms = {
            "i2t_loss": F.cross_entropy(lg[:b], labels) / denominator,
            "t2i_loss": F.cross_entropy(lg[:, :b].T, labels) / denominator,
        }
        if distractor is not None:
            terms["distractor_loss"] = self.distractor_weight * F.cross_entropy(lg[b:], labels + b) / denominator
        return terms
