"""Dice + cross-entropy on annotated frames only: frames (and pixels) labelled 255 contribute nothing.

Only ED and ES carry labels in sparse training data; everything the network predicts on the other frames is left
to the cross-frame boundary constraint (:mod:`.boundary`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from ..networks.layout import fold_frames
from ..transforms.labels import IGNORE_INDEX

__all__ = ["SparseFrameDiceCELoss"]


class SparseFrameDiceCELoss(_Loss):
    """Soft Dice + cross-entropy over the annotated frames of a clip.

    Frames are folded into the batch; a frame is annotated when fewer than half of its pixels are 255 (the rule of
    :func:`~ncm_components.transforms.labels.annotated_frames`) and only annotated frames enter the loss. Inside an
    annotated frame, 255 pixels (padding from spatial augmentation) are ignored by both terms. Dice is computed per
    frame and class and averaged, as MONAI's ``DiceLoss(batch=False)`` does.

    Args:
        include_background: include class 0 in the Dice term.
        lambda_dice: weight of the Dice term.
        lambda_ce: weight of the cross-entropy term.
        smooth: added to the Dice numerator and denominator (empty classes score 1, not NaN).
        ignore_index: label value of unannotated frames and pixels.

    Shapes:
        ``forward(logits, target)``: logits (B, K, H, W, T); target (B, 1, H, W, T) or (B, H, W, T) with values in
        0..K-1 and ``ignore_index``. Returns a scalar; 0 (with a gradient path) when no frame is annotated.
    """

    def __init__(
        self,
        include_background: bool = True,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 1e-5,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        self.include_background = include_background
        self.lambda_dice = lambda_dice
        self.lambda_ce = lambda_ce
        self.smooth = smooth
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == logits.dim() - 1:
            target = target.unsqueeze(1)
        if target.shape[0] != logits.shape[0] or target.shape[2:] != logits.shape[2:] or target.shape[1] != 1:
            raise ValueError(
                f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}: expected "
                "(B, 1, H, W, T) class indices."
            )
        frame_logits = fold_frames(logits)  # B*T x K x H x W
        frame_target = fold_frames(target.long())[:, 0]  # B*T x H x W
        ignored = frame_target == self.ignore_index
        annotated = ignored.float().mean(dim=(1, 2)) < 0.5  # B*T
        if not bool(annotated.any()):
            return logits.sum() * 0.0
        frame_logits, frame_target, ignored = frame_logits[annotated], frame_target[annotated], ignored[annotated]

        num_classes = frame_logits.shape[1]
        ce = F.cross_entropy(frame_logits.float(), frame_target, ignore_index=self.ignore_index)
        valid = (~ignored).unsqueeze(1).float()  # N x 1 x H x W
        probs = torch.softmax(frame_logits.float(), dim=1) * valid
        one_hot = F.one_hot(frame_target.masked_fill(ignored, 0), num_classes).permute(0, 3, 1, 2).float() * valid
        if not self.include_background:
            probs, one_hot = probs[:, 1:], one_hot[:, 1:]
        intersection = (probs * one_hot).sum(dim=(2, 3))  # N x K
        denominator = probs.sum(dim=(2, 3)) + one_hot.sum(dim=(2, 3))
        dice = 1.0 - (2.0 * intersection + self.smooth) / (denominator + self.smooth)
        return self.lambda_dice * dice.mean() + self.lambda_ce * ce
