"""Contrastive losses: InfoNCE (CLIP / CON1), Ko & Park's dynamic soft labels, CoN-CLIP (CON2).

Every loss is called as ``loss_fn(**model_outputs)`` and returns a dict of named ``*_loss`` scalar terms that the
training loop sums. This package imports torch only (never models, ui or Streamlit).
"""

from cxrvlp.losses.clip import InfoNCE
from cxrvlp.losses.conclip import ConCLIPLoss
from cxrvlp.losses.distributed import gather_with_grad, world_size
from cxrvlp.losses.factory import ABLATIONS, LOSSES, ablation_config, create_loss
from cxrvlp.losses.functional import info_nce, logits, similarity, soft_kl, soft_labels
from cxrvlp.losses.soft_label import DynamicSoftLabelLoss

__all__ = [
    "ABLATIONS",
    "LOSSES",
    "ConCLIPLoss",
    "DynamicSoftLabelLoss",
    "InfoNCE",
    "ablation_config",
    "create_loss",
    "gather_with_grad",
    "info_nce",
    "logits",
    "similarity",
    "soft_kl",
    "soft_labels",
    "world_size",
]
