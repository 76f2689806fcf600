"""Image transforms: grayscale PIL -> normalised 3-channel tensors at the model's input size.

Augmentation is CXR-appropriate: small affine jitter and brightness/contrast only. No horizontal flip, since
anatomy is lateralised (a flipped heart is dextrocardia).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from cxrvlp.config import ModelConfig


def image_transform(cfg: ModelConfig, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image (any mode) -> float tensor [3, S, S] normalised with the trunk's mean / std.

    Eval: resize the shorter side to S, centre-crop S. Train: random resized crop (scale 0.8-1), small affine
    (+-10 deg, +-5% shift), brightness / contrast jitter 0.2.
    """
    from torchvision import transforms as T

    size = cfg.image_size
    common = [T.Grayscale(num_output_channels=3), T.ToTensor(), T.Normalize(cfg.image_mean, cfg.image_std)]
    if train:
        steps = [
            T.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1)),
            T.RandomAffine(degrees=10, translate=(0.05, 0.05)),
            T.ColorJitter(brightness=0.2, contrast=0.2),
        ]
    else:
        steps = [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size)]
    return T.Compose(steps + common)
