"""Ignite/MONAI handlers MONAI lacks: atomic checkpoints, resuming from the latest one, stopping on a NaN loss."""

from .checkpoint import AtomicCheckpointSaver, ResumeFromLatestCheckpoint, latest_checkpoint
from .nan_guard import NaNLossGuard
from .video_metrics import VideoMetricsSaver

__all__ = [
    "AtomicCheckpointSaver",
    "ResumeFromLatestCheckpoint",
    "latest_checkpoint",
    "NaNLossGuard",
    "VideoMetricsSaver",
]
