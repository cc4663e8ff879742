"""EchoNet-Dynamic to a MONAI datalist: AVI videos, traced ED/ES frames rasterised as the dataset's reference loader.

Ouyang et al., Nature 580, 2020 (Stanford EchoNet-Dynamic research use agreement). Inputs: ``FileList.csv``
(FileName, EF, ESV, EDV, FPS, NumberOfFrames, Split), ``VolumeTracings.csv`` (FileName, X1, Y1, X2, Y2, Frame; per
traced frame one long-axis row then the chord rows) and ``Videos/*.avi``. Each traced frame is filled exactly as
``echonet.datasets.Echo`` does: drop the first (long-axis) row, polygon = X1/Y1 points in order then X2/Y2 points
reversed, rounded to pixels, ``skimage.draw.polygon`` at the video's size. The larger of the two traced areas is ED.
Labels are 1 on the LV, 0 elsewhere on the two traced frames and 255 on every other frame. Videos and labels are
written in MONAI's layout (X, Y, T) with the pixel spacing marked unknown (EchoNet-Dynamic gives none): distances,
areas and volumes computed from them are in pixels. A video must decode to the ``NumberOfFrames`` of FileList.csv.

CLI: ``python -m ncm_components.data.echonet --root EchoNet-Dynamic --out OUT_DIR``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from skimage.draw import polygon

from ..transforms.io import read_video, write_volume
from ..transforms.labels import IGNORE_INDEX
from .atomic import check_output_dir, refuse_output_inside
from .datalist import SPLITS, ConversionReport, run_converter, write_datalist

__all__ = ["encode_tracing", "rasterize_tracing", "read_tracings", "read_file_list", "convert_video", "convert"]

SPLIT_NAMES = {"TRAIN": "training", "VAL": "validation", "TEST": "test"}


def rasterize_tracing(rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 4) tracing rows X1, Y1, X2, Y2 (first row = long axis) -> (rows, columns) uint8 LV mask, as the reference
    loader draws it; ``shape`` is (rows, columns)."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 3:
        raise ValueError(f"a tracing needs the long-axis row and at least 2 chord rows, got {rows.shape[0]} row(s)")
    x1, y1, x2, y2 = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    x = np.concatenate((x1[1:], np.flip(x2[1:])))
    y = np.concatenate((y1[1:], np.flip(y2[1:])))
    if abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2 < 0.5:  # shoelace area in pixels
        raise ValueError("the tracing is empty (zero area)")
    r, c = polygon(np.rint(y).astype(np.int64), np.rint(x).astype(np.int64), shape)
    mask = np.zeros(shape, np.uint8)
    mask[r, c] = 1
    return mask


def encode_tracing(polygon: np.ndarray, apex: np.ndarray, base: np.ndarray, chords: int = 20) -> np.ndarray:
    """A traced LV outline as EchoNet-Dynamic's ``VolumeTracings.csv`` rows: the long axis, then ``chords`` chords.

    Args:
        polygon: (N, 2) closed outline (x = column, y = row, pixels).
        apex, base: (2,) points that set the long axis' direction (apex to the middle of the mitral annulus).
        chords: chords across the axis, evenly spaced from the apex to the base of the outline.

    Returns:
        (chords + 1, 4) rows X1, Y1, X2, Y2: row 0 the long axis from the outline's apex end to its base end, then
        each chord from one side of the outline to the other; :func:`rasterize_tracing` fills them back.
    """
    polygon = np.asarray(polygon, np.float64)
    along = np.asarray(base, np.float64) - np.asarray(apex, np.float64)
    along /= np.linalg.norm(along)
    across = np.array([-along[1], along[0]])
    a, lateral = (polygon - apex) @ along, (polygon - apex) @ across
    inset = 0.25  # px: the first and last chord sit just inside the outline's ends, where it has width
    positions = np.linspace(a.min() + inset, a.max() - inset, chords)
    rows = []
    a_next, l_next = np.roll(a, -1), np.roll(lateral, -1)
    for position in positions:
        crossing = (a - position) * (a_next - position) <= 0
        crossing &= a != a_next
        share = (position - a[crossing]) / (a_next[crossing] - a[crossing])
        hits = lateral[crossing] + share * (l_next[crossing] - lateral[crossing])
        ends = [apex + position * along + hit * across for hit in (hits.min(), hits.max())]
        rows.append([*ends[0], *ends[1]])
    centre = float(np.median(lateral))
    axis = [apex + end * along + centre * across for end in (a.min(), a.max())]
    return np.array([[*axis[0], *axis[1]], *rows])


def read_csv_rows(path: str | Path, required: tuple[str, ...]) -> list[dict]:
    """The rows of a release's CSV as dicts, as a spreadsheet may have saved it: with or without a byte-order mark
    (Excel's "CSV UTF-8"), CRLF or LF line ends, comma or semicolon separated.

    Raises:
        ValueError: a column of ``required`` is missing; the message names the file, the columns found and the
            separator it read.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    columns = [
        name.strip() for name in (rows[0].keys() if rows else next(csv.reader([first], delimiter=delimiter), []))
    ]
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(
            f"{path}: no {', '.join(missing)} column (read {delimiter!r}-separated columns {columns[:8]}); a release's "
            f"CSV has {', '.join(required)}."
        )
    return [{key.strip(): value for key, value in row.items() if key is not None} for row in rows]


def read_file_list(path: str | Path) -> dict[str, dict]:
    """FileList.csv rows keyed by video name without extension. A video listed on several rows keeps them all under
    ``"duplicate_rows"`` (their line numbers and splits): :func:`convert` lists it as failed, never keeps one."""
    rows = read_csv_rows(path, ("FileName",))
    listed: dict[str, dict] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        name = Path(row["FileName"]).stem
        if name in listed:
            listed[name].setdefault("duplicate_rows", [(listed[name]["line"], listed[name].get("Split"))])
            listed[name]["duplicate_rows"].append((line, row.get("Split")))
        else:
            listed[name] = {**row, "line": line}
    return listed


def read_tracings(path: str | Path) -> dict[str, dict[int, np.ndarray]]:
    """VolumeTracings.csv as {video name: {frame: (N, 4) rows in file order}}."""
    tracings: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for line, row in enumerate(read_csv_rows(path, ("FileName", "X1", "Y1", "X2", "Y2", "Frame")), start=2):
        name = Path(row["FileName"]).stem
        try:
            tracings[name][int(float(row["Frame"]))].append([float(row[k]) for k in ("X1", "Y1", "X2", "Y2")])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: line {line}: not a number in {row} ({err}).") from err
    return {name: {frame: np.array(rows) for frame, rows in frames.items()} for name, frames in tracings.items()}


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _tracing_outside(rows: np.ndarray, width: int, height: int) -> float:
    """Share of a tracing's chord end points (X1, Y1, X2, Y2 rows after the long axis) outside the frame."""
    points = np.concatenate([rows[1:, :2], rows[1:, 2:]])
    inside = (
        (points[:, 0] >= -0.5) & (points[:, 0] <= width - 0.5) & (points[:, 1] >= -0.5) & (points[:, 1] <= height - 0.5)
    )
    return float(1.0 - inside.mean()) if len(points) else 0.0


def convert_video(
    name: str,
    video_path: Path,
    traces: dict[int, np.ndarray],
    meta: dict,
    out_dir: Path,
    warn: Callable[[str], None] | None = None,
) -> dict:
    """Convert one video and its two traced frames; returns its datalist item. A tracing wholly outside the frame is
    refused; one partly outside is clipped to the frame and reported through ``warn``."""
    if len(traces) != 2:
        raise ValueError(f"{video_path}: expected 2 traced frames, found {sorted(traces)}.")
    video = read_video(video_path)
    width, height, num_frames = video.array.shape  # X x Y x T
    listed = _float(meta.get("NumberOfFrames"))
    if listed is not None and num_frames < int(listed):
        raise ValueError(
            f"{video_path}: decoded {num_frames} frames but FileList.csv lists {int(listed)}; the video is truncated."
        )
    label = np.full((width, height, num_frames), IGNORE_INDEX, np.uint8)
    areas = {}
    for frame, rows in traces.items():
        if not 0 <= frame < num_frames:
            raise ValueError(f"{video_path}: tracing for frame {frame} beyond the video's {num_frames} frames.")
        outside = _tracing_outside(np.asarray(rows, dtype=np.float64), width, height)
        if outside == 1.0:
            raise ValueError(
                f"{video_path}: the tracing of frame {frame} lies wholly outside the {width} x {height} frame (another "
                "video's tracing, or coordinates of another frame size?)."
            )
        if outside > 0 and warn:
            warn(
                f"{video_path}: {100 * outside:.0f} % of the tracing of frame {frame} lies outside the frame: clipped."
            )
        try:
            mask = rasterize_tracing(rows, (height, width)).T  # (rows, columns) -> (X, Y)
        except ValueError as err:
            raise ValueError(f"{video_path}: frame {frame}: {err}.") from err
        label[..., frame] = mask
        areas[frame] = int(mask.sum())
    ed_frame, es_frame = sorted(areas, key=areas.get, reverse=True)
    fps = _float(meta.get("FPS")) or video.fps
    item = {
        "image": out_dir / "videos" / f"{name}.nii.gz",
        "label": out_dir / "labels" / f"{name}.nii.gz",
        "case": name,
        "ed_frame": int(ed_frame),
        "es_frame": int(es_frame),
        "ef": _float(meta.get("EF")),
        "edv": _float(meta.get("EDV")),
        "esv": _float(meta.get("ESV")),
        "fps": fps,
        "spacing": None,  # EchoNet-Dynamic gives no pixel spacing: distances are in pixels
    }
    write_volume(item["image"], video.array, fps=fps)
    write_volume(item["label"], label, fps=fps)
    return item


def convert(
    root: str | Path, out_dir: str | Path, limit: int | None = None, overwrite: bool = False
) -> ConversionReport:
    """Convert the EchoNet-Dynamic folder ``root``; writes ``out_dir/datalist.json``; failures are reported.

    ``out_dir`` must be empty unless ``overwrite`` (stale videos of an earlier run would not be in the datalist).
    """
    root = Path(root)
    report = ConversionReport("echonet")
    if not root.is_dir():
        report.failed.append((str(root), "no such folder"))
        return report
    for required in ("FileList.csv", "VolumeTracings.csv", "Videos"):
        if not (root / required).exists():
            report.failed.append((str(root / required), "missing: an EchoNet-Dynamic folder has FileList.csv, "
                                  "VolumeTracings.csv and Videos/"))  # fmt: skip
    if report.failed:
        return report
    if limit is not None and limit < 1:
        report.failed.append(("--limit", f"{limit}: give a number of videos of at least 1 (or leave it out for all)"))
        return report
    refuse_output_inside(out_dir, root)
    out_dir = check_output_dir(out_dir, overwrite)
    file_list, tracings = read_file_list(root / "FileList.csv"), read_tracings(root / "VolumeTracings.csv")
    names = sorted(file_list)[:limit] if limit else sorted(file_list)

    def convert_one(name: str):
        if "duplicate_rows" in file_list[name]:
            rows = ", ".join(f"line {line} ({split})" for line, split in file_list[name]["duplicate_rows"])
            raise ValueError(f"FileList.csv lists {name} on several rows: {rows}; keep one (a video in two splits "
                             "would leak test videos into training).")  # fmt: skip
        split = SPLIT_NAMES.get(str(file_list[name].get("Split", "")).upper())
        if split is None:
            raise ValueError(f"FileList.csv: unknown Split {file_list[name].get('Split')!r} for {name}.")
        if name not in tracings:
            raise ValueError(f"VolumeTracings.csv: no tracings for {name}.")
        video = root / "Videos" / f"{name}.avi"
        return split, convert_video(name, video, tracings[name], file_list[name], out_dir, report.warn)

    splits: dict[str, list] = {split: [] for split in SPLITS}
    for split, item in report.run(names, convert_one):
        splits[split].append(item)
    metadata = {"source": "EchoNet-Dynamic", "classes": {"0": "background", "1": "LV cavity"}, "ignore_index": 255}
    write_datalist(out_dir / "datalist.json", splits, metadata)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert EchoNet-Dynamic to NIfTI videos, labels and a datalist.")
    parser.add_argument("--root", required=True, help="folder with FileList.csv, VolumeTracings.csv and Videos/")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--limit", type=int, help="convert only the first N videos (by name)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    args = parser.parse_args(argv)
    report = run_converter("echonet", lambda: convert(args.root, args.out, args.limit, args.overwrite))
    print(report.summary())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
