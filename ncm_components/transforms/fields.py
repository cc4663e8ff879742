"""Datalist fields that a batch can carry: converters write ``null`` where a release gives no value (EchoNet-Dynamic's
pixel spacing, a missing EF), and PyTorch's collation refuses ``None``.

:class:`MissingFieldsAsNaNd` turns every ``None`` among an item's fields (top level, or inside a list such as
``spacing``) into NaN, the project's "unknown" for numbers: metrics, CSVs and reports read NaN as "not given" (pixel
units for a spacing, no reference for an EF, no reference frame for ED/ES). Paths and tensors are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

from monai.transforms import Transform

__all__ = ["MissingFieldsAsNaNd"]


def _nan_for_none(value):
    if value is None:
        return math.nan
    if isinstance(value, list):
        return [math.nan if v is None else v for v in value]
    return value


class MissingFieldsAsNaNd(Transform):
    """Dictionary transform: ``None`` fields (and ``None`` list elements) -> NaN, so that items of any converter
    collate into batches. Place it first, before loading."""

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        return {key: _nan_for_none(value) for key, value in dict(data).items()}
