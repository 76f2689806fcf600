"""CLIP's symmetric InfoNCE: the CLIP baseline and Vu & Sheshappanavar's CON1 fine-tuning."""

from __future__ import annotations

from torch import Tensor, nn

from cxrvlp.config import LossConfig
from cxrvlp.losses import functional as LF
from cxrvlp.losses.distributed import gather_with_grad


class InfoNCE(nn.Module):
    """In-batch contrastive loss ``(CE(I T^T) + CE(T I^T)) / 2`` over the (gathered) global batch.

    Hard negatives, graphs and clinical vectors are accepted and ignored (CON1 is plain in-batch contrast).

    Args:
        gather: gather features from all ranks (with gradients) first.
    """

    def __init__(self, *, gather: bool = True) -> None:
        super().__init__()
        self.gather = gather

    @classmethod
    def from_config(cls, cfg: LossConfig) -> InfoNCE:
        """Build from a :class:`~cxrvlp.config.LossConfig` (only ``gather`` applies)."""
        return cls(gather=cfg.gather)

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
        """Args: ``image_features [b, D]``, ``text_features [b, D]`` (L2-normalised), ``logit_scale`` scalar.

        Returns:
            ``{"i2t_loss": CE_i2t / 2, "t2i_loss": CE_t2i / 2}``; their sum is open_clip's ``contrastive_loss``.
        """
        if image_features is None or text_features is None or logit_scale is None:
            raise ValueError("InfoNCE needs 'image_features', 'text_features' and 'logit_scale'")
        if self.gather:
            image_features, text_features = gather_with_grad(image_features), gather_with_grad(text_features)
        ce_i2t, ce_t2i = LF.info_nce_terms(image_features, text_features, logit_scale)
        return {"i2t_loss": 0.5 * ce_i2t, "t2i_loss": 0.5 * ce_t2i}
