"""CAMUS to a MONAI datalist: the 2023 NIfTI release and the 2019 MHD release, half sequences with frame 0 = ED.

Leclerc et al., IEEE TMI 38(9), 2019, doi:10.1109/TMI.2019.2900516 (CC BY-NC-SA 4.0). Per patient and view (2CH, 4CH):

- 2023 NIfTI: ``patientXXXX_<view>_half_sequence.nii.gz`` and ``..._half_sequence_gt.nii.gz`` (every frame labelled).
- 2019 MHD: ``patientXXXX_<view>_{ED,ES}[_gt].mhd`` and, when present, ``patientXXXX_<view>_sequence.mhd``; without a
  sequence the case becomes a 2-frame (ED, ES) video.

Time is ordered so that frame 0 = ED (flipped when the Info file has ES first). Labels: LV cavity only (1) by default,
or the four CAMUS classes (``--classes all``). The training label keeps ED and ES only (255 elsewhere); ``label_full``
holds every labelled frame. Splits: the official ``database_split/subgroup_{training,validation,testing}.txt`` when
given, else patients 1-350 / 351-400 / 401-500.

CLI: ``python -m ncm_components.data.camus --root CAMUS_DIR --out OUT_DIR [--split-dir database_split]``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..transforms.io import read_video, write_volume
from ..transforms.labels import check_label_values, sparse_label
from .atomic import check_output_dir, refuse_output_inside
from .datalist import SPLITS, ConversionReport, run_converter, write_datalist

__all__ = ["CamusCase", "parse_info", "find_cases", "convert_case", "convert"]

VIEWS = ("2CH", "4CH")
CAMUS_CLASSES = 4
OFFICIAL_SPLIT_FILES = {"training": "subgroup_training.txt", "validation": "subgroup_validation.txt",
                        "test": "subgroup_testing.txt"}  # fmt: skip


@dataclass
class CamusCase:
    patient_dir: Path
    patient: str
    view: str

    @property
    def name(self) -> str:
        return f"{self.patient}_{self.view}"

    def file(self, suffix: str) -> Path:
        return self.patient_dir / f"{self.patient}_{self.view}_{suffix}"


def parse_info(path: str | Path) -> dict:
    """Parse an ``Info_<view>.cfg`` file (``key: value`` lines); ED and ES are required (1-based frame numbers)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Info file not found.")
    info: dict = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            try:
                info[key] = float(value) if "." in value else int(value)
            except ValueError:
                info[key] = value
    missing = [k for k in ("ED", "ES") if not isinstance(info.get(k), int)]
    if missing:
        raise ValueError(f"{path}: no integer {' and '.join(missing)} frame number(s).")
    return info


def find_cases(root: str | Path) -> list[CamusCase]:
    """Every (patient, view) with an Info file under ``root`` (patient folders at any depth)."""
    cases = []
    for info in sorted(Path(root).rglob("Info_*.cfg")):
        view = info.stem.split("_", 1)[1]
        if view in VIEWS and re.fullmatch(r"patient\d{4}", info.parent.name):
            cases.append(CamusCase(info.parent, info.parent.name, view))
    return cases


def _load_frames(case: CamusCase, info: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, int, int]:
    """Video (X, Y, T), sparse label, full label or None, the video's affine, ED and ES in the video's own order."""
    ed, es = info["ED"] - 1, info["ES"] - 1
    half, half_gt = case.file("half_sequence.nii.gz"), case.file("half_sequence_gt.nii.gz")
    if half.is_file() or half_gt.is_file():  # the 2023 NIfTI layout: both files or a clear word
        for needed in (half, half_gt):
            if not needed.is_file():
                raise ValueError(f"{needed}: missing; CAMUS 2023 gives each view as {half.name} and {half_gt.name}.")
        video = read_video(half)
        full = read_video(half_gt)
        _check_same_shape(video, full)
        _check_frames(case, video.num_frames, ed, es)
        _check_frame_count(case, info, video.num_frames, half)
        return video.array, sparse_label(full.array, [ed, es]), full.array, video.affine, ed, es
    if not case.file("ED.mhd").is_file():
        raise ValueError(
            f"{case.patient_dir}: no video of {case.name}: CAMUS 2023 has {half.name} and {half_gt.name}, CAMUS 2019 "
            f"has {case.file('ED.mhd').name}, {case.file('ES.mhd').name} and their _gt files."
        )
    ed_image, es_image = read_video(case.file("ED.mhd")), read_video(case.file("ES.mhd"))
    ed_gt, es_gt = read_video(case.file("ED_gt.mhd")), read_video(case.file("ES_gt.mhd"))
    for image, gt in ((ed_image, ed_gt), (es_image, es_gt)):
        _check_same_shape(image, gt)
    sequence = case.file("sequence.mhd")
    if sequence.is_file():
        video = read_video(sequence)
        _check_frames(case, video.num_frames, ed, es)
        if video.array.shape[:2] != ed_gt.array.shape[:2]:
            raise ValueError(f"{sequence}: frame size {video.array.shape[:2]} differs from {ed_gt.path}.")
        label = np.full(video.array.shape, 255, np.uint8)
        label[..., ed], label[..., es] = ed_gt.array[..., 0], es_gt.array[..., 0]
        return video.array, label, None, video.affine, ed, es
    video = np.concatenate([ed_image.array, es_image.array], axis=2)
    label = np.concatenate([ed_gt.array, es_gt.array], axis=2).astype(np.uint8)
    return video, label, label, ed_image.affine, 0, 1


