"""Temporal consistency of a segmented video from its LV area curve (Painchaud et al., IEEE TMI 2022).

The area curve is min-max normalised to [0, 1]; d(t) = a(t) - (a(t-1) + a(t+1)) / 2 measures how far frame t jumps
from its neighbours' mean, and a frame is temporally inconsistent when |d(t)| exceeds a threshold (0.2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["area_second_difference", "temporal_inconsistency"]


def area_second_difference(areas: np.ndarray) -> np.ndarray:
    """d(t) of the min-max normalised area curve for the interior frames: (T,) -> (T-2,); empty when T < 3.

    A flat curve (max == min) gives zeros: nothing moves, nothing is inconsistent.
    """
    areas = np.asarray(areas, dtype=np.float64)
    if areas.size < 3:
        return np.zeros(0)
    span = areas.max() - areas.min()
    normalised = (areas - areas.min()) / span if span > 0 else np.zeros_like(areas)
    return normalised[1:-1] - (normalised[:-2] + normalised[2:]) / 2


def temporal_inconsistency(areas: np.ndarray, threshold: float = 0.2) -> tuple[float, float]:
    """(share of interior frames with |d| > threshold, mean |d|) of an area curve (T,); (0.0, 0.0) when T < 3."""
    d = np.abs(area_second_difference(areas))
    if d.size == 0:
        return 0.0, 0.0
    return float(np.mean(d > threshold)), float(d.mean())
