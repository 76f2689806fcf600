"""Training: the explicit loop, optimiser and schedule, atomic checkpoints with exact resume, DDP, run logs."""

from cxrvlp.train.checkpoint import find_checkpoint, load_trainer_state, save_checkpoint
from cxrvlp.train.loop import NonFiniteLossError, Progress, TrainResult, evaluate, train
from cxrvlp.train.optim import build_optimizer, cosine_lr
from cxrvlp.train.runconfig import build_config

__all__ = [
    "NonFiniteLossError",
    "Progress",
    "TrainResult",
    "build_config",
    "build_optimizer",
    "cosine_lr",
    "evaluate",
    "find_checkpoint",
    "load_trainer_state",
    "save_checkpoint",
    "train",
]
