"""Checkpoint files: read one (``weights_only``, errors that name the file), hash it, tell whether it holds the
shipped weights, and find the shipped weights. The one place the savers and loaders (:mod:`.checkpoint`), fine-tuning
and adaptation (:mod:`.weights`) and the exporter (:mod:`ncm_components.bundle_tools`) read weights through.

The shipped ``models/model.pt`` is the file whose sha256 ``large_files.yml`` lists; a training whose ``ckpt_dir`` is
``models/`` keeps it as ``models/model_shipped.pt`` (:class:`~.weights.PreserveShippedWeights`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import yaml

__all__ = [
    "SHIPPED_COPY",
    "CheckpointError",
    "checkpoint_error",
    "read_checkpoint",
    "model_state",
    "file_sha256",
    "listed_sha256",
    "is_shipped",
    "shipped_weights",
    "describe_weights",
]

SHIPPED_COPY = "model_shipped.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file, the problem and what to do."""


def checkpoint_error(path: str | os.PathLike, error: BaseException) -> CheckpointError:
    """A :class:`CheckpointError` naming ``path`` for an error ``torch.load`` raised on it."""
    path = Path(path)
    if not path.is_file():
        return CheckpointError(f"{path}: checkpoint not found.")
    if path.stat().st_size == 0:
        return CheckpointError(f"{path}: the checkpoint is an empty file (an interrupted save or download).")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "weights_only" in str(error):
        reason = "it holds Python objects other than tensors and plain containers, which are not loaded"
    return CheckpointError(
        f"{path}: not a loadable PyTorch checkpoint ({reason}); it is truncated, corrupt or not a checkpoint. "
        "Use another one (an earlier checkpoint_epoch=N.pt, or a model.pt checked against large_files.yml)."
    )


def read_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """``torch.load(path, weights_only=True)`` (checkpoints are pickles: tensors and plain containers only) with
    errors that name the file; see :func:`checkpoint_error`."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch's errors do not name the file
        raise checkpoint_error(path, error) from error


def model_state(checkpoint) -> dict:
    """The network's state dict of a loaded checkpoint: a plain state dict, or the ``"model"`` entry of a trainer's
    ``{"model": ..., "optimizer": ...}`` checkpoint."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
        return checkpoint["model"]
    return checkpoint


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listed_sha256(bundle_root: str | os.PathLike, relative: str = "models/model.pt") -> str | None:
    """The sha256 that ``bundle_root/large_files.yml`` lists for ``relative``; None when there is none."""
    listing = Path(bundle_root) / "large_files.yml"
    if not listing.is_file():
        return None
    entries = (yaml.safe_load(listing.read_text()) or {}).get("large_files", [])
    for entry in entries:
        if entry.get("path") == relative and str(entry.get("hash_type", "")).lower() == "sha256":
            return str(entry["hash_val"]).lower()
    return None


def is_shipped(path: str | os.PathLike, bundle_root: str | os.PathLike) -> bool:
    """Whether ``path`` is a file with the sha256 ``large_files.yml`` lists for the shipped weights."""
    expected = listed_sha256(bundle_root)
    return expected is not None and Path(path).is_file() and file_sha256(path) == expected


def shipped_weights(bundle_root: str | os.PathLike) -> str:
    """Path of the verified shipped weights: ``models/model.pt`` while it is the shipped file, else the copy
    :class:`PreserveShippedWeights` kept. Raises ``FileNotFoundError`` saying what to do when neither is."""
    models = Path(bundle_root) / "models"
    for candidate in (models / "model.pt", models / SHIPPED_COPY):
        if is_shipped(candidate, bundle_root):
            return str(candidate)
    raise FileNotFoundError(
        f"{models}: neither model.pt nor {SHIPPED_COPY} has the sha256 that {Path(bundle_root) / 'large_files.yml'} "
        "lists for the shipped weights; restore models/model.pt from the release (git checkout or the zoo zip)."
    )


def describe_weights(path: str | os.PathLike, bundle_root: str | os.PathLike) -> str:
    """One line saying whether ``path`` holds the shipped weights (sha256 verified) or other weights."""
    expected = listed_sha256(bundle_root)
    if expected is None:
        return f"{path}: weights of this bundle's own training (no shipped weights are listed in large_files.yml)"
    digest = file_sha256(path)
    if digest == expected:
        return f"{path}: the shipped weights (sha256 verified against large_files.yml)"
    return (
        f"{path}: NOT the shipped weights (sha256 {digest[:12]}... differs from large_files.yml): weights trained "
        f"here or elsewhere; the shipped ones are at {Path(bundle_root) / 'models' / SHIPPED_COPY} if a training "
        "replaced them"
    )
