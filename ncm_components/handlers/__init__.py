"""Ignite/MONAI handlers MONAI lacks: atomic checkpoints and resume, NaN stop, mean teacher, weights, video results."""

from .checkpoint import AtomicCheckpointSaver, ModelWeightsLoader, ResumeFromLatestCheckpoint, latest_checkpoint
from .mean_teacher import MeanTeacher
from .nan_guard import NaNLossGuard
from .video_metrics import VideoMetricsSaver
from .video_writer import VideoResultsWriter, check_output_dir

__all__ = [
    "AtomicCheckpointSaver",
    "ModelWeightsLoader",
    "ResumeFromLatestCheckpoint",
    "latest_checkpoint",
    "MeanTeacher",
    "NaNLossGuard",
    "VideoMetricsSaver",
    "VideoResultsWriter",
    "check_output_dir",
]
