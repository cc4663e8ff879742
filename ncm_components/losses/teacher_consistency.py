"""The unlabelled-frame objective: agreement with a mean teacher on the frames nobody annotated.

Only ED and ES carry labels. On every other frame of a clip, the network's class probabilities are pulled towards
those of a mean teacher (an exponential moving average of the network, :class:`~ncm_components.handlers.MeanTeacher`)
that saw the same clip under another augmentation (played backwards, with noise): the mean squared difference of the
softmax outputs (Tarvainen & Valpola, NeurIPS 2017). Annotated frames are left out (their labels are used directly).
Soft agreement rather than hard pseudo-labels: with hard labels at a 0.9 confidence, an early and confidently wrong
teacher taught "no LV" on interior frames and cost 3 Dice points on all frames (``docs/benchmarks.md``).
"""

from __future__ import annotations

import torch
from torch.nn.modules.loss import _Loss

from ..transforms.labels import annotated_frames

__all__ = ["TeacherConsistencyLoss"]


class TeacherConsistencyLoss(_Loss):
    """Mean squared difference of student and teacher softmax probabilities over the unannotated frames.

    Shapes:
        ``forward(student, teacher, target)``: student and teacher logits (B, K, X, Y, T); target (B, 1, X, Y, T)
        with ``IGNORE_INDEX`` (255) on unannotated frames. Returns a scalar; 0 (with a gradient path) when every
        frame is annotated.
    """

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape or student.dim() != 5:
            raise ValueError(
                f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)}: expected equal (B, K, X, Y, T)."
            )
        unannotated = ~annotated_frames(target.reshape(target.shape[0], 1, *target.shape[-3:]))  # B x T
        if not bool(unannotated.any()):
            return student.sum() * 0.0
        difference = torch.softmax(student.float(), dim=1) - torch.softmax(teacher.detach().float(), dim=1)
        per_frame = difference.pow(2).mean(dim=(1, 2, 3))  # B x T
        return per_frame[unannotated].mean()
