"""Datasets that name the file of an item they cannot load: a caching one for training, a stream for inference.

A datalist of thousands of videos may hold a few broken files. :class:`EchoCacheDataset` (training, evaluation) stops
at the first one with a message naming the file and the reason; with ``skip_bad_items=True`` each broken item is
logged (with a running count) and replaced by the next loadable item, so an epoch keeps its length.
:class:`VideoStream` (inference) serves every video once, in order; a video that fails is recorded with its error
and skipped, never replaced, so every other video is still segmented, none twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monai.data import CacheDataset
from monai.transforms import apply_transform
from torch.utils.data import IterableDataset

__all__ = ["BadItemError", "EchoCacheDataset", "VideoStream"]

logger = logging.getLogger(__name__)


class BadItemError(RuntimeError):
    """An item of the datalist could not be loaded or transformed; the message names its file."""


def _root_cause(error: BaseException) -> BaseException:
    """The exception that says what is wrong: the outermost of this project's own in a chain (its messages name the
    file and the problem, e.g. "the file is truncated", over the library error beneath), else the innermost (MONAI
    wraps transform errors in ``RuntimeError``s)."""
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    own = [e for e in chain if type(e).__module__.startswith("ncm_components")]
    return own[0] if own else chain[-1]


class EchoCacheDataset(CacheDataset):
    """``CacheDataset`` whose load errors name the item's file; ``skip_bad_items`` replaces broken items.

    Args:
        data: datalist items (dicts with ``"image"`` and usually ``"label"`` paths).
        transform: a MONAI ``Compose``; the deterministic head is cached, as in ``CacheDataset``.
        skip_bad_items: log and skip items that fail instead of raising :class:`BadItemError`.
        kwargs: any other ``CacheDataset`` argument (``cache_rate``, ``num_workers``, ``runtime_cache``...).
    """

    def __init__(self, data: Sequence, transform: Callable, skip_bad_items: bool = False, **kwargs) -> None:
        self.skip_bad_items = skip_bad_items
        self.bad_items: set[int] = set()
        self._cache_errors: list[tuple[int, Exception]] = []
        super().__init__(data, transform, **kwargs)
        # errors of the caching threads are raised here, in the caller's thread, once every thread is done: an
        # exception leaving a thread pool mid-work aborted the process ("terminate called without an active
        # exception") after the right message
        for index, error in sorted(self._cache_errors, key=lambda pair: pair[0]):
            self._handle(index, error)
        if self.bad_items and len(self.bad_items) == len(self.data):
            raise BadItemError(f"none of the {len(self.data)} items could be loaded; see the log for each file.")

    def _describe(self, index: int) -> str:
        item = self.data[index]
        return str(item.get("image", item)) if isinstance(item, dict) else str(item)

    def _handle(self, index: int, error: Exception) -> None:
        cause = _root_cause(error)
        message = f"{self._describe(index)}: cannot load item {index} of the datalist: {str(cause).rstrip('.')}"
        if not self.skip_bad_items:
            raise BadItemError(
                f"{message}. Fix or remove it from the datalist, or set skip_bad_items: true to skip such items."
            ) from error
        if index not in self.bad_items:
            self.bad_items.add(index)
            logger.warning(f"skipped {message} ({len(self.bad_items)} item(s) skipped so far)")

    def _load_cache_item(self, idx: int):
        try:
            return super()._load_cache_item(idx)
        except Exception as error:  # handled by __init__ once the caching threads are done
            self._cache_errors.append((idx, error))
            return None

    def _transform(self, index: int):
        for offset in range(len(self.data)):
            candidate = (index + offset) % len(self.data)
            if candidate in self.bad_items:
                continue
            try:
                return super()._transform(candidate)
            except Exception as error:  # named and re-raised, or recorded and skipped
                self._handle(candidate, error)
        raise BadItemError(f"none of the {len(self.data)} items could be loaded; see the log for each file.")


class VideoStream(IterableDataset):
    """Each item once, in order, transformed; an item that fails is recorded in ``failures`` and skipped.

    Its length is the number of items, so MONAI engines know the most iterations to expect; the epoch ends early
    by as many as failed. Iterating again yields only what was not served yet (an engine asks once more when the
    stream ends early): :meth:`reset` starts a new pass. Use it with ``num_workers=0`` (the record lives in this
    process).

    Args:
        data: items (dicts with an ``"image"`` path; one with ``"skipped"``, the reason, is listed unread).
        transform: a MONAI ``Compose`` (loading first).

    Attributes:
        failures: ``(file, error message)`` of every item that failed in this pass.
    """

    def __init__(self, data: Sequence, transform: Callable) -> None:
        super().__init__()
        self.data = list(data)
        self.transform = transform
        self.failures: list[tuple[str, str]] = []
        self._served: set[int] = set()

    def __len__(self) -> int:
        return len(self.data)

    def reset(self) -> None:
        self.failures, self._served = [], set()

    def __iter__(self):
        for index, item in enumerate(self.data):
            if index in self._served:
                continue
            self._served.add(index)
            if isinstance(item, dict) and "skipped" in item:  # listed by the source: nothing to read
                self.failures.append((str(item.get("image")), str(item["skipped"])))
                logger.error(f"skipped {item.get('image')}: {item['skipped']}")
                continue
            try:
                yield apply_transform(self.transform, item)
            except Exception as error:  # recorded and skipped: the other videos still run
                source = str(item.get("image", item)) if isinstance(item, dict) else str(item)
                message = str(_root_cause(error)).rstrip(".")
                self.failures.append((source, message))
                logger.error(f"skipped {source}: {message}")
