"""Checks of a training or validation item once loaded: each problem named with the item's file, before training.

The checks run in the cached, deterministic head of the training and validation pipelines, so a datalist's faults
(1-based ED/ES indices, labels of which no frame is annotated) stop the run while the data is loaded, not after an
epoch in a batch-level error of MONAI's or PyTorch's.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.transforms import Transform

from .integrity import VideoReadError
from .labels import annotated_frames

__all__ = ["item_name", "check_video", "CheckAnnotationsd", "MIN_VIDEO_SIZE"]

MIN_VIDEO_SIZE = 8
"""Fewest pixels along X and Y of a video to segment (the network downsamples 8 times); T must be at least 2."""


def item_name(d: Mapping, key: str = "image") -> str:
    """The file an item came from: the loaded tensor's ``filename_or_obj``, else the path in the item."""
    value = d.get(key)
    if isinstance(value, torch.Tensor):
        return str(getattr(value, "meta", {}).get("filename_or_obj", "an item of the datalist"))
    return str(value) if value is not None else "an item of the datalist"


def check_video(video: torch.Tensor, name: str) -> None:
    """Raise ``VideoReadError`` naming ``name`` when a loaded (1, X, Y, T) video holds NaN/inf values (one such voxel
    gives an EF of 100 % or an empty mask downstream), is smaller than ``MIN_VIDEO_SIZE`` pixels, has one frame or
    is blank (every voxel the same value)."""
    _, width, height, frames = video.shape
    if width < MIN_VIDEO_SIZE or height < MIN_VIDEO_SIZE:
        raise VideoReadError(
            f"{name}: {width} x {height} pixels is too small to segment (at least {MIN_VIDEO_SIZE} x {MIN_VIDEO_SIZE})."
        )
    if frames < 2:
        raise VideoReadError(f"{name}: a single frame; NCM-Net segments videos (at least 2 frames, ED to ES).")
    low, high = float(video.min()), float(video.max())
    if low == high:
        raise VideoReadError(
            f"{name}: blank, every voxel is {low:g}: a constant video shows no heart (an export that failed?)."
        )
    if video.is_floating_point():
        bad = int((~torch.isfinite(video)).sum())
        if bad:
            raise VideoReadError(
                f"{name}: {bad} voxel(s) are NaN or infinite; the video cannot be measured. Re-export it, or replace "
                "them (e.g. numpy.nan_to_num) and run again."
            )


class CheckAnnotationsd(Transform):
    """Raise ``ValueError`` naming the video when its label has no annotated frame, or when ``ed_frame``/
    ``es_frame`` (0-based, when given) lie outside the video or on a frame that is not annotated.

    Shapes: ``label`` (C, H, W, T) or (H, W, T), time last, 255 = not annotated; items without a label pass.
    """

    def __init__(self, label_key: str = "label", frame_keys: tuple[str, ...] = ("ed_frame", "es_frame")) -> None:
        self.label_key = label_key
        self.frame_keys = frame_keys

    def __call__(self, data: Mapping[Hashable, object]) -> Mapping[Hashable, object]:
        label = data.get(self.label_key)
        if not isinstance(label, (torch.Tensor, np.ndarray)):
            return data
        name = item_name(data)
        flags = np.asarray(annotated_frames(label.numpy() if isinstance(label, torch.Tensor) else label))
        frames = flags.shape[-1]
        if not flags.any():
            raise ValueError(
                f"{name}: its label {item_name(data, self.label_key)} has no annotated frame (every frame is 255 or "
                "empty): it would teach nothing. Check the label file, or remove the item."
            )
        for key in self.frame_keys:
            value = data.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            index = int(value)
            if not 0 <= index < frames:
                raise ValueError(
                    f"{name}: {key} {index} is outside its {frames} frames (indices are 0-based: 0..{frames - 1})."
                )
            if not flags[index]:
                annotated = np.flatnonzero(flags).tolist()
                raise ValueError(
                    f"{name}: {key} {index} is not an annotated frame of its label (annotated: {annotated[:10]}); "
                    "are the indices 1-based? They must be 0-based."
                )
        return data
