"""MONAI transforms and readers for echo videos: loading, clip sampling, sparse-label helpers and augmentation."""

from .augment import (
    RandDepthGaind,
    RandNearFieldClutterd,
    RandPerspectived,
    RandSectorDropoutd,
    RandSectorWidthd,
    RandSpeckleNoised,
)
from .checks import CheckAnnotationsd, item_name
from .fields import MissingFieldsAsNaNd
from .integrity import IncompleteFileError, check_complete
from .io import Video, VideoReadError, load_video, pixel_spacing, read_video, video_format, write_volume
from .labels import (
    IGNORE_INDEX,
    AnnotatedFramesd,
    EmptyFramesUnannotatedd,
    UnlabelledAsIgnoredd,
    annotated_frames,
    sparse_label,
)
from .readers import MetaImageReader, UltrasoundDicomReader, VideoFileReader
from .temporal import TemporalSmooth, TemporalSmoothd
from .video import LoadVideod, SampleClipd, clip_indices

__all__ = [
    "IGNORE_INDEX",
    "AnnotatedFramesd",
    "CheckAnnotationsd",
    "EmptyFramesUnannotatedd",
    "IncompleteFileError",
    "LoadVideod",
    "MetaImageReader",
    "MissingFieldsAsNaNd",
    "RandDepthGaind",
    "RandNearFieldClutterd",
    "RandPerspectived",
    "RandSectorDropoutd",
    "RandSectorWidthd",
    "RandSpeckleNoised",
    "SampleClipd",
    "TemporalSmooth",
    "TemporalSmoothd",
    "UltrasoundDicomReader",
    "UnlabelledAsIgnoredd",
    "Video",
    "VideoFileReader",
    "VideoReadError",
    "annotated_frames",
    "check_complete",
    "clip_indices",
    "load_video",
    "pixel_spacing",
    "item_name",
    "read_video",
    "sparse_label",
    "video_format",
    "write_volume",
]
