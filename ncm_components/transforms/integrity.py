"""Detect incomplete image files before a reader fills the missing part with zeros.

SimpleITK and other readers accept a truncated ``.nii.gz`` and return zeros for the frames that are missing, so a
label cut in half would silently train "no LV at ES". :func:`check_complete` reads only what it needs to prove that
the data a file's header promises is all there:

- NIfTI (``.nii``, ``.nii.gz``): the gzip stream ends with its end-of-stream marker and CRC, and the (uncompressed)
  data is at least ``vox_offset + prod(dim) * bytes per voxel`` long;
- MetaImage (``.mhd`` + data file, ``.mha``): the data file holds ``prod(DimSize) * channels * bytes per element``
  (or, compressed, a complete zlib stream of that size);
- DICOM: uncompressed pixel data holds ``Rows * Columns * SamplesPerPixel * NumberOfFrames * BitsAllocated / 8``
  bytes.

AVI/MP4 frame counts are checked by the video reader itself (decoded frames against the container's count).
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

__all__ = ["VideoReadError", "IncompleteFileError", "check_complete"]

_CHUNK = 1 << 20
_MET_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


class VideoReadError(ValueError):
    """A video or label file that cannot be read; the message names the file and the problem."""


class IncompleteFileError(VideoReadError):
    """A file whose data is shorter than its header says (truncated download or copy); the message names it."""


def check_complete(path: str | Path) -> None:
    """Raise :class:`IncompleteFileError` naming ``path`` when its data is shorter than its header promises.

    Files of other formats, and headers this module cannot parse, pass (the reader reports those).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(path)
    elif name.endswith((".mhd", ".mha")):
        _check_metaimage(path)
    elif name.endswith(".dcm") or "." not in name:
        _check_dicom(path)


def _stream_length(path: Path, compressed: bool) -> int:
    """Bytes of the (decompressed) stream; a gzip stream cut short or with a bad CRC raises with the file named."""
    total = 0
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
    except (EOFError, OSError, zlib.error) as err:
        raise IncompleteFileError(f"{path}: incomplete or corrupt gzip stream ({err}); the file is truncated.") from err
    return total


def _check_nifti(path: Path) -> None:
    import nibabel as nib

    compressed = path.name.lower().endswith(".gz")
    if compressed and path.read_bytes()[:2] != b"\x1f\x8b":
        return  # not gzip at all: the reader says so
    actual = _stream_length(path, compressed)  # a cut gzip stream raises here, before any header is parsed
    try:
        proxy = nib.load(str(path)).dataobj  # the header's data offset, shape and type as the reader will use them
        shape, dtype, offset = [int(d) for d in proxy.shape], proxy.dtype, int(proxy.offset)
    except Exception:  # not parseable: the reader will say why
        return
    if any(size <= 0 for size in shape):
        raise VideoReadError(
            f"{path}: its header gives the image dimensions {tuple(shape)}; every dimension must be at least 1 (a "
            "damaged or hand-edited header)."
        )
    expected = offset + math.prod(shape) * dtype.itemsize
    if actual < expected:
        raise IncompleteFileError(
            f"{path}: holds {actual} bytes of image data but its header ({'x'.join(map(str, shape))} {dtype}) "
            f"needs {expected}; the file is truncated."
        )


def _metaimage_header(path: Path) -> dict[str, str]:
    fields = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("latin-1").strip()
            if "=" not in line:
                break
            key, value = (part.strip() for part in line.split("=", 1))
            fields[key] = value
            if key == "ElementDataFile":
                break
    return fields


def _check_metaimage(path: Path) -> None:
    fields = _metaimage_header(path)
    try:
        dims = [int(v) for v in fields["DimSize"].split()]
        element = _MET_BYTES[fields["ElementType"]]
        data_file = fields["ElementDataFile"]
    except (KeyError, ValueError):
        return
    channels = int(fields.get("ElementNumberOfChannels", "1"))
    expected = math.prod(dims) * channels * element
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if data_file == "LOCAL" or data_file.startswith("LIST") or "%" in data_file:
        return  # data inside the header file or split over files: the reader checks those
    data = path.parent / data_file
    if not data.is_file():
        raise IncompleteFileError(f"{path}: its data file {data} is missing.")
    actual = _zlib_length(data) if compressed else data.stat().st_size
    if actual < expected:
        raise IncompleteFileError(
            f"{data}: holds {actual} bytes but {path.name} ({'x'.join(map(str, dims))} {fields['ElementType']}) "
            f"needs {expected}; the file is truncated."
        )


def _zlib_length(path: Path) -> int:
    decompressor = zlib.decompressobj()
    total = 0
    with open(path, "rb") as f:
        try:
            while chunk := f.read(_CHUNK):
                total += len(decompressor.decompress(chunk))
            total += len(decompressor.flush())
        except zlib.error as err:
            raise IncompleteFileError(f"{path}: corrupt zlib stream ({err}).") from err
    if not decompressor.eof:
        raise IncompleteFileError(f"{path}: the zlib stream ends before its end marker; the file is truncated.")
    return total


def _check_dicom(path: Path) -> None:
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception:  # not DICOM or unreadable: the reader will say why
        return
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None)
    if "PixelData" not in ds or syntax is None or syntax.is_compressed:
        return
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    expected = int(ds.Rows) * int(ds.Columns) * int(getattr(ds, "SamplesPerPixel", 1)) * frames
    expected = expected * int(ds.BitsAllocated) // 8
    actual = len(ds.PixelData)
    if actual < expected:
        raise IncompleteFileError(
            f"{path}: pixel data holds {actual} bytes but {frames} frame(s) of {ds.Rows}x{ds.Columns} need "
            f"{expected}; the file is truncated."
        )
