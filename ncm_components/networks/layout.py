"""Clip layout helpers: fold the time axis of (B, C, H, W, T) clips into the batch of 2D layers and back."""

from __future__ import annotations

import torch

__all__ = ["fold_frames", "unfold_frames"]


def fold_frames(clip: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W, T) -> (B*T, C, H, W), frame index fastest within each video."""
    batch, channels, height, width, frames = clip.shape
    return clip.permute(0, 4, 1, 2, 3).reshape(batch * frames, channels, height, width)


def unfold_frames(frames_2d: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*T, K, H, W) -> (B, K, H, W, T), the inverse of :func:`fold_frames`."""
    bt, channels, height, width = frames_2d.shape
    return frames_2d.reshape(batch, bt // batch, channels, height, width).permute(0, 2, 3, 4, 1)
