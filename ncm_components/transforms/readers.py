"""MONAI ``ImageReader``s for the echo formats MONAI's own readers do not cover.

Each returns what MONAI's ``LoadImage`` expects of a reader: the array with spatial axes in the file's order (axis 0
= x = image columns, axis 1 = y = image rows, axis 2 = time) and a meta dict with ``affine`` and ``original_affine``
(RAS world coordinates, as MONAI's ITK and NiBabel readers give them), ``spatial_shape`` and ``original_channel_dim``.
They add ``spacing_known`` (whether the pixel size is a calibrated physical size in mm) and ``fps``.

- :class:`VideoFileReader`: AVI/MP4 through OpenCV (grey levels; no calibration, so spacing is unknown);
- :class:`UltrasoundDicomReader`: single- and multi-frame DICOM through pydicom, with the ultrasound region
  calibration (or PixelSpacing) and, where present, the patient position and orientation;
- :class:`MetaImageReader`: MetaImage (``.mhd``/``.mha``) and other SimpleITK formats, with their origin and
  direction (MONAI's ``ITKReader`` needs the separate ``itk`` package).

Use them with ``LoadImage(reader=...)``, or through :func:`ncm_components.transforms.io.load_video`, which picks the
reader by file type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from monai.data import ImageReader
from monai.utils import ensure_tuple

__all__ = ["VideoFileReader", "UltrasoundDicomReader", "MetaImageReader", "frame_time_to_fps"]

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def frame_time_to_fps(frame_time: float, frames: int) -> float:
    """fps from the third spacing of a 2D+time volume: frame time in ms (> 1) or s (<= 1); NaN when meaningless."""
    if frames < 2 or not frame_time or frame_time == 1.0 or not math.isfinite(frame_time):
        return math.nan
    return 1000.0 / frame_time if frame_time > 1.0 else 1.0 / frame_time


def _meta(array: np.ndarray, affine: np.ndarray, spacing_known: bool, fps: float) -> dict:
    return {
        "affine": affine.copy(),
        "original_affine": affine.copy(),
        "spatial_shape": np.asarray(array.shape[:3]),
        "original_channel_dim": float("nan"),
        "spacing_known": bool(spacing_known),
        "fps": float(fps),
    }


def _single(filenames: Sequence, reader: str) -> str:
    names = ensure_tuple(filenames)
    if len(names) != 1:
        raise ValueError(f"{reader} reads one video file at a time, got {len(names)}.")
    return str(names[0])


class VideoFileReader(ImageReader):
    """AVI/MP4 videos through OpenCV: (X, Y, T) grey levels, unit pixel spacing marked unknown, frame time in ms.

    The decoded frame count must reach the count the container announces; a shorter stream (a truncated file)
    raises ``ValueError`` naming the file.
    """

    suffixes = (".avi", ".mp4")

    def verify_suffix(self, filename: Sequence[str] | str) -> bool:
        return all(str(name).lower().endswith(self.suffixes) for name in ensure_tuple(filename))

    def read(self, data, **kwargs):
        import cv2

        path = _single(data, "VideoFileReader")
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise ValueError(f"{path}: OpenCV cannot open this video.")
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
            raise ValueError(f"{path}: no frames could be decoded.")
        if announced > 0 and len(frames) < announced:
            raise ValueError(
                f"{path}: decoded {len(frames)} of the {announced} frames its header announces; truncated?"
            )
        return np.stack(frames, axis=-1), fps

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        frames, fps = img  # rows x columns x T
        array = np.ascontiguousarray(frames.transpose(1, 0, 2))  # X x Y x T
        frame_time = 1000.0 / fps if math.isfinite(fps) and fps > 0 else 1.0
        return array, _meta(array, np.diag([1.0, 1.0, frame_time, 1.0]), False, fps)


class UltrasoundDicomReader(ImageReader):
    """Single- and multi-frame DICOM (``.dcm`` or extension-less) through pydicom: (X, Y, T) grey levels.

    Pixel spacing (mm) from the ultrasound region calibration (``SequenceOfUltrasoundRegions`` in cm), else
    ``PixelSpacing``; without either the spacing is unknown (1 px). fps from ``FrameTime`` or ``CineRate``. The
    affine uses ``ImageOrientationPatient``/``ImagePositionPatient`` when the file has them (LPS, turned to RAS).
    """

    def verify_suffix(self, filename: Sequence[str] | str) -> bool:
        return all(
            str(name).lower().endswith(".dcm") or "." not in Path(str(name)).name for name in ensure_tuple(filename)
        )

    def read(self, data, **kwargs):
        import pydicom

        path = _single(data, "UltrasoundDicomReader")
        dataset = pydicom.dcmread(path)
        if "PixelData" not in dataset:
            raise ValueError(f"{path}: a DICOM file without pixel data.")
        return dataset

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        pixels = np.asarray(img.pixel_array)
        frames = int(getattr(img, "NumberOfFrames", 1) or 1)
        colour = int(getattr(img, "SamplesPerPixel", 1)) > 1
        if frames == 1:
            pixels = pixels[None]
        if colour:
            pixels = pixels[..., :3].mean(axis=-1)  # luminance of RGB/YBR-converted frames
        array = np.ascontiguousarray(pixels.transpose(2, 1, 0))  # T x rows x columns -> X x Y x T
        (sx, sy), known = _dicom_spacing(img)
        fps = math.nan
        if float(getattr(img, "FrameTime", 0) or 0) > 0:
            fps = 1000.0 / float(img.FrameTime)
        elif float(getattr(img, "CineRate", 0) or 0) > 0:
            fps = float(img.CineRate)
        frame_time = 1000.0 / fps if math.isfinite(fps) else 1.0
        affine = np.diag([sx, sy, frame_time, 1.0])
        orientation, position = getattr(img, "ImageOrientationPatient", None), getattr(
            img, "ImagePositionPatient", None
        )
        if orientation is not None and position is not None and len(orientation) == 6:
            row_dir, col_dir = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
            normal = np.cross(row_dir, col_dir)
            affine[:3, 0], affine[:3, 1] = row_dir * sx, col_dir * sy
            affine[:3, 2], affine[:3, 3] = normal * frame_time, np.asarray(position, float)
            affine = _LPS_TO_RAS @ affine
        return array, _meta(array, affine, known, fps)


def _dicom_spacing(dataset) -> tuple[tuple[float, float], bool]:
    """((x, y) pixel spacing in mm, known): ultrasound region calibration (cm) first, then PixelSpacing. A
    calibration of zero, negative or non-finite size is no calibration: the next source, else unknown (pixels)."""
    candidates = []
    for region in dataset.get("SequenceOfUltrasoundRegions", []):
        if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalUnitsYDirection") == 3:  # 3 = cm
            candidates.append((abs(float(region.PhysicalDeltaX)) * 10.0, abs(float(region.PhysicalDeltaY)) * 10.0))
    if "PixelSpacing" in dataset:
        row, column = dataset.PixelSpacing  # DICOM: (between rows, between columns)
        candidates.append((float(column), float(row)))
    for spacing in candidates:
        if all(math.isfinite(value) and value > 0 for value in spacing):
            return spacing, True
    return (1.0, 1.0), False


class MetaImageReader(ImageReader):
    """MetaImage (``.mhd``/``.mha``) and other SimpleITK formats: (X, Y, T) arrays with origin and direction.

    The affine is ``direction @ diag(spacing)`` with the origin, turned from ITK's LPS to RAS, as MONAI's
    ``ITKReader`` builds it. MetaImage has no unit field: spacing is taken as known, in mm. ITK refuses a header whose
    ``ElementSpacing`` is 0 or NaN; such a ``.mhd`` is read through a copy of its header (in a temporary folder,
    pointing at the same data file, the input untouched) with unit spacing, and its spacing is unknown.
    """

    suffixes = (".mhd", ".mha", ".nrrd", ".nhdr")

    def verify_suffix(self, filename: Sequence[str] | str) -> bool:
        return all(str(name).lower().endswith(self.suffixes) for name in ensure_tuple(filename))

    def read(self, data, **kwargs):
        import SimpleITK as sitk

        path = _single(data, "MetaImageReader")
        try:
            return sitk.ReadImage(path)
        except RuntimeError:
            spacing = _unusable_mhd_spacing(Path(path))
            if spacing is None:
                raise
            return _read_with_unit_spacing(Path(path)), spacing

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        import SimpleITK as sitk

        bad_spacing = None
        if isinstance(img, tuple):  # read through a repaired header: spacing unknown
            img, bad_spacing = img
        array = sitk.GetArrayFromImage(img)  # (T,) Y, X [, channels]
        if img.GetNumberOfComponentsPerPixel() > 1:
            array = array[..., :3].mean(axis=-1)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise ValueError(f"expected a 2D image or a 2D+time volume, got array shape {array.shape}.")
        array = np.ascontiguousarray(array.transpose(2, 1, 0))  # X x Y x T
        dims = img.GetDimension()
        spacing = np.ones(3)
        spacing[:dims] = img.GetSpacing()[:3]
        direction = np.eye(3)
        direction[:dims, :dims] = np.asarray(img.GetDirection()).reshape(dims, dims)[:3, :3]
        origin = np.zeros(3)
        origin[:dims] = img.GetOrigin()[:3]
        affine = np.eye(4)
        affine[:3, :3] = direction @ np.diag(spacing)
        affine[:3, 3] = origin
        meta = _meta(array, _LPS_TO_RAS @ affine, bad_spacing is None, frame_time_to_fps(spacing[2], array.shape[2]))
        if bad_spacing is not None:
            meta["reading_notes"] = f"ElementSpacing {bad_spacing} is not a pixel's size: spacing unknown"
        return array, meta


def _unusable_mhd_spacing(path: Path) -> str | None:
    """The ``ElementSpacing`` of a ``.mhd`` header when ITK cannot take it (a 0, NaN or infinite value), else None."""
    if path.suffix.lower() != ".mhd":
        return None
    text = path.read_text(errors="replace")
    if "LOCAL" in text:  # the data follows the header in the same file: no header copy can point at it
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementSpacing":
            try:
                values = [float(v) for v in value.split()]
            except ValueError:
                return value.strip()
            return value.strip() if any(not math.isfinite(v) or v == 0 for v in values) else None
    return None


def _read_with_unit_spacing(path: Path):
    """Read a ``.mhd`` through a temporary copy of its header with ``ElementSpacing`` 1 and the data file's absolute
    path; the input is not touched."""
    import tempfile

    import SimpleITK as sitk

    lines = []
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementSpacing":
            line = "ElementSpacing = " + " ".join("1" for _ in value.split())
        elif key.strip() == "ElementDataFile" and value.strip() != "LOCAL":
            line = f"ElementDataFile = {(path.parent / value.strip()).resolve()}"
        lines.append(line)
    with tempfile.TemporaryDirectory(prefix=".ncm-partial.") as folder:
        header = Path(folder) / path.name
        header.write_text("\n".join(lines) + "\n")
        return sitk.ReadImage(str(header))
