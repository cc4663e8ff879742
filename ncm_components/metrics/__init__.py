"""Metrics: segmentation overlap and distances, temporal consistency, clinical volumes and ejection fraction."""

from .clinical import disk_diameters, ejection_fraction, volume_biplane, volume_single_plane

__all__ = ["disk_diameters", "ejection_fraction", "volume_biplane", "volume_single_plane"]
