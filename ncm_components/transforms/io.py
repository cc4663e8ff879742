"""Read and write echo videos and label volumes in one in-memory layout: (H, W, T) arrays, time last.

Formats: NIfTI (``.nii``, ``.nii.gz``) and MetaImage (``.mhd``) through SimpleITK, AVI/MP4 through OpenCV, DICOM
cine loops (``.dcm`` or extension-less files) through SimpleITK with tags from pydicom. SimpleITK's array order is
(T, H, W) with spacing (x=W, y=H, t); it is transposed here once, so every caller sees (H, W, T) and
``spacing = (row mm, column mm)``. Unknown spacing is NaN (distances are then in pixels); unknown fps is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..data.atomic import atomic_path
from .integrity import check_complete

__all__ = ["Video", "VideoReadError", "read_video", "write_volume", "video_format"]

VIDEO_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".mhd": "mhd", ".avi": "video", ".mp4": "video", ".dcm": "dicom"}


class VideoReadError(ValueError):
    """A video or label file that cannot be read; the message names the file and the problem."""


@dataclass
class Video:
    """A video or label volume: ``array`` (H, W, T), pixel ``spacing`` (row, column) in mm, ``fps``, ``path``."""

    array: np.ndarray
    spacing: tuple[float, float] = (math.nan, math.nan)
    fps: float = math.nan
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.array.shape[2])

    @property
    def has_spacing(self) -> bool:
        return not any(math.isnan(s) for s in self.spacing)


def video_format(path: str | Path) -> str:
    """The reader that handles ``path``: ``nifti``, ``mhd``, ``video`` or ``dicom`` (extension-less files: DICOM)."""
    name = Path(path).name.lower()
    for suffix, kind in VIDEO_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    if "." not in name:
        return "dicom"
    raise VideoReadError(f"{path}: unsupported file type; expected one of {sorted(VIDEO_SUFFIXES)} or DICOM.")


def read_video(path: str | Path) -> Video:
    """Read any supported file into a :class:`Video` with an (H, W, T) array (T >= 1).

    Raises:
        VideoReadError: missing or unreadable file, or a video with zero frames; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: file not found.")
    kind = video_format(path)
    check_complete(path)
    try:
        video = {"nifti": _read_itk, "mhd": _read_itk, "video": _read_opencv, "dicom": _read_dicom}[kind](path)
    except VideoReadError:
        raise
    except Exception as err:  # the libraries' own errors, re-raised with the file's name
        raise VideoReadError(f"{path}: cannot be read as {kind} ({err}).") from err
    if video.array.ndim != 3 or video.num_frames == 0 or video.array.size == 0:
        raise VideoReadError(f"{path}: no frames (array shape {video.array.shape}).")
    video.path = str(path)
    return video


def _read_itk(path: Path) -> Video:
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:  # colour: luminance
        array = array[..., :3].mean(axis=-1)
    if array.ndim == 2:  # a single 2D frame
        array = array[None]
    if array.ndim != 3:
        raise VideoReadError(f"{path}: expected a 2D image or a 2D+time volume, got array shape {array.shape}.")
    spacing = image.GetSpacing()
    fps = math.nan
    if len(spacing) > 2 and array.shape[0] > 1 and spacing[2] not in (0.0, 1.0):
        fps = 1000.0 / spacing[2] if spacing[2] > 1.0 else 1.0 / spacing[2]  # frame time in ms or s
    return Video(np.ascontiguousarray(array.transpose(1, 2, 0)), (float(spacing[1]), float(spacing[0])), fps)


def _read_opencv(path: Path) -> Video:
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoReadError(f"{path}: OpenCV cannot open this video.")
    frames = []
    try:
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or math.nan
    finally:
        capture.release()
    if not frames:
        raise VideoReadError(f"{path}: no frames could be decoded.")
    if announced > 0 and len(frames) < announced:
        raise VideoReadError(f"{path}: decoded {len(frames)} of the {announced} frames its header announces; truncated?")
    return Video(np.stack(frames, axis=-1), fps=fps)


def _read_dicom(path: Path) -> Video:
    import pydicom

    header = pydicom.dcmread(str(path), stop_before_pixels=True)
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        array = array[..., :3].mean(axis=-1)
    if array.ndim == 2:
        array = array[None]
    spacing = _dicom_spacing(header)
    fps = math.nan
    if "FrameTime" in header and float(header.FrameTime) > 0:
        fps = 1000.0 / float(header.FrameTime)
    elif "CineRate" in header and float(header.CineRate) > 0:
        fps = float(header.CineRate)
    return Video(np.ascontiguousarray(array.transpose(1, 2, 0)), spacing, fps)


def _dicom_spacing(header) -> tuple[float, float]:
    """Pixel spacing (row, column) in mm: ultrasound region calibration (cm) first, then PixelSpacing."""
    for region in header.get("SequenceOfUltrasoundRegions", []):
        units_x, units_y = region.get("PhysicalUnitsXDirection"), region.get("PhysicalUnitsYDirection")
        if units_x == 3 and units_y == 3:  # 3 = cm
            return (abs(float(region.PhysicalDeltaY)) * 10.0, abs(float(region.PhysicalDeltaX)) * 10.0)
    if "PixelSpacing" in header:
        row, column = header.PixelSpacing
        return (float(row), float(column))
    return (math.nan, math.nan)


def write_volume(
    path: str | Path, array: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0), fps: float = math.nan
) -> Path:
    """Write an (H, W, T) array as NIfTI (or any SimpleITK format by suffix) atomically; returns the path.

    Unknown spacing (NaN) is written as 1 mm; the frame time (ms) is stored as the third spacing when fps is known.
    """
    path = Path(path)
    if array.ndim != 3:
        raise ValueError(f"{path}: expected an (H, W, T) array, got shape {array.shape}.")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 0, 1)))
    row, column = (1.0 if math.isnan(s) else float(s) for s in spacing)
    image.SetSpacing((column, row, 1000.0 / fps if fps and not math.isnan(fps) else 1.0))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return path
