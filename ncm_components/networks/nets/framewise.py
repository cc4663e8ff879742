"""Apply a 2D segmentation network to every frame of a (B, C, H, W, T) clip (the frame-by-frame baselines)."""

from __future__ import annotations

import torch
from torch import nn

from ..layout import fold_frames, unfold_frames

__all__ = ["FrameWise"]


class FrameWise(nn.Module):
    """Wrap a 2D network so that it segments each frame of a clip independently.

    Args:
        net: a 2D network mapping (N, C, H, W) to (N, K, H, W), e.g. MONAI ``UNet(spatial_dims=2, ...)``.

    Shapes:
        ``forward(x)``: x (B, C, H, W, T) -> (B, K, H, W, T); frames are folded into the batch.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unfold_frames(self.net(fold_frames(x)), x.shape[0])
