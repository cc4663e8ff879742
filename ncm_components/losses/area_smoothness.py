"""Temporal smoothness of the soft LV area: the cross-frame constraint at the scale the boundary band cannot see.

The boundary band (``boundary.py``) lets a contour move ``tau`` = 2 pixels per frame for free; at 112 px a 2-pixel
shift of a whole LV contour changes its area by a fifth or more of an ejection's range, so a prediction can flicker
from frame to frame inside the band. This term looks at the curve that EF is computed from. With ``a_t`` the soft
foreground area of frame t (the sum of its foreground probabilities) and ``m`` the clip's mean soft area,

    d_t = (a_t - (a_{t-1} + a_{t+1}) / 2) / m,    loss = mean_t d_t ** 2   over the interior frames.

- True wall motion costs almost nothing: a linear change of area costs 0, and a heart's acceleration at 50 frames/s
  gives ``|d|`` of about 0.01 (at most about 0.06 at the turn of ED and ES on the simulation), so 1e-4 to 4e-3.
- A one-frame flicker of a fifth of the mean area costs 0.04 at that frame: the square punishes jumps, not motion.
- ``m`` is detached: growing the whole mask cannot lower the loss.
- Weighted 10 in its one benchmark run, it still flattened the true turn of the curve at ED and ES (EF bias -8.3
  against -6.4 points without it; ``docs/benchmarks.md``), so it is off by default.

It needs no labels, so it acts on every frame of a clip. Painchaud et al. (IEEE TMI 2022) smooth the same curve
after the fact; here it is a training signal, and inference stays frame-exact.
"""

from __future__ import annotations

import torch
from torch.nn.modules.loss import _Loss

__all__ = ["SoftAreaSmoothnessLoss"]


class SoftAreaSmoothnessLoss(_Loss):
    """Mean squared second difference of each clip's soft foreground area, relative to the clip's mean area.

    Args:
        eps: added to the mean area (an empty clip costs 0).

    Shapes:
        ``forward(logits)``: logits (B, K, H, W, T), foreground = classes 1..K-1. Returns a scalar >= 0: 0 when
        T < 3 or every clip's area changes linearly in time.
    """

    def __init__(self, eps: float = 1.0) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if logits.dim() != 5:
            raise ValueError(f"expected logits (B, K, H, W, T), got shape {tuple(logits.shape)}.")
        if logits.shape[-1] < 3:
            return logits.sum() * 0.0
        foreground = 1.0 - torch.softmax(logits.float(), dim=1)[:, 0]  # B x H x W x T, fp32 also under autocast
        area = foreground.sum(dim=(1, 2))  # B x T
        mean_area = area.mean(dim=1, keepdim=True).detach() + self.eps
        second_difference = (area[:, 1:-1] - 0.5 * (area[:, :-2] + area[:, 2:])) / mean_area
        return second_difference.pow(2).mean()
