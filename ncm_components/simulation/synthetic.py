"""Synthetic apical echocardiography videos with ground truth on every frame: the built-in data.

Each video is drawn from a seed: an apical 4- or 2-chamber heart (:mod:`.anatomy`: every chamber of the view, septum,
valves opening and closing, papillary muscles, trabeculations, pericardium) beating with a chosen ejection fraction
(EF, 15-80 %) and heart rate, imaged by a simulated phased-array scanner (:mod:`.ultrasound`: tissue-fixed
scatterers, a depth-dependent point spread function, attenuation and time-gain, log compression, sector scan
conversion, wall dropout, near-field clutter, reverberation, shadows and poor acoustic windows). Size, pose, depth,
sector width, echogenicities and image quality are randomised widely. No real image is used. The full ground truth
is the LV cavity of the same anatomy on every frame, so ED and ES fall exactly on frames and the masks' EF matches the
requested one; the annotated ED and ES frames are traced as a sonographer traces them (:mod:`.tracing`: each video's
own convention, a fresh wobble on each frame, a clicked polygon), as real training and test labels are.

CLI: ``python -m ncm_components.simulation --out DIR --num-videos 100`` writes NIfTI videos, full ground truth,
the sonographer's ED and ES tracings (255 elsewhere; ``--exact-labels``: the anatomy instead) and a datalist with
EF/EDV/ESV, ED/ES, view and spacing. ``--stats`` prints the grey-level and geometry statistics of generated ED/ES
frames next to those of real echo (see :mod:`.image_stats`) and how far the tracings fall from the anatomy.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..data.atomic import check_output_dir
from ..data.datalist import write_datalist
from ..metrics.clinical import ejection_fraction, volume_single_plane
from ..metrics.segmentation import per_frame_scores
from ..transforms.io import write_volume
from ..transforms.labels import IGNORE_INDEX, sparse_label
from . import releases
from .anatomy import HeartFrame, cardiac_cycle, heart_frame, sample_heart
from .image_stats import (
    ECHONET_REFERENCE,
    datalist_statistics,
    format_table,
    frame_statistics,
    summarise,
    within_tolerance,
)
from .motion_stats import contraction_statistics, format_motion_table, motion_tolerance, summarise_motion
from .presets import EF_QUANTILES, PRESETS, SitePreset, get_preset
from .scene_stats import SCENE_REFERENCE, format_scene_table, scene_statistics, scene_tolerance, summarise_scene
from .tracing import sample_annotator, trace_cavity
from .ultrasound import BModeSimulator, SectorScan, sample_scanner

__all__ = ["SyntheticEcho", "generate_echo", "generate_dataset", "draw_ejection_fraction", "draw_cycle"]

LV, MYOCARDIUM, LEFT_ATRIUM = 1, 2, 3
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision: 1/16 pixel
_SUPERSAMPLE = 4  # polygons are filled at 4x resolution and kept where they cover >= half a pixel


@dataclass
class SyntheticEcho:
    """One generated video in MONAI's layout: ``video`` (X, Y, T) uint8 (axis 0 = image columns, axis 1 = rows, the
    transducer at the top centre of the picture), ``labels`` (X, Y, T) uint8 with the anatomy's classes 0-3 on every
    frame, ``annotations`` (X, Y, T) uint8 with the sonographer's classes on ED and ES and 255 on every other frame,
    ``spacing`` (x, y) in mm."""

    video: np.ndarray
    labels: np.ndarray
    annotations: np.ndarray
    ed_frame: int
    es_frame: int
    ef_requested: float
    spacing: tuple[float, float]
    fps: float
    heart_rate: float
    seed: int
    view: str = "4CH"
    quality: float = 1.0
    tracings: dict = field(default_factory=dict)

    @property
    def lv_masks(self) -> np.ndarray:
        """(X, Y, T) uint8, 1 on the LV cavity."""
        return (self.labels == LV).astype(np.uint8)

    @property
    def lv_annotations(self) -> np.ndarray:
        """(X, Y, T) uint8: the annotated LV (1) on ED and ES, 255 on every other frame."""
        return np.where(self.annotations == IGNORE_INDEX, IGNORE_INDEX, self.annotations == LV).astype(np.uint8)


MIN_SIZE, MAX_SIZE = 16, 1024  # pixels: a frame as small as the network takes, as large as any echo export
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
# ED -> ES in seconds: 0.32 s at 72 bpm (16 frames at 50 fps, EchoNet-Dynamic's median), shorter at faster rates
_SYSTOLE_SECONDS, _SYSTOLE_PER_BPM, _SYSTOLE_SD = 0.33, -0.0015, 0.055


def _video_bytes(size: int, frames: int = 60) -> float:
    """Bytes of one video's uint8 video, labels and annotations at ``size`` (what generate_echo allocates first)."""
    return 3.0 * size * size * frames


