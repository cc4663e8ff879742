"""A MONAI ``CacheDataset`` that names the file of an item it cannot load, or skips such items when asked.

A datalist of thousands of videos may hold a few broken files. By default the first one stops training with a
message naming the file and the reason; with ``skip_bad_items=True`` each broken item is logged (with a running
count) and replaced by the next loadable item, so an epoch keeps its length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monai.data import CacheDataset

__all__ = ["BadItemError", "EchoCacheDataset"]

logger = logging.getLogger(__name__)


class BadItemError(RuntimeError):
    """An item of the datalist could not be loaded or transformed; the message names its file."""


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain (MONAI wraps transform errors in ``RuntimeError``s)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


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
        super().__init__(data, transform, **kwargs)
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
        except Exception as error:  # named and re-raised, or recorded and skipped
            self._handle(idx, error)
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
