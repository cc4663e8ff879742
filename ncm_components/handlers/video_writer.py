"""Write what inference found in each video: mask, LV areas, ED/ES, volumes and EF, overlay and summary figure.

Per video ``<name>`` in ``output_dir``: ``<name>_mask.nii.gz`` (exactly the input's size and affine: it overlays the
video voxel for voxel in any viewer; spacing units as the input's, unknown when the input's are),
``<name>_areas.csv``, ``<name>_overlay.mp4`` (or ``.gif``) and ``<name>_summary.png``. For the whole run:
``predictions.csv`` (one row per video), ``failures.csv`` (file and error of every video that could not be read,
when any) and, when the inputs name a ``patient`` and a ``view`` (2CH/4CH), ``patients.csv`` with biplane volumes.
Every file is written atomically. When any video failed, the run ends with :class:`InferenceFailures` (a non-zero
exit) after writing the results of all the others.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from ..data.atomic import check_output_dir, write_text_atomic
from ..metrics.clinical import ejection_fraction, volume_biplane
from ..metrics.video import ClinicalFigures, clinical_figures
from ..transforms.io import VIDEO_SUFFIXES, write_volume
from ..transforms.labels import LV_CLASS
from ..visualize import summary_figure, write_overlay_video
from .items import as_volume, frame_index, item_value, processed_items, video_meta
from .video_metrics import rows_to_csv

__all__ = ["VideoResultsWriter", "InferenceFailures", "check_output_dir"]

logger = logging.getLogger(__name__)


def _video_name(path: str) -> str:
    """The file name without its video suffix (``.nii.gz``, ``.avi``...)."""
    name = Path(path).name
    for suffix in sorted(VIDEO_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "video"
    return name


class InferenceFailures(RuntimeError):
    """Some videos of an inference run could not be read; the message says how many and where they are listed."""


class VideoResultsWriter:
    """Inference handler: save each segmented video's mask, measurements and pictures (see the module docstring).

    Reads ``pred`` (class indices in the input geometry, after ``Invertd`` and ``AsDiscreted``) from
    ``engine.state.output`` and the source video (``image_key``), meta and optional ``patient``/``view``/
    ``ed_frame``/``es_frame`` from ``engine.state.batch``.

    Args:
        output_dir: result folder; must be empty unless ``overwrite``.
        overwrite: allow writing into a folder that already holds results.
        overlay_format: ``"mp4"``, ``"gif"`` or ``"none"``.
        save_all_classes: save every predicted class in the mask; default LV only (0/1).
        image_key: batch key of the source video at its own size and intensities.
        stream: the run's :class:`~ncm_components.data.VideoStream`, whose failures are listed in ``failures.csv``.
    """

    def __init__(
        self,
        output_dir: str,
        overwrite: bool = False,
        overlay_format: str = "mp4",
        save_all_classes: bool = False,
        image_key: str = "image_source",
        stream=None,
    ) -> None:
        if overlay_format not in ("mp4", "gif", "none"):
            raise ValueError(f"overlay_format must be 'mp4', 'gif' or 'none', got {overlay_format!r}.")
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.overlay_format = overlay_format
        self.save_all_classes = save_all_classes
        self.image_key = image_key
        self.stream = stream
        self.rows: list[dict] = []
        self.views: dict[str, dict[str, tuple]] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        check_output_dir(self.output_dir, self.overwrite)
        self.rows, self.views = [], {}
        if self.stream is not None:
            self.stream.reset()

    def iteration_completed(self, engine: Engine) -> None:
        for output, item in processed_items(engine):
            self.rows.append(self.write_video(output["pred"], item))

    def _unique_name(self, source: str) -> str:
        name = _video_name(source)
        taken = {row["name"] for row in self.rows}
        candidate, index = name, 1
        while candidate in taken:
            index += 1
            candidate = f"{name}_{index}"
        return candidate

    def write_video(self, pred: torch.Tensor, item: dict) -> dict:
        """Write one video's files; returns its ``predictions.csv`` row."""
        video = item[self.image_key]
        source, spacing, fps = video_meta(video)
        classes = as_volume(pred).astype(np.uint8)  # X x Y x T, the input's layout
        frames = as_volume(video)
        if classes.shape != frames.shape:
            raise ValueError(f"{source}: prediction {classes.shape} does not match the video {frames.shape}.")
        name = self._unique_name(source)
        figures = clinical_figures(classes, spacing, fps, frame_index(item, "ed_frame"), frame_index(item, "es_frame"))

        mask = classes if self.save_all_classes else (classes == LV_CLASS).astype(np.uint8)
        meta = video.meta
        write_volume(
            self.output_dir / f"{name}_mask.nii.gz",
            mask,
            affine=np.asarray(meta.get("original_affine", meta["affine"])),
            spacing_known=bool(meta.get("spacing_known", False)),
        )
        area_unit = "mm2" if figures.volume_unit == "mL" else "px2"
        area_rows = [{"frame": t, f"lv_area_{area_unit}": a} for t, a in enumerate(figures.areas)]
        write_text_atomic(self.output_dir / f"{name}_areas.csv", rows_to_csv(area_rows))
        if self.overlay_format != "none":
            write_overlay_video(self.output_dir / f"{name}_overlay.{self.overlay_format}", frames, classes, fps)
        summary_figure(
            self.output_dir / f"{name}_summary.png",
            frames,
            classes,
            figures.areas,
            figures.ed_frames,
            figures.es_frames,
            title=_figure_title(name, figures),
            area_unit="mm²" if area_unit == "mm2" else "px²",
        )
        self._remember_view(item, classes, spacing, figures)
        return self._row(name, source, classes.shape[-1], fps, spacing, figures)

    def _remember_view(self, item: dict, classes: np.ndarray, spacing, figures: ClinicalFigures) -> None:
        patient, view = item_value(item, "patient"), item_value(item, "view")
        if patient and view and figures.ed_frame is not None and figures.es_frame is not None:
            ed_mask = classes[..., figures.ed_frame] == LV_CLASS
            es_mask = classes[..., figures.es_frame] == LV_CLASS
            self.views.setdefault(str(patient), {})[str(view)] = (ed_mask, es_mask, spacing)

    @staticmethod
    def _row(name: str, source: str, frames: int, fps: float, spacing, figures: ClinicalFigures) -> dict:
        unit = figures.volume_unit
        return {
            "name": name,
            "input": source,
            "frames": frames,
            "fps": fps,
            "spacing_x_mm": spacing[0],
            "spacing_y_mm": spacing[1],
            "ed_frames": " ".join(map(str, figures.ed_frames)),
            "es_frames": " ".join(map(str, figures.es_frames)),
            "ed_frame_used": figures.ed_frame,
            "es_frame_used": figures.es_frame,
            f"edv_{unit}": figures.edv,
            f"esv_{unit}": figures.esv,
            "ef_percent": figures.ef,
            "ef_cycle_average_percent": figures.ef_cycle_average,
            "cycles": len(figures.cycle_efs),
            "notes": "; ".join(figures.notes),
        }

    def completed(self, engine: Engine) -> None:
        write_text_atomic(self.output_dir / "predictions.csv", rows_to_csv(self.rows))
        patients = []
        for patient, views in sorted(self.views.items()):
            if {"2CH", "4CH"} <= set(views):
                (ed2, es2, sp2), (ed4, es4, sp4) = views["2CH"], views["4CH"]
                edv, esv = volume_biplane(ed2, ed4, sp2, sp4), volume_biplane(es2, es4, sp2, sp4)
                patients.append(
                    {"patient": patient, "edv_ml": edv, "esv_ml": esv, "ef_percent": ejection_fraction(edv, esv)}
                )
        if patients:
            write_text_atomic(self.output_dir / "patients.csv", rows_to_csv(patients))
        logger.info(f"wrote results of {len(self.rows)} videos to {self.output_dir}")
        failures = list(self.stream.failures) if self.stream is not None else []
        if failures:
            rows = [{"input": source, "error": error} for source, error in failures]
            write_text_atomic(self.output_dir / "failures.csv", rows_to_csv(rows))
            total = len(self.rows) + len(failures)
            raise InferenceFailures(
                f"{len(failures)} of {total} videos could not be read (listed with their errors in "
                f"{self.output_dir / 'failures.csv'}); the other {len(self.rows)} were segmented."
            )


def _figure_title(name: str, figures: ClinicalFigures) -> str:
    """``name: EF 55.0 % (3 cycles: 54.2 %)``: EF at the frames used, then averaged over the detected cycles."""
    title = f"{name}: EF {figures.ef:.1f} %" if math.isfinite(figures.ef) else f"{name}: EF undefined"
    if figures.cycle_efs:
        count = len(figures.cycle_efs)
        title += f" ({count} cycle{'s' if count > 1 else ''}: {figures.ef_cycle_average:.1f} %)"
    return title
