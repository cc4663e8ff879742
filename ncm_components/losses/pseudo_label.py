"""The unlabelled-frame objective: cross-entropy towards a teacher's confident predictions on unannotated frames.

Only ED and ES carry labels; the frames between them get this loss, with pseudo-labels from a mean teacher (an
exponential moving average of the network, :class:`~ncm_components.handlers.MeanTeacher`) that saw the clip under
another augmentation (played backwards, with noise). Pixels where the teacher's top probability is below
``confidence`` are left out, as are annotated frames (their labels are used directly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from ..networks.layout import fold_frames
from ..transforms.labels import IGNORE_INDEX, annotated_frames

__all__ = ["PseudoLabelLoss"]


class PseudoLabelLoss(_Loss):
    """Mean cross-entropy of the student towards the teacher's argmax on confident pixels of unannotated frames.

    Args:
        confidence: teacher probability a pixel's pseudo-label needs.
        ignore_index: label value of unannotated frames.

    Shapes:
        ``forward(student, teacher, target)``: student and teacher logits (B, K, H, W, T); target (B, 1, H, W, T)
        with ``ignore_index`` on unannotated frames. Returns a scalar; 0 (with a gradient path) when no pixel
        qualifies.
    """

    def __init__(self, confidence: float = 0.9, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        if not 0.0 <= confidence < 1.0:
            raise ValueError(f"confidence must be in [0, 1), got {confidence}.")
        self.confidence = confidence
        self.ignore_index = ignore_index

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape or student.dim() != 5:
            raise ValueError(
                f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)}: expected equal (B, K, H, W, T)."
            )
        unannotated = ~annotated_frames(target.reshape(target.shape[0], 1, *target.shape[-3:]))  # B x T
        probs = torch.softmax(teacher.detach().float(), dim=1)
        confidence, pseudo = probs.max(dim=1)  # B x H x W x T
        keep = (confidence >= self.confidence) & unannotated[:, None, None, :]
        if not bool(keep.any()):
            return student.sum() * 0.0
        pseudo = pseudo.masked_fill(~keep, self.ignore_index)
        frame_logits = fold_frames(student).float()  # B*T x K x H x W
        frame_pseudo = fold_frames(pseudo.unsqueeze(1))[:, 0]  # B*T x H x W
        return F.cross_entropy(frame_logits, frame_pseudo, ignore_index=self.ignore_index)
