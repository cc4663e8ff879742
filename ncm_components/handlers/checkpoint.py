"""Checkpoints that a kill cannot tear, and resuming training from the newest one.

MONAI's ``CheckpointSaver`` writes in place (``atomic=False``, to keep group-readable permissions), so a process
killed while saving leaves a truncated file that the next run would try to resume from. Here every file is written
to a temporary file in the same folder and renamed over the target, then given the usual 0644 permissions.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

from ignite.engine import Engine
from ignite.handlers import DiskSaver
from monai.handlers import CheckpointLoader, CheckpointSaver

from ..data.atomic import partial_file, remove_partial_files
from .weight_files import CheckpointError, checkpoint_error, describe_weights, file_sha256, read_checkpoint

__all__ = [
    "NamedCheckpointLoader",
    "AtomicCheckpointSaver",
    "ResumeFromLatestCheckpoint",
    "ModelWeightsLoader",
    "latest_checkpoint",
    "remove_orphaned_temporaries",
]

logger = logging.getLogger(__name__)

_ADDED_KEYS = ("fingerprint", "best_model")  # checkpoint entries that versions before 0.7.0 did not save
_EPOCH_FILE = re.compile(r"checkpoint_epoch=(\d+)\.pt")


class _AtomicDiskSaver(DiskSaver):
    """ignite ``DiskSaver`` with ``atomic=True``, an optional fixed file name and 0644 permissions.

    ignite asks to remove the checkpoint a new one replaces *before* writing the new one; a kill in between would
    leave no resumable checkpoint. Removals are therefore deferred until the next file is safely in place.
    """

    def __init__(self, dirname: str, filename: str | None = None) -> None:
        super().__init__(dirname=dirname, require_empty=False, atomic=True)
        self.filename = filename
        self._pending_removals: list[str] = []

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        filename = self.filename or filename
        super().__call__(checkpoint, filename, metadata)
        path = Path(self.dirname) / filename
        if path.exists():
            os.chmod(path, 0o644)
        for old in self._pending_removals:
            if old != filename:
                (Path(self.dirname) / old).unlink(missing_ok=True)
        self._pending_removals.clear()

    def remove(self, filename: str) -> None:
        self._pending_removals.append(self.filename or filename)

    def _save_func(self, checkpoint: Mapping, path: Path, func) -> None:
        """ignite's atomic save with a temporary file of this project's own (:data:`PARTIAL_PREFIX`), so that a
        later run removes only files this code wrote; a failed write names the checkpoint and what to check."""
        tmp = partial_file(self.dirname, Path(path).name)
        try:
            with open(tmp, "wb") as stream:
                func(checkpoint, stream, **self.kwargs)
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:  # a full disk reaches torch.save as a RuntimeError
            raise OSError(
                f"{path}: the checkpoint could not be written ({err}). Check free space and write permission in "
                f"{self.dirname}; training can resume from the previous checkpoint."
            ) from err
        finally:
            tmp.unlink(missing_ok=True)


def remove_orphaned_temporaries(save_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed atomic save of this project left in ``save_dir`` (its own prefix only)."""
    orphans = remove_partial_files(save_dir)
    for path in orphans:
        logger.warning(f"removed {path}, left by a save that was interrupted")
    return orphans


