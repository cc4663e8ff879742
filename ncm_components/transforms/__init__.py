"""MONAI transforms for echo videos: loading, clip sampling, sparse-label helpers and augmentation."""

from .io import Video, VideoReadError, read_video, write_volume
from .labels import IGNORE_INDEX, AnnotatedFramesd, EmptyFramesUnannotatedd, annotated_frames, sparse_label
from .video import LoadVideod, RandSpeckleNoised, SampleClipd, clip_indices

__all__ = [
    "IGNORE_INDEX",
    "AnnotatedFramesd",
    "EmptyFramesUnannotatedd",
    "LoadVideod",
    "RandSpeckleNoised",
    "SampleClipd",
    "Video",
    "VideoReadError",
    "annotated_frames",
    "clip_indices",
    "read_video",
    "sparse_label",
    "write_volume",
]
