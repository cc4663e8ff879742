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

from .labels import annotated_frames

__all__ = ["item_name", "CheckAnnotationsd"]


def item_name(d: Mapping, key: str = "image") -> str:
    """The file an item came from: the loaded tensor's ``filename_or_obj``, else the path in the item."""
    value = d.get(key)
    if isinstance(value, torch.Tensor):
        return str(getattr(value, "meta", {}).get("filename_or_obj", "an item of the datalist"))
    return str(value) if isinstance(value, (str, bytes)) or value is not None else "an item of the datalist"


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
