"""The cross-frame boundary constraint: each predicted LV boundary must lie within a tolerance band of its neighbours'.

NCM-Net's third idea (Deng & Wu, TMI 2025); the paper does not give its form. Ours (``docs/design.md``): the soft
boundary ``b_t`` of frame t is the morphological gradient of its foreground probabilities (max-pool minus min-pool
over 3 x 3), near 1 on a sharp contour. The band of frame t+1 is ``n_{t+1} = maxpool_{2 tau + 1}(b_{t+1})``: close to
1 within ``tau`` pixels of a sharp contour of t+1. The loss is the share of frame t's boundary mass that lies outside
that band, ``sum(b_t (1 - n_{t+1})) / sum(b_t)``, averaged over both directions and all consecutive pairs.

- True wall motion does not violate it: a sharp contour that moves by at most ``tau`` pixels per frame costs 0.
- Blur cannot satisfy it: a blurred prediction has a wide, low boundary (``n < 1`` everywhere, mass beyond the
  band), so blurring raises the loss; the old L1 between boundary maps was lowered by blur.
- A contour that jumps by more than ``tau`` pixels between frames costs up to 1.

It needs no labels, so it acts on every frame of a clip, annotated or not.
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
    """Share of each frame's soft LV boundary lying farther than ``tolerance`` pixels from its neighbours' boundary.

    Args:
        tolerance: tau, the boundary motion in pixels between consecutive frames that costs nothing.
        kernel_size: window of the soft boundary (odd).
        include_background: also constrain the background channel's boundary (the same curve for 2 classes).
        eps: added to the boundary mass (a frame without any boundary costs 0).

    Shapes:
        ``forward(logits)``: logits (B, K, H, W, T). Returns a scalar in [0, 1]: 0 when T == 1 or every boundary is
        sharp and moves at most ``tolerance`` pixels per frame.
    """

    def __init__(
        self, tolerance: int = 2, kernel_size: int = 3, include_background: bool = False, eps: float = 1e-3
    ) -> None:
        super().__init__()
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}.")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}.")
        self.tolerance = int(tolerance)
        self.kernel_size = kernel_size
        self.include_background = include_background
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if logits.dim() != 5:
            raise ValueError(f"expected logits (B, K, H, W, T), got shape {tuple(logits.shape)}.")
        batch, frames = logits.shape[0], logits.shape[-1]
        if frames < 2:
            return logits.sum() * 0.0
        probs = torch.softmax(fold_frames(logits).float(), dim=1)  # B*T x K x H x W, fp32 also under autocast
        if not self.include_background:
            probs = probs[:, 1:]
        boundary = soft_boundary(probs, self.kernel_size)  # B*T x K' x H x W
        band = F.max_pool2d(boundary, 2 * self.tolerance + 1, stride=1, padding=self.tolerance)
        boundary, band = unfold_frames(boundary, batch), unfold_frames(band, batch)  # B x K' x H x W x T
        forward = self._outside(boundary[..., :-1], band[..., 1:])
        backward = self._outside(boundary[..., 1:], band[..., :-1])
        return 0.5 * (forward + backward).mean()

    def _outside(self, boundary: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
        """Per frame pair and class: boundary mass outside the neighbour's band / boundary mass."""
        outside = (boundary * (1.0 - band)).sum(dim=(2, 3))
        return outside / (boundary.sum(dim=(2, 3)) + self.eps)
