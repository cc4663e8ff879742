"""Write what inference found in each video: mask, LV areas, ED/ES, volumes and EF, overlay and summary figure.

Per video ``<name>`` in ``output_dir``: ``<name>_mask.nii.gz`` (exactly the input's size and affine: it overlays the
video voxel for voxel in any viewer; spacing units as the input's, unknown when the input's are),
``<name>_areas.csv``, ``<name>_overlay.mp4`` (or ``.gif``) and ``<name>_summary.png``. For the whole run:
``predictions.csv`` (one row per video, rewritten after each), ``failures.csv`` (file and problem of every input
that could not be segmented or was skipped, when any) and, when the inputs name a ``patient`` and a ``view``
(2CH/4CH), ``patients.csv`` with biplane volumes. Output names are unique and never another input's own name
(:func:`output_names`). Every file is written atomically. When any video failed, the run ends with
:class:`InferenceFailures` (a non-zero exit) after writing the results of all the others.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from ..data.atomic import check_output_dir, remove_partial_files, write_text_atomic
from ..metrics.clinical import ejection_fraction, volume_biplane
from ..metrics.video import ClinicalFigures, clinical_figures
from ..transforms.io import split_video_suffix, write_volume
from ..transforms.labels import LV_CLASS
from ..visualize import summary_figure, write_overlay_video
from .items import as_volume, frame_index, item_value, processed_items, video_meta
from .video_metrics import rows_to_csv

__all__ = ["VideoResultsWriter", "InferenceFailures", "check_output_dir"]

logger = logging.getLogger(__name__)


def printable(text: str) -> str:
    """A path as text any file or figure takes: bytes that were not UTF-8 in the file system shown as ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _safe(text: str) -> str:
    return re.sub(r"[^\w.+-]", "_", printable(text).replace("\\x", "x"))


MAX_NAME = 100
"""Characters of a video's output name: with ``_summary.png`` and the like, well inside any file system's 255."""


def _video_name(path: str) -> str:
    """The file name without its video suffix (``.nii.gz``, ``.avi``...), in characters safe in any file name; a name
    longer than ``MAX_NAME`` keeps its start and ends with a hash of the whole name, so that it stays unique."""
    name = _safe(split_video_suffix(path)[0])
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11]}_{digest}"


def output_names(sources: list[str]) -> dict[str, str]:
    """A unique result name for every input, never one that another input's own name has.

    The file name without its suffix, where no other input shares it; inputs that share one keep their format in
    it (``a.avi`` -> ``a_avi``, ``a.nii.gz`` -> ``a_nii_gz``), then their folder (``b/x.nii.gz`` -> ``b_x_nii_gz``),
    then a number. ``predictions.csv`` also records each name's input.
    """
    stems = [_video_name(source) for source in sources]
    shared = {stem for stem in stems if stems.count(stem) > 1}
    reserved, names, used = set(stems), {}, set()
    for source, stem in zip(sources, stems):
        suffix = _safe(split_video_suffix(source)[1]).strip(".").replace(".", "_")
        name = f"{stem}_{suffix}" if stem in shared and suffix else stem
        if name in used or (name != stem and name in reserved):
            name = f"{_safe(Path(source).parent.name)}_{name}"
        base, number = name, 2
        while name in used or (name != stem and name in reserved):
            name, number = f"{base}_{number}", number + 1
        used.add(name)
        names[source] = name
    return names


RUN_FILES = ("predictions.csv", "failures.csv", "patients.csv")
"""The files of a whole run: an earlier run's are removed when a run starts in the same folder (``--overwrite``)."""


def _refuse_inputs_in_output(output_dir: Path, sources: list[str]) -> None:
    """Raise ``FileExistsError`` when the output folder holds inputs: results would replace or mix with them."""
    folder = os.path.realpath(output_dir)  # never raises, a link loop among the inputs included
    inside = [source for source in sources if os.path.dirname(os.path.realpath(source)) == folder]
    if inside:
        raise FileExistsError(
            f"{output_dir}: the output folder holds the inputs ({printable(inside[0])}...): results there would "
            "replace inputs or be read as videos by the next run. Choose another --output_dir."
        )


