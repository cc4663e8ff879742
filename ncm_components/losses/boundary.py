"""The cross-frame boundary constraint: soft boundaries of adjacent predicted frames should agree.

NCM-Net's third idea (Deng & Wu, TMI 2025). The paper does not give its form; ours (``docs/design.md``): a soft
boundary map is the morphological gradient of the foreground probabilities (max-pool minus min-pool over a k x k
window), and the loss is the mean L1 difference between the boundary maps of consecutive frames. It needs no
labels, so it acts on every frame of a clip, annotated or not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from ..networks.layout import fold_frames, unfold_frames

__all__ = ["soft_boundary", "CrossFrameBoundaryLoss"]


def soft_boundary(probs: torch.Tensor, kernel_size: int = 3) -> torch.Tensor:
    """Soft boundary maps of probability maps: ``maxpool(p) - minpool(p)`` over ``kernel_size`` windows.

    Shapes: probs (N, C, H, W) in [0, 1] -> (N, C, H, W) in [0, 1], near 1 on a sharp boundary, 0 inside regions.
    """
    pad = kernel_size // 2
    dilated = F.max_pool2d(probs, kernel_size, stride=1, padding=pad)
    eroded = -F.max_pool2d(-probs, kernel_size, stride=1, padding=pad)
    return dilated - eroded


class CrossFrameBoundaryLoss(_Loss):
    """Mean L1 distance between the soft boundary maps of consecutive frames of the predicted clip.

    Args:
        kernel_size: window of the soft boundary (odd).
        include_background: also compare the background channel's boundary (the same curve for 2 classes).

    Shapes:
        ``forward(logits)``: logits (B, K, H, W, T). Returns a scalar: 0 when T == 1 or all frames are identical,
        growing with the boundary motion between frames.
    """

    def __init__(self, kernel_size: int = 3, include_background: bool = False) -> None:
        super().__init__()
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}.")
        self.kernel_size = kernel_size
        self.include_background = include_background

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if logits.dim() != 5:
            raise ValueError(f"expected logits (B, K, H, W, T), got shape {tuple(logits.shape)}.")
        batch, frames = logits.shape[0], logits.shape[-1]
        if frames < 2:
            return logits.sum() * 0.0
        probs = torch.softmax(fold_frames(logits).float(), dim=1)  # B*T x K x H x W
        if not self.include_background:
            probs = probs[:, 1:]
        boundary = unfold_frames(soft_boundary(probs, self.kernel_size), batch)  # B x K' x H x W x T
        return (boundary[..., 1:] - boundary[..., :-1]).abs().mean()
