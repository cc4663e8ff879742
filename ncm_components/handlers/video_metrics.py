"""Score every video an evaluator segments; write ``metrics.csv``, ``videos.csv``, ``summary.json`` and a report."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import torch.distributed as dist
from ignite.engine import Engine, Events

from ..data.atomic import write_json_atomic, write_text_atomic
from ..metrics.video import VideoScores, score_video, summarise_videos
from ..visualize import bland_altman_plot, histogram_plot
from .items import as_volume, frame_index, processed_items, video_meta

__all__ = ["VideoMetricsSaver", "rows_to_csv", "markdown_report"]

logger = logging.getLogger(__name__)

RESULT_FILES = ("metrics.csv", "videos.csv", "summary.json", "report.md")


def rows_to_csv(rows: list[dict]) -> str:
    """CSV text of dict rows; the columns are the union of the rows' keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return buffer.getvalue()


def _cell(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


class VideoMetricsSaver:
    """Evaluator handler: score each video (:func:`~ncm_components.metrics.video.score_video`) and save the results.

    Reads ``pred`` (class indices after ``AsDiscreted(argmax=True)``) from ``engine.state.output`` and the
    references (``label``, ``label_full``), ED/ES frames and the image's meta (file, spacing, fps) from
    ``engine.state.batch``, item by item (decollated). At the end it writes ``metrics.csv`` (one row per video and
    frame), ``videos.csv`` (one row per video), ``summary.json`` and ``report.md`` (with a Bland-Altman plot of EF
    and a histogram of per-frame Dice) atomically to ``output_dir`` and puts the summary
    in ``engine.state.metrics`` under ``"video_summary"``. Under ``torch.distributed`` every rank scores its share
    of the videos and rank 0 gathers them all and writes the files.

    Args:
        output_dir: folder of the result files (created).
        num_classes: K of the masks.
        inconsistency_threshold: |d| above which a frame is temporally inconsistent.
        overwrite: replace the results of an earlier evaluation in ``output_dir``; else they make the run stop
            before any video is scored (``output_dir`` may hold other files, such as training logs).
    """

    def __init__(
        self, output_dir: str, num_classes: int = 2, inconsistency_threshold: float = 0.2, overwrite: bool = False
    ) -> None:
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.num_classes = num_classes
        self.inconsistency_threshold = inconsistency_threshold
        self.videos: list[VideoScores] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def reset(self, engine: Engine) -> None:
        earlier = [name for name in RESULT_FILES if (self.output_dir / name).exists()]
        if earlier and not self.overwrite:
            raise FileExistsError(
                f"{self.output_dir}: holds the results of an earlier evaluation ({', '.join(earlier)}); choose "
                "another --output_dir or pass --overwrite True to replace them."
            )
        self.videos = []

    def iteration_completed(self, engine: Engine) -> None:
        for output, item in processed_items(engine):
            source, spacing, fps = video_meta(item["image"])
            name = source  # the file's name, or more of its path where two videos share one (_distinct_names)
            self.videos.append(
                score_video(
                    as_volume(output["pred"]),
                    label=as_volume(item.get("label")),
                    label_full=as_volume(item.get("label_full")),
                    spacing=spacing,
                    ed_frame=frame_index(item, "ed_frame"),
                    es_frame=frame_index(item, "es_frame"),
                    fps=fps,
                    num_classes=self.num_classes,
                    name=name,
                    inconsistency_threshold=self.inconsistency_threshold,
                )
            )

    def completed(self, engine: Engine) -> None:
        videos = self.videos
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            shares: list = [None] * dist.get_world_size()
            dist.all_gather_object(shares, videos)
            videos = [video for share in shares for video in share]
            if dist.get_rank() != 0:
                return
        _distinct_names(videos)
        for video in videos:
            if video.summary.get("reference_note"):
                logger.warning(f"{video.name}: {video.summary['reference_note']}")
        summary = summarise_videos(videos)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.output_dir / "metrics.csv", rows_to_csv([r for v in videos for r in v.frames]))
        write_text_atomic(self.output_dir / "videos.csv", rows_to_csv([v.summary for v in videos]))
        write_json_atomic(self.output_dir / "summary.json", _json_safe(summary))
        pairs = [(v.summary["ef_pred"], v.summary["ef_ref"]) for v in videos]
        pairs = [(p, r) for p, r in pairs if math.isfinite(p) and math.isfinite(r)]
        bland_altman_plot(self.output_dir / "ef_bland_altman.png", [p for p, _ in pairs], [r for _, r in pairs])
        dice_key = "dice_full" if any("dice_full" in row for v in videos for row in v.frames) else "dice_semi"
        dice = [row.get(dice_key, math.nan) for v in videos for row in v.frames]
        histogram_plot(self.output_dir / "dice_histogram.png", dice, label=f"per-frame Dice ({dice_key})")
        write_text_atomic(self.output_dir / "report.md", markdown_report(summary))
        engine.state.metrics["video_summary"] = summary
        logger.info(f"scored {len(videos)} videos; results in {self.output_dir}")


