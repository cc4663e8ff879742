"""Sparse frame labels: the ignore value 255 marks frames (or pixels) that nobody annotated.

A label volume is (H, W, T) (or (1, H, W, T) as a MONAI channel-first image). A frame counts as annotated when less
than half of its pixels carry the ignore value, which survives spatial augmentation that pads borders.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

__all__ = [
    "IGNORE_INDEX",
    "LV_CLASS",
    "sparse_label",
    "annotated_frames",
    "check_label_values",
    "label_classes",
    "AnnotatedFramesd",
    "EmptyFramesUnannotatedd",
    "UnlabelledAsIgnoredd",
]

logger = logging.getLogger(__name__)

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


def label_classes(values: np.ndarray, num_classes: int | None, path: str = "label") -> np.ndarray:
    """A label volume as read from its file (any dtype, (..., T)) -> uint8 classes, checked before any cast.

    Values must be whole numbers in 0..num_classes-1 or 255 (not annotated); anything a cast would cut or wrap
    (0.9999, 256, -1, NaN) raises ``ValueError`` naming ``path`` and the values. One rule reads a binary mask saved
    as 0/255 (LV = 255, as many tools save masks): when the label holds only 0 and 255 and some frame holds both, 255
    is the LV on those frames (a frame of 0 and 255 means nothing under the 255 = not annotated convention), and a
    frame entirely 255 stays not annotated. ``num_classes`` None checks only that the values fit 0..255.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        fractional = np.unique(values[finite & (values != np.round(values))])
        if not finite.all() or fractional.size:
            found = ([] if finite.all() else ["NaN/inf"]) + [f"{v:.6g}" for v in fractional[:5]]
            raise ValueError(
                f"{path}: label values must be whole class numbers; found {', '.join(found)} (a mask interpolated or "
                "saved as float?). Round it to 0/1 (255 for frames not annotated) and save it as an integer mask."
            )
    present = np.unique(values)
    outside = [v for v in present if not 0 <= v <= 255]
    if outside:
        raise ValueError(
            f"{path}: label values {[int(v) for v in outside[:5]]} do not fit 0..255 (classes, 255 = not annotated); "
            "a cast would wrap them. Save the mask with 0 = background and 1 = LV."
        )
    classes = values.astype(np.uint8)
    if set(present.tolist()) == {0, IGNORE_INDEX} and num_classes is not None:
        axes = tuple(range(classes.ndim - 1))
        mixed = (classes == 0).any(axis=axes) & (classes == IGNORE_INDEX).any(axis=axes)
        if mixed.any():
            frames = classes[..., mixed]
            classes[..., mixed] = np.where(frames == IGNORE_INDEX, LV_CLASS, frames)
            logger.info(f"{path}: a 0/255 mask, read with 255 = LV on its {int(mixed.sum())} annotated frame(s)")
    if num_classes is not None:
        check_label_values(classes, num_classes, path)
    return classes


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


class UnlabelledAsIgnoredd(MapTransform):
    """Give an item without a label (a video nobody annotated, as ``adapt.yaml`` trains on) a label volume of 255 of
    its video's shape and geometry: no frame annotated, so the supervised loss sees none of it and the mean teacher
    teaches every frame. Items with a label pass unchanged.

    Shapes: ``image`` (C, X, Y, T) -> ``label`` (1, X, Y, T) uint8, the image's meta.
    """

    def __init__(self, label_key: str = "label", image_key: str = "image") -> None:
        super().__init__([label_key], allow_missing_keys=True)
        self.label_key, self.image_key = label_key, image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        if d.get(self.label_key) is None:
            image = d[self.image_key]
            label = torch.full((1, *image.shape[1:]), IGNORE_INDEX, dtype=torch.uint8)
            d[self.label_key] = MetaTensor(label, meta=dict(image.meta)) if isinstance(image, MetaTensor) else label
        return d
