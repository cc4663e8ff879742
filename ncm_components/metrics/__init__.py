"""Metrics: segmentation overlap and distances, temporal consistency, clinical volumes and ejection fraction."""

from .clinical import disk_diameters, ejection_fraction, volume_biplane, volume_single_plane
from .segmentation import SEGMENTATION_METRICS, AnnotatedFrameDiceMetric, frame_one_hot, per_frame_scores
from .temporal import area_second_difference, temporal_inconsistency

__all__ = [
    "disk_diameters",
    "ejection_fraction",
    "volume_biplane",
    "volume_single_plane",
    "SEGMENTATION_METRICS",
    "AnnotatedFrameDiceMetric",
    "frame_one_hot",
    "per_frame_scores",
    "area_second_difference",
    "temporal_inconsistency",
]
