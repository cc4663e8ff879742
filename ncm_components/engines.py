"""Pieces for MONAI's engines that MONAI lacks.

``prepare_tensor_batch`` is the trainer's ``prepare_batch``: MONAI's ``default_prepare_batch`` with the image and the
label as plain tensors. Training needs no image metadata, and with ``compile: true`` MONAI's ``SupervisedTrainer``
(1.6) copies a collated MetaTensor batch's metadata back after the compiled step, which fails for a batch of more
than one video (``original_channel_dim`` is then a tensor of B values and ``is_no_channel`` calls ``bool`` on it).
"""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import default_prepare_batch
from monai.utils import convert_to_tensor

__all__ = ["prepare_tensor_batch"]


def prepare_tensor_batch(
    batchdata: dict[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(image, label)`` of a collated batch as plain ``torch.Tensor`` (MetaTensor metadata dropped), on ``device``.

    Shapes: image (B, C, H, W, T), label (B, 1, H, W, T) or None, as ``default_prepare_batch`` returns them.
    """
    image, label = default_prepare_batch(batchdata, device, non_blocking, **kwargs)
    return convert_to_tensor(image, track_meta=False), convert_to_tensor(label, track_meta=False)