def _distinct_names(videos: list[VideoScores]) -> None:
    """Name each video by its file name, with as many of its folders as it takes to tell apart videos that share
    one (``a/x.nii.gz`` and ``b/x.nii.gz``); rows are renamed in place."""
    paths = [Path(video.name) for video in videos]
    depth = {index: 1 for index in range(len(videos))}
    while True:
        names = ["/".join(path.parts[-depth[i] :]) for i, path in enumerate(paths)]
        clashing = [i for i, name in enumerate(names) if names.count(name) > 1 and depth[i] < len(paths[i].parts)]
        if not clashing:
            break
        for index in clashing:
            depth[index] += 1
    for video, name in zip(videos, names):
        video.name = video.summary["video"] = name
        for row in video.frames:
            row["video"] = name


def _json_safe(values: dict) -> dict:
    """NaN -> None (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def markdown_report(summary: dict) -> str:
    """A short markdown report of a dataset summary, pointing at the plots written beside it."""
    unit = summary.get("distance_unit", "px")

    def value(key: str, digits: int = 3) -> str:
        figure = summary.get(key)
        return "n/a" if figure is None or (isinstance(figure, float) and math.isnan(figure)) else f"{figure:.{digits}f}"

    lines = [
        "# Evaluation report",
        "",
        f"{summary['videos']} videos. \"semi\": annotated (ED/ES) frames; \"full\": every frame with ground truth.",
        "",
        "| frames | Dice | HD95 (" + unit + ") | ASSD (" + unit + ") |",
        "|---|---|---|---|",
    ]
    for kind in ("semi", "full"):
        if f"dice_{kind}" in summary:
            lines.append(
                f"| {kind} | {value('dice_' + kind)} | {value('hd95_' + kind, 2)} | {value('assd_' + kind, 2)} |"
            )
    lines += [
        "",
        f"Temporal inconsistency (|d| > 0.2, Painchaud et al. 2022): {value('inconsistency_rate', 4)} of frames; "
        f"mean |d| {value('mean_abs_d', 4)}.",
        "",
        "| quantity | bias (pred - ref) | SD | MAE | Pearson r | missing |",
        "|---|---|---|---|---|---|",
    ]
    volume_unit = summary.get("volume_unit", "mL")
    names = {
        "ef": "EF (%), at the reference ED/ES",
        "ef_cycles": f"EF (%), averaged over the detected cycles ({value('cycles_mean', 1)} per video)",
        "edv": f"EDV ({volume_unit})",
        "esv": f"ESV ({volume_unit})",
    }
    for quantity, name in names.items():
        if quantity + "_bias" in summary:
            figures = [value(quantity + suffix, digits) for suffix, digits in (("_bias", 2), ("_sd", 2), ("_mae", 2))]
            figures += [value(quantity + "_r", 3), str(summary.get(quantity + "_missing", 0))]
            lines.append(f"| {name} | " + " | ".join(figures) + " |")
    if summary.get("ef_reference_refused"):
        lines += [
            "",
            f"{summary['ef_reference_refused']} video(s) have a reference EF outside 0-100 % (ESV > EDV: ED "
            "and ES swapped in the datalist?); their EF is not compared (videos.csv, reference_note).",
        ]
    if volume_unit != "mL":
        lines += [
            "",
            f"Volumes in {volume_unit} (no pixel spacing, or videos with and without one): predicted and reference "
            "volumes are both measured on the masks' pixel grid; never compare them with volumes in mL (a FileList's "
            "EDV/ESV). EF is a ratio and holds in any unit.",
        ]
    lines += [
        "",
        f"ED/ES frame error of the detected frames: ED {value('ed_error', 2)}, ES {value('es_error', 2)} frames "
        f"({summary.get('phase_fallbacks', 0)} videos without a detectable full cycle).",
        "",
        "![EF Bland-Altman](ef_bland_altman.png) ![Per-frame Dice](dice_histogram.png)",
        "",
    ]
    return "\n".join(lines)
