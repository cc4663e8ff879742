"""The scene around the LV in an apical view: the third part of the simulation statistics against real echo.

A network reads the whole scene, not the LV alone, so the simulation must put the same things at the same places
around it: a dark near field above the apex, a bright septum to the LV's left, a fainter lateral wall, the bright
annulus and leaflets just beyond the traced base, a dark atrium beyond them, and a sector as wide as the release's.
Measured on one video's ED frame and its traced ED mask (MONAI's layout: axis 0 = x = columns, axis 1 = y = rows,
the transducer at the top), resized to 112 x 112 like :mod:`.image_stats`:

- ``footprint``: share of the frame whose maximum over the video exceeds 10 of 255 (the sector as the scanner lit it);
- every intensity below is divided by the 99th percentile of the ED frame's footprint pixels;
- the LV axis is the principal axis of the mask's pixel coordinates, oriented from the apex (top) to the base; ``L``
  is the mask's extent along it, ``W`` = area / ``L``, the apex point = centroid + (smallest projection) x axis;
- ``along t``: the bilinear sample at apex + t L axis (t = -0.2 the near field above the apex, 0 the apex, 1 the
  traced base, 1.2 the annulus and leaflets, 1.6 the atrium);
- ``across s``: the sample at centroid + s W n, n the unit normal to the axis pointing to the image's right, so that
  s < 0 lies to the LV's left (s = -0.75 the septum, -1.25 the right ventricle, +1 the lateral wall);
- ``angle``: of the axis from vertical in degrees, positive when the base lies right of the apex;
- ``centroid`` (column, row), ``long_axis`` (``L``) and ``apex_row`` in px of 112.

:data:`SCENE_REFERENCE` holds the 10th / 50th / 90th percentiles over 152 real EchoNet-Dynamic training videos:
published facts of the real data, carried as numbers. :func:`scene_tolerance` checks a summary against them: profile
medians within +-0.08, positions within +-3 px, the footprint within +-0.03, the angle within +-4 degrees.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

__all__ = [
    "ALONG",
    "ACROSS",
    "SCENE_REFERENCE",
    "scene_statistics",
    "summarise_scene",
    "scene_tolerance",
    "format_scene_table",
]

SIZE = 112
FOOTPRINT_LEVEL = 10.0  # of 255: a pixel the scanner lit at least once in the video
ALONG = (-0.2, 0.0, 1.0, 1.2, 1.4, 1.6)
ACROSS = (-1.25, -0.75, -0.5, 0.5, 1.0, 1.5)

# 152 real EchoNet-Dynamic training videos, ED frame and traced ED mask: p10 / p50 / p90 (positions: medians)
SCENE_REFERENCE = {
    "centroid": (62.7, 51.2),
    "long_axis": 58.4,
    "apex_row": 21.0,
    "angle": (3.7, 15.1, 25.5),
    "footprint": (0.58, 0.65, 0.68),
    "along": {
        -0.2: (0.00, 0.00, 0.39),
        0.0: (0.00, 0.20, 0.43),
        1.0: (0.00, 0.11, 0.50),
        1.2: (0.00, 0.29, 0.81),
        1.4: (0.00, 0.16, 0.74),
        1.6: (0.00, 0.00, 0.60),
    },
    "across": {
        -1.25: (0.00, 0.04, 0.28),
        -0.75: (0.32, 0.72, 0.97),
        -0.5: (0.00, 0.06, 0.46),
        0.5: (0.01, 0.09, 0.24),
        1.0: (0.08, 0.29, 0.61),
        1.5: (0.00, 0.02, 0.45),
    },
}
BOUNDS = {"profile": 0.08, "position": 3.0, "footprint": 0.03, "angle": 4.0}


def _resize(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _bilinear(image: np.ndarray, x: float, y: float) -> float:
    """The bilinear sample of a (rows, columns) image at column ``x``, row ``y`` (pixel centres at integers); 0
    outside."""
    sample = cv2.remap(
        image,
        np.array([[x]], np.float32),
        np.array([[y]], np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return float(sample[0, 0])


def scene_statistics(video: np.ndarray, ed_mask: np.ndarray, ed_frame: int) -> dict:
    """The scene statistics of one video (see the module's definitions).

    Args:
        video: (X, Y, T) grey levels in 0..255 (any size: frames are resized to 112 x 112 with area averaging).
        ed_mask: (X, Y) traced LV mask of the ED frame (non-zero = LV).
        ed_frame: index of the ED frame in ``video``.

    Returns:
        ``footprint``, ``angle``, ``long_axis``, ``apex_row`` floats, ``centroid`` (column, row), and ``along`` /
        ``across`` dicts of float samples keyed by t / s. Raises ``ValueError`` on an empty mask or mismatched shapes.
    """
    if video.ndim != 3 or ed_mask.shape != video.shape[:2]:
        raise ValueError(f"video {video.shape} must be (X, Y, T) and the ED mask {ed_mask.shape} (X, Y).")
    if not np.any(ed_mask):
        raise ValueError("the ED mask is empty.")
    brightest = _resize(video.max(axis=2).T)  # (rows, columns)
    frame = _resize(video[..., ed_frame].T)
    mask = _resize((ed_mask != 0).T) >= 0.5
    footprint = brightest > FOOTPRINT_LEVEL
    scale = float(np.percentile(frame[footprint], 99)) if footprint.any() else 0.0
    image = frame / scale if scale > 0 else np.zeros_like(frame)

    rows, columns = np.nonzero(mask)
    points = np.stack([columns, rows], axis=1).astype(np.float64)  # (N, 2) x, y
    centroid = points.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov((points - centroid).T))
    axis = eigenvectors[:, int(np.argmax(eigenvalues))]
    axis = axis if axis[1] >= 0 else -axis  # apex (top) -> base
    normal = np.array([axis[1], -axis[0]])  # points to the image's right
    projection = (points - centroid) @ axis
    length = float(projection.max() - projection.min())
    width = float(mask.sum()) / length
    apex = centroid + projection.min() * axis
    return {
        "footprint": float(footprint.mean()),
        "angle": float(np.degrees(np.arctan2(axis[0], axis[1]))),
        "centroid": (float(centroid[0]), float(centroid[1])),
        "long_axis": length,
        "apex_row": float(apex[1]),
        "along": {t: _bilinear(image, *(apex + t * length * axis)) for t in ALONG},
        "across": {s: _bilinear(image, *(centroid + s * width * normal)) for s in ACROSS},
    }


def summarise_scene(videos: Iterable[dict]) -> dict:
    """Pool :func:`scene_statistics` of many videos into the layout of :data:`SCENE_REFERENCE` (p10 / p50 / p90;
    positions as medians)."""
    videos = list(videos)
    if not videos:
        raise ValueError("no videos to summarise.")

    def percentiles(values) -> tuple[float, float, float]:
        return tuple(float(v) for v in np.percentile(list(values), (10, 50, 90)))

    return {
        "centroid": tuple(float(v) for v in np.median([v["centroid"] for v in videos], axis=0)),
        "long_axis": float(np.median([v["long_axis"] for v in videos])),
        "apex_row": float(np.median([v["apex_row"] for v in videos])),
        "angle": percentiles(v["angle"] for v in videos),
        "footprint": percentiles(v["footprint"] for v in videos),
        "along": {t: percentiles(v["along"][t] for v in videos) for t in ALONG},
        "across": {s: percentiles(v["across"][s] for v in videos) for s in ACROSS},
        "videos": len(videos),
    }


def scene_tolerance(summary: dict, reference: dict = SCENE_REFERENCE) -> dict[str, bool]:
    """Whether each scene row of ``summary`` is within its bound of ``reference`` (see the module)."""
    checks = {
        "centroid": all(abs(a - b) <= BOUNDS["position"] for a, b in zip(summary["centroid"], reference["centroid"])),
        "long_axis": abs(summary["long_axis"] - reference["long_axis"]) <= BOUNDS["position"],
        "apex_row": abs(summary["apex_row"] - reference["apex_row"]) <= BOUNDS["position"],
        "angle": abs(summary["angle"][1] - reference["angle"][1]) <= BOUNDS["angle"],
        "footprint": abs(summary["footprint"][1] - reference["footprint"][1]) <= BOUNDS["footprint"],
    }
    for kind in ("along", "across"):
        for key, values in reference[kind].items():
            checks[f"{kind} {key:+g}"] = abs(summary[kind][key][1] - values[1]) <= BOUNDS["profile"]
    return checks


def _triple(values: tuple[float, ...], digits: int) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


def format_scene_table(columns: dict[str, dict]) -> str:
    """A markdown table of scene rows, one column per summary (e.g. simulation and :data:`SCENE_REFERENCE`)."""
    names = list(columns)
    lines = ["| scene row (ED frame, traced ED mask) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(columns[n]) for n in names) + " |")

    row("LV centroid column, row (px of 112)", lambda c: _triple(c["centroid"], 1))
    row("LV long axis (px) / apex row", lambda c: f"{c['long_axis']:.1f} / {c['apex_row']:.0f}")
    row("axis angle (degrees) p10 / p50 / p90", lambda c: _triple(c["angle"], 1))
    row("sector footprint (share of the frame)", lambda c: _triple(c["footprint"], 2))
    for t in ALONG:
        name = {-0.2: "near field above the apex", 0.0: "apex", 1.0: "traced base", 1.2: "annulus, leaflets",
                1.6: "atrium"}.get(t)  # fmt: skip
        row(f"along t = {t:g}" + (f" ({name})" if name else ""), lambda c, t=t: _triple(c["along"][t], 2))
    for s in ACROSS:
        name = {-1.25: "right ventricle", -0.75: "septum", 1.0: "lateral wall", 1.5: "outside"}.get(s)
        row(f"across s = {s:+g}" + (f" ({name})" if name else ""), lambda c, s=s: _triple(c["across"][s], 2))
    lines.append("| videos | " + " | ".join(str(columns[n].get("videos", "")) for n in names) + " |")
    return "\n".join(lines)
