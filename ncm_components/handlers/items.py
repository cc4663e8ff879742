"""Read the videos an evaluator just processed: decollated (output, item) pairs, volumes, meta and item fields.

Shared by the handlers that score (``video_metrics``) and save (``video_writer``) whole videos.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from ignite.engine import Engine

from ..transforms.io import pixel_spacing

__all__ = ["processed_items", "as_volume", "video_meta", "item_value", "frame_index"]


def processed_items(engine: Engine) -> Iterator[tuple[dict, dict]]:
    """(output, batch item) pairs of the last iteration; MONAI engines decollate both into per-item lists."""
    outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
    batches = engine.state.batch if isinstance(engine.state.batch, list) else [engine.state.batch]
    return zip(outputs, batches)


def as_volume(value) -> np.ndarray | None:
    """(1, X, Y, T) or (X, Y, T) tensor or array -> (X, Y, T) numpy; None stays None."""
    if value is None:
        return None
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return array[0] if array.ndim == 4 else array


def video_meta(video) -> tuple[str, tuple[float, float], float]:
    """(source file, (x, y) spacing in mm with NaN when unknown, fps) from a loaded video's meta."""
    meta = getattr(video, "meta", {}) or {}
    return str(meta.get("filename_or_obj", "video")), pixel_spacing(meta), float(meta.get("fps", math.nan))


def item_value(item: dict, key: str):
    """A scalar field of a decollated item (one-element tensors and lists unwrapped); None when absent."""
    value = item.get(key)
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value


def frame_index(item: dict, key: str) -> int | None:
    """An integer frame field (``ed_frame``, ``es_frame``) of an item; None when absent or NaN."""
    value = item_value(item, key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
