"""Per-frame segmentation scores of videos: Dice, 95 % Hausdorff distance and average symmetric surface distance.

Scores come from MONAI's own ``compute_dice``, ``compute_hausdorff_distance`` and
``compute_average_surface_distance`` applied frame by frame (time folded into the batch), only on frames that carry
ground truth: a frame whose label is mostly 255 (not annotated) scores NaN. Distances are in mm when a pixel
spacing is given and in pixels otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.metrics import (
    CumulativeIterationMetric,
    compute_average_surface_distance,
    compute_dice,
    compute_hausdorff_distance,
)

from ..transforms.labels import IGNORE_INDEX, annotated_frames

__all__ = ["SEGMENTATION_METRICS", "frame_one_hot", "per_frame_scores", "AnnotatedFrameDiceMetric"]

SEGMENTATION_METRICS = ("dice", "hd95", "assd")


def frame_one_hot(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(X, Y, T) class indices (255 allowed, mapped to background) -> (T, K, X, Y) one-hot float frames."""
    classes = torch.as_tensor(classes).long()
    classes = classes.masked_fill(classes == IGNORE_INDEX, 0)
    return F.one_hot(classes.permute(2, 0, 1), num_classes).permute(0, 3, 1, 2).float()


def per_frame_scores(
    pred: torch.Tensor | np.ndarray,
    label: torch.Tensor | np.ndarray,
    num_classes: int = 2,
    spacing: Sequence[float] | None = None,
    metrics: Sequence[str] = SEGMENTATION_METRICS,
) -> dict[str, np.ndarray]:
    """Scores of every frame and foreground class of one video.

    Args:
        pred: (X, Y, T) predicted class indices.
        label: (X, Y, T) ground truth; frames that are mostly 255 are not scored.
        num_classes: K, background included.
        spacing: (x, y) pixel size in mm, one per array axis; None or NaN: distances in pixels.
        metrics: any of ``"dice"``, ``"hd95"``, ``"assd"``.

    Returns:
        ``{metric: (T, K-1) float array}``, NaN on unannotated frames and where MONAI gives no value (empty masks).
    """
    unknown = set(metrics) - set(SEGMENTATION_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {SEGMENTATION_METRICS}.")
    pred, label = torch.as_tensor(np.asarray(pred)), torch.as_tensor(np.asarray(label))
    if pred.shape != label.shape or pred.dim() != 3:
        raise ValueError(f"pred {tuple(pred.shape)} and label {tuple(label.shape)} must both be (X, Y, T).")
    frames = pred.shape[-1]
    annotated = torch.as_tensor(annotated_frames(label))
    scores = {name: np.full((frames, num_classes - 1), np.nan) for name in metrics}
    if not bool(annotated.any()):
        return scores
    pixel = None
    if spacing is not None and not any(math.isnan(float(s)) for s in spacing):
        pixel = [float(s) for s in spacing]
    y_pred = frame_one_hot(pred, num_classes)[annotated]
    y = frame_one_hot(label, num_classes)[annotated]
    computed = {}
    if "dice" in metrics:
        computed["dice"] = compute_dice(y_pred, y, include_background=False)
    if "hd95" in metrics:
        computed["hd95"] = compute_hausdorff_distance(y_pred, y, percentile=95, spacing=pixel)
    if "assd" in metrics:
        computed["assd"] = compute_average_surface_distance(y_pred, y, symmetric=True, spacing=pixel)
    rows = annotated.nonzero()[:, 0].numpy()
    for name, values in computed.items():
        values = values.double().numpy()
        values[~np.isfinite(values)] = np.nan
        scores[name][rows] = values
    return scores


class AnnotatedFrameDiceMetric(CumulativeIterationMetric):
    """Mean foreground Dice over the annotated frames of clips: the key metric of validation.

    ``__call__(y_pred, y)``: y_pred (B, K, X, Y, T) one-hot (or (B, 1, X, Y, T) class indices); y (B, 1, X, Y, T)
    class indices with 255 on unannotated frames. ``aggregate()`` returns the mean over every annotated frame and
    foreground class seen since the last ``reset()``.
    """

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.num_classes = num_classes

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rows = []
        for pred_video, label_video in zip(y_pred, y):
            classes = pred_video.argmax(0) if pred_video.shape[0] > 1 else pred_video[0]
            dice = per_frame_scores(classes.cpu(), label_video[0].cpu(), self.num_classes, metrics=("dice",))["dice"]
            rows.append(torch.as_tensor(dice[~np.isnan(dice).all(axis=1)]))
        return torch.cat(rows) if rows else torch.zeros(0, self.num_classes - 1)

    def aggregate(self) -> torch.Tensor:  # type: ignore[override]
        scores = self.get_buffer()
        if not isinstance(scores, torch.Tensor) or scores.numel() == 0:
            return torch.tensor(float("nan"))
        return torch.nanmean(scores.double()).float()