def _check_frame_count(case: CamusCase, info: dict, num_frames: int, path: Path) -> None:
    """The Info file's NbFrame, when it has one, must be the video's frame count (as EchoNet's NumberOfFrames is)."""
    listed = info.get("NbFrame")
    if isinstance(listed, (int, float)) and int(listed) != num_frames:
        raise ValueError(
            f"{path}: {num_frames} frames, but Info_{case.view}.cfg says NbFrame {int(listed)}: a truncated file, or "
            "the Info file of another sequence."
        )


def _check_same_shape(video, label) -> None:
    if video.array.shape != label.array.shape:
        raise ValueError(
            f"{label.path}: label shape {label.array.shape} differs from video {video.path} {video.array.shape}."
        )


def _check_frames(case: CamusCase, num_frames: int, ed: int, es: int) -> None:
    if min(ed, es) < 0:
        raise ValueError(
            f"{case.patient_dir}: Info_{case.view}.cfg ED {ed + 1} / ES {es + 1}: CAMUS numbers frames from 1; a 0 "
            "means the file was written 0-based (add 1 to ED and ES)."
        )
    if not (0 <= ed < num_frames and 0 <= es < num_frames):
        raise ValueError(f"{case.patient_dir}: Info ED/ES frames {ed + 1}/{es + 1} beyond the {num_frames} frames.")


def convert_case(case: CamusCase, out_dir: Path, all_classes: bool = False) -> dict:
    """Convert one (patient, view) into NIfTI files under ``out_dir``; returns its datalist item."""
    info = parse_info(case.patient_dir / f"Info_{case.view}.cfg")
    video, label, full, affine, ed, es = _load_frames(case, info)
    check_label_values(label, CAMUS_CLASSES, str(case.patient_dir / case.name))
    first, last = min(ed, es), max(ed, es)
    frames = np.arange(first, last + 1) if ed <= es else np.arange(last, first - 1, -1)  # ED -> ES, frame 0 = ED
    video, label = video[..., frames], label[..., frames]
    full = full[..., frames] if full is not None else None
    if not all_classes:
        label = np.where(label == 255, 255, label == 1).astype(np.uint8)
        full = (full == 1).astype(np.uint8) if full is not None else None
    item = {
        "image": out_dir / "videos" / f"{case.name}.nii.gz",
        "label": out_dir / "labels" / f"{case.name}.nii.gz",
        "case": case.name,
        "patient": case.patient,
        "view": case.view,
        "ed_frame": 0,
        "es_frame": len(frames) - 1,
        "spacing": [float(s) for s in np.linalg.norm(affine[:3, :2], axis=0)],  # (x, y) mm
        "edv": info.get("LVedv"),
        "esv": info.get("LVesv"),
        "ef": info.get("LVef"),
        "image_quality": info.get("ImageQuality"),
    }
    write_volume(item["image"], video, affine=affine)
    write_volume(item["label"], label, affine=affine)
    if full is not None:
        item["label_full"] = out_dir / "labels_full" / f"{case.name}.nii.gz"
        write_volume(item["label_full"], full, affine=affine)
    return item


def assign_split(patient: str, split_dir: str | Path | None = None) -> str:
    """Split of a patient: from the official split files when given, else by number (1-350/351-400/401-500)."""
    if split_dir is not None:
        for split, filename in OFFICIAL_SPLIT_FILES.items():
            path = Path(split_dir) / filename
            if path.is_file() and patient in path.read_text().split():
                return split
        raise ValueError(f"{patient}: not listed in the split files of {split_dir}.")
    number = int(patient[-4:])
    return "training" if number <= 350 else "validation" if number <= 400 else "test"


def convert(
    root: str | Path, out_dir: str | Path, split_dir=None, all_classes: bool = False, overwrite: bool = False
) -> ConversionReport:
    """Convert every case under ``root`` and write ``out_dir/datalist.json``; failed cases are reported and skipped.

    ``out_dir`` must be empty unless ``overwrite`` (stale videos of an earlier run would not be in the datalist).
    """
    report = ConversionReport("camus")
    if not Path(root).is_dir():
        report.failed.append((str(root), "no such folder"))
        return report
    cases = find_cases(root)
    if not cases:
        report.failed.append((str(root), "no patientXXXX/Info_2CH.cfg or Info_4CH.cfg files found in it"))
        return report
    refuse_output_inside(out_dir, root)
    out_dir = check_output_dir(out_dir, overwrite)
    converted = report.run(
        cases,
        lambda case: (assign_split(case.patient, split_dir), convert_case(case, out_dir, all_classes)),
        lambda case: case.name,
    )
    splits: dict[str, list] = {split: [] for split in SPLITS}
    for split, item in converted:
        splits[split].append(item)
    classes = {"0": "background", "1": "LV cavity"}
    if all_classes:
        classes.update({"2": "LV myocardium", "3": "left atrium"})
    write_datalist(out_dir / "datalist.json", splits, {"source": "CAMUS", "classes": classes, "ignore_index": 255})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert CAMUS (2023 NIfTI or 2019 MHD release) to a MONAI datalist.")
    parser.add_argument("--root", required=True, help="folder holding the patientXXXX folders")
    parser.add_argument("--out", required=True, help="output folder (videos/, labels/, labels_full/, datalist.json)")
    parser.add_argument("--split-dir", help="the official database_split folder (default: 350/50/100 by number)")
    parser.add_argument("--classes", choices=["lv", "all"], default="lv")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    args = parser.parse_args(argv)
    report = run_converter(
        "camus", lambda: convert(args.root, args.out, args.split_dir, args.classes == "all", args.overwrite)
    )
    print(report.summary())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
