"""Sparse frame labels: the ignore value 255 marks frames (or pixels) that nobody annotated.

A label volume is (H, W, T) (or (1, H, W, T) as a MONAI channel-first image). A frame counts as annotated when less
than half of its pixels carry the ignore value, which survives spatial augmentation that pads borders.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = [
    "IGNORE_INDEX",
    "LV_CLASS",
    "sparse_label",
    "annotated_frames",
    "check_label_values",
    "AnnotatedFramesd",
    "EmptyFramesUnannotatedd",
]

IGNORE_INDEX = 255
LV_CLASS = 1
"""Label value of the left-ventricle cavity in every dataset of this project (0 is background)."""


def sparse_label(full: np.ndarray, frames: Sequence[int]) -> np.ndarray:
    """Keep the annotation of ``frames`` of a (H, W, T) label volume and set every other frame to 255."""
    sparse = np.full_like(full, IGNORE_INDEX)
    keep = list(frames)
    sparse[..., keep] = full[..., keep]
    return sparse


def annotated_frames(label) -> np.ndarray | torch.Tensor:
    """Boolean per frame (time = last axis): True where fewer than half the pixels are 255.

    Accepts (H, W, T), (C, H, W, T) or batched (B, C, H, W, T) arrays or tensors; returns (T,), (T,) or (B, T).
    """
    is_torch = isinstance(label, torch.Tensor)
    ignored = label == IGNORE_INDEX
    if label.ndim == 5:
        share = ignored.float().mean(dim=(1, 2, 3)) if is_torch else ignored.mean(axis=(1, 2, 3))
    else:
        axes = tuple(range(label.ndim - 1))
        share = ignored.float().mean(dim=axes) if is_torch else ignored.mean(axis=axes)
    return share < 0.5


def check_label_values(label: np.ndarray, num_classes: int, path: str = "label") -> None:
    """Raise ``ValueError`` naming ``path`` when the label holds values outside 0..num_classes-1 and 255."""
    values = np.unique(np.asarray(label))
    bad = [int(v) for v in values if not (0 <= v < num_classes or v == IGNORE_INDEX)]
    if bad:
        raise ValueError(
            f"{path}: label values {bad} are outside the declared classes 0..{num_classes - 1} (and {IGNORE_INDEX})."
        )


class AnnotatedFramesd(MapTransform):
    """Add ``output_key`` = per-frame annotation flags (T,) computed from the label's 255 ignore value."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "annotated", allow_missing_keys=False):
        super().__init__(keys, allow_missing_keys)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.output_key] = torch.as_tensor(annotated_frames(d[key]))
        return d


class EmptyFramesUnannotatedd(MapTransform):
    """Mark label frames without any foreground (only 0 and 255) as not annotated (255).

    Annotation tools such as MONAI Label save a whole label volume in which frames nobody touched are 0. An apical
    echo frame always shows the LV, so an all-background frame means "not annotated", never "no LV here"; without
    this transform such frames would train the network to predict nothing.

    Shapes: label (C, H, W, T) or (H, W, T), time last; unchanged in shape and dtype.
    """

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            label = d[key]
            axes = tuple(range(label.ndim - 1))
            no_foreground = (label == 0) | (label == IGNORE_INDEX)
            empty = no_foreground.all(dim=axes) if isinstance(label, torch.Tensor) else no_foreground.all(axis=axes)
            if bool(empty.any()):
                label = label.clone() if isinstance(label, torch.Tensor) else label.copy()
                label[..., empty] = IGNORE_INDEX
                d[key] = label
        return d
