"""One run per folder: a lock file with the holder's PID, host and start time.

Two trainings in one ``ckpt_dir`` would resume each other's checkpoints and overwrite each other's ``model.pt``; two
inferences or evaluations into one ``output_dir`` would replace or leave out each other's results. The lock is taken
before anything is read or written and released when the run ends (or raises); a lock whose process is gone (a killed
run) is recognised as stale and replaced, with a warning.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import time
from pathlib import Path

from ignite.engine import Engine, Events

__all__ = ["LOCK_NAME", "CheckpointFolderInUse", "RunLock"]

logger = logging.getLogger(__name__)

from ..data.atomic import RUN_LOCK_NAME as LOCK_NAME  # noqa: E402 (one name, which output checks leave out)


class CheckpointFolderInUse(RuntimeError):
    """Another live run holds the checkpoint folder."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (clock ticks since boot, Linux), None where unknown: with the PID
    it tells a live holder from a new process that reuses a dead holder's PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _holder_alive(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # another machine's run (a shared folder): cannot be checked, so never taken over
    pid = int(holder.get("pid", -1))
    if pid <= 0 or pid == os.getpid():
        return False  # this very process: an earlier workflow in it that stopped with an error
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    recorded = holder.get("process_start")
    return recorded is None or recorded == _process_start(pid)


class RunLock:
    """Engine handler holding ``ckpt_dir/run.lock`` (a training's checkpoint folder, an inference's or evaluation's
    output folder) for the run's lifetime.

    On ``attach`` (before the resume handler reads anything: list it first) the folder is created and checked
    writable, and the lock is created exclusively. A lock of a live run raises :class:`CheckpointFolderInUse` naming
    the holder (PID, host, start time) and what to do; a stale one (its process gone, or this very process: an
    earlier workflow in it that raised) is replaced. The lock is removed when the engine completes or terminates,
    and at the latest when the process exits.

    Args:
        ckpt_dir: the folder to hold.
        enabled: False skips the lock (a process of a multi-GPU run other than rank 0).
        what: what kind of run holds it, for the messages ("training run", "inference run"...).
        option: the option that chooses the folder, for the messages.
    """

    def __init__(
        self, ckpt_dir: str, enabled: bool = True, what: str = "training run", option: str = "--ckpt_dir"
    ) -> None:
        self.path = Path(ckpt_dir) / LOCK_NAME
        self.enabled = enabled
        self.what, self.option = what, option
        self.held = False

    def attach(self, engine: Engine) -> None:
        if not self.enabled:
            return
        self.acquire()
        atexit.register(self.release)  # a run stopped by an error (ignite's exception event is the loggers')
        for event in (Events.COMPLETED, Events.TERMINATE):
            engine.add_event_handler(event, lambda _engine: self.release())
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._release_and_raise)

    def _release_and_raise(self, engine: Engine, error: BaseException) -> None:
        """A run that stops with an error leaves no lock in the folder (an inference refused for writing into its
        input folder must leave that folder as it was); the error goes on (ignite re-raises only without such
        handlers, so it is raised here)."""
        self.release()
        raise error

    def acquire(self) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OSError(
                f"{folder}: cannot create the folder ({err.strerror or err}); choose another {self.option}."
            ) from err
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{folder}: the folder is not writable; choose another {self.option}.")
        pid = os.getpid()
        holder = {
            "pid": pid,
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "process_start": _process_start(pid),
        }
        for _ in range(2):
            try:
                with open(self.path, "x") as stream:
                    json.dump(holder, stream)
                self.held = True
                return
            except FileExistsError:
                self._take_over_if_stale()
        raise CheckpointFolderInUse(f"{self.path}: could not take the lock; another run is starting there.")

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return  # released meanwhile
        except (OSError, ValueError):
            holder = {}  # a torn lock (killed while writing it): stale
        if isinstance(holder, dict) and holder and _holder_alive(holder):
            raise CheckpointFolderInUse(
                f"{self.path.parent} is in use by another run (PID {holder.get('pid')} on {holder.get('host')}, "
                f"started {holder.get('started')}): two runs in one folder would overwrite or leave out each other's "
                f"results. Wait for it to end, or give this {self.what} its own {self.option}. If that process is not "
                f"a run of this bundle, delete {self.path}."
            )
        logger.warning(f"{self.path}: replacing the lock of a run that is gone ({holder or 'unreadable'})")
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
