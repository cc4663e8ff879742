"""Write test videos in the formats users bring: AVI (OpenCV), NIfTI and DICOM cine loops."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import SimpleITK as sitk


def write_avi(path, video: np.ndarray, fps: float = 50.0) -> None:
    """(H, W, T) uint8 -> grey MJPG AVI (no pixel spacing in the file)."""
    height, width, frames = video.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height), False)
    for t in range(frames):
        writer.write(np.ascontiguousarray(video[..., t]))
    writer.release()


def write_dicom_cine(path, video: np.ndarray, spacing=(0.25, 0.3), frame_time_ms: float = 33.3, regions=True):
    """(H, W, T) uint8 -> multi-frame US DICOM with the spacing in ultrasound regions (cm) or PixelSpacing."""
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(video.transpose(2, 0, 1))), str(path))
    ds = pydicom.dcmread(str(path))
    ds.Modality = "US"
    ds.FrameTime = f"{frame_time_ms}"
    if regions:
        region = pydicom.Dataset()
        region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 3, 3
        region.PhysicalDeltaX, region.PhysicalDeltaY = spacing[1] / 10, spacing[0] / 10
        ds.SequenceOfUltrasoundRegions = pydicom.Sequence([region])
    else:
        ds.PixelSpacing = [spacing[0], spacing[1]]
    ds.save_as(str(path))