def draw_ejection_fraction(seed: int, preset: str | SitePreset = "echonet") -> float:
    """The EF (%) of video ``seed`` from the preset's population (``echonet``: EchoNet-Dynamic's ``FileList.csv``,
    10,030 videos, p10 35.7, p50 59.2, p90 67.3, 12.6 % below 40; the tails beyond p2 and p97 are ours).

    Its quantile is the fractional part of ``seed`` times the golden ratio (a Weyl sequence): any run of consecutive
    seeds, as a dataset's videos are, spreads evenly over the population instead of sampling it at random, so that a
    set of 40 videos already has the population's percentiles."""
    quantile = math.modf(seed * _GOLDEN)[0]
    return float(np.interp(quantile, EF_QUANTILES, get_preset(preset).ef_values))


def draw_cycle(rng: np.random.Generator, heart_rate: float, fps: float) -> tuple[int, int]:
    """Frames per cycle at ``heart_rate`` and frames from ED to ES (EchoNet-Dynamic: 12 / 16 / 20 at 50 fps for
    p10 / p50 / p90), systole at most 60 % of the cycle."""
    cycle = max(8, int(round(60.0 / heart_rate * fps)))
    seconds = _SYSTOLE_SECONDS + _SYSTOLE_PER_BPM * (heart_rate - 72.0) + _SYSTOLE_SD * float(rng.standard_normal())
    systole = int(np.clip(round(seconds * fps), 3, int(0.6 * cycle)))
    return cycle, systole


def heart_depth(heart) -> float:
    """mm from the transducer to the far end of the atria at ED along the LV's axis: what a sonographer fits the
    sector's depth to."""
    return float(heart.apex[1] + (heart.length + heart.la_length) * math.cos(heart.axis_angle))


