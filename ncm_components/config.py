"""Checks of the bundle's options as a user gives them on the command line, each refusal naming the option.

``python -m monai.bundle run ... --keep_lv_component false`` hands the config the string ``"false"`` (Python's
``False`` only for ``False``), which is truthy: every boolean option goes through :func:`flag`, which takes
true/false/True/False/0/1 (and yes/no) in any spelling a shell passes and refuses anything else. :func:`whole_number`
does the same for counts, and :func:`check_training_plan` refuses a training that would run no iteration or keep no
model, which would otherwise end with exit status 0 and an empty checkpoint folder.
"""

from __future__ import annotations

import math

__all__ = ["flag", "whole_number", "check_training_plan"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def flag(value, name: str) -> bool:
    """``value`` of the boolean option ``name`` as a bool.

    Raises:
        ValueError: not a boolean in any usual spelling; the message names the option and the accepted values.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"--{name} {value!r} is not a boolean; give true or false (or True/False, 1/0).")


def whole_number(value, name: str, minimum: int = 1) -> int:
    """``value`` of the count option ``name`` as an int of at least ``minimum``.

    Raises:
        ValueError: not a whole number, or below ``minimum``; the message names the option.
    """
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not float(number).is_integer():
        raise ValueError(f"--{name} {value!r} is not a whole number.")
    if number < minimum:
        raise ValueError(f"--{name} {int(number)}: must be at least {minimum}.")
    return int(number)


def check_training_plan(num_items: int, batch_size: int, max_epochs: int, val_interval: int) -> None:
    """Refuse a training that would do nothing, or keep nothing, before it starts.

    Args:
        num_items: items of the training split.
        batch_size: clips per iteration (the last, incomplete batch of an epoch is dropped).
        max_epochs: epochs of the run.
        val_interval: epochs between validations; ``model.pt`` is written by a validation.

    Raises:
        ValueError: fewer items than one batch (no iteration would run), or fewer epochs than ``val_interval`` (no
            validation, so no ``model.pt``, and evaluation or inference would quietly take other weights).
    """
    batch_size = whole_number(batch_size, "batch_size")
    max_epochs = whole_number(max_epochs, "train#trainer#max_epochs")
    val_interval = whole_number(val_interval, "val_interval")
    if num_items < batch_size:
        raise ValueError(
            f"{num_items} training video(s), fewer than one batch of {batch_size}: no iteration would run. Lower "
            f"--batch_size (at most {max(num_items, 1)}) or add training videos."
        )
    if max_epochs < val_interval:
        raise ValueError(
            f"{max_epochs} epoch(s), fewer than --val_interval {val_interval}: no validation would run, so no "
            f"model.pt would be written. Set --val_interval {max_epochs} (or lower), or train longer."
        )
