"""How an LV contracts from ED to ES in a pair of masks: the motion half of the simulation statistics against real echo.

Measured on the ED and ES LV masks of one video (MONAI's layout: axis 0 = x = columns, axis 1 = y = rows, the
transducer at the top), resized to 112 x 112 like :mod:`.image_stats`:

- ``area``: LV area at ES / at ED;
- ``long_axis``: LV length along the principal axis of each mask, ES / ED (the method-of-disks long axis of
  :func:`~ncm_components.metrics.clinical.disk_diameters`);
- ``width``: the widest chord across that axis (the largest extent across it of any of 20 slabs along it), ES / ED;
- ``base_rise``: px (of 112) the lowest LV row (the mitral annulus) moves up, towards the transducer, from ED to ES;
- ``apex_descent``: px (of 112) the highest LV row (the endocardial apex) moves down, away from the transducer,
  from ED to ES;
- ``systole_frames``: frames from ED to ES at 50 frames/s (EchoNet-Dynamic's usual rate).

:data:`ECHONET_MOTION_REFERENCE` holds the 10th / 50th / 90th percentiles of the same statistics over 203 real
EchoNet-Dynamic ED/ES tracings, and ``ef`` those of the EF column of EchoNet-Dynamic's ``FileList.csv`` (10,030
videos): published facts of the real data, carried as numbers. :func:`motion_tolerance` checks a summary against them:
ratios within +-0.03 at the median, pixels and frames within +-1, EF within +-3 points at each percentile.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from ..metrics.clinical import disk_diameters

__all__ = [
    "ECHONET_MOTION_REFERENCE",
    "MOTION_ROWS",
    "contraction_statistics",
    "widest_chord",
    "summarise_motion",
    "motion_tolerance",
    "format_motion_table",
]

_SIZE = 112
_REFERENCE_FPS = 50.0

ECHONET_MOTION_REFERENCE = {
    "ef": (35.7, 59.2, 67.3),
    "area": (0.51, 0.56, 0.62),
    "long_axis": (0.78, 0.84, 0.90),
    "width": (0.66, 0.74, 0.80),
    "base_rise": (3.0, 6.0, 9.0),
    "apex_descent": (-1.0, 1.0, 4.0),
    "systole_frames": (12.0, 16.0, 20.0),
}
"""Real EchoNet-Dynamic: EF over 10,030 videos (mean 55.7, SD 12.4, 12.6 % below 40); the rest over 203 ED/ES
tracings."""

MOTION_ROWS = (
    ("EF (%) p10 / p50 / p90", "ef"),
    ("LV area ES / ED", "area"),
    ("LV long axis ES / ED", "long_axis"),
    ("LV width ES / ED (across the long axis)", "width"),
    ("base (lowest LV row) moves up ED -> ES, px of 112", "base_rise"),
    ("apex (highest LV row) moves down ED -> ES, px of 112", "apex_descent"),
    ("frames ED -> ES at 50 fps", "systole_frames"),
)
"""(table label, key) of each motion statistic, in the order of the issue's table."""

# allowed distance of the simulation's median from the reference median, per statistic
_MEDIAN_TOLERANCE = {
    "area": 0.03,
    "long_axis": 0.03,
    "width": 0.03,
    "base_rise": 1.0,
    "apex_descent": 1.0,
    "systole_frames": 1.0,
}
_EF_TOLERANCE = 3.0  # points, at each of p10, p50, p90


def _resized(mask: np.ndarray) -> np.ndarray:
    resized = cv2.resize(np.asarray(mask, np.float32), (_SIZE, _SIZE), interpolation=cv2.INTER_AREA)
    return resized >= 0.5


def widest_chord(mask: np.ndarray, num_slabs: int = 20) -> float:
    """Pixels across the principal axis of a 2D mask at its widest: the mask cut into ``num_slabs`` slabs along the
    axis, each slab's extent across it (outermost pixel centres + 1)."""
    points = np.stack(np.nonzero(mask), axis=1).astype(np.float64)
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    along, across = centred @ vectors[:, -1], centred @ vectors[:, 0]
    slab = np.minimum(((along - along.min()) / (np.ptp(along) + 1e-9) * num_slabs).astype(int), num_slabs - 1)
    return float(max(np.ptp(across[slab == k]) + 1.0 for k in np.unique(slab)))


def contraction_statistics(ed_mask: np.ndarray, es_mask: np.ndarray, systole_frames: int, fps: float) -> dict:
    """The motion statistics of one video.

    Args:
        ed_mask, es_mask: (X, Y) LV masks (non-zero = LV) at ED and ES, same shape.
        systole_frames: frames from ED to ES in the video.
        fps: the video's frame rate.

    Returns:
        a dict with a float per key of :data:`MOTION_ROWS` except ``ef``. Raises ``ValueError`` for an empty mask.
    """
    ed, es = _resized(ed_mask), _resized(es_mask)
    if not ed.any() or not es.any():
        raise ValueError("an LV mask is empty at ED or ES.")
    ed_length, es_length = disk_diameters(ed, (1.0, 1.0))[1], disk_diameters(es, (1.0, 1.0))[1]
    ed_rows, es_rows = np.nonzero(ed)[1], np.nonzero(es)[1]  # axis 1 = y = image rows
    return {
        "area": float(es.sum() / ed.sum()),
        "long_axis": float(es_length / ed_length),
        "width": widest_chord(es) / widest_chord(ed),
        "base_rise": float(ed_rows.max() - es_rows.max()),
        "apex_descent": float(es_rows.min() - ed_rows.min()),
        "systole_frames": float(systole_frames * _REFERENCE_FPS / fps),
    }


def summarise_motion(videos: Iterable[dict], efs: Iterable[float]) -> dict:
    """10th / 50th / 90th percentiles of each statistic over videos (:func:`contraction_statistics` results) and of
    their EFs, in the layout of :data:`ECHONET_MOTION_REFERENCE`."""
    videos, efs = list(videos), [float(ef) for ef in efs]
    if not videos:
        raise ValueError("no videos to summarise.")
    summary = {"ef": tuple(float(v) for v in np.percentile(efs, (10, 50, 90)))}
    for key in _MEDIAN_TOLERANCE:
        summary[key] = tuple(float(v) for v in np.percentile([video[key] for video in videos], (10, 50, 90)))
    summary["videos"] = len(videos)
    return summary


def motion_tolerance(summary: dict, reference: dict = ECHONET_MOTION_REFERENCE) -> dict[str, bool]:
    """Whether each statistic is within its bound of the reference: the median for the motion, p10/p50/p90 for EF."""
    checks = {
        key: abs(summary[key][1] - reference[key][1]) <= tolerance + 1e-9
        for key, tolerance in _MEDIAN_TOLERANCE.items()
    }
    checks["ef"] = all(abs(s - r) <= _EF_TOLERANCE for s, r in zip(summary["ef"], reference["ef"]))
    return checks


def format_motion_table(summary: dict, reference: dict = ECHONET_MOTION_REFERENCE) -> str:
    """A markdown table of the motion statistics, p10 / p50 / p90, the real reference beside the simulation."""
    lines = ["| statistic, p10 / p50 / p90 | EchoNet-Dynamic (real) | simulation |", "|---|---|---|"]
    for label, key in MOTION_ROWS:
        digits = 2 if key in ("area", "long_axis", "width") else 1
        cells = [" / ".join(f"{v:.{digits}f}" for v in values[key]) for values in (reference, summary)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines.append(f"| videos | 203 (EF: 10,030) | {summary.get('videos', '')} |")
    return "\n".join(lines)
