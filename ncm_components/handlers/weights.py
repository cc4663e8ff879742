"""Weights a training starts from and keeps: the shipped weights kept aside before a training replaces them,
fine-tuning or adaptation from any weights, and a record of what a run was trained on, so that a resume with other
data or settings is refused. Checkpoint files are read, hashed and recognised in :mod:`.weight_files`.

A training whose ``ckpt_dir`` is ``models/`` (the model zoo's layout, which MONAI Label writes back to) would write its
best model over the shipped ``model.pt``; :class:`PreserveShippedWeights` copies it to ``models/model_shipped.pt``
first and says so. :func:`load_initial_weights` starts a training from any weights (``init_weights``, e.g.
``$@shipped_weights``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import torch

from ..data.atomic import atomic_path
from .weight_files import SHIPPED_COPY, CheckpointError, describe_weights, is_shipped, model_state, read_checkpoint

__all__ = ["PreserveShippedWeights", "load_initial_weights", "RunFingerprint"]

logger = logging.getLogger(__name__)


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
    raises :class:`~.weight_files.CheckpointError` naming the file and the mismatching tensors. A resumed run then
    restores its own checkpoint over these weights."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: init_weights names no file.")
    state = model_state(read_checkpoint(path, map_location="cpu"))
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