VIDEO_FILES = ("mask.nii.gz", "areas.csv", "overlay.mp4", "overlay.gif", "summary.png")
"""What a run writes for each video, as ``<name>_<file>``."""


def remove_earlier_results(output_dir: Path) -> list[Path]:
    """Delete the per-video files of the earlier run listed in ``output_dir/predictions.csv`` (only those: a user's
    other files stay); returns them. A rerun with ``--overwrite True`` then leaves no mask of the earlier run beside
    the new ``predictions.csv``."""
    import csv

    listing = output_dir / "predictions.csv"
    if not listing.is_file():
        return []
    with open(listing, newline="", errors="replace") as stream:
        names = [row.get("name") for row in csv.DictReader(stream) if row.get("name")]
    removed = [output_dir / f"{name}_{part}" for name in names for part in VIDEO_FILES]
    removed = [path for path in removed if path.is_file() and path.parent == output_dir]
    for path in removed:
        path.unlink()
    if removed:
        logger.info(
            f"{output_dir}: removed the {len(removed)} result files of the earlier run listed in {listing.name}"
        )
    return removed


class InferenceFailures(RuntimeError):
    """Some inputs of an inference run could not be segmented; the message says how many and where they are listed."""


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
        self.views: dict[str, dict[str, list[tuple]]] = {}
        self.failures: list[tuple[str, str]] = []
        self.names: dict[str, str] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        sources = [str(item.get("image")) for item in self.stream.data] if self.stream is not None else []
        _refuse_inputs_in_output(self.output_dir, sources)
        check_output_dir(self.output_dir, self.overwrite)
        remove_earlier_results(self.output_dir)
        for name in RUN_FILES:
            (self.output_dir / name).unlink(missing_ok=True)  # an earlier run's lists
        remove_partial_files(self.output_dir)  # files a killed run left half written
        self.rows, self.views, self.failures = [], {}, []
        self.names = output_names(sources)
        if self.stream is not None:
            self.stream.reset()

    def iteration_completed(self, engine: Engine) -> None:
        """Write each video's results; a video whose results cannot be made is listed in ``failures.csv`` (its
        partial files removed) and the run goes on. ``predictions.csv`` is rewritten after every video, so a run
        that stops keeps the rows of the videos done."""
        for output, item in processed_items(engine):
            source = video_meta(item[self.image_key])[0]
            written: list[Path] = []
            try:
                self.rows.append(self.write_video(output["pred"], item, written))
            except Exception as error:  # listed, not fatal: the other videos still get their results
                for path in written:
                    path.unlink(missing_ok=True)
                message = str(error).rstrip(".")
                if isinstance(error, OSError) and error.strerror:
                    message = f"{self.output_dir}: cannot write its results ({error.strerror})"
                self.failures.append((printable(source), message))
                logger.error(f"{printable(source)}: no results: {message}")
            write_text_atomic(self.output_dir / "predictions.csv", rows_to_csv(self.rows))

    def _unique_name(self, source: str) -> str:
        if source in self.names:
            return self.names[source]
        taken = {row["name"] for row in self.rows}
        name, candidate, index = _video_name(source), _video_name(source), 1
        while candidate in taken:
            index += 1
            candidate = f"{name}_{index}"
        return candidate

    def write_video(self, pred: torch.Tensor, item: dict, written: list[Path] | None = None) -> dict:
        """Write one video's files (their paths appended to ``written``); returns its ``predictions.csv`` row."""
        written = [] if written is None else written
        video = item[self.image_key]
        source, spacing, fps = video_meta(video)
        classes = as_volume(pred).astype(np.uint8)  # X x Y x T, the input's layout
        frames = as_volume(video)
        if classes.shape != frames.shape:
            raise ValueError(f"{source}: prediction {classes.shape} does not match the video {frames.shape}.")
        name = self._unique_name(source)
        parts = ("mask.nii.gz", "areas.csv", f"overlay.{self.overlay_format}", "summary.png")
        written.extend(self.output_dir / f"{name}_{part}" for part in parts)
        reference = {}
        notes = [str(video.meta["reading_notes"])] if video.meta.get("reading_notes") else []
        for key in ("ed_frame", "es_frame"):
            reference[key] = frame_index(item, key)
            if reference[key] is not None and not 0 <= reference[key] < classes.shape[-1]:
                notes.append(
                    f"{key} {reference[key]} of the datalist is outside the {classes.shape[-1]} frames: ignored"
                )
                reference[key] = None
        figures = clinical_figures(classes, spacing, fps, reference["ed_frame"], reference["es_frame"])
        figures.notes[:0] = notes

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
        return self._row(name, printable(source), classes.shape[-1], fps, spacing, figures)

    def _remember_view(self, item: dict, classes: np.ndarray, spacing, figures: ClinicalFigures) -> None:
        patient, view = item_value(item, "patient"), item_value(item, "view")
        if patient and view and figures.ed_frame is not None and figures.es_frame is not None:
            ed_mask = classes[..., figures.ed_frame] == LV_CLASS
            es_mask = classes[..., figures.es_frame] == LV_CLASS
            view = str(view).strip().upper()  # "4ch" and "4CH" are one view
            self.views.setdefault(str(patient), {}).setdefault(view, []).append((ed_mask, es_mask, spacing))

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
            "cycle_found_by": figures.cycle_method,
            "notes": "; ".join(figures.notes),
        }

    def completed(self, engine: Engine) -> None:
        write_text_atomic(self.output_dir / "predictions.csv", rows_to_csv(self.rows))
        patients = []
        for patient, views in sorted(self.views.items()):
            if not {"2CH", "4CH"} <= set(views):
                continue
            repeated = [f"{len(views[v])} {v} videos" for v in ("2CH", "4CH") if len(views[v]) > 1]
            if repeated:  # which pair is meant cannot be told: listed, never chosen silently
                note = f"{' and '.join(repeated)}: no biplane volumes (keep one video per view)"
                logger.warning(f"patient {patient}: {note}")
                patients.append({"patient": patient, "edv_ml": math.nan, "esv_ml": math.nan,
                                 "ef_percent": math.nan, "notes": note})  # fmt: skip
                continue
            (ed2, es2, sp2), (ed4, es4, sp4) = views["2CH"][0], views["4CH"][0]
            edv, esv = volume_biplane(ed2, ed4, sp2, sp4), volume_biplane(es2, es4, sp2, sp4)
            patients.append(
                {
                    "patient": patient,
                    "edv_ml": edv,
                    "esv_ml": esv,
                    "ef_percent": ejection_fraction(edv, esv),
                    "notes": "",
                }
            )
        if patients:
            write_text_atomic(self.output_dir / "patients.csv", rows_to_csv(patients))
        logger.info(f"wrote results of {len(self.rows)} videos to {self.output_dir}")
        failures = list(self.stream.failures if self.stream else []) + self.failures
        if failures:  # a name that is not valid UTF-8 is written with \xNN escapes, in the error's text too
            rows = [{"input": printable(source), "error": printable(error)} for source, error in failures]
            write_text_atomic(self.output_dir / "failures.csv", rows_to_csv(rows))
            total = len(self.rows) + len(failures)
            raise InferenceFailures(
                f"{len(failures)} of {total} videos could not be segmented (listed with their errors in "
                f"{self.output_dir / 'failures.csv'}); the other {len(self.rows)} were."
            )


def _figure_title(name: str, figures: ClinicalFigures) -> str:
    """``name: EF 55.0 % (3 cycles: 54.2 %)``: EF at the frames used, then averaged over the detected cycles."""
    title = f"{name}: EF {figures.ef:.1f} %" if math.isfinite(figures.ef) else f"{name}: EF undefined"
    if figures.cycle_efs:
        count = len(figures.cycle_efs)
        title += f" ({count} cycle{'s' if count > 1 else ''}: {figures.ef_cycle_average:.1f} %)"
    return title
