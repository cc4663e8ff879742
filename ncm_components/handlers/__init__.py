"""Ignite/MONAI handlers MONAI lacks: atomic checkpoints, exact resume, NaN stop, mean teacher, weights, results."""

from .checkpoint import (
    AtomicCheckpointSaver,
    ModelWeightsLoader,
    NamedCheckpointLoader,
    ResumeFromLatestCheckpoint,
    latest_checkpoint,
)
from .mean_teacher import MeanTeacher
from .nan_guard import NaNLossGuard
from .random_state import RandomStates
from .run_lock import CheckpointFolderInUse, RunLock
from .video_metrics import VideoMetricsSaver
from .video_writer import InferenceFailures, VideoResultsWriter, check_output_dir
from .weight_files import CheckpointError, describe_weights, file_sha256, read_checkpoint, shipped_weights
from .weights import PreserveShippedWeights, RunFingerprint, load_initial_weights

__all__ = [
    "AtomicCheckpointSaver",
    "CheckpointError",
    "InferenceFailures",
    "NamedCheckpointLoader",
    "file_sha256",
    "read_checkpoint",
    "ModelWeightsLoader",
    "ResumeFromLatestCheckpoint",
    "latest_checkpoint",
    "MeanTeacher",
    "NaNLossGuard",
    "RandomStates",
    "RunLock",
    "CheckpointFolderInUse",
    "VideoMetricsSaver",
    "VideoResultsWriter",
    "check_output_dir",
    "PreserveShippedWeights",
    "RunFingerprint",
    "describe_weights",
    "load_initial_weights",
    "shipped_weights",
]