class AtomicCheckpointSaver(CheckpointSaver):
    """MONAI ``CheckpointSaver`` (same arguments, same file names) whose files are written atomically.

    Args:
        save_dir: folder of the checkpoints.
        save_dict: objects to save (``state_dict()`` holders).
        save_engine_as: also save the engine the handler is attached to under this key (e.g. ``"trainer"``, for
            resuming), which a bundle config cannot reference without a circular reference.
        kwargs: the other ``CheckpointSaver`` arguments.
    """

    def __init__(self, save_dir: str, save_dict: dict, save_engine_as: str | None = None, **kwargs) -> None:
        super().__init__(save_dir, save_dict, **kwargs)
        self.save_engine_as = save_engine_as
        self.n_saved = kwargs.get("n_saved")
        fixed_names = {
            "_final_checkpoint": kwargs.get("final_filename"),
            "_key_metric_checkpoint": kwargs.get("key_metric_filename"),
            "_interval_checkpoint": None,
        }
        for attribute, filename in fixed_names.items():
            checkpoint = getattr(self, attribute)
            if checkpoint is not None:
                checkpoint.save_handler = _AtomicDiskSaver(str(save_dir), filename)

    def _checkpoints(self) -> list:
        found = (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint)
        return [checkpoint for checkpoint in found if checkpoint is not None]

    def attach(self, engine: Engine) -> None:
        remove_orphaned_temporaries(self.save_dir)
        if self.save_engine_as:
            self.save_dict[self.save_engine_as] = engine
            for checkpoint in self._checkpoints():
                checkpoint.to_save[self.save_engine_as] = engine
        super().attach(engine)

    def state_dict(self) -> dict:
        """The best key metric so far and its file (``{"_saved": [(score, filename)]}``), for a trainer's checkpoint:
        a resumed run then replaces the best model only with a better one."""
        checkpoint = self._key_metric_checkpoint
        return dict(checkpoint.state_dict()) if checkpoint is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self._key_metric_checkpoint is not None and state:
            self._key_metric_checkpoint.load_state_dict(state)
            best = max((score for score, _ in state.get("_saved", [])), default=None)
            if best is not None:
                logger.info(f"best validation score so far: {best:.4f} (restored from the checkpoint)")

    def interval_completed(self, engine: Engine) -> None:
        """Save the epoch checkpoint, then keep only the newest ``n_saved`` ones, older runs' included."""
        super().interval_completed(engine)
        if self.epoch_level and self.n_saved:
            for path in epoch_checkpoints(self.save_dir)[: -self.n_saved]:
                path.unlink(missing_ok=True)


