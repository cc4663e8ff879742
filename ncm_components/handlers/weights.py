"""The bundle's shipped weights: which file they are, kept aside before a training replaces them, and fine-tuning
from them; and a record of what a run was trained on, so that a resume with other data or settings is refused.

The shipped ``models/model.pt`` is the file whose sha256 ``large_files.yml`` lists. A training whose ``ckpt_dir`` is
``models/`` (the model zoo's layout, which MONAI Label writes back to) would write its best model over it;
:class:`PreserveShippedWeights` copies it to ``models/model_shipped.pt`` first and says so. :func:`shipped_weights`
finds the verified file wherever it is; :func:`load_initial_weights` starts a training from it (``init_weights``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch
import yaml

from ..data.atomic import atomic_path
from .checkpoint import CheckpointError, file_sha256, read_checkpoint

__all__ = [
    "SHIPPED_COPY",
    "listed_sha256",
    "is_shipped",
    "shipped_weights",
    "PreserveShippedWeights",
    "load_initial_weights",
    "RunFingerprint",
    "describe_weights",
]

logger = logging.getLogger(__name__)

SHIPPED_COPY = "model_shipped.pt"


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


class PreserveShippedWeights:
    """Trainer handler: before a training in ``ckpt_dir`` can replace the shipped ``model.pt``, copy it to
    ``model_shipped.pt`` (atomically, once) and log where it is."""

    def __init__(self, ckpt_dir: str, bundle_root: str) -> None:
        self.ckpt_dir = Path(ckpt_dir)
        self.bundle_root = bundle_root

    def attach(self, engine) -> None:
        current, kept = self.ckpt_dir / "model.pt", self.ckpt_dir / SHIPPED_COPY
        if not is_shipped(current, self.bundle_root) or is_shipped(kept, self.bundle_root):
            return
        with atomic_path(kept) as tmp:
            shutil.copyfile(current, tmp)
        logger.warning(
            f"{current} holds the shipped weights and this training will write its best model there: the shipped "
            f"weights are kept as {kept} (fine-tune from them with --init_weights '$@shipped_weights')"
        )


def load_initial_weights(network: torch.nn.Module, path: str, bundle_root: str | None = None) -> torch.nn.Module:
    """Load ``path`` (a state dict, or ``{"model": ...}``) into ``network`` to start a training from it (fine-tuning).

    The file's sha256 is logged, and whether it is the shipped weights; a checkpoint that does not fit the network
    raises :class:`~.checkpoint.CheckpointError` naming the file and the mismatching tensors. A resumed run then
    restores its own checkpoint over these weights."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: init_weights names no file.")
    state = read_checkpoint(path, map_location="cpu")
    state = state.get("model", state) if isinstance(state, dict) else state
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line or "Missing" in line]
        raise CheckpointError(
            f"{path}: the weights do not fit the network ({' '.join(lines[:3]) or error}); fine-tune with the "
            "network_def and num_classes they were trained with."
        ) from error
    logger.info("training starts from " + (describe_weights(path, bundle_root) if bundle_root else str(path)))
    return network


class RunFingerprint:
    """What a training run is trained on, saved in its checkpoints and compared on resume.

    ``settings`` are the values that make two runs different runs (datalist, seed, network, losses, learning rate,
    batch, image and clip size...); the datalist file's sha256 is added. Resuming a checkpoint whose fingerprint
    differs raises ``ValueError`` naming each difference and what to do. Checkpoints of earlier versions carry no
    fingerprint and are resumed as before.
    """

    def __init__(self, settings: dict, datalist: str | None = None) -> None:
        record = {key: _plain(value) for key, value in settings.items()}
        if datalist and Path(datalist).is_file():
            record["datalist"] = str(Path(datalist).resolve())
            record["datalist_sha256"] = hashlib.sha256(Path(datalist).read_bytes()).hexdigest()
        self.record = record

    def state_dict(self) -> dict:
        return {"fingerprint": json.dumps(self.record, sort_keys=True)}

    def load_state_dict(self, state: dict) -> None:
        saved = json.loads(state.get("fingerprint", "{}"))
        differences = [
            f"{key}: checkpoint {saved.get(key)!r}, now {self.record.get(key)!r}"
            for key in sorted(set(saved) | set(self.record))
            if saved.get(key) != self.record.get(key)
        ]
        if differences:
            raise ValueError(
                "the checkpoint in ckpt_dir belongs to another run: "
                + "; ".join(differences)
                + ". Resume it with its own data and settings, start a fresh run in another folder (--ckpt_dir), "
                "or start over there with --resume False after deleting its checkpoint_epoch=*.pt files."
            )


def _plain(value):
    """JSON-comparable form of a config value (tensors, paths and objects as text)."""
    try:
        return json.loads(json.dumps(value))
    except TypeError:
        return repr(value)
