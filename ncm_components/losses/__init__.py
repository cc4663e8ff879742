"""Losses for sparse-label echo video training: annotated-frame Dice + CE, the cross-frame boundary constraint and the
unlabelled-frame pseudo-label objective."""

from .boundary import CrossFrameBoundaryLoss, soft_boundary
from .ncm_loss import NCMNetLoss
from .pseudo_label import PseudoLabelLoss
from .sparse import SparseFrameDiceCELoss

__all__ = ["SparseFrameDiceCELoss", "CrossFrameBoundaryLoss", "soft_boundary", "NCMNetLoss", "PseudoLabelLoss"]
