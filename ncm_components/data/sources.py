"""Where a bundle run's datalist comes from: a converted dataset folder, or the built-in synthetic data.

A bundle config names ``dataset_dir``: the folder a converter (``ncm_components.data.camus``/``echonet``/``dicom``)
or a team wrote, holding ``datalist.json``. When it is empty or null, the synthetic generator fills
``synthetic_dir`` once (the same seed gives the same videos) and its datalist is used, so a fresh machine can train.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from ..simulation.synthetic import generate_dataset
from ..transforms.io import VIDEO_SUFFIXES, is_dicom_file, split_video_suffix
from .atomic import PARTIAL_PREFIX
from .datalist import SPLITS, load_datalist

__all__ = ["resolve_datalist", "list_inputs"]

_ITEM_KEYS = ("image", "patient", "view", "ed_frame", "es_frame")

logger = logging.getLogger(__name__)


def resolve_datalist(
    dataset_dir: str | None,
    datalist_name: str = "datalist.json",
    synthetic_dir: str = ".cache/synthetic_echo",
    num_train: int = 48,
    num_val: int = 8,
    num_test: int = 8,
    size: int = 112,
    seed: int = 0,
) -> str:
    """Path of the datalist to train or evaluate on.

    Args:
        dataset_dir: folder holding ``datalist_name``, or a datalist ``.json`` file itself; empty or None selects the
            synthetic data.
        datalist_name: the datalist's file name inside ``dataset_dir`` (or an absolute path).
        synthetic_dir: cache folder of the synthetic data.
        num_train, num_val, num_test, size, seed: synthetic set to generate when ``synthetic_dir`` has none.

    Raises:
        FileNotFoundError: ``dataset_dir`` is given but holds no datalist; the message says how to make one.
    """
    if dataset_dir:
        path = Path(dataset_dir)
        if not (path.suffix.lower() == ".json" and path.is_file()):
            path = path / datalist_name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no datalist. Convert a dataset first (python -m ncm_components.data.camus / echonet / "
                "dicom --out DIR) and point dataset_dir at DIR, or leave dataset_dir empty for the synthetic data."
            )
        return str(path)
    path = Path(synthetic_dir) / "datalist.json"
    if not path.is_file():
        logger.info(f"generating {num_train + num_val + num_test} synthetic videos in {synthetic_dir}")
        generate_dataset(synthetic_dir, num_train=num_train, num_val=num_val, num_test=num_test, size=size, seed=seed)
    return str(path)


RESULTS_MARKER = "predictions.csv"
"""A folder holding it is an inference run's results: never read as input (its masks are not videos)."""


def _is_video_file(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(PARTIAL_PREFIX):
        return False  # a file a killed run of this project left half written
    stem, suffix = split_video_suffix(name)
    if suffix:
        return not stem.endswith("_gt")  # CAMUS ground truth, in any of its formats
    return is_dicom_file(path)


def _broken_link(path: Path) -> str | None:
    """Why a symbolic link cannot be followed (a loop, or a target that is gone); None for anything else."""
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop (the links point at each other)"
        return "a symbolic link to nothing (its target is gone)"
    return None


def _dataset_datalist(folder: Path) -> Path | None:
    """The datalist of a converted dataset folder (a converter's or the simulation's output), else None."""
    datalist = folder / "datalist.json"
    return datalist if datalist.is_file() and (folder / "videos").is_dir() else None


def _folder_videos(root: Path, split: str = "test") -> list[dict]:
    """Every video under ``root``, following symbolic links (each real folder once), sorted.

    A link that leads nowhere or loops is an item with ``skipped`` (the reason), listed by inference. Left out, each
    with a log line: result folders of an earlier run (holding ``predictions.csv``), converted dataset folders below
    ``root`` (their ``labels/`` are label volumes, not videos: segment one through its ``datalist.json``) and hidden
    files (names starting with ``.``, such as the ``._`` files a Mac copies beside each video). ``root`` itself being
    a converted dataset folder gives its datalist's ``split``.
    """
    datalist = _dataset_datalist(root)
    if datalist is not None:
        logger.info(f"{root} is a converted dataset: segmenting the '{split}' videos of {datalist} (its labels are "
                    "label volumes, not videos)")  # fmt: skip
        return [{k: item[k] for k in _ITEM_KEYS if k in item} for item in load_datalist(datalist, split)]
    items, seen, hidden = [], set(), []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen or (Path(folder) / RESULTS_MARKER).is_file() or _dataset_datalist(Path(folder)):
            if real not in seen:
                why = f"the results of an inference run ({RESULTS_MARKER})"
                if _dataset_datalist(Path(folder)):
                    why = f"a converted dataset (segment it with --dataset_dir {Path(folder) / 'datalist.json'})"
                logger.info(f"not reading {folder}: it holds {why}")
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in files:
            path = Path(folder) / name
            broken = _broken_link(path)
            if name.startswith("."):
                hidden.append(str(path))
            elif broken:
                items.append({"image": str(path), "skipped": broken})
            elif path.is_file() and _is_video_file(path):
                items.append({"image": str(path)})
    if hidden:
        logger.info(f"not reading {len(hidden)} hidden file(s) (names starting with '.', e.g. the '._' files a Mac "
                    f"copies beside each file): {', '.join(hidden[:3])}{'...' if len(hidden) > 3 else ''}")  # fmt: skip
    return sorted(items, key=lambda item: item["image"])


def list_inputs(
    source: str | list | None, split: str = "test", synthetic_dir: str = ".cache/synthetic_echo"
) -> list[dict]:
    """Inference items ``[{"image": path, ...}]`` from a folder, a file, a list of files or a datalist.

    Args:
        source: a folder (every supported video in it, recursively through symbolic links; ``*_gt`` label files,
            result folders and half-written files excluded; dangling links as ``skipped`` items), one video file,
            a list of video files, or a ``.json`` datalist (its ``split`` items keep ``patient``, ``view``,
            ``ed_frame`` and ``es_frame``, which enable biplane volumes and ED/ES errors). Empty or None: the test
            videos of the built-in synthetic data (generated on first use).
        split: datalist split to read.
        synthetic_dir: cache folder of the synthetic data.

    Raises:
        FileNotFoundError: the source does not exist or holds no video; the message names it.
    """
    if not source:
        source = resolve_datalist(None, synthetic_dir=synthetic_dir)
    if isinstance(source, (list, tuple)):
        return [{"image": str(Path(path))} for path in source]
    path = Path(source)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if path.suffix == ".json":
        items = [{k: item[k] for k in _ITEM_KEYS if k in item} for item in load_datalist(path, split)]
        if not items:
            raise ValueError(
                f"{path}: its '{split}' split has no videos; choose another with --input_split (training, validation "
                "or test) or point --dataset_dir at a folder of videos."
            )
        return items
    broken = _broken_link(path)
    if broken:
        raise FileNotFoundError(f"{path}: {broken}; nothing to segment.")
    if path.is_file():
        return [{"image": str(path)}]
    if path.is_dir():
        items = _folder_videos(path, split)
        if not items:
            raise FileNotFoundError(f"{path}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))} or DICOM) found.")
        return items
    raise FileNotFoundError(f"{path}: no such file or folder to segment.")
