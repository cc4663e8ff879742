"""Cardiac phases from an LV area curve: end-diastole (largest area) and end-systole (smallest) of each cycle."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import find_peaks

from ..transforms.labels import LV_CLASS

__all__ = ["CardiacPhases", "lv_areas", "estimate_cycle_length", "detect_ed_es"]


def lv_areas(mask: np.ndarray, lv_class: int = LV_CLASS, spacing: tuple[float, float] | None = None) -> np.ndarray:
    """LV area per frame of a (X, Y, T) class mask: mm^2 with a known spacing, pixels otherwise; (T,)."""
    pixels = (np.asarray(mask) == lv_class).sum(axis=(0, 1)).astype(np.float64)
    if spacing is None or any(math.isnan(float(s)) for s in spacing):
        return pixels
    return pixels * float(spacing[0]) * float(spacing[1])


def estimate_cycle_length(areas: np.ndarray, min_frames: int = 6) -> int | None:
    """Frames per cardiac cycle from the autocorrelation of the area curve; None when no period shows.

    For each lag the Pearson correlation of the curve with its shifted self is taken over the overlap (at least a
    third of the curve); the first local maximum above 0.5 at a lag >= ``min_frames`` is the period.
    """
    areas = np.asarray(areas, dtype=np.float64)
    max_lag = areas.size - max(min_frames, areas.size // 3)
    correlation = []
    for lag in range(1, max_lag + 1):
        a, b = areas[:-lag], areas[lag:]
        correlation.append(np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0)
    for lag in range(min_frames, max_lag):
        value = correlation[lag - 1]
        if value > 0.5 and value >= correlation[lag - 2] and value >= correlation[lag]:
            return lag
    return None


@dataclass
class CardiacPhases:
    """ED and ES frames found on an area curve; ``fallback`` when no cycle could be told apart; ``method`` says how
    the cycle was found (for the notes of a video)."""

    ed_frames: list[int] = field(default_factory=list)
    es_frames: list[int] = field(default_factory=list)
    cycle_length: int | None = None
    fallback: bool = False
    method: str = ""


def detect_ed_es(
    areas: np.ndarray, fps: float = math.nan, max_heart_rate: float = 150.0, min_cycle_frames: int = 6
) -> CardiacPhases:
    """ED (largest LV area) and ES (smallest) of every cardiac cycle of an area curve (T,).

    ED frames are the interior peaks of the curve in its top 30 % (``scipy.signal.find_peaks``) at least 0.6 cycle
    apart, ES frames the troughs in its bottom 30 %. The cycle length comes from the autocorrelation
    (:func:`estimate_cycle_length`) or, failing that, from the shortest plausible cycle at ``fps``
    (``60 / max_heart_rate`` s). A video in which no peak and no trough stand out (shorter than one cycle, or a
    flat curve) gets the global maximum and minimum with ``fallback=True``.
    """
    areas = np.asarray(areas, dtype=np.float64)
    if areas.size == 0:
        return CardiacPhases(fallback=True, method="no frames")
    cycle = estimate_cycle_length(areas, min_cycle_frames)
    shortest = cycle if cycle else max(min_cycle_frames, int(fps * 60.0 / max_heart_rate) if fps > 0 else 0)
    if cycle:
        method = f"the area curve's period ({cycle} frames)"
    elif fps > 0:
        method = (
            f"no period in the area curve: cycles at least {shortest} frames apart ({max_heart_rate:g} bpm at most)"
        )
    else:
        method = f"no period in the area curve and no frame rate: cycles at least {shortest} frames apart"
    low, spread = float(areas.min()), float(areas.max() - areas.min())
    distance = max(1, int(0.6 * shortest))
    ed_frames, _ = find_peaks(areas, height=low + 0.7 * spread, distance=distance)
    es_frames, _ = find_peaks(-areas, height=-(low + 0.3 * spread), distance=distance)
    if spread <= 0 or len(ed_frames) == 0 or len(es_frames) == 0:
        method = "no full cycle: the frames of largest and smallest area"
        return CardiacPhases([int(np.argmax(areas))], [int(np.argmin(areas))], cycle, fallback=True, method=method)
    return CardiacPhases([int(f) for f in ed_frames], [int(f) for f in es_frames], cycle, method=method)
