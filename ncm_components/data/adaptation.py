"""A site's own videos as training data without labels (``adapt.yaml``): which videos, and how they mix with labels.

A clinic adapting the bundle points it at a folder of its videos (or one file, or a datalist). Every video that can
be read becomes an unlabelled training item; the rest are listed in the run folder's ``failures.csv`` exactly as
inference lists them, and the run refuses to start with fewer usable videos than one batch. Unlabelled items carry
no label path: :class:`~ncm_components.transforms.UnlabelledAsIgnoredd` gives them a label volume of 255 (no frame
annotated), so the mean teacher teaches every frame and the supervised loss sees none. Labelled clips (a team's own
datalist, or the built-in simulation's) are mixed into every epoch at a fixed share, so that the network keeps what
the labels taught while it adapts.

Nothing of the site's videos is copied: items hold their paths, the videos are read into memory for the run.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

from ..transforms.checks import check_video
from ..transforms.io import load_video
from .atomic import write_text_atomic
from .datalist import SPLITS
from .sources import list_inputs

__all__ = ["unlabelled_items", "mix_items"]

logger = logging.getLogger(__name__)


def _source_items(source: str | os.PathLike) -> list[dict]:
    """Inference's inputs of ``source``; a datalist gives the videos of all its non-empty splits (labels unused)."""
    path = Path(source)
    if path.suffix == ".json" and path.is_file():
        try:
            datalist = json.loads(path.read_text())
            present = [split for split in SPLITS if datalist.get(split)]
        except (ValueError, TypeError, AttributeError):
            present = ["test"]  # not a readable datalist: list_inputs names the problem
        return [{"image": item["image"]} for split in present or ["test"] for item in list_inputs(str(path), split)]
    return list_inputs(str(source))


def unlabelled_items(source: str | os.PathLike, run_dir: str | os.PathLike, batch_size: int) -> list[dict]:
    """Every readable video of ``source`` as an unlabelled training item ``{"image": path}``.

    Args:
        source: a folder (every video under it, as inference finds them), one video file, or a datalist (the
            videos of every split).
        run_dir: the run's folder; ``failures.csv`` (input, error) is written there when a video cannot be read, and
            removed when every video can.
        batch_size: the run's batch; fewer usable videos cannot make one.

    Raises:
        ValueError: ``source`` is empty, or fewer than ``batch_size`` videos can be read (the message gives the
            numbers and where the failures are listed). FileNotFoundError: ``source`` does not exist or holds no
            video.
    """
    if not source:
        raise ValueError(
            "unlabelled_dir is empty: point it at a folder of your videos (NIfTI, MHD, AVI/MP4, DICOM), one video "
            "or a datalist, e.g. --unlabelled_dir /data/site_videos."
        )
    items, failures = [], []
    for item in _source_items(source):
        if "skipped" in item:
            failures.append((item["image"], item["skipped"]))
            continue
        try:
            check_video(load_video(item["image"]), item["image"])
        except Exception as err:  # listed, as inference lists it; the other videos go on
            failures.append((item["image"], str(err).rstrip(".")))
            continue
        items.append({"image": item["image"]})
    _write_failures(Path(run_dir), failures)
    unread = f"; {len(failures)} could not be read (listed in {Path(run_dir) / 'failures.csv'})" if failures else ""
    if len(items) < batch_size:
        raise ValueError(
            f"{source}: {len(items)} usable video(s){unread}, fewer than one batch ({batch_size}). Add videos, or "
            "lower --batch_size."
        )
    logger.info(f"adapting to {len(items)} unlabelled videos of {source}{unread}")
    return items


def _write_failures(run_dir: Path, failures: list[tuple[str, str]]) -> None:
    from ..handlers.video_metrics import rows_to_csv  # the writer inference's failures.csv uses
    from ..handlers.video_writer import printable

    target = run_dir / "failures.csv"
    if not failures:
        target.unlink(missing_ok=True)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"input": printable(source), "error": printable(error)} for source, error in failures]
    write_text_atomic(target, rows_to_csv(rows))
    for source, error in failures:
        logger.error(f"not used for adaptation: {printable(source)}: {printable(error)}")


def mix_items(labelled: list[dict], unlabelled: list[dict], labelled_share: float, seed: int = 0) -> list[dict]:
    """One epoch's items: every unlabelled item once and labelled items (cycled in a seeded order) to make
    ``labelled_share`` of the whole; shuffling is the data loader's.

    Raises:
        ValueError: ``labelled_share`` outside [0, 1), or labelled items asked for and none given.
    """
    if not 0.0 <= labelled_share < 1.0:
        raise ValueError(f"labelled_share must be in [0, 1), got {labelled_share}.")
    count = round(len(unlabelled) * labelled_share / (1.0 - labelled_share))
    if count and not labelled:
        raise ValueError("labelled_share > 0 needs labelled items (a datalist's training split); none were given.")
    order = list(range(len(labelled)))
    random.Random(seed).shuffle(order)
    chosen = [labelled[order[i % len(order)]] for i in range(count)] if count else []
    return list(unlabelled) + chosen
