"""Temporal smoothing of predicted class probabilities: one frame's neighbours vote on its segmentation.

A network that decodes every frame on its own (NCM-Net looks one frame either side, at two levels) can place a
contour a pixel or two differently in consecutive frames; in a 50 frames/s echo the wall cannot move that far back and
forth in 40 ms, so the LV area curve flickers and so do the volumes and ED/ES frames read from it. Averaging each
frame's probabilities with its two neighbours by the binomial kernel ``[w, 1 - 2w, w]`` (``w = 1/4`` by default)
removes a one-frame jump and keeps motion that is linear in time exactly: a contour moving at constant speed has its
middle frame's probabilities as the mean of its neighbours'. It runs after the sliding-window inference, on the whole
video, before the probabilities are resampled and thresholded; it needs no training and works on any model's output.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

__all__ = ["TemporalSmooth", "TemporalSmoothd"]


class TemporalSmooth(Transform):
    """Smooth class probabilities along time (the last axis) with the kernel ``[weight, 1 - 2 weight, weight]``.

    The first and last frames are padded by repetition (each is averaged with itself and its one neighbour), so every
    output frame is a convex combination of input frames: probabilities stay in [0, 1] and sum to 1 over the classes.

    Args:
        weight: weight of each neighbour, in [0, 0.5); 0 returns the input unchanged.

    Shapes:
        ``__call__(probs)``: probs (K, H, W, T) or (B, K, H, W, T) class probabilities, a tensor or MetaTensor (its
        metadata and applied operations are kept). Returns the same shape and type; T < 2 is returned unchanged.
    """

    def __init__(self, weight: float = 0.25) -> None:
        if not 0.0 <= weight < 0.5:
            raise ValueError(f"weight must be in [0, 0.5), got {weight}: the frame itself must weigh more than 0.")
        self.weight = float(weight)

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        if probs.dim() not in (4, 5):
            raise ValueError(f"expected probabilities (K, H, W, T) or (B, K, H, W, T), got shape {tuple(probs.shape)}.")
        if self.weight == 0.0 or probs.shape[-1] < 2:
            return probs
        smoothed = probs * (1.0 - 2.0 * self.weight)  # then each neighbour added in place: half the time of copies
        smoothed[..., 1:].add_(probs[..., :-1], alpha=self.weight)
        smoothed[..., :1].add_(probs[..., :1], alpha=self.weight)
        smoothed[..., :-1].add_(probs[..., 1:], alpha=self.weight)
        smoothed[..., -1:].add_(probs[..., -1:], alpha=self.weight)
        return smoothed


class TemporalSmoothd(MapTransform):
    """Dictionary wrapper of :class:`TemporalSmooth` (``keys``: the predictions, e.g. ``pred``, as probabilities)."""

    def __init__(self, keys: KeysCollection, weight: float = 0.25, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.smooth = TemporalSmooth(weight)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.smooth(d[key])
        return d
