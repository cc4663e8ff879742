"""Stop training with a clear message when the loss stops being finite, before anything is saved from it."""

from __future__ import annotations

import math

import torch
from ignite.engine import Engine, Events

__all__ = ["NaNLossGuard"]


class NaNLossGuard:
    """Raise ``FloatingPointError`` at the first iteration whose loss is NaN or infinite.

    Attach it to the trainer before any checkpoint handler: it fires at ``ITERATION_COMPLETED``, so the epoch-level
    checkpoint of a broken epoch is never written and the last good checkpoint stays the newest. The message names
    the epoch, the iteration and the files of the offending batch.
    """

    def __init__(self, output_key: str = "loss", image_key: str = "image") -> None:
        self.output_key = output_key
        self.image_key = image_key

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        losses = [item[self.output_key] for item in items if isinstance(item, dict) and self.output_key in item]
        if not losses:
            return
        loss = float(torch.as_tensor(losses[0]).detach().float().mean())
        if math.isfinite(loss):
            return
        raise FloatingPointError(
            f"training loss is {loss} at epoch {engine.state.epoch}, iteration {engine.state.iteration} (batch files: "
            f"{self._batch_files(engine)}); stopped before saving a checkpoint from this state. Resume from the last "
            "checkpoint with a lower learning rate, or check these inputs."
        )

    def _batch_files(self, engine: Engine) -> list[str]:
        """Source files of the batch, collated (one dict) or decollated by MONAI's engines (a list of dicts)."""
        batch = engine.state.batch
        items = batch if isinstance(batch, list) else [batch]
        files: list[str] = []
        for item in items:
            image = item.get(self.image_key) if isinstance(item, dict) else None
            meta = getattr(image, "meta", {}) or {}
            found = meta.get("filename_or_obj", [])
            files += [str(f) for f in (found if isinstance(found, (list, tuple)) else [found])]
        return files
