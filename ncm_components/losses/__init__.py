"""Losses for sparse-label echo video training: annotated-frame Dice + CE, the cross-frame constraints (boundary band,
soft-area smoothness) and the unlabelled-frame mean-teacher objective."""

from .area_smoothness import SoftAreaSmoothnessLoss
from .boundary import CrossFrameBoundaryLoss, soft_boundary
from .ncm_loss import NCMNetLoss
from .sparse import SparseFrameDiceCELoss
from .teacher_consistency import TeacherConsistencyLoss

__all__ = [
    "SparseFrameDiceCELoss",
    "CrossFrameBoundaryLoss",
    "soft_boundary",
    "SoftAreaSmoothnessLoss",
    "NCMNetLoss",
    "TeacherConsistencyLoss",
]
