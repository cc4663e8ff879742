"""Read and write echo videos and label volumes in MONAI's layout: (X, Y, T) arrays, the file's affine, time last.

One layout everywhere, the one MONAI's ``LoadImage`` gives a NIfTI file: spatial axes in the file's order (axis 0 = x
= image columns, axis 1 = y = image rows), the frames last, and the file's affine (RAS) as ``affine`` and
``original_affine``. Masks saved from it with MONAI's writers land on their video voxel for voxel in any viewer.

Readers, picked by file type (:func:`video_format`): NIfTI through MONAI's ``NibabelReader``; MetaImage, AVI/MP4 and
DICOM through the ``ImageReader``s of :mod:`.readers`. Every file is first checked for truncation
(:mod:`.integrity`). Whether the pixel spacing is a physical size (``spacing_known``) travels with the image: NIfTI
says so in its ``xyzt_units`` (unknown units: spacing unknown), AVI/MP4 never have one, DICOM has one when it is
calibrated, MetaImage always (mm). Unknown spacing is reported in pixels, never in mm. A spacing that cannot be a
pixel's size (0, NaN, infinite, or outside 0.01-10 mm) is unknown spacing too, with a note, and a file whose affine
is unusable (NaN) gets a unit-spacing affine so that its mask can still be written. What a reader had to assume
(such a spacing, an ambiguous time axis) travels with the video as ``reading_notes`` (one text) and ends in the
video's notes in ``predictions.csv``.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor, NibabelReader
from monai.transforms import LoadImage

from ..data.atomic import atomic_path
from .integrity import IncompleteFileError, VideoReadError, check_complete
from .readers import MetaImageReader, UltrasoundDicomReader, VideoFileReader, frame_time_to_fps

__all__ = [
    "Video",
    "VideoReadError",
    "load_video",
    "read_video",
    "write_volume",
    "video_format",
    "split_video_suffix",
    "is_dicom_file",
    "pixel_spacing",
    "VIDEO_SUFFIXES",
]

VIDEO_SUFFIXES = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".mhd": "mhd",
    ".mha": "mhd",  # MetaImage in one file, read by SimpleITK as .mhd is
    ".nrrd": "mhd",  # NRRD, read by SimpleITK
    ".avi": "video",
    ".mp4": "video",
    ".dcm": "dicom",
}
_READERS = {"nifti": NibabelReader, "mhd": MetaImageReader, "video": VideoFileReader, "dicom": UltrasoundDicomReader}
logger = logging.getLogger(__name__)
_NIFTI_SPACE_UNITS_MM = {1: 1000.0, 2: 1.0, 3: 0.001}  # NIfTI xyzt_units codes: metre, millimetre, micron
_NIFTI_MM_MSEC = 2 | 16  # xyzt_units: mm and ms
PIXEL_SPACING_RANGE = (0.01, 10.0)  # mm: outside it a file's spacing is not a pixel's size
MAX_FRAMES = 5000  # more frames than this in one file is most likely not the time axis


def split_video_suffix(path: str | Path) -> tuple[str, str]:
    """(file name without its video suffix, the suffix): ``a.nii.gz`` -> (``a``, ``.nii.gz``); ("name", "") for a
    file without one (an extension-less DICOM)."""
    name = Path(path).name
    for suffix in sorted(VIDEO_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "video", name[-len(suffix) :]
    return name, ""


def video_format(path: str | Path) -> str:
    """The reader that handles ``path``: ``nifti``, ``mhd``, ``video`` or ``dicom`` (extension-less files: DICOM)."""
    suffix = split_video_suffix(path)[1].lower()
    if suffix:
        return VIDEO_SUFFIXES[suffix]
    if "." not in Path(path).name:
        return "dicom"
    raise VideoReadError(f"{path}: unsupported file type; expected one of {sorted(VIDEO_SUFFIXES)} or DICOM.")


def is_dicom_file(path: str | Path) -> bool:
    """A ``.dcm`` file, or an extension-less file with the DICOM preamble ("DICM" after 128 bytes)."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.name.lower().endswith(".dcm"):
        return True
    if "." in path.name:
        return False
    with open(path, "rb") as f:
        return f.read(132)[128:] == b"DICM"


