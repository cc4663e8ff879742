"""The simulation written in the public releases' own layouts, so that every path a team takes from a download runs
on data this repository can make: converter, training, evaluation and inference.

- :func:`write_echonet_release`: an EchoNet-Dynamic folder (Ouyang et al., Nature 2020): ``Videos/<name>.avi``
  (MJPEG, 112 x 112, 3 grey channels as the release stores them), ``FileList.csv`` (FileName without extension, EF,
  ESV, EDV, FrameHeight, FrameWidth, FPS, NumberOfFrames, Split) and ``VolumeTracings.csv`` (FileName with ``.avi``,
  X1, Y1, X2, Y2, Frame: per traced frame the long axis, then 20 chords), ED and ES traced by the simulated
  sonographer (:mod:`.tracing`) and encoded by :func:`~.echonet.encode_tracing`. EF is the video's drawn EF, EDV and
  ESV the single-plane volumes (mL) of the anatomy.
- :func:`write_camus_case`: a CAMUS folder: the 2019 MHD layout (``patientXXXX/patientXXXX_4CH_{sequence,ED,
  ES}[_gt].mhd``) or the 2023 NIfTI layout (``patientXXXX_4CH_half_sequence[_gt].nii.gz``), half sequences from ED
  to ES with every frame labelled by the anatomy (classes LV 1, myocardium 2, left atrium 3), and ``Info_4CH.cfg``
  files (ED, ES, NbFrame, EF, volumes). The 2019 layout adds the sonographer-traced ED and ES labels as ``_ED_gt`` and
  ``_ES_gt``.

CLI: ``python -m ncm_components.simulation --layout echonet|camus2019|camus2023 --out DIR --num-videos N``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np

from ..data.atomic import atomic_path, write_text_atomic
from ..data.echonet import encode_tracing
from ..metrics.clinical import volume_single_plane

__all__ = [
    "write_echonet_release",
    "echonet_records",
    "write_echonet_csvs",
    "write_camus_case",
    "camus_patient_number",
    "release_split",
    "write_avi",
]

ECHONET_SPLITS = ("TRAIN", "VAL", "TEST")
FILE_LIST_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")


def release_split(index: int, num_videos: int) -> int:
    """0 (train), 1 (validation) or 2 (test) for video ``index`` of ``num_videos``: 80 / 10 / 10 %, at least one
    validation and one test video from 3 videos on."""
    held_out = max(1, num_videos // 10) if num_videos >= 3 else 0
    num_train = num_videos - 2 * held_out
    return 0 if index < num_train else 1 if index < num_train + held_out else 2


def write_avi(path: str | Path, video: np.ndarray, fps: float) -> Path:
    """(X, Y, T) uint8 (MONAI's layout) -> MJPEG AVI of Y rows by X columns, three equal channels, written
    atomically. Raises ``OSError`` naming the file when OpenCV cannot write it."""
    width, height, frames = video.shape
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (width, height), True)
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot write an MJPEG AVI here.")
        for t in range(frames):
            writer.write(cv2.cvtColor(np.ascontiguousarray(video[..., t].T), cv2.COLOR_GRAY2BGR))
        writer.release()
    return Path(path)


def _csv_text(columns: tuple[str, ...], rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _echo_volumes(echo) -> tuple[float, float]:
    """EDV and ESV (mL) of the anatomy's LV, single plane."""
    masks = echo.lv_masks
    return (
        volume_single_plane(masks[..., echo.ed_frame], echo.spacing),
        volume_single_plane(masks[..., echo.es_frame], echo.spacing),
    )


def echonet_records(out_dir: Path, echo, name: str, split: str) -> tuple[dict, list[dict]]:
    """Write one simulated video's AVI into ``out_dir/Videos``; returns its ``FileList.csv`` row and its
    ``VolumeTracings.csv`` rows (ED, then ES)."""
    if sorted(echo.tracings) != sorted([echo.ed_frame, echo.es_frame]):
        raise ValueError(f"{name}: a release needs the sonographer's ED and ES tracings (generate with traced).")
    width, height, num_frames = echo.video.shape
    write_avi(out_dir / "Videos" / f"{name}.avi", echo.video, echo.fps)
    edv, esv = _echo_volumes(echo)
    row = {
        "FileName": name,
        "EF": round(echo.ef_requested, 6),
        "ESV": round(esv, 6),
        "EDV": round(edv, 6),
        "FrameHeight": height,
        "FrameWidth": width,
        "FPS": int(round(echo.fps)),
        "NumberOfFrames": num_frames,
        "Split": split,
    }
    tracings = []
    for frame in (echo.ed_frame, echo.es_frame):
        polygon, apex, base = echo.tracings[frame]
        for x1, y1, x2, y2 in encode_tracing(polygon, apex, base):
            tracings.append(
                {"FileName": f"{name}.avi", "X1": round(x1, 4), "Y1": round(y1, 4), "X2": round(x2, 4),
                 "Y2": round(y2, 4), "Frame": frame}  # fmt: skip
            )
    return row, tracings


def write_echonet_csvs(out_dir: str | Path, records: list[tuple[dict, list[dict]]]) -> None:
    """``FileList.csv`` and ``VolumeTracings.csv`` of :func:`echonet_records` results, each written atomically."""
    write_text_atomic(Path(out_dir) / "FileList.csv", _csv_text(FILE_LIST_COLUMNS, [row for row, _ in records]))
    rows = [tracing for _, tracings in records for tracing in tracings]
    write_text_atomic(Path(out_dir) / "VolumeTracings.csv", _csv_text(TRACING_COLUMNS, rows))


def write_echonet_release(out_dir: str | Path, echoes) -> Path:
    """Write simulated videos (112 x 112, with tracings, in split order: 80 / 10 / 10 %) as an EchoNet-Dynamic
    release named ``0XSIM<index>``; the CSVs are written after the videos. Returns ``out_dir``."""
    echoes = list(echoes)
    records = [
        echonet_records(Path(out_dir), echo, f"0XSIM{i:06d}", ECHONET_SPLITS[release_split(i, len(echoes))])
        for i, echo in enumerate(echoes)
    ]
    write_echonet_csvs(out_dir, records)
    return Path(out_dir)


def camus_patient_number(index: int, num_videos: int) -> int:
    """The patient number of video ``index`` in a simulated CAMUS release, so that the converter's default split
    (1-350 / 351-400 / 401-500) gives the 80 / 10 / 10 % split of :func:`release_split`."""
    split = release_split(index, num_videos)
    first_of_split = [0, release_split_start(1, num_videos), release_split_start(2, num_videos)][split]
    return (1, 351, 401)[split] + index - first_of_split


def release_split_start(split: int, num_videos: int) -> int:
    """Index of the first video of ``split`` (0, 1, 2) under :func:`release_split`."""
    return next((i for i in range(num_videos) if release_split(i, num_videos) >= split), num_videos)


def _info_text(echo, num_frames: int) -> str:
    edv, esv = _echo_volumes(echo)
    ef = 100.0 * (edv - esv) / edv if edv > 0 else float("nan")
    return (
        f"ED: 1\nES: {num_frames}\nNbFrame: {num_frames}\nSex: U\nAge: 0\nImageQuality: "
        f"{'Good' if echo.quality > 0.66 else 'Medium' if echo.quality > 0.33 else 'Poor'}\n"
        f"LVedv: {edv:.2f}\nLVesv: {esv:.2f}\nLVef: {ef:.2f}\n"
    )


def write_camus_case(out_dir: str | Path, echo, patient: str, version: str = "2023") -> Path:
    """Write one simulated video as a CAMUS patient's view (``out_dir/patient/``); returns the patient folder.

    Args:
        out_dir: the release folder.
        echo: a :class:`~.synthetic.SyntheticEcho` (its view names the files; labels LV 1, myocardium 2, left
            atrium 3).
        patient: ``patientXXXX``.
        version: ``"2023"`` (NIfTI half sequences) or ``"2019"`` (MHD: sequence, ED and ES images and labels).
    """
    import SimpleITK as sitk

    from ..transforms.io import write_volume

    if version not in ("2019", "2023"):
        raise ValueError(f"CAMUS version must be '2019' or '2023', got {version!r}.")
    folder = Path(out_dir) / patient
    prefix = folder / f"{patient}_{echo.view}"
    half = slice(echo.ed_frame, echo.es_frame + 1)
    video, labels = echo.video[..., half], echo.labels[..., half]
    num_frames = video.shape[-1]
    if version == "2023":
        write_volume(f"{prefix}_half_sequence.nii.gz", video, echo.spacing)
        write_volume(f"{prefix}_half_sequence_gt.nii.gz", labels, echo.spacing)
    else:
        traced = echo.annotations

        def write_mhd(path: str, array: np.ndarray) -> None:  # (X, Y[, T]) -> SimpleITK's (T, Y, X)
            image = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(array, (0, 1), (-1, -2))))
            image.SetSpacing(tuple(echo.spacing) + ((1.0,) if array.ndim == 3 else ()))
            with atomic_path(path) as tmp:
                sitk.WriteImage(image, str(tmp.with_suffix(".mhd")), useCompression=False)
                raw = tmp.with_suffix(".raw")
                text = tmp.with_suffix(".mhd").read_text()
                tmp.with_suffix(".mhd").write_text(text.replace(raw.name, Path(path).with_suffix(".raw").name))
                raw.replace(Path(path).with_suffix(".raw"))

        write_mhd(f"{prefix}_sequence.mhd", video)
        for phase, frame in (("ED", echo.ed_frame), ("ES", echo.es_frame)):
            write_mhd(f"{prefix}_{phase}.mhd", echo.video[..., frame])
            write_mhd(f"{prefix}_{phase}_gt.mhd", traced[..., frame])
    write_text_atomic(folder / f"Info_{echo.view}.cfg", _info_text(echo, num_frames))
    return folder
