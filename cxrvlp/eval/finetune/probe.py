"""Linear probe: L2-regularised logistic regression on cached frozen features, the L2 strength chosen on val."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from cxrvlp.eval.finetune.train import ProbeOptions, Stopper, TrainOutcome, bce_pos_weight, cpu_threads, macro_auroc

log = logging.getLogger(__name__)


class LinearHead(nn.Module):
    """Standardise features with fixed train statistics, then one linear layer: ``[B, F] -> [B, C]`` logits."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # (F,)
        self.register_buffer("std", std)  # (F,)
        self.fc = nn.Linear(mean.shape[0], n_classes)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc((features - self.mean) / self.std)


def train_linear_probe(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: np.ndarray,
    opts: ProbeOptions,
    *,
    device: torch.device,
    threads: int | None = 1,
) -> tuple[LinearHead, TrainOutcome]:
    """L2-regularised logistic regression per class on cached features, the L2 strength chosen on validation.

    Full-batch L-BFGS minimises ``mean BCE + l2 / 2 * ||W||^2`` (bias not penalised) for each value of
    ``opts.l2_grid`` in turn, strongest first, each fit warm-started from the previous one (a regularisation path,
    the linear probe's analogue of training longer). After each fit the validation macro AUROC is computed; the best
    fit is kept and the path stops after ``opts.patience`` values without improvement. The problem is convex, so
    the result does not depend on a seed.

    Args:
        x_train: ``[n, F]`` features; y_train: ``[n, C]`` 0/1 targets.
        x_val: ``[m, F]``; y_val: ``[m, C]`` (numpy, scored on the host after each fit).
        opts: ``l2_grid``, ``max_iter`` (L-BFGS iterations per fit), ``patience``, ``pos_weight``.
        device: where the features and the head live during training.
        threads: torch intra-op threads while fitting on CPU (None: leave the current setting); see
            :func:`cpu_threads`.

    Returns:
        The head with the selected fit's weights (on ``device``); ``best_epoch`` is the 1-based index of the
        selected L2 value and ``epochs_run`` the number of values fitted.
    """
    x_train, y_train, x_val = x_train.to(device), y_train.to(device), x_val.to(device)
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)  # (F,), (F,)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant features are left unscaled
    head = LinearHead(mean, std, y_train.shape[1]).to(device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=bce_pos_weight(y_train, opts.pos_weight))
    stopper = Stopper(head, opts.patience)
    with cpu_threads(threads, device):
        for l2 in opts.l2_grid:
            opt = torch.optim.LBFGS(
                head.parameters(), lr=1.0, max_iter=opts.max_iter, history_size=20, line_search_fn="strong_wolfe"
            )

            def closure(l2: float = l2, opt: torch.optim.Optimizer = opt) -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(head(x_train), y_train) + 0.5 * l2 * head.fc.weight.square().sum()
                loss.backward()
                return loss

            head.train()
            opt.step(closure)
            head.eval()
            with torch.no_grad():
                val_scores = head(x_val).float().cpu().numpy()  # (m, C)
            score = macro_auroc(val_scores, y_val)
            log.debug("probe l2=%g: val macro AUROC %.4f", l2, score)
            if stopper.step(score):
                break
    return head, stopper.restore()
