"""Atomic file output: write to a temporary file beside the target, then rename, so a killed run leaves no half file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PARTIAL_PREFIX",
    "RUN_LOCK_NAME",
    "atomic_path",
    "partial_file",
    "remove_partial_files",
    "write_json_atomic",
    "write_text_atomic",
    "check_output_dir",
    "refuse_output_inside",
]

# every temporary file this project writes starts with it: a kill leaves only files that are recognisably ours
PARTIAL_PREFIX = ".ncm-partial."
# the lock file of the run holding a folder (handlers.RunLock): not a result, so a folder holding only it is empty
RUN_LOCK_NAME = "run.lock"


def partial_file(folder: str | Path, name: str, suffix: str = "") -> Path:
    """Create an empty temporary file ``PARTIAL_PREFIX + name + ...`` in ``folder`` with the usual permissions."""
    fd, tmp_name = tempfile.mkstemp(prefix=f"{PARTIAL_PREFIX}{name}.", suffix=suffix, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp creates 0600; give the final file the usual permissions
    return Path(tmp_name)


def remove_partial_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed write of this project left in ``folder`` (none of the user's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    partial = [path for path in folder.iterdir() if path.name.startswith(PARTIAL_PREFIX) and path.is_file()]
    for path in partial:
        path.unlink(missing_ok=True)
    return partial


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder (:func:`partial_file`, same suffixes); rename it onto
    ``target`` on success.

    The temporary file is removed when the block raises, and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_file(target.parent, target.name, suffix=f".tmp{''.join(target.suffixes)}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_output_dir(output_dir: str | Path, overwrite: bool = False, flag: str = "--overwrite True") -> Path:
    """Create ``output_dir``; raise ``FileExistsError`` when it already holds files and ``overwrite`` is False.

    Inference, evaluation outputs and the converters all refuse to mix new results with old ones silently;
    ``flag`` is how the caller's user allows it.
    """
    path = Path(output_dir)
    if path.is_file():
        raise NotADirectoryError(f"{path}: is a file, not an output folder.")
    if path.is_dir() and any(entry.name != RUN_LOCK_NAME for entry in path.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{path}: output folder is not empty; choose another one or pass {flag} to replace the results in it."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"{path}: cannot create the output folder ({err.strerror or err}).") from err
    if not os.access(path, os.W_OK):
        raise PermissionError(f"{path}: the output folder is not writable.")
    return path


def refuse_output_inside(output_dir: str | Path, source_dir: str | Path) -> None:
    """Raise ``ValueError`` when a converter's ``output_dir`` lies inside the release folder it reads: its label
    volumes would later be found among the release's videos (by inference on the folder, or by another conversion)."""
    output, source = os.path.realpath(output_dir), os.path.realpath(source_dir)
    if os.path.commonpath([output, source]) == source:
        raise ValueError(
            f"{output_dir}: inside the folder being converted ({source_dir}); its labels would be read as the "
            "release's videos. Write the conversion elsewhere (--out beside the release, not in it)."
        )


def write_text_atomic(target: str | Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def write_json_atomic(target: str | Path, data) -> Path:
    return write_text_atomic(target, json.dumps(data, indent=2) + "\n")
