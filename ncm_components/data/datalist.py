"""MONAI datalists (decathlon layout: ``{"training": [...], "validation": [...], "test": [...]}``) and converter runs.

Items are ``{"image": video, "label": label volume, ...metadata}``. One rule for their paths, so that a datalist
means the same wherever it is read from: :func:`write_datalist` takes paths as the program sees them (absolute or
relative to the current working directory) and stores each relative to the datalist's folder when it lies inside it
(the folder can be moved or shared whole), absolute otherwise; :func:`load_datalist` resolves stored relative paths
against the datalist's folder (as ``monai.data.load_decathlon_datalist`` does), ``label_full`` included. Every datalist
the project writes for a config to read (converters, simulation, demo, benchmarks) goes through :func:`write_datalist`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from .atomic import write_json_atomic

__all__ = [
    "SPLITS",
    "load_datalist",
    "stored_path",
    "write_datalist",
    "shared_videos",
    "ConversionReport",
    "run_converter",
]

SPLITS = ("training", "validation", "test")
PATH_KEYS = ("image", "label", "label_full")
logger = logging.getLogger(__name__)


def load_datalist(
    path: str | Path, split: str = "training", required: bool = False, labelled: bool = False
) -> list[dict]:
    """Items of one split with absolute ``image``/``label``/``label_full`` paths; ``labelled``: every item must have
    a reference (``label`` or ``label_full``), as evaluation needs.

    Raises:
        FileNotFoundError: no such file. ValueError: not valid JSON, not a datalist, no such split, an item that is
        not an object with an ``image`` path, (``required``) an empty split, or (``labelled``) an item without a
        reference; each message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: datalist not found.")
    try:
        with open(path) as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid JSON datalist ({err}).") from err
    if not isinstance(content, dict):
        raise ValueError(
            f"{path}: a datalist is a JSON object with {list(SPLITS)} lists, got {type(content).__name__}."
        )
    if split not in content:
        raise ValueError(f"{path}: no '{split}' split; it has {sorted(k for k in content if k in SPLITS)}.")
    if not isinstance(content[split], list) or (required and not content[split]):
        raise ValueError(
            f"{path}: the '{split}' split has no items; add some (a converter of a labelled release writes them) to "
            "use it. Videos without labels (a DICOM export) are for inference.yaml."
        )
    resolved = []
    for index, item in enumerate(content[split]):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            found = f"a {type(item).__name__} ({str(item)[:60]!r})" if not isinstance(item, dict) else f"{item}"
            raise ValueError(
                f"{path}: item {index} of '{split}' is {found}; every item is an object with an \"image\" path "
                '(e.g. {"image": "videos/a.nii.gz", "label": "labels/a.nii.gz", "ed_frame": 0, "es_frame": 12}).'
            )
        if labelled and not any(isinstance(item.get(key), str) for key in ("label", "label_full")):
            raise ValueError(
                f"{path}: item {index} of '{split}' ({item['image']}) has no reference label ('label' or "
                "'label_full'): evaluate.yaml scores against references. Segment videos without labels with "
                "inference.yaml."
            )
        item = dict(item)
        for key in PATH_KEYS:
            if isinstance(item.get(key), str) and not Path(item[key]).is_absolute():
                item[key] = str((path.parent / item[key]).resolve())
        resolved.append(item)
    return resolved


def stored_path(path: str | Path, datalist_folder: str | Path) -> str:
    """How a datalist in ``datalist_folder`` stores ``path`` (absolute or relative to the working directory): relative
    to the folder when inside it, absolute otherwise."""
    target, folder = os.path.abspath(path), os.path.abspath(datalist_folder)
    inside = os.path.commonpath([target, folder]) == folder
    return Path(os.path.relpath(target, folder)).as_posix() if inside else target


def write_datalist(path: str | Path, splits: dict[str, list[dict]], metadata: dict | None = None) -> Path:
    """Write the datalist atomically; ``splits`` maps split names to items whose ``image``/``label``/``label_full``
    are paths as this program sees them (absolute, or relative to the working directory); see the module's rule."""
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"{path}: unknown datalist split(s) {unknown}; a datalist has {list(SPLITS)}.")
    folder = Path(path).parent
    content = {
        split: [
            {key: stored_path(value, folder) if key in PATH_KEYS and value is not None else value
             for key, value in item.items()}  # fmt: skip
            for item in splits.get(split, [])
        ]
        for split in SPLITS
    }
    if metadata:
        content["metadata"] = metadata
    return write_json_atomic(path, content)


def shared_videos(path: str | Path, split: str, other: str = "training") -> list[str]:
    """Videos of ``split`` that are also videos of ``other`` (the same file, or a file of the same name and size):
    a test video the model was trained on scores what it memorised. Each is logged as a warning; returns them."""
    content = json.loads(Path(path).read_text())
    if other not in content or split not in content or split == other:
        return []

    def key(item: dict) -> tuple:
        image = Path(item["image"])
        return (image.name, image.stat().st_size) if image.is_file() else (str(image), -1)

    trained = {os.path.realpath(item["image"]) for item in load_datalist(path, other)}
    trained_keys = {key(item) for item in load_datalist(path, other)}
    shared = [item["image"] for item in load_datalist(path, split)
              if os.path.realpath(item["image"]) in trained or key(item) in trained_keys]  # fmt: skip
    for image in shared:
        logger.warning(f"{path}: {image} is in both the '{split}' and the '{other}' splits: its scores say what the "
                       "model memorised, not how it does on new videos")  # fmt: skip
    return shared


class ConversionReport:
    """Run one conversion per case, report and skip the cases that fail, and give the CLI's exit code."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Something converted as asked that the user should check; in the summary and on stderr."""
        self.warnings.append(message)
        print(f"{self.name}: warning: {message}", file=sys.stderr)

    def run(self, cases: Iterable, convert: Callable, case_name: Callable = str) -> list:
        """``convert(case)`` for each case; returns the results of the cases that succeeded."""
        results = []
        for case in cases:
            try:
                results.append(convert(case))
                self.done.append(case_name(case))
            except Exception as err:  # report and go on with the other cases
                self.failed.append((case_name(case), str(err)))
                print(f"{self.name}: skipped {case_name(case)}: {err}", file=sys.stderr)
        return results

    def summary(self) -> str:
        """One line of counts, then one line per failure naming the case or file and the problem."""
        lines = [f"{self.name}: converted {len(self.done)} case(s), {len(self.failed)} failed"]
        lines += [f"  failed: {case}: {reason}" for case, reason in self.failed]
        lines += [f"  warning: {message}" for message in self.warnings]
        return "\n".join(lines)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def run_converter(name: str, convert: Callable[[], ConversionReport]) -> ConversionReport:
    """Run a converter for a CLI: an output folder it may not use (not empty, not writable, inside the release)
    becomes a reported failure with its message instead of a traceback."""
    try:
        return convert()
    except (OSError, ValueError) as err:
        report = ConversionReport(name)
        report.failed.append(("output folder", str(err)))
        return report
