"""NCM-Net's training objective: deep-supervised sparse Dice + CE plus the cross-frame constraints (boundary, area)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.modules.loss import _Loss

from ..transforms.labels import IGNORE_INDEX
from .area_smoothness import SoftAreaSmoothnessLoss
from .boundary import CrossFrameBoundaryLoss
from .sparse import SparseFrameDiceCELoss

__all__ = ["NCMNetLoss"]


class NCMNetLoss(_Loss):
    """``sum_i w_i SparseDiceCE(output_i, label) + boundary_weight * CrossFrameBoundary(final)
    + area_smoothness_weight * SoftAreaSmoothness(final)``.

    Args:
        deep_supervision_weights: weight of each output level, final first (the coarse head second); levels beyond
            the list are ignored.
        boundary_weight: weight of the cross-frame boundary term on the final logits (0 disables it).
        boundary_tolerance: boundary motion in pixels between consecutive frames that the boundary term allows.
        boundary_kernel_size: window of the soft boundary maps.
        area_smoothness_weight: weight of the soft-area smoothness term on the final logits (0 disables it).
        include_background: include class 0 in the Dice term.
        lambda_dice: weight of the Dice term.
        lambda_ce: weight of the cross-entropy term.
        ignore_index: label value of unannotated frames.

    Shapes:
        ``forward(output, target)``: output (B, K, H, W, T) logits, or (B, S, K, H, W, T) stacked deep-supervision
        outputs (final first, as NCMNet and DynUNet return in training); target (B, 1, H, W, T). Returns a scalar.
    """

    def __init__(
        self,
        deep_supervision_weights: Sequence[float] = (1.0, 0.5),
        boundary_weight: float = 0.1,
        boundary_tolerance: int = 2,
        boundary_kernel_size: int = 3,
        area_smoothness_weight: float = 0.0,
        include_background: bool = True,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if boundary_weight < 0:
            raise ValueError(f"boundary_weight must be >= 0, got {boundary_weight}.")
        if area_smoothness_weight < 0:
            raise ValueError(f"area_smoothness_weight must be >= 0, got {area_smoothness_weight}.")
        self.deep_supervision_weights = tuple(float(w) for w in deep_supervision_weights)
        self.boundary_weight = float(boundary_weight)
        self.area_smoothness_weight = float(area_smoothness_weight)
        self.segmentation = SparseFrameDiceCELoss(
            include_background=include_background,
            lambda_dice=lambda_dice,
            lambda_ce=lambda_ce,
            ignore_index=ignore_index,
        )
        self.boundary = CrossFrameBoundaryLoss(tolerance=boundary_tolerance, kernel_size=boundary_kernel_size)
        self.area_smoothness = SoftAreaSmoothnessLoss()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        levels = list(output.unbind(dim=1)) if output.dim() == 6 else [output]
        loss = sum(
            weight * self.segmentation(level, target) for weight, level in zip(self.deep_supervision_weights, levels)
        )
        if self.boundary_weight > 0:
            loss = loss + self.boundary_weight * self.boundary(levels[0])
        if self.area_smoothness_weight > 0:
            loss = loss + self.area_smoothness_weight * self.area_smoothness(levels[0])
        return loss