def _nifti_units(meta: dict) -> tuple[bool, float]:
    """(spacing known, mm per file unit) from a NIfTI header's xyzt_units."""
    units = int(np.asarray(meta.get("xyzt_units", 0)).item()) & 0x07
    return units in _NIFTI_SPACE_UNITS_MM, _NIFTI_SPACE_UNITS_MM.get(units, 1.0)


def pixel_spacing(meta: dict) -> tuple[float, float]:
    """(x, y) pixel spacing in mm of a loaded video's meta; (NaN, NaN) when the spacing is unknown."""
    spacing = meta.get("pixel_spacing")
    if spacing is None:
        return (math.nan, math.nan)
    return tuple(float(s) for s in np.asarray(spacing, dtype=np.float64).ravel()[:2])


@functools.lru_cache(maxsize=None)
def _loader(dtype) -> LoadImage:
    """One MONAI ``LoadImage`` per output dtype (building one registers every default reader: slow and noisy)."""
    plugin_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_log.level
    plugin_log.setLevel(logging.ERROR)  # a GPU DICOM decoder MONAI probes for; the readers here do not use it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LoadImage(image_only=True, ensure_channel_first=True, dtype=dtype, simple_keys=True)
    finally:
        plugin_log.setLevel(level)


def _one_channel(image: MetaTensor, path: Path) -> tuple[MetaTensor, bool]:
    """A 4-D file, which MONAI loads with its last axis as channels (C, X, Y, Z), as one video (1, X, Y, T) by rule:
    (X, Y, 1, T) -> the singleton axis dropped, the last axis is time; (X, Y, T, 3 or 4) RGB(A) -> grey, the mean
    of R, G and B (as the AVI and DICOM readers do). Anything else is refused, naming the file. Also returns whether
    the third spacing of the affine is the frame time (False after a singleton axis was dropped)."""
    channels = image.shape[0]
    if channels == 1:
        return image, True
    if image.shape[-1] == 1:
        logger.info(f"{path}: read as (X, Y, T): its singleton third axis dropped, the fourth is time")
        return image.permute(3, 1, 2, 0), False
    if channels in (3, 4):
        logger.info(f"{path}: RGB frames read as grey levels (mean of R, G and B)")
        return image[:3].mean(dim=0, keepdim=True), True
    file_shape = tuple(image.shape[1:]) + (channels,)
    raise VideoReadError(
        f"{path}: a 4-D file of shape {file_shape} is not a video (X, Y, T); (X, Y, 1, T) and RGB (X, Y, T, 3) are "
        "read by rule. Save one video per file as (X, Y, T)."
    )


