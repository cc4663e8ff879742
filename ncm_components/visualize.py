"""Pictures to check results by eye: overlay videos, a per-video summary figure, Bland-Altman and Dice plots.

Every file is written atomically (``atomic_path``); matplotlib runs on the non-interactive Agg backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from PIL import Image  # noqa: E402

from .data.atomic import atomic_path  # noqa: E402
from .transforms.labels import LV_CLASS  # noqa: E402

__all__ = [
    "display_frame",
    "overlay_frames",
    "write_overlay_video",
    "summary_figure",
    "bland_altman_plot",
    "histogram_plot",
]

CONTOUR_BGR = (60, 220, 60)  # green LV contour


def _to_uint8(video: np.ndarray) -> np.ndarray:
    video = np.asarray(video, dtype=np.float32)
    low, high = float(np.nanmin(video)), float(np.nanmax(video))
    scaled = (video - low) / (high - low) * 255.0 if high > low else np.zeros_like(video)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def display_frame(volume: np.ndarray, t: int) -> np.ndarray:
    """Frame ``t`` of an (X, Y, T) volume (MONAI's layout) as a picture: (rows = Y, columns = X)."""
    return np.ascontiguousarray(np.asarray(volume)[..., t].T)


def overlay_frames(video: np.ndarray, mask: np.ndarray, lv_class: int = LV_CLASS) -> np.ndarray:
    """(X, Y, T) video and class mask (MONAI's layout) -> (T, Y, X, 3) RGB pictures with the LV contour in green."""
    gray = _to_uint8(video)
    frames = []
    for t in range(gray.shape[-1]):
        rgb = cv2.cvtColor(display_frame(gray, t), cv2.COLOR_GRAY2RGB)
        lv = (display_frame(mask, t) == lv_class).astype(np.uint8)
        contours, _ = cv2.findContours(lv, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, CONTOUR_BGR, 1)
        frames.append(rgb)
    return np.stack(frames)


def write_overlay_video(path: str | Path, video: np.ndarray, mask: np.ndarray, fps: float = math.nan) -> Path:
    """Write the overlay as MP4 (``.mp4``, OpenCV ``mp4v``) or animated GIF (``.gif``); returns the path."""
    path = Path(path)
    frames = overlay_frames(video, mask)
    rate = fps if fps and not math.isnan(fps) and fps > 0 else 25.0
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".gif":
            images = [Image.fromarray(frame) for frame in frames]
            images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 / rate), loop=0)
        elif path.suffix.lower() == ".mp4":
            height, width = frames.shape[1:3]
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), rate, (width, height))
            if not writer.isOpened():
                raise OSError(f"{path}: OpenCV cannot write MP4 here; use a .gif overlay instead.")
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            writer.release()
        else:
            raise ValueError(f"{path}: overlay format must be .mp4 or .gif.")
    return path


def summary_figure(
    path: str | Path,
    video: np.ndarray,
    mask: np.ndarray,
    areas: np.ndarray,
    ed_frames: Sequence[int],
    es_frames: Sequence[int],
    title: str = "",
    area_unit: str = "mm²",
) -> Path:
    """PNG: the first ED and ES frames with their LV contours, and the LV area curve with every ED/ES marked."""
    frames = overlay_frames(video, mask)
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    for axis, phase, found in ((axes[0], "ED", ed_frames), (axes[1], "ES", es_frames)):
        if found:
            axis.imshow(frames[found[0]])
            axis.set_title(f"{phase}, frame {found[0]}")
        axis.axis("off")
    axes[2].plot(areas, color="tab:blue", label="LV area")
    axes[2].scatter(ed_frames, np.asarray(areas)[list(ed_frames)], color="tab:red", zorder=3, label="ED")
    axes[2].scatter(es_frames, np.asarray(areas)[list(es_frames)], color="tab:green", zorder=3, label="ES")
    axes[2].set_xlabel("frame")
    axes[2].set_ylabel(f"LV area ({area_unit})")
    axes[2].legend(loc="best")
    axes[2].grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def bland_altman_plot(path: str | Path, predicted: Sequence[float], reference: Sequence[float], quantity="EF (%)"):
    """PNG Bland-Altman plot: difference (pred - ref) against the mean, with bias and 95 % limits of agreement."""
    predicted, reference = np.asarray(predicted, float), np.asarray(reference, float)
    mean, difference = (predicted + reference) / 2, predicted - reference
    bias = float(difference.mean()) if difference.size else math.nan
    spread = 1.96 * float(difference.std(ddof=1)) if difference.size > 1 else math.nan
    figure, axis = plt.subplots(figsize=(6, 4.5))
    axis.scatter(mean, difference, s=18, alpha=0.8)
    for value, style in ((bias, "-"), (bias + spread, "--"), (bias - spread, "--")):
        if not math.isnan(value):
            axis.axhline(value, color="gray", linestyle=style)
    axis.set_xlabel(f"mean of predicted and reference {quantity}")
    axis.set_ylabel(f"predicted - reference {quantity}")
    axis.set_title(f"Bland-Altman: bias {bias:.2f}, limits ±{spread:.2f}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def histogram_plot(path: str | Path, values: Sequence[float], label: str = "Dice", bins: int = 20):
    """PNG histogram of finite ``values`` (e.g. per-frame Dice)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.hist(values, bins=bins, color="tab:blue", alpha=0.85)
    axis.set_xlabel(label)
    axis.set_ylabel("frames")
    axis.set_title(f"{label}: median {np.median(values):.3f}, n = {values.size}" if values.size else label)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(figure)
    return path
