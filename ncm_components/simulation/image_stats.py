"""Grey-level and geometry statistics of echo frames with an LV mask: how close a simulation is to real echo.

Measured on 8-bit frames (MONAI's layout: axis 0 = x = columns, axis 1 = y = rows) resized to 112 x 112 (the
EchoNet-Dynamic size) with their LV masks:

- ``cavity``: grey levels inside the LV mask;
- ``ring``: grey levels 1-4 px outside the LV contour (wall, valves);
- ``outside``: grey levels inside the scanned sector farther than 4 px from the LV (the rest of the heart and tissue);
- ``sector``: share of the frame inside the sector (the convex hull of non-zero pixels);
- ``lv_area``: share of the frame covered by the LV; ``lv_height``: LV extent along y, share of the height;
- ``centroid``: LV centroid (y, x) as shares of the height and width;
- ``speckle``: the grain of the texture away from the LV, as the correlation of neighbouring pixels (1 px apart along
  x, then along y) after the anatomy is taken out (the frame minus its Gaussian blur, sigma 2 px), inside the sector
  region eroded by 2 px so that its edge does not count: near 0 when every pixel is fresh speckle, near 1 when the
  grain spans several pixels.

Grey levels are reported as 10th/50th/90th percentiles over all frames pooled; geometry and speckle as the median
over frames (with 10th and 90th percentiles for the LV area). :data:`ECHONET_REFERENCE` holds the same statistics
(speckle aside) measured on 406 real EchoNet-Dynamic ED/ES frames with expert tracings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from ..data.datalist import SPLITS, load_datalist
from ..transforms.io import read_video
from ..transforms.labels import LV_CLASS, annotated_frames

__all__ = [
    "ECHONET_REFERENCE",
    "STAT_SIZE",
    "frame_statistics",
    "speckle_correlation",
    "summarise",
    "datalist_statistics",
    "format_table",
    "within_tolerance",
]

STAT_SIZE = 112

ECHONET_REFERENCE = {
    "cavity": (0.0, 7.0, 41.0),
    "ring": (7.0, 50.0, 133.0),
    "outside": (1.0, 40.0, 134.0),
    "sector": 0.62,
    "lv_area": (0.048, 0.083, 0.137),
    "lv_height": 0.46,
    "centroid": (0.45, 0.56),
}
"""406 ED/ES frames of real EchoNet-Dynamic apical 4-chamber videos (112 x 112, 8-bit) with expert LV tracings (their
speckle grain was not measured)."""

_RING = (1.0, 4.0)  # px from the LV contour
_SPECKLE_SIGMA = 2.0  # px: the blur whose residual is the speckle


def _sector(frame: np.ndarray) -> np.ndarray:
    points = cv2.findNonZero((frame > 0).astype(np.uint8))
    sector = np.zeros(frame.shape, np.uint8)
    if points is not None:
        cv2.fillConvexPoly(sector, cv2.convexHull(points), 1)
    return sector.astype(bool)


def frame_statistics(frame: np.ndarray, lv_mask: np.ndarray) -> dict:
    """Grey levels of the three regions and the geometry of one frame.

    Args:
        frame: (X, Y) grey levels in 0..255 (any size: resized to 112 x 112 with area averaging).
        lv_mask: (X, Y) LV mask (non-zero = LV), same size as ``frame``.

    Returns:
        ``{"cavity", "ring", "outside"}``: 1D arrays of grey levels; ``"sector"``, ``"lv_area"``, ``"lv_height"``:
        floats; ``"centroid"``: (y share, x share). Raises ``ValueError`` when the mask is empty.
    """
    if frame.shape != lv_mask.shape:
        raise ValueError(f"frame {frame.shape} and LV mask {lv_mask.shape} differ in shape.")
    if not np.any(lv_mask):
        raise ValueError("the LV mask is empty.")
    size = (STAT_SIZE, STAT_SIZE)
    image = cv2.resize(frame.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(lv_mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    sector = _sector(image.astype(np.uint8))
    xs, ys = np.nonzero(mask)
    outside = sector & (distance > _RING[1])
    return {
        "cavity": image[mask],
        "ring": image[(distance >= _RING[0]) & (distance <= _RING[1])],
        "outside": image[outside],
        "sector": float(sector.mean()),
        "lv_area": float(mask.mean()),
        "lv_height": float((ys.max() - ys.min() + 1) / STAT_SIZE),
        "centroid": (float(ys.mean() / STAT_SIZE), float(xs.mean() / STAT_SIZE)),
        "speckle": speckle_correlation(image, outside),
    }


def speckle_correlation(image: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """Correlation of the speckle residual (image minus its Gaussian blur) of neighbouring pixels of ``region``.

    Args:
        image: (X, Y) grey levels.
        region: (X, Y) bool, where to measure; eroded by 2 px so that the blur of its edge does not count.

    Returns:
        (along x, along y): the correlation coefficient of pixel pairs 1 px apart along axis 0, then axis 1, both
        inside the eroded region; NaN where fewer than 16 pairs remain or the residual is constant.
    """
    residual = image - cv2.GaussianBlur(image, (0, 0), _SPECKLE_SIGMA)
    inner = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    correlations = []
    for axis in (0, 1):
        ahead = [slice(None), slice(None)]
        behind = [slice(None), slice(None)]
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        pairs = inner[tuple(ahead)] & inner[tuple(behind)]
        first, second = residual[tuple(behind)][pairs], residual[tuple(ahead)][pairs]
        if pairs.sum() < 16 or first.std() == 0 or second.std() == 0:
            correlations.append(float("nan"))
        else:
            correlations.append(float(np.corrcoef(first, second)[0, 1]))
    return correlations[0], correlations[1]


def summarise(frames: Iterable[dict]) -> dict:
    """Pool :func:`frame_statistics` results into the layout of :data:`ECHONET_REFERENCE`."""
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to summarise.")
    summary = {}
    for region in ("cavity", "ring", "outside"):
        values = np.concatenate([f[region] for f in frames])
        summary[region] = tuple(float(v) for v in np.percentile(values, (10, 50, 90)))
    summary["sector"] = float(np.median([f["sector"] for f in frames]))
    summary["lv_area"] = tuple(float(v) for v in np.percentile([f["lv_area"] for f in frames], (10, 50, 90)))
    summary["lv_height"] = float(np.median([f["lv_height"] for f in frames]))
    centroids = np.array([f["centroid"] for f in frames])
    summary["centroid"] = (float(np.median(centroids[:, 0])), float(np.median(centroids[:, 1])))
    speckle = np.array([f["speckle"] for f in frames])
    summary["speckle"] = (float(np.nanmedian(speckle[:, 0])), float(np.nanmedian(speckle[:, 1])))
    summary["frames"] = len(frames)
    return summary


def datalist_statistics(path: str | Path, max_items: int | None = None) -> dict:
    """:func:`summarise` of every annotated frame with an LV in a converted dataset's datalist (all splits).

    The ground truth is ``label_full`` when an item has one, else ``label``; a frame counts when it is annotated (not
    255) and holds LV pixels.
    """
    frames = []
    items = [item for split in SPLITS for item in load_datalist(path, split)]
    for item in items[:max_items]:
        video = read_video(item["image"]).array
        label = read_video(item.get("label_full") or item["label"]).array
        for t in np.nonzero(np.asarray(annotated_frames(label)))[0]:
            if np.any(label[..., t] == LV_CLASS):
                frames.append(frame_statistics(video[..., t], label[..., t] == LV_CLASS))
    return summarise(frames)


def within_tolerance(summary: dict, reference: dict = ECHONET_REFERENCE, tolerance: float = 0.5) -> dict[str, bool]:
    """Whether each region's median grey level is within +-``tolerance`` (relative) of the reference median."""
    return {
        region: abs(summary[region][1] - reference[region][1]) <= tolerance * reference[region][1]
        for region in ("cavity", "ring", "outside")
    }


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, tuple):
        digits = 0 if max(abs(v) for v in value) > 2 else 3
        return " / ".join(f"{v:.{digits}f}" for v in value)
    return f"{value:.3f}"


def format_table(columns: dict[str, dict]) -> str:
    """A markdown table with one column per summary (e.g. ``{"synthetic": ..., "EchoNet-Dynamic": ...}``)."""
    rows = [
        ("LV cavity grey p10 / p50 / p90", "cavity"),
        ("1-4 px ring outside the LV", "ring"),
        ("sector away from the LV", "outside"),
        ("sector share of the frame", "sector"),
        ("LV area share p10 / p50 / p90", "lv_area"),
        ("LV height share", "lv_height"),
        ("LV centroid (y, x) share", "centroid"),
        ("speckle: correlation 1 px apart, along x / y", "speckle"),
    ]
    names = list(columns)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(columns[n].get(key)) for n in names) + " |")
    counts = " | ".join(str(columns[n].get("frames", "")) for n in names)
    lines.append(f"| frames | {counts} |")
    return "\n".join(lines)