def epoch_checkpoints(save_dir: str | os.PathLike) -> list[Path]:
    """The ``checkpoint_epoch=N.pt`` files of ``save_dir``, oldest epoch first.

    ignite names a checkpoint of several objects ``checkpoint_...``; a resumable one always holds several (the model,
    the optimizer and the trainer).
    """
    folder = Path(save_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), path) for path in folder.iterdir() if (m := _EPOCH_FILE.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


def latest_checkpoint(save_dir: str | os.PathLike) -> str | None:
    """Path of the highest-epoch ``checkpoint_epoch=N.pt`` in ``save_dir``; None when there is none."""
    found = epoch_checkpoints(save_dir)
    return str(found[-1]) if found else None


class ResumeFromLatestCheckpoint:
    """Resume an engine from the newest ``checkpoint_epoch=N.pt`` in ``ckpt_dir``, or start fresh when there is none.

    On ``attach`` it looks for the checkpoint and, when one exists, attaches MONAI's ``CheckpointLoader`` with
    ``load_dict`` plus the engine itself under ``engine_key`` (epoch, iteration and max_epochs handling are MONAI's).

    Args:
        ckpt_dir: folder written by :class:`AtomicCheckpointSaver` with ``save_interval``.
        load_dict: objects to restore (model, optimizer, lr_scheduler...).
        engine_key: key of the engine's own state in the checkpoint (``save_engine_as`` of the saver).
        map_location: device to load to (CPU- and GPU-saved checkpoints both load).
        enabled: False starts from scratch; then ``ckpt_dir`` must hold no epoch checkpoint of an earlier run (the
            two runs' checkpoints would mix), else ``attach`` raises ``FileExistsError`` saying what to do.
    """

    def __init__(
        self,
        ckpt_dir: str,
        load_dict: dict,
        engine_key: str = "trainer",
        map_location=None,
        enabled: bool = True,
    ) -> None:
        self.ckpt_dir = ckpt_dir
        self.load_dict = dict(load_dict)
        self.engine_key = engine_key
        self.map_location = map_location
        self.enabled = enabled
        self.load_path: str | None = None

    def attach(self, engine: Engine) -> None:
        remove_orphaned_temporaries(self.ckpt_dir)
        found = latest_checkpoint(self.ckpt_dir)
        if found and not self.enabled:
            raise FileExistsError(
                f"{self.ckpt_dir} holds {Path(found).name} of an earlier run, and resume is false: a fresh run there "
                "would mix its checkpoints with the old ones. Set resume: true to continue that run, point ckpt_dir "
                "at an empty folder, or delete its checkpoint_epoch=*.pt files."
            )
        self.load_path = found if self.enabled else None
        if self.load_path is None:
            logger.info(f"no checkpoint to resume from in {self.ckpt_dir}: a new run starts")
            return
        logger.info(f"resuming training from {self.load_path}")
        load_dict = {**self.load_dict, self.engine_key: engine}
        if any(key in load_dict for key in _ADDED_KEYS):
            saved = read_checkpoint(self.load_path, map_location="cpu")
            for key in _ADDED_KEYS:
                if key in load_dict and key not in saved:
                    del load_dict[key]  # a checkpoint of an earlier version: resumed as before
            if "fingerprint" in load_dict:
                load_dict["fingerprint"].load_state_dict(saved["fingerprint"])  # another run's: refused, named
        loader = NamedCheckpointLoader(load_path=self.load_path, load_dict=load_dict, map_location=self.map_location)
        loader.attach(engine)


class NamedCheckpointLoader(CheckpointLoader):
    """MONAI ``CheckpointLoader`` (``weights_only=True``) whose load errors name the file and the problem."""

    def __call__(self, engine: Engine) -> None:
        try:
            super().__call__(engine)
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
            if isinstance(error, RuntimeError) and ("size mismatch" in str(error) or "Missing key" in str(error)):
                raise
            raise checkpoint_error(self.load_path, error) from error


class ModelWeightsLoader(NamedCheckpointLoader):
    """Load trained weights (plain or ``{"model": ...}`` state dicts) with clear errors, optionally checking a hash.

    A missing file fails when the handler is attached, naming the file and how to get one; a file whose sha256
    differs from ``expected_sha256`` (the value ``large_files.yml`` lists for a downloaded model) is refused before
    it is unpickled; a checkpoint that does not fit the network (another number of classes, another configuration)
    names the mismatching tensors and the config values to change.
    """

    def __init__(
        self,
        load_path: str,
        load_dict: dict,
        expected_sha256: str | None = None,
        bundle_root: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(load_path, load_dict, **kwargs)
        self.path = str(load_path)
        self.expected_sha256 = expected_sha256
        self.bundle_root = bundle_root

    def attach(self, engine: Engine) -> None:
        if not Path(self.path).is_file():
            raise FileNotFoundError(
                f"{self.path}: no trained weights. Train first (python -m monai.bundle run --config_file "
                "bundle/configs/train.yaml), or put a model.pt from a release (see large_files.yml) there."
            )
        if self.expected_sha256:
            digest = file_sha256(self.path)
            if digest != self.expected_sha256.lower():
                raise CheckpointError(
                    f"{self.path}: sha256 {digest} differs from {self.expected_sha256} listed in large_files.yml; "
                    "the file is corrupt or not the released model. Download it again; never load weights from an "
                    "untrusted source (checkpoints are pickles)."
                )
        if self.bundle_root is not None:
            logger.info("loading " + describe_weights(self.path, self.bundle_root))
        super().attach(engine)

    def __call__(self, engine: Engine) -> None:
        try:
            super().__call__(engine)
        except RuntimeError as error:
            if "size mismatch" not in str(error) and "Missing key" not in str(error):
                raise
            mismatches = [line.strip() for line in str(error).splitlines() if "size mismatch" in line][:3]
            raise RuntimeError(
                f"{self.path}: the checkpoint does not fit the network: {' '.join(mismatches) or error}. It was "
                "trained with another number of classes or another network configuration; set num_classes and "
                "network_def to the values it was trained with."
            ) from error
