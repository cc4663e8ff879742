"""Multi-frame ultrasound DICOM cine loops to NIfTI videos and a datalist, for inference on clinical exports.

Pixels are read with SimpleITK, tags with pydicom (see :func:`ncm_components.transforms.io.read_video`): pixel spacing
from the ultrasound region calibration or PixelSpacing, fps from FrameTime or CineRate. No labels: items go to the
``test`` split with ``image`` only.

CLI: ``python -m ncm_components.data.dicom --input FILE_OR_DIR [...] --out OUT_DIR``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..transforms.io import read_video, video_format, write_volume
from .datalist import ConversionReport, write_datalist

__all__ = ["find_dicom_files", "convert_file", "convert"]


def find_dicom_files(inputs: list[str | Path]) -> list[Path]:
    """DICOM files among ``inputs`` (files, or folders searched recursively for .dcm and extension-less files)."""
    found: list[Path] = []
    for entry in map(Path, inputs):
        candidates = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
        for path in candidates:
            try:
                if video_format(path) == "dicom":
                    found.append(path)
            except ValueError:
                continue
    return found


def convert_file(path: Path, out_dir: Path) -> dict:
    video = read_video(path)
    name = path.stem if path.suffix else path.name
    item = {
        "image": f"videos/{name}.nii.gz",
        "case": name,
        "source": str(path),
        "fps": None if math.isnan(video.fps) else video.fps,
        "spacing": list(video.spacing) if video.has_spacing else None,
        "num_frames": video.num_frames,
    }
    write_volume(out_dir / item["image"], video.array, video.spacing, video.fps)
    return item


def convert(inputs: list[str | Path], out_dir: str | Path) -> ConversionReport:
    out_dir = Path(out_dir)
    report = ConversionReport("dicom")
    files = find_dicom_files(inputs)
    if not files:
        report.failed.append((", ".join(map(str, inputs)), "no DICOM files found"))
        return report
    items = report.run(files, lambda path: convert_file(path, out_dir))
    write_datalist(out_dir / "datalist.json", {"test": items}, {"source": "DICOM"})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert multi-frame ultrasound DICOM cine loops to NIfTI videos.")
    parser.add_argument("--input", nargs="+", required=True, help="DICOM files or folders")
    parser.add_argument("--out", required=True, help="output folder (videos/, datalist.json)")
    args = parser.parse_args(argv)
    report = convert(args.input, args.out)
    print(report.summary())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