def _fill(shape: tuple[int, int], outline_yx: np.ndarray) -> np.ndarray:
    """Pixels whose area is at least half inside the polygon (drawn 4x finer, then area-averaged)."""
    fine = np.zeros((shape[0] * _SUPERSAMPLE, shape[1] * _SUPERSAMPLE), np.float32)
    # pixel centres sit at integer coordinates: fine pixel centre = (coarse + 0.5) * S - 0.5
    pts = np.round(((outline_yx[:, ::-1] + 0.5) * _SUPERSAMPLE - 0.5) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(fine, [pts], 1.0, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    coverage = cv2.resize(fine, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return coverage >= 0.5


def _pixels(outline: np.ndarray, size: int, spacing: float) -> np.ndarray:
    """(N, 2) x, z in mm -> (row, column), pixel centres at integers."""
    return np.stack([outline[:, 1] / spacing - 0.5, outline[:, 0] / spacing + size / 2 - 0.5], axis=1)


def _label_frame(
    frame: HeartFrame, size: int, spacing: float, sector: np.ndarray, cavity: np.ndarray | None = None
) -> np.ndarray:
    """(rows, columns) uint8 classes of one instant: LV cavity, LV myocardium, left atrium; only inside the sector.
    ``cavity``: an outline drawn as the LV instead of the true one (a tracing); what it leaves of the true cavity
    inside the epicardium is myocardium."""

    def pixels(outline: np.ndarray) -> np.ndarray:
        return _pixels(outline, size, spacing)

    labels = np.zeros((size, size), np.uint8)
    labels[_fill(labels.shape, pixels(frame.left_atrium))] = LEFT_ATRIUM
    labels[_fill(labels.shape, pixels(frame.lv_epicardium))] = MYOCARDIUM
    labels[_fill(labels.shape, pixels(frame.lv_cavity if cavity is None else cavity))] = LV
    labels[~sector] = 0
    return labels


def _sector_mask(scan: SectorScan, size: int, spacing: float) -> np.ndarray:
    """Pixels whose centre lies inside the scanned sector."""
    beam, sample = scan.conversion_maps(size, spacing)
    return (beam >= -0.5) & (beam <= scan.beams - 0.5) & (sample <= scan.samples - 0.5)


def generate_echo(
    seed: int,
    size: int = 112,
    ef: float | None = None,
    heart_rate: float | None = None,
    fps: float | None = None,
    num_frames: int | None = None,
    view: str | None = None,
    quality: float | None = None,
    traced: bool = True,
    preset: str | SitePreset = "echonet",
) -> SyntheticEcho:
    """Generate one apical-view echo video, deterministic in ``seed``.

    Args:
        seed: random seed; the same seed gives the same video.
        size: H = W in pixels.
        ef: ejection fraction in percent (5-90); drawn from the preset's population when None.
        heart_rate: beats per minute; drawn from the preset's range when None.
        fps: frame rate; the preset's when None.
        num_frames: frames; default one cycle after the first ED plus a few frames.
        view: ``"4CH"`` or ``"2CH"``; random when None.
        quality: acoustic window from 0 (poor) to 1 (good); random when None.
        traced: annotate ED and ES with a sonographer's tracings (:mod:`.tracing`); False: with the anatomy. The
            tracings come from a generator of their own, so the video is the same either way.
        preset: the simulated site (:mod:`.presets`): population, framing, probe and scanner settings.
    """
    preset = get_preset(preset)
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f"size {size}: frames are {MIN_SIZE} to {MAX_SIZE} pixels wide (a video of {size} x {size} pixels and ~60 "
            f"frames would take {_video_bytes(size) / 2**30:.1f} GiB before the scanner's own arrays)."
        )
    rng = np.random.default_rng(seed)
    fps = preset.fps if fps is None else float(fps)
    ef = draw_ejection_fraction(seed, preset) if ef is None else float(ef)
    if not 5 <= ef <= 90:
        raise ValueError(f"ef must be a percentage in [5, 90], got {ef}.")
    if view not in (None, "4CH", "2CH"):
        raise ValueError(f"view must be '4CH', '2CH' or None, got {view!r}.")
    heart_rate = float(rng.uniform(*preset.heart_rate)) if heart_rate is None else float(heart_rate)
    cycle, systole = draw_cycle(rng, heart_rate, fps)
    ed_frame = int(rng.integers(1, max(2, cycle // 4)))
    num_frames = num_frames or ed_frame + cycle + int(rng.integers(1, 4))
    es_frame = ed_frame + systole
    if es_frame >= num_frames:
        raise ValueError(f"num_frames={num_frames} is too short for ED at {ed_frame} and ES at {es_frame}.")
    contraction, mitral, tricuspid = cardiac_cycle(num_frames, ed_frame, cycle, systole, rng)

    heart = sample_heart(rng, ef, view, preset)
    settings = sample_scanner(rng, quality, preset)
    tracing_rng = rng.spawn(1)[0]  # after the scanner's child: the images stay those of earlier versions
    annotator = sample_annotator(tracing_rng, settings.quality)
    depth = heart_depth(heart) * float(rng.uniform(*preset.depth_margin))
    spacing = depth * float(rng.uniform(1.0, 1.05)) / size
    half_angle = float(rng.uniform(*preset.sector_half_angle))
    beams = int(round(1.15 * size * half_angle / 35.0))  # the same angular sampling whatever the sector's width
    scan = SectorScan(depth, math.radians(half_angle), int(round(2.3 * size)), beams)
    simulator = BModeSimulator(heart, scan, settings, size, spacing, rng)
    sector = _sector_mask(scan, size, spacing)

    video = np.zeros((size, size, num_frames), np.uint8)
    labels = np.zeros((size, size, num_frames), np.uint8)
    annotations = np.full((size, size, num_frames), IGNORE_INDEX, np.uint8)
    tracings = {}
    for t in range(num_frames):
        sway = (t - ed_frame) / cycle
        frame = heart_frame(heart, float(contraction[t]), float(mitral[t]), float(tricuspid[t]), sway)
        picture = np.clip(np.round(simulator.frame(frame, float(contraction[t]), sway)), 0, 255)
        video[..., t] = picture.T  # (rows, columns) -> MONAI's (X, Y)
        labels[..., t] = _label_frame(frame, size, spacing, sector).T
        if traced and t in (ed_frame, es_frame):
            tracing = trace_cavity(frame.lv_cavity, frame.lv_apex, frame.lv_base, annotator, tracing_rng)
            annotations[..., t] = _label_frame(frame, size, spacing, sector, tracing).T
            axis = _pixels(np.stack([frame.lv_apex, frame.lv_base]), size, spacing)[:, ::-1]
            tracings[t] = (_pixels(tracing, size, spacing)[:, ::-1], axis[0], axis[1])
    if not traced:
        annotations = sparse_label(labels, [ed_frame, es_frame])
    return SyntheticEcho(
        video,
        labels,
        annotations,
        ed_frame,
        es_frame,
        ef,
        (spacing, spacing),
        fps,
        heart_rate,
        seed,
        heart.view,
        settings.quality,
        tracings,
    )


def _tracing_dice(echo: SyntheticEcho) -> list[float]:
    """Dice of the annotated LV against the anatomy's at ED and ES."""
    frames = [echo.ed_frame, echo.es_frame]
    scores = per_frame_scores(echo.lv_masks[..., frames], echo.lv_annotations[..., frames], metrics=["dice"])
    return [round(float(d), 4) for d in scores["dice"][:, 0]]


def _item_for(echo: SyntheticEcho, out_dir: Path, name: str, all_classes: bool) -> tuple[dict, np.ndarray, np.ndarray]:
    full = echo.labels if all_classes else echo.lv_masks
    sparse = echo.annotations if all_classes else echo.lv_annotations
    edv = volume_single_plane(echo.lv_masks[..., echo.ed_frame], echo.spacing)
    esv = volume_single_plane(echo.lv_masks[..., echo.es_frame], echo.spacing)
    item = {
        "image": out_dir / "videos" / f"{name}.nii.gz",
        "label": out_dir / "labels" / f"{name}.nii.gz",
        "label_full": out_dir / "labels_full" / f"{name}.nii.gz",
        "case": name,
        "ed_frame": echo.ed_frame,
        "es_frame": echo.es_frame,
        "ef": round(echo.ef_requested, 3),
        "ef_masks": round(ejection_fraction(edv, esv), 3),
        "edv": round(edv, 3),
        "esv": round(esv, 3),
        "spacing": [round(s, 6) for s in echo.spacing],
        "fps": echo.fps,
        "heart_rate": round(echo.heart_rate, 2),
        "view": echo.view,
        "quality": round(echo.quality, 3),
        "seed": echo.seed,
        "tracing_dice": _tracing_dice(echo),
    }
    return item, full, sparse


def _write_video(
    out_dir: Path, seed: int, name: str, size: int, all_classes: bool, traced: bool, preset: str = "echonet"
) -> dict:
    """Generate one video and write its video, sparse label and full label; returns its datalist item."""
    cv2.setNumThreads(1)  # one video per process: the processes share the cores
    echo = generate_echo(seed, size=size, traced=traced, preset=preset)
    item, full, sparse = _item_for(echo, out_dir, name, all_classes)
    write_volume(item["image"], echo.video, echo.spacing, echo.fps)
    write_volume(item["label"], sparse, echo.spacing, echo.fps)
    write_volume(item["label_full"], full, echo.spacing, echo.fps)
    return item


def generate_dataset(
    out_dir: str | Path,
    num_train: int = 80,
    num_val: int = 10,
    num_test: int = 10,
    size: int = 112,
    seed: int = 0,
    all_classes: bool = False,
    workers: int = 1,
    traced: bool = True,
    preset: str = "echonet",
) -> Path:
    """Write a synthetic dataset (NIfTI videos, sparse and full labels) and its ``datalist.json``; returns its path.

    Video ``i`` of the whole set uses seed ``seed * 100003 + i``, so sets of different sizes share their first
    videos, whatever the number of ``workers`` (processes). Existing files are overwritten atomically; the datalist
    is written last. ``traced``: ED and ES labels as a sonographer traces them (False: the anatomy, see
    :func:`generate_echo`); ``label_full`` is the anatomy either way. ``preset``: the simulated site
    (:mod:`.presets`).
    """
    get_preset(preset)  # an unknown preset fails here, before any worker starts
    counts = {"training": num_train, "validation": num_val, "test": num_test}
    if any(n < 0 for n in counts.values()) or sum(counts.values()) < 1:
        raise ValueError(f"video counts must be >= 0 and at least one video in all, got {counts}.")
    out_dir = Path(out_dir)
    jobs = [
        (out_dir, seed * 100003 + i, f"synthetic_{i:04d}", size, all_classes, traced, preset)
        for i in range(sum(counts.values()))
    ]
    if workers > 1:
        context = multiprocessing.get_context("spawn")  # no fork of a parent's thread pools
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            items = list(pool.map(_write_video, *zip(*jobs)))
    else:
        items = [_write_video(*job) for job in jobs]
    datalist: dict[str, list] = {}
    for split, count in counts.items():
        datalist[split], items = items[:count], items[count:]
    metadata = {
        "source": "ncm_components.simulation",
        "preset": preset,
        "size": size,
        "seed": seed,
        "classes": {
            "0": "background",
            "1": "LV cavity",
            **({"2": "myocardium", "3": "left atrium"} if all_classes else {}),
        },
        "ignore_index": IGNORE_INDEX,
        "annotations": "sonographer tracings" if traced else "anatomy",
    }
    return write_datalist(out_dir / "datalist.json", datalist, metadata)


RELEASE_LAYOUTS = ("echonet", "camus2019", "camus2023")


def _release_video(out_dir: Path, layout: str, seed: int, index: int, total: int, preset: str = "echonet"):
    """Generate video ``index`` of a release and write its files; returns its EchoNet records (or None for CAMUS)."""
    cv2.setNumThreads(1)
    if layout == "echonet":
        echo = generate_echo(seed, size=112, preset=preset)
        split = releases.ECHONET_SPLITS[releases.release_split(index, total)]
        return releases.echonet_records(out_dir, echo, f"0XSIM{index:06d}", split)
    echo = generate_echo(seed, size=112, view="4CH", preset=preset)
    patient = f"patient{releases.camus_patient_number(index, total):04d}"
    releases.write_camus_case(out_dir, echo, patient, version=layout[-4:])
    return None


def generate_release(
    out_dir: str | Path, layout: str, num_videos: int, seed: int = 0, workers: int = 1, preset: str = "echonet"
) -> Path:
    """Write ``num_videos`` simulated videos (seeds as :func:`generate_dataset`'s) of the ``preset``'s site in a public
    release's layout (:mod:`.releases`): ``echonet`` (EchoNet-Dynamic), ``camus2019`` (MHD) or ``camus2023`` (NIfTI).
    Split 80/10/10 %. Returns ``out_dir``."""
    if layout not in RELEASE_LAYOUTS:
        raise ValueError(f"layout must be one of {RELEASE_LAYOUTS}, got {layout!r}.")
    get_preset(preset)
    out_dir = Path(out_dir)
    jobs = [(out_dir, layout, seed * 100003 + i, i, num_videos, preset) for i in range(num_videos)]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            records = list(pool.map(_release_video, *zip(*jobs)))
    else:
        records = [_release_video(*job) for job in jobs]
    if layout == "echonet":
        releases.write_echonet_csvs(out_dir, records)
    return out_dir


def simulation_statistics(num_videos: int = 40, size: int = 112, seed: int = 0, preset: str = "echonet") -> dict:
    """:func:`~.image_stats.summarise` of the ED and ES frames of ``num_videos`` generated videos, plus
    ``tracing_dice``: the mean Dice of the annotated LV against the anatomy's at ED and at ES, ``motion``: the
    :func:`~.motion_stats.summarise_motion` of their traced ED/ES labels and EFs, and ``scene``: the
    :func:`~.scene_stats.summarise_scene` of their ED frames and traced ED masks."""
    frames, tracing, motion, efs, scenes = [], [], [], [], []
    for i in range(num_videos):
        echo = generate_echo(seed * 100003 + i, size=size, preset=preset)
        frames += [frame_statistics(echo.video[..., t], echo.lv_masks[..., t]) for t in (echo.ed_frame, echo.es_frame)]
        scenes.append(scene_statistics(echo.video, echo.lv_annotations[..., echo.ed_frame] == 1, echo.ed_frame))
        tracing.append(_tracing_dice(echo))
        traced = echo.lv_annotations
        motion.append(
            contraction_statistics(
                traced[..., echo.ed_frame], traced[..., echo.es_frame], echo.es_frame - echo.ed_frame, echo.fps
            )
        )
        efs.append(echo.ef_requested)
    summary = summarise(frames)
    summary["tracing_dice"] = tuple(np.mean(tracing, axis=0).tolist())
    summary["motion"] = summarise_motion(motion, efs)
    summary["scene"] = summarise_scene(scenes)
    return summary


def print_statistics(num_videos: int, size: int, seed: int, real_datalists: list[str], preset: str = "echonet") -> bool:
    """Print the simulation's statistics next to real echo; True when every grey-level median is within +-50 %, every
    motion statistic within its bound (:func:`~.motion_stats.motion_tolerance`) and every scene row within its bound
    (:func:`~.scene_stats.scene_tolerance`)."""
    simulated = simulation_statistics(num_videos, size, seed, preset)
    columns = {f"simulation ({num_videos} videos)": simulated}
    columns["EchoNet-Dynamic (real)"] = ECHONET_REFERENCE
    for path in real_datalists:
        columns[f"{Path(path).parent.name} (real)"] = datalist_statistics(path)
    print(format_table(columns))
    ed, es = simulated["tracing_dice"]
    print(f"simulated tracings against the anatomy: Dice ED {ed:.3f}, ES {es:.3f}")
    checks = within_tolerance(simulated)
    print("grey-level medians within +-50 % of EchoNet-Dynamic: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    print()
    print(format_motion_table(simulated["motion"]))
    motion_checks = motion_tolerance(simulated["motion"])
    print("within bounds of EchoNet-Dynamic (medians +-0.03 or +-1 px / frame, EF +-3 at p10/p50/p90): "
          + ", ".join(f"{k} {v}" for k, v in motion_checks.items()))  # fmt: skip
    print()
    print(format_scene_table({f"simulation ({num_videos} videos)": simulated["scene"],
                              "EchoNet-Dynamic (real, 152 videos)": SCENE_REFERENCE}))  # fmt: skip
    scene_checks = scene_tolerance(simulated["scene"])
    print("scene rows within bounds of EchoNet-Dynamic (profile medians +-0.08, positions +-3 px, footprint +-0.03, "
          "angle +-4 degrees): " + ", ".join(f"{k} {v}" for k, v in scene_checks.items()))  # fmt: skip
    return all(checks.values()) and all(motion_checks.values()) and all(scene_checks.values())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def _frame_size(text: str) -> int:
    value = _positive(text)
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{value}: frames are {MIN_SIZE} to {MAX_SIZE} pixels wide")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate synthetic apical echo videos with full ground truth.")
    parser.add_argument("--out", help="output folder (videos/, labels/, labels_full/, datalist.json)")
    parser.add_argument("--num-videos", type=_positive, default=100, help="total videos, split 80/10/10 %%")
    parser.add_argument("--size", type=_frame_size, default=112, help="frame height and width in pixels (16-1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", choices=["lv", "all"], default="lv", help="LV only, or LV/myocardium/atrium")
    parser.add_argument("--workers", type=_positive, default=min(2, os.cpu_count() or 1), help="processes")
    parser.add_argument(
        "--exact-labels", action="store_true", help="annotate ED/ES with the anatomy, not a sonographer's tracings"
    )
    parser.add_argument(
        "--layout",
        choices=("nifti",) + RELEASE_LAYOUTS,
        default="nifti",
        help="nifti: videos, labels and a datalist; echonet, camus2019, camus2023: a public release's own layout, "
        "to be converted by ncm_components.data.echonet / camus",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="echonet",
        help="the simulated site: echonet (matched to EchoNet-Dynamic, the shipped weights' domain) or shifted "
        "(another site's population, probe, gain, framing and frame rate, for transfer and adaptation tests)",
    )
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    parser.add_argument("--stats", action="store_true", help="print grey-level statistics next to real echo")
    parser.add_argument("--real", nargs="*", default=[], help="with --stats: datalists of real data to measure too")
    args = parser.parse_args(argv)
    if args.stats:
        return 0 if print_statistics(args.num_videos, args.size, args.seed, args.real, args.preset) else 1
    if not args.out:
        parser.error("--out is required (or --stats)")
    try:
        check_output_dir(args.out, args.overwrite, flag="--overwrite")
    except OSError as err:
        print(f"synthetic: {err}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    if args.layout != "nifti":
        if args.size != 112 or args.classes != "lv" or args.exact_labels:
            parser.error("--layout writes a release as published: 112 x 112 and traced labels only")
        generate_release(args.out, args.layout, args.num_videos, args.seed, args.workers, args.preset)
        print(f"wrote {args.num_videos} videos as a {args.layout} release in {args.out} "
              f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
        return 0
    num_val = num_test = max(1, args.num_videos // 10) if args.num_videos >= 3 else 0
    path = generate_dataset(
        args.out,
        num_train=args.num_videos - num_val - num_test,
        num_val=num_val,
        num_test=num_test,
        size=args.size,
        seed=args.seed,
        all_classes=args.classes == "all",
        workers=args.workers,
        traced=not args.exact_labels,
        preset=args.preset,
    )
    print(f"wrote {args.num_videos} videos and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
