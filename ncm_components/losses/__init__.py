"""Losses for sparse-label echo video training: annotated-frame Dice + CE, the cross-frame boundary constraint and the
unlabelled-frame mean-teacher objective."""

from .boundary import CrossFrameBoundaryLoss, soft_boundary
from .ncm_loss import NCMNetLoss
from .sparse import SparseFrameDiceCELoss
from .teacher_consistency import TeacherConsistencyLoss

__all__ = ["SparseFrameDiceCELoss", "CrossFrameBoundaryLoss", "soft_boundary", "NCMNetLoss", "TeacherConsistencyLoss"]
