"""Write test videos in the formats users bring: AVI (OpenCV), NIfTI and DICOM cine loops."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import SimpleITK as sitk


def write_avi(path, video: np.ndarray, fps: float = 50.0) -> None:
    """(X, Y, T) uint8 (MONAI's layout) -> grey MJPG AVI whose frames are Y rows by X columns (no pixel spacing)."""
    width, height, frames = video.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height), False)
    for t in range(frames):
        writer.write(np.ascontiguousarray(video[..., t].T))
    writer.release()


def write_dicom_cine(path, video: np.ndarray, spacing=(0.3, 0.25), frame_time_ms: float = 33.3, regions=True):
    """(X, Y, T) uint8 -> multi-frame US DICOM of Y rows by X columns; (x, y) spacing in mm written as ultrasound
    regions (cm) or PixelSpacing (row spacing = y first)."""
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(video.transpose(2, 1, 0))), str(path))
    ds = pydicom.dcmread(str(path))
    ds.Modality = "US"
    ds.FrameTime = f"{frame_time_ms}"
    if regions:
        region = pydicom.Dataset()
        region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 3, 3
        region.PhysicalDeltaX, region.PhysicalDeltaY = spacing[0] / 10, spacing[1] / 10
        ds.SequenceOfUltrasoundRegions = pydicom.Sequence([region])
    else:
        ds.PixelSpacing = [spacing[1], spacing[0]]
    ds.save_as(str(path))
