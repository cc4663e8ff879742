"""Losses for sparse-label echo video training: annotated-frame Dice + CE and the cross-frame boundary constraint."""

from .boundary import CrossFrameBoundaryLoss, soft_boundary
from .ncm_loss import NCMNetLoss
from .sparse import SparseFrameDiceCELoss

__all__ = ["SparseFrameDiceCELoss", "CrossFrameBoundaryLoss", "soft_boundary", "NCMNetLoss"]
