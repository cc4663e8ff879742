"""Everything one segmented video is scored on: per-frame overlap and distances, temporal consistency, volumes, EF.

:func:`score_video` turns a predicted mask video and its references into per-frame rows and one per-video summary;
:func:`summarise_videos` aggregates the summaries of a dataset. Evaluation, the demo and the benchmarks all score
through these two functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..transforms.labels import LV_CLASS
from .cardiac import detect_ed_es, lv_areas
from .clinical import ejection_fraction, volume_single_plane
from .segmentation import per_frame_scores
from .temporal import temporal_inconsistency

__all__ = ["VideoScores", "ClinicalFigures", "clinical_figures", "score_video", "summarise_videos"]


@dataclass
class VideoScores:
    """Scores of one video: ``frames`` (one dict per frame) and ``summary`` (one dict, NaN where undefined)."""

    name: str
    frames: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def _volumes(mask: np.ndarray, ed: int | None, es: int | None, spacing) -> tuple[float, float, float]:
    """(EDV, ESV, EF) from the LV of a (X, Y, T) mask at frames ed/es; NaN where a frame is missing or empty."""
    if ed is None or es is None or ed == es:  # EF needs two distinct frames
        return math.nan, math.nan, math.nan
    edv = volume_single_plane(mask[..., ed] == LV_CLASS, spacing)
    esv = volume_single_plane(mask[..., es] == LV_CLASS, spacing)
    if edv <= 0:
        return math.nan, math.nan, math.nan
    return edv, esv, ejection_fraction(edv, esv)


def cycle_ejection_fractions(mask: np.ndarray, ed_frames: list[int], es_frames: list[int], spacing) -> list[float]:
    """EF of every cardiac cycle of a (X, Y, T) mask: each detected ED with the first detected ES after it and
    before the next ED; cycles whose EF is undefined (no such ES, no LV at ED) are left out."""
    efs = []
    for index, ed in enumerate(ed_frames):
        next_ed = ed_frames[index + 1] if index + 1 < len(ed_frames) else mask.shape[-1]
        es = next((f for f in es_frames if ed < f < next_ed), None)
        ef = _volumes(mask, ed, es, spacing)[2]
        if math.isfinite(ef):
            efs.append(ef)
    return efs


@dataclass
class ClinicalFigures:
    """What a clinic reads off a segmented video; volumes in mL (thousands of cubic pixels without spacing), EF in %."""

    areas: np.ndarray
    ed_frames: list[int]
    es_frames: list[int]
    ed_frame: int | None
    es_frame: int | None
    edv: float
    esv: float
    ef: float
    phase_fallback: bool
    notes: list[str] = field(default_factory=list)
    cycle_efs: list[float] = field(default_factory=list)
    cycle_method: str = ""  # how the cycle was found on the area curve (:attr:`CardiacPhases.method`)

    @property
    def ef_cycle_average(self) -> float:
        """EF averaged over the detected cycles (EchoNet-Dynamic's beat-to-beat practice); NaN without a cycle."""
        return float(np.mean(self.cycle_efs)) if self.cycle_efs else math.nan

    @property
    def volume_unit(self) -> str:
        """``mL`` with a known pixel spacing, else ``kpx3`` (thousands of cubic pixels: never comparable to mL)."""
        return "kpx3" if any("no pixel spacing" in note for note in self.notes) else "mL"


def clinical_figures(
    mask: np.ndarray,
    spacing: tuple[float, float] | None = None,
    fps: float = math.nan,
    ed_frame: int | None = None,
    es_frame: int | None = None,
) -> ClinicalFigures:
    """LV area curve, ED/ES frames and single-plane EDV/ESV/EF of a (X, Y, T) class mask.

    ED/ES are detected on the area curve (largest/smallest area of each cycle, :func:`detect_ed_es`); the volumes
    use ``ed_frame``/``es_frame`` when given (the reference frames), else the first detected ED and the first
    detected ES after it (the nearest ES when none follows). EF is NaN, with a note, when no LV is found at ED.
    ``cycle_efs`` holds the EF of every detected cycle (:func:`cycle_ejection_fractions`), none when the phases are
    a fallback (no full cycle).
    """
    mask = np.asarray(mask)
    pixel_spacing = None if spacing is None or any(math.isnan(float(s)) for s in spacing) else spacing
    areas = lv_areas(mask, LV_CLASS, pixel_spacing)
    phases = detect_ed_es(areas, fps)
    notes = []
    if not fps or math.isnan(fps):
        notes.append(f"frame rate unknown (none in the file), none assumed: ED/ES from {phases.method}")
    if phases.fallback:
        notes.append("no full cardiac cycle found: ED/ES are the frames of largest/smallest LV area")
    ed = ed_frame if ed_frame is not None else (phases.ed_frames[0] if phases.ed_frames else None)
    if es_frame is not None:
        es = es_frame
    elif phases.es_frames and ed is not None:
        following = [f for f in phases.es_frames if f > ed]
        es = following[0] if following else min(phases.es_frames, key=lambda f: abs(f - ed))
    else:
        es = None
    edv, esv, ef = _volumes(mask, ed, es, pixel_spacing)
    if ed is not None and ed == es:
        notes.append("ED and ES fall on the same frame (too few frames): volumes and EF undefined")
    elif math.isnan(ef):
        notes.append("no LV found at end-diastole: volumes and EF undefined")
    if pixel_spacing is None:
        notes.append("no pixel spacing: areas in pixels, volumes in pixel units, distances in pixels")
    cycles = ([], []) if phases.fallback else (phases.ed_frames, phases.es_frames)
    cycle_efs = cycle_ejection_fractions(mask, *cycles, pixel_spacing)
    return ClinicalFigures(
        areas, phases.ed_frames, phases.es_frames, ed, es, edv, esv, ef, phases.fallback, notes, cycle_efs,
        phases.method,
    )  # fmt: skip


def score_video(
    pred: np.ndarray,
    label: np.ndarray | None = None,
    label_full: np.ndarray | None = None,
    spacing: tuple[float, float] | None = None,
    ed_frame: int | None = None,
    es_frame: int | None = None,
    fps: float = math.nan,
    num_classes: int = 2,
    name: str = "",
    inconsistency_threshold: float = 0.2,
) -> VideoScores:
    """Score one predicted video against its sparse and/or full references.

    Args:
        pred: (X, Y, T) predicted classes.
        label: (X, Y, T) sparse reference (255 on unannotated frames): "semi" scores on its annotated frames.
        label_full: (X, Y, T) reference on every frame: "full" scores.
        spacing: (x, y) mm, one per array axis; None/NaN: distances in pixels and volumes in pixel units.
        ed_frame, es_frame: reference ED/ES frames (for EF and the frame error of the detected ones).
        fps: frame rate, used by ED/ES detection.
        num_classes: K of the masks.
        name: the video's name in the rows.
        inconsistency_threshold: |d| above which a frame is temporally inconsistent.

    Returns:
        :class:`VideoScores`. Summary keys: ``dice_semi``/``hd95_semi``/``assd_semi``, ``*_full``,
        ``inconsistency_rate``, ``mean_abs_d``, ``ed_detected``/``es_detected``, ``ed_error``/``es_error`` (frames),
        ``phase_fallback``, ``edv_pred``/``esv_pred``/``ef_pred`` (at the reference frames, else the first detected
        cycle), ``ef_cycles_pred`` (averaged over the detected cycles) and ``cycles`` (their count),
        ``edv_ref``/``esv_ref``/``ef_ref`` and ``volume_unit`` (``mL``, or ``kpx3`` without a pixel spacing).
    """
    pred = np.asarray(pred)
    frames = pred.shape[-1]
    pixel_spacing = None if spacing is None or any(math.isnan(float(s)) for s in spacing) else spacing
    references = {"semi": label, "full": label_full}
    scores = {
        kind: per_frame_scores(pred, reference, num_classes, pixel_spacing)
        for kind, reference in references.items()
        if reference is not None
    }
    clinical = clinical_figures(pred, pixel_spacing, fps, ed_frame, es_frame)
    area_pred = clinical.areas
    area_ref = lv_areas(label_full, LV_CLASS, pixel_spacing) if label_full is not None else None

    rows = []
    for t in range(frames):
        row = {"video": name, "frame": t, "area_pred": area_pred[t]}
        if area_ref is not None:
            row["area_ref"] = area_ref[t]
        for kind, by_metric in scores.items():
            for metric, values in by_metric.items():
                row[f"{metric}_{kind}"] = _nanmean(values[t])
        rows.append(row)

    summary: dict = {"video": name, "frames": frames, "distance_unit": "mm" if pixel_spacing else "px"}
    for kind, by_metric in scores.items():
        for metric, values in by_metric.items():
            summary[f"{metric}_{kind}"] = _nanmean(values)
    summary["inconsistency_rate"], summary["mean_abs_d"] = temporal_inconsistency(area_pred, inconsistency_threshold)

    summary["phase_fallback"] = clinical.phase_fallback
    summary["ed_detected"] = clinical.ed_frames[0] if clinical.ed_frames else None
    summary["es_detected"] = clinical.es_frames[0] if clinical.es_frames else None
    for phase, reference, found in (("ed", ed_frame, clinical.ed_frames), ("es", es_frame, clinical.es_frames)):
        nearest = min((abs(f - reference) for f in found), default=math.nan) if reference is not None else math.nan
        summary[f"{phase}_error"] = float(nearest)

    summary["edv_pred"], summary["esv_pred"], summary["ef_pred"] = clinical.edv, clinical.esv, clinical.ef
    summary["ef_cycles_pred"], summary["cycles"] = clinical.ef_cycle_average, len(clinical.cycle_efs)
    summary["volume_unit"] = clinical.volume_unit
    reference_mask = label_full if label_full is not None else label
    summary["reference_note"] = ""
    if reference_mask is not None and ed_frame is not None and es_frame is not None:
        reference = _volumes(reference_mask, ed_frame, es_frame, pixel_spacing)
        summary["edv_ref"], summary["esv_ref"], summary["ef_ref"] = reference
        if math.isfinite(reference[2]) and not 0.0 <= reference[2] <= 100.0:
            summary["reference_note"] = (
                f"reference EF {reference[2]:.1f} % (ESV {reference[1]:.1f} > EDV {reference[0]:.1f}: ED and ES "
                "swapped in the datalist?): not used"
            )
            summary["ef_ref"] = math.nan
    else:
        summary["edv_ref"] = summary["esv_ref"] = summary["ef_ref"] = math.nan
    return VideoScores(name, rows, summary)


def summarise_videos(videos: list[VideoScores]) -> dict:
    """Dataset summary: frame-weighted means of the per-frame scores, temporal and clinical agreement.

    Clinical figures (bias = mean(pred - ref), ``sd``, ``mae``, Pearson ``r``) use only videos where both EFs are
    defined; ``ef_missing`` counts the others (no LV found: EF undefined, never counted as 0). ``ef_cycles_*``
    compares the cycle-averaged EF with the reference EF. Volumes of videos in different units (``volume_unit``
    ``mixed``) are not aggregated.
    """
    units = {v.summary.get("distance_unit") for v in videos}
    volume_units = {v.summary.get("volume_unit") for v in videos}
    summary: dict = {
        "videos": len(videos),
        "distance_unit": units.pop() if len(units) == 1 else "mixed",
        "volume_unit": volume_units.pop() if len(volume_units) == 1 else "mixed",
    }
    frame_keys = sorted(
        {key for v in videos for row in v.frames for key in row if key.split("_")[-1] in ("semi", "full")}
    )
    for key in frame_keys:
        summary[key] = _nanmean([row.get(key, math.nan) for v in videos for row in v.frames])
    for key in ("inconsistency_rate", "mean_abs_d", "ed_error", "es_error"):
        summary[key] = _nanmean([v.summary.get(key, math.nan) for v in videos])
    # reference EFs outside 0-100 % (ED and ES swapped?) are not used; each video says so in its reference_note
    summary["ef_reference_refused"] = sum(bool(v.summary.get("reference_note")) for v in videos)
    for quantity, reference in (("ef", "ef"), ("ef_cycles", "ef"), ("edv", "edv"), ("esv", "esv")):
        if quantity in ("edv", "esv") and summary["volume_unit"] == "mixed":
            continue
        pairs = [(v.summary.get(f"{quantity}_pred", math.nan), v.summary[f"{reference}_ref"]) for v in videos]
        pairs = np.array(pairs, dtype=float)
        pairs = pairs[np.isfinite(pairs).all(axis=1)] if pairs.size else pairs.reshape(0, 2)
        error = pairs[:, 0] - pairs[:, 1]
        summary[f"{quantity}_bias"] = float(error.mean()) if error.size else math.nan
        summary[f"{quantity}_sd"] = float(error.std(ddof=1)) if error.size > 1 else math.nan
        summary[f"{quantity}_mae"] = float(np.abs(error).mean()) if error.size else math.nan
        spread = error.size > 2 and pairs[:, 0].std() > 0 and pairs[:, 1].std() > 0
        summary[f"{quantity}_r"] = float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) if spread else math.nan
        summary[f"{quantity}_missing"] = len(videos) - int(error.size)
    summary["phase_fallbacks"] = int(sum(bool(v.summary.get("phase_fallback")) for v in videos))
    summary["cycles_mean"] = _nanmean([v.summary.get("cycles", math.nan) for v in videos])
    return summary
