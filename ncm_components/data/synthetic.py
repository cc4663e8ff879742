"""Synthetic apical-view echocardiography videos with ground truth on every frame: the built-in data.

Each video is drawn from a seed: a sector (fan) image of an LV cavity, its myocardium and the left atrium that
contract and relax over cardiac cycles with a chosen ejection fraction and heart rate, rendered with Rayleigh
speckle (partly persistent between frames), depth attenuation, lateral-wall dropout, apical clutter, random pose,
gain and heart size. The cavity is a half ellipse whose long axis L and radius R shorten so that L R^2 falls by the
requested EF between end-diastole (ED) and end-systole (ES); ED and ES fall exactly on frames.

CLI: ``python -m ncm_components.data.synthetic --out DIR --num-videos 100`` writes NIfTI videos, full ground truth,
training labels with only ED and ES annotated (255 elsewhere) and a datalist with EF/EDV/ESV, ED/ES and spacing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..metrics.clinical import ejection_fraction, volume_single_plane
from ..transforms.io import write_volume
from ..transforms.labels import IGNORE_INDEX, sparse_label
from .datalist import write_datalist

__all__ = ["SyntheticEcho", "generate_echo", "generate_dataset"]

LV, MYOCARDIUM, LEFT_ATRIUM = 1, 2, 3
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision: 1/16 pixel
_SUPERSAMPLE = 4  # polygons are filled at 4x resolution and kept where they cover >= half a pixel


@dataclass
class SyntheticEcho:
    """One generated video: ``video`` (H, W, T) uint8, ``labels`` (H, W, T) uint8 with classes 0-3 on every frame."""

    video: np.ndarray
    labels: np.ndarray
    ed_frame: int
    es_frame: int
    ef_requested: float
    spacing: tuple[float, float]
    fps: float
    heart_rate: float
    seed: int

    @property
    def lv_masks(self) -> np.ndarray:
        """(H, W, T) uint8, 1 on the LV cavity."""
        return (self.labels == LV).astype(np.uint8)


def _cardiac_contraction(num_frames: int, ed_frame: int, cycle: int, systole: int) -> np.ndarray:
    """Contraction c(t) in [0, 1] per frame: 0 at every ED, 1 at every ES, cosine-shaped in between."""
    phase = (np.arange(num_frames) - ed_frame) % cycle
    contraction = np.where(
        phase <= systole,
        0.5 * (1 - np.cos(np.pi * phase / systole)),
        0.5 * (1 + np.cos(np.pi * (phase - systole) / (cycle - systole))),
    )
    return contraction


def _half_ellipse(apex: np.ndarray, length: float, radius: float, points: int = 48) -> np.ndarray:
    """Outline (N, 2) as (y, x) of a half ellipse: apex at ``apex``, axis pointing down (+y), flat base at +length."""
    angles = np.linspace(0, np.pi, points)
    ys = apex[0] + length * (1 - np.sin(angles))
    xs = apex[1] + radius * np.cos(angles)
    return np.stack([ys, xs], axis=1)


def _ellipse(centre: np.ndarray, radii: tuple[float, float], points: int = 48) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return np.stack([centre[0] + radii[0] * np.sin(angles), centre[1] + radii[1] * np.cos(angles)], axis=1)


def _fill(shape: tuple[int, int], outline_yx: np.ndarray) -> np.ndarray:
    """Pixels whose area is at least half inside the polygon (drawn 4x finer, then area-averaged)."""
    fine = np.zeros((shape[0] * _SUPERSAMPLE, shape[1] * _SUPERSAMPLE), np.float32)
    # pixel centres sit at integer coordinates: fine pixel centre = (coarse + 0.5) * S - 0.5
    pts = np.round(((outline_yx[:, ::-1] + 0.5) * _SUPERSAMPLE - 0.5) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(fine, [pts], 1.0, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    coverage = cv2.resize(fine, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return coverage >= 0.5


def _pose(points: np.ndarray, pivot: np.ndarray, angle: float, scale: float, shift: np.ndarray) -> np.ndarray:
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (points - pivot) @ rotation.T * scale + pivot + shift


def generate_echo(
    seed: int,
    size: int = 112,
    ef: float | None = None,
    heart_rate: float | None = None,
    fps: float = 50.0,
    num_frames: int | None = None,
) -> SyntheticEcho:
    """Generate one apical-view echo video, deterministic in ``seed``.

    Args:
        seed: random seed; the same seed gives the same video.
        size: H = W in pixels.
        ef: ejection fraction in percent (20-75); random when None.
        heart_rate: beats per minute; random (55-100) when None.
        fps: frame rate.
        num_frames: frames; default one cycle after the first ED plus a few frames.
    """
    rng = np.random.default_rng(seed)
    ef = float(rng.uniform(20, 75)) if ef is None else float(ef)
    if not 5 <= ef <= 90:
        raise ValueError(f"ef must be a percentage in [5, 90], got {ef}.")
    heart_rate = float(rng.uniform(55, 100)) if heart_rate is None else float(heart_rate)
    cycle = max(8, int(round(60.0 / heart_rate * fps)))
    systole = max(3, int(round(0.36 * cycle)))
    ed_frame = int(rng.integers(1, max(2, cycle // 4)))
    num_frames = num_frames or ed_frame + cycle + int(rng.integers(1, 4))
    es_frame = ed_frame + systole
    if es_frame >= num_frames:
        raise ValueError(f"num_frames={num_frames} is too short for ED at {ed_frame} and ES at {es_frame}.")
    contraction = _cardiac_contraction(num_frames, ed_frame, cycle, systole)

    # ED geometry in pixels, then shortening split: (1-s_long)(1-s_rad)^2 = 1 - EF
    depth_mm = float(rng.uniform(140, 170))
    spacing = depth_mm / size
    heart_scale = float(rng.uniform(0.85, 1.15))
    length_ed = 0.50 * size * heart_scale
    radius_ed = length_ed * float(rng.uniform(0.30, 0.38))
    remaining = 1.0 - ef / 100.0
    long_keep, radial_keep = remaining**0.2, remaining**0.4
    wall_ed = 0.075 * size * heart_scale
    apex = np.array([0.16 * size, 0.5 * size])
    angle = math.radians(float(rng.uniform(-12, 12)))
    shift = rng.uniform(-0.05, 0.05, size=2) * size
    fan_apex = np.array([0.0, 0.5 * size])
    la_radii_ed = (0.16 * size * heart_scale, 0.22 * size * heart_scale)

    shape = (size, size)
    labels = np.zeros((size, size, num_frames), np.uint8)
    for t, c in enumerate(contraction):
        length = length_ed * (1 - (1 - long_keep) * c)
        radius = radius_ed * (1 - (1 - radial_keep) * c)
        wall = wall_ed * (1 + 0.45 * c)
        base_y = apex[0] + length
        cavity = _half_ellipse(apex, length, radius)
        outer = _half_ellipse(apex - np.array([wall, 0]), length + wall, radius + wall)
        la_radii = (la_radii_ed[0] * (1 + 0.15 * c), la_radii_ed[1] * (1 + 0.1 * c))
        atrium = _ellipse(np.array([base_y + 0.07 * size + la_radii[0], apex[1]]), la_radii)  # gap: mitral valve
        frame = np.zeros(shape, np.uint8)
        frame[_fill(shape, _pose(atrium, apex, angle, 1.0, shift))] = LEFT_ATRIUM
        frame[_fill(shape, _pose(outer, apex, angle, 1.0, shift))] = MYOCARDIUM
        frame[_fill(shape, _pose(cavity, apex, angle, 1.0, shift))] = LV
        labels[..., t] = frame

    video = _render(labels, rng, fan_apex, angle)
    return SyntheticEcho(video, labels, ed_frame, es_frame, ef, (spacing, spacing), fps, heart_rate, seed)


def _render(labels: np.ndarray, rng: np.random.Generator, fan_apex: np.ndarray, angle: float) -> np.ndarray:
    """B-mode-like rendering of a label video: echogenicity, speckle, attenuation, dropout, clutter, gain, fan."""
    size, _, num_frames = labels.shape
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    depth = np.hypot(yy - fan_apex[0], xx - fan_apex[1]) / size
    beam_angle = np.arctan2(xx - fan_apex[1], yy - fan_apex[0])
    half_angle = math.radians(float(rng.uniform(34, 40)))
    fan = (depth < 0.98) & (np.abs(beam_angle) < half_angle)

    tissue = 0.30 + 0.15 * cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), size / 14)
    echogenicity = np.array([0.0, 0.05, float(rng.uniform(0.7, 0.95)), 0.05], np.float32)
    attenuation = np.exp(-float(rng.uniform(0.4, 1.4)) * depth)
    side = 1.0 if rng.random() < 0.5 else -1.0
    dropout_strength = float(rng.uniform(0.0, 0.8))
    lateral = np.clip(side * (beam_angle - angle) / half_angle, 0, 1) ** 2
    dropout = 1.0 - dropout_strength * lateral * (depth > 0.25)
    clutter_level = float(rng.uniform(0.0, 0.35))
    clutter_map = clutter_level * np.exp(-(((depth - 0.2) / 0.12) ** 2))
    gain = float(rng.uniform(0.75, 1.3))
    persistent = rng.standard_normal((2, size, size)).astype(np.float32)

    video = np.zeros((size, size, num_frames), np.uint8)
    for t in range(num_frames):
        classes = labels[..., t]
        base = np.where(classes == 0, tissue, echogenicity[classes])
        base = cv2.GaussianBlur(base.astype(np.float32), (0, 0), 0.8)
        fresh = rng.standard_normal((2, size, size)).astype(np.float32)
        complex_field = 0.8 * persistent + 0.6 * fresh  # speckle decorrelates slowly between frames
        speckle = np.hypot(complex_field[0], complex_field[1]) / 1.25  # Rayleigh, mean about 1
        speckle = cv2.GaussianBlur(speckle, (0, 0), 0.6)
        clutter = clutter_map * np.abs(cv2.GaussianBlur(fresh[0], (0, 0), 2.0))
        intensity = (base * speckle + clutter) * attenuation * dropout * gain
        video[..., t] = np.clip(255.0 * np.sqrt(np.clip(intensity, 0, None)) * fan, 0, 255).astype(np.uint8)
    return video


def _item_for(echo: SyntheticEcho, name: str, all_classes: bool) -> tuple[dict, np.ndarray, np.ndarray]:
    full = echo.labels if all_classes else echo.lv_masks
    edv = volume_single_plane(echo.lv_masks[..., echo.ed_frame], echo.spacing)
    esv = volume_single_plane(echo.lv_masks[..., echo.es_frame], echo.spacing)
    item = {
        "image": f"videos/{name}.nii.gz",
        "label": f"labels/{name}.nii.gz",
        "label_full": f"labels_full/{name}.nii.gz",
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
        "seed": echo.seed,
    }
    return item, full, sparse_label(full, [echo.ed_frame, echo.es_frame])


def generate_dataset(
    out_dir: str | Path,
    num_train: int = 80,
    num_val: int = 10,
    num_test: int = 10,
    size: int = 112,
    seed: int = 0,
    all_classes: bool = False,
) -> Path:
    """Write a synthetic dataset (NIfTI videos, sparse and full labels) and its ``datalist.json``; returns its path.

    Video ``i`` of the whole set uses seed ``seed * 100003 + i``, so sets of different sizes share their first
    videos. Existing files are overwritten atomically; the datalist is written last.
    """
    out_dir = Path(out_dir)
    splits = {"training": num_train, "validation": num_val, "test": num_test}
    datalist: dict[str, list] = {}
    index = 0
    for split, count in splits.items():
        datalist[split] = []
        for _ in range(count):
            echo = generate_echo(seed * 100003 + index, size=size)
            name = f"synthetic_{index:04d}"
            item, full, sparse = _item_for(echo, name, all_classes)
            write_volume(out_dir / item["image"], echo.video, echo.spacing, echo.fps)
            write_volume(out_dir / item["label"], sparse, echo.spacing, echo.fps)
            write_volume(out_dir / item["label_full"], full, echo.spacing, echo.fps)
            datalist[split].append(item)
            index += 1
    metadata = {
        "source": "ncm_components.data.synthetic",
        "size": size,
        "seed": seed,
        "classes": {
            "0": "background",
            "1": "LV cavity",
            **({"2": "myocardium", "3": "left atrium"} if all_classes else {}),
        },
        "ignore_index": IGNORE_INDEX,
    }
    return write_datalist(out_dir / "datalist.json", datalist, metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate synthetic apical echo videos with full ground truth.")
    parser.add_argument("--out", required=True, help="output folder (videos/, labels/, labels_full/, datalist.json)")
    parser.add_argument("--num-videos", type=int, default=100, help="total videos, split 80/10/10 %%")
    parser.add_argument("--size", type=int, default=112, help="frame height and width in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", choices=["lv", "all"], default="lv", help="LV only, or LV/myocardium/atrium")
    args = parser.parse_args(argv)
    num_val = num_test = max(1, args.num_videos // 10) if args.num_videos >= 3 else 0
    start = time.perf_counter()
    path = generate_dataset(
        args.out,
        num_train=args.num_videos - num_val - num_test,
        num_val=num_val,
        num_test=num_test,
        size=args.size,
        seed=args.seed,
        all_classes=args.classes == "all",
    )
    print(f"wrote {args.num_videos} videos and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