def load_video(path: str | Path, dtype=np.float32) -> MetaTensor:
    """Load any supported file as MONAI's ``LoadImage`` does: a MetaTensor (1, X, Y, T), T >= 1.

    Meta: MONAI's (``affine``, ``original_affine``, ``spatial_shape``, ``filename_or_obj``...) plus
    ``spacing_known`` (bool), ``pixel_spacing`` (x, y) in mm (NaN when unknown) and ``fps`` (NaN when unknown).

    A 4-D file of one of two layouts is read by rule (:func:`_one_channel`): (X, Y, 1, T) and RGB (X, Y, T, 3).

    Raises:
        VideoReadError: missing, truncated or unreadable file, zero frames, or a 4-D layout that is not a video; the
        message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: file not found.")
    kind = video_format(path)
    try:
        check_complete(path)
        image = _loader(dtype)(str(path), reader=_READERS[kind]())
    except IncompleteFileError:
        raise
    except Exception as err:  # the libraries' own errors, re-raised with the file's name
        message = str(err) if str(path) in str(err) else f"{path}: cannot be read as {kind} ({err})."
        raise VideoReadError(message) from err
    if image.dim() == 3:  # a single 2D frame
        image = image.unsqueeze(-1)
    if image.dim() != 4 or image.shape[-1] == 0 or image.numel() == 0:
        raise VideoReadError(f"{path}: expected a 2D image or a 2D+time volume, got shape {tuple(image.shape)}.")
    image, time_from_affine = _one_channel(image, path)
    meta = image.meta
    notes = [meta["reading_notes"]] if meta.get("reading_notes") else []
    affine = np.asarray(meta["affine"], dtype=np.float64)
    known, scale = _nifti_units(meta) if kind == "nifti" else (bool(meta.get("spacing_known", True)), 1.0)
    spacing = np.linalg.norm(affine[:3, :2], axis=0) * scale
    if kind == "nifti":
        spacing = _nifti_pixdim(path, spacing, scale)
        notes += _time_axis_notes(meta, tuple(image.shape[1:]))
    if not np.isfinite(affine).all():
        notes.append("the file's affine is not usable (NaN or infinite): the mask is written with unit spacing")
        affine = _unit_affine(affine)
        meta["affine"] = meta["original_affine"] = torch.as_tensor(affine)
    if known and not _plausible_spacing(spacing):
        shown = " x ".join(f"{s:g}" for s in spacing)
        low, high = PIXEL_SPACING_RANGE
        notes.append(f"pixel spacing {shown} mm is not a pixel's size ({low:g}-{high:g} mm): treated as unknown")
        known = False
    meta["spacing_known"] = known
    meta["pixel_spacing"] = torch.as_tensor(spacing if known else [math.nan, math.nan], dtype=torch.float64)
    if kind == "nifti" and time_from_affine:
        frame_spacing = float(np.linalg.norm(affine[:3, 2]))
        meta["fps"] = frame_time_to_fps(frame_spacing, int(image.shape[-1])) if frame_spacing > 0 else math.nan
    meta["fps"] = float(meta.get("fps", math.nan))
    meta["filename_or_obj"] = str(path)
    meta["reading_notes"] = "; ".join(notes)
    for note in notes:
        logger.info(f"{path}: {note}")
    return image


def _plausible_spacing(spacing) -> bool:
    low, high = PIXEL_SPACING_RANGE
    return all(math.isfinite(float(s)) and low <= float(s) <= high for s in spacing)


def _unit_affine(affine: np.ndarray) -> np.ndarray:
    """diag(1, 1, frame time, 1): the frame time kept where it is finite (1 otherwise), no orientation."""
    frame_time = float(np.linalg.norm(affine[:3, 2])) if np.isfinite(affine[:3, 2]).all() else 1.0
    return np.diag([1.0, 1.0, frame_time if frame_time > 0 else 1.0, 1.0])


def _nifti_pixdim(path: Path, spacing: np.ndarray, scale: float) -> np.ndarray:
    """The NIfTI header's own x and y pixdim (nibabel replaces a 0 by 1 in the affine, which would pass for 1 mm);
    the affine's spacing when the header's is not readable."""
    import gzip

    import nibabel as nib

    try:  # the raw header: nib.load repairs a 0 pixdim on reading
        with (gzip.open if path.name.lower().endswith(".gz") else open)(path, "rb") as stream:
            header = nib.Nifti1Header.from_fileobj(stream, check=False)
        pixdim = np.asarray(header["pixdim"][1:3], dtype=np.float64) * scale
    except Exception:  # the loader read it: keep what it gave
        return spacing
    return spacing if np.allclose(np.abs(pixdim), spacing, equal_nan=False) else np.abs(pixdim)


def _time_axis_notes(meta: dict, shape: tuple[int, int, int]) -> list[str]:
    """Notes when a NIfTI file's time axis is ambiguous: no time unit and a first axis much shorter than the other
    two (frames stored first?), or more frames than any echo loop has."""
    has_time_unit = int(np.asarray(meta.get("xyzt_units", 0)).item()) & 0x38 != 0
    x, y, frames = shape
    notes = []
    if not has_time_unit and 3 * x < min(y, frames):
        notes.append(
            f"time axis assumed last: {frames} frames of {x} x {y} pixels; the first axis ({x}) is much shorter "
            "than the others and the file gives no time unit: if it stores frames first (T, X, Y), save it as "
            "(X, Y, T)"
        )
    if frames > MAX_FRAMES:
        notes.append(f"{frames} frames along the last axis, more than an echo loop has: check the time axis")
    return notes


@dataclass
class Video:
    """A loaded video or label volume: ``array`` (X, Y, T), ``affine`` (4 x 4, RAS), spacing knowledge, ``fps``."""

    array: np.ndarray
    affine: np.ndarray
    spacing_known: bool = True
    fps: float = math.nan
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.array.shape[2])

    @property
    def spacing(self) -> tuple[float, float]:
        """(x, y) pixel spacing in mm; (NaN, NaN) when unknown."""
        if not self.spacing_known:
            return (math.nan, math.nan)
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :2], axis=0))


def read_video(path: str | Path) -> Video:
    """:func:`load_video` as a plain :class:`Video` (the converters' view); same errors."""
    image = load_video(path, dtype=None)
    meta = image.meta
    return Video(
        image.numpy()[0],
        np.asarray(meta["affine"], dtype=np.float64),
        bool(meta["spacing_known"]),
        float(meta["fps"]),
        str(path),
    )


def volume_affine(spacing: tuple[float, float] | None, fps: float = math.nan) -> np.ndarray:
    """diag(x spacing, y spacing, frame time in ms, 1); unit pixel spacing when ``spacing`` is None or NaN."""
    sx, sy = (1.0, 1.0) if spacing is None or any(math.isnan(float(s)) for s in spacing) else spacing
    frame_time = 1000.0 / fps if fps and not math.isnan(fps) else 1.0
    return np.diag([float(sx), float(sy), frame_time, 1.0])


def write_volume(
    path: str | Path,
    array: np.ndarray,
    spacing: tuple[float, float] | None = None,
    fps: float = math.nan,
    affine: np.ndarray | None = None,
    spacing_known: bool | None = None,
) -> Path:
    """Write an (X, Y, T) array as NIfTI atomically; returns the path.

    Args:
        path: ``.nii`` or ``.nii.gz`` file.
        array: (X, Y, T) video or label volume, MONAI's layout.
        spacing: (x, y) pixel spacing in mm; None or NaN: unknown (written as 1 with unknown units).
        fps: frame rate; the frame time (ms) is the third axis' spacing.
        affine: the full 4 x 4 affine (RAS) instead of ``spacing`` and ``fps``, e.g. a source file's.
        spacing_known: whether the spacing is physical; default: known when ``affine`` or a finite ``spacing`` is
            given. Unknown spacing is stored as NIfTI's unknown units, so readers report pixels.
    """
    import nibabel as nib

    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise ValueError(f"{path}: write_volume writes NIfTI (.nii or .nii.gz).")
    if array.ndim != 3:
        raise ValueError(f"{path}: expected an (X, Y, T) array, got shape {array.shape}.")
    if spacing_known is None:
        spacing_known = affine is not None or (spacing is not None and not any(math.isnan(float(s)) for s in spacing))
    affine = np.asarray(affine, dtype=np.float64) if affine is not None else volume_affine(spacing, fps)
    image = nib.Nifti1Image(np.asarray(array), affine)
    image.header.set_xyzt_units(*(("mm", "msec") if spacing_known else (0, "msec")))
    with atomic_path(path) as tmp:
        nib.save(image, str(tmp))
    return path
