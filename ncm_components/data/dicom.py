"""Multi-frame ultrasound DICOM cine loops to NIfTI videos and a datalist, for inference on clinical exports.

Files are read by :class:`~ncm_components.transforms.readers.UltrasoundDicomReader` (MONAI's layout, X x Y x T):
pixel spacing from the ultrasound region calibration or PixelSpacing (unknown, i.e. pixels, when the file has
neither), fps from FrameTime or CineRate. Each video is named after its path relative to the input folder
(``series1/IM0001`` -> ``series1_IM0001``), so the per-series ``IM0001`` files of a common export layout never
collide; a name already taken in the run gets a numbered suffix. No labels: items go to the ``test`` split with
``image`` only.

CLI: ``python -m ncm_components.data.dicom --input FILE_OR_DIR [...] --out OUT_DIR [--overwrite]``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from pathlib import Path

from ..transforms.io import is_dicom_file, read_video, write_volume
from .atomic import check_output_dir
from .datalist import ConversionReport, run_converter, write_datalist

__all__ = ["find_dicom_files", "convert_file", "convert"]


def find_dicom_files(inputs: list[str | Path]) -> list[tuple[Path, str]]:
    """(file, unique name) of the DICOM files among ``inputs``: files, or folders searched recursively for ``.dcm``
    files and extension-less files with the DICOM preamble (other files, such as a README, are not DICOM)."""
    found: list[tuple[Path, str]] = []
    taken: set[str] = set()
    for entry in map(Path, inputs):
        if entry.is_dir():
            candidates = [(path, path.relative_to(entry)) for path in sorted(entry.rglob("*")) if is_dicom_file(path)]
        else:
            candidates = [(entry, Path(entry.name))]
        for path, relative in candidates:
            stem = str(relative.with_suffix("") if relative.suffix.lower() == ".dcm" else relative)
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "_")).strip("_") or "video"
            unique, index = name, 1
            while unique in taken:
                index += 1
                unique = f"{name}_{index}"
            taken.add(unique)
            found.append((path, unique))
    return found


def convert_file(path: Path, name: str, out_dir: Path) -> dict:
    """Convert one DICOM file to ``videos/<name>.nii.gz``; returns its datalist item."""
    video = read_video(path)
    item = {
        "image": out_dir / "videos" / f"{name}.nii.gz",
        "case": name,
        "source": str(path),
        "fps": None if math.isnan(video.fps) else video.fps,
        "spacing": list(video.spacing) if video.spacing_known else None,
        "num_frames": video.num_frames,
    }
    target = item["image"]
    if target.exists():
        raise FileExistsError(f"{target}: already written in this run; names must be unique.")
    write_volume(target, video.array, affine=video.affine, spacing_known=video.spacing_known)
    return item


def convert(inputs: list[str | Path], out_dir: str | Path, overwrite: bool = False) -> ConversionReport:
    """Convert the DICOM files found in ``inputs``; ``out_dir`` must be empty unless ``overwrite``."""
    report = ConversionReport("dicom")
    missing = [str(entry) for entry in map(Path, inputs) if not entry.exists()]
    if missing:
        report.failed += [(entry, "no such file or folder") for entry in missing]
        return report
    files = find_dicom_files(inputs)
    if not files:
        report.failed.append(
            (", ".join(map(str, inputs)), "no DICOM files found (.dcm, or files with the DICM preamble)")
        )
        return report
    out_dir = check_output_dir(out_dir, overwrite)
    items = report.run(files, lambda file: convert_file(file[0], file[1], out_dir), lambda file: str(file[0]))
    one_frame = Counter(str(Path(item["source"]).parent) for item in items if item["num_frames"] == 1)
    for folder, count in sorted(one_frame.items()):
        if count > 1:
            report.warn(
                f"{folder}: {count} one-frame DICOM files, each converted as a one-frame video; a cine series stored "
                "one frame per file is not joined into one video (export it as a multi-frame DICOM)."
            )
    write_datalist(out_dir / "datalist.json", {"test": items}, {"source": "DICOM"})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert multi-frame ultrasound DICOM cine loops to NIfTI videos.")
    parser.add_argument("--input", nargs="+", required=True, help="DICOM files or folders")
    parser.add_argument("--out", required=True, help="output folder (videos/, datalist.json)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    args = parser.parse_args(argv)
    report = run_converter("dicom", lambda: convert(args.input, args.out, args.overwrite))
    print(report.summary())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
