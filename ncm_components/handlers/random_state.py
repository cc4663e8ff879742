"""The random streams of a training run, saved in its checkpoints so that a resumed run continues them exactly.

A run killed after epoch N and resumed reloads its weights, optimiser, schedule and teacher, but without the random
streams it would draw other clips, augmentations and teacher noise from epoch N + 1 on than the uninterrupted run:
the same kind of training, not the same weights. :class:`RandomStates` holds every stream the training loop draws
from in the main process: PyTorch's CPU and CUDA generators (sampler order, DataLoader seeds, the mean teacher's
flips and noise), NumPy's and Python's global generators, and the own generator (``R``) of every random transform of
the given pipelines, nested ones included. Put it in the checkpoint saver's ``save_dict`` and the resume handler's
``load_dict``: ``state_dict`` reads the streams when the epoch checkpoint is written (after that epoch's validation),
``load_state_dict`` puts them back when the resumed run starts, and the next epoch draws what it would have drawn.

Exact with ``num_workers=0`` (the bundle's CPU default). DataLoader worker processes keep their transforms' streams
to themselves; with persistent workers (the GPU default) a resumed run's workers start new streams, as before.

The state is made of tensors, ints and floats only, so checkpoints still load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from monai.transforms import Transform

__all__ = ["RandomStates", "transform_random_states"]


class RandomStates:
    """Checkpointable random streams of a training run (``state_dict`` / ``load_state_dict``).

    Args:
        transforms: the pipelines whose random transforms draw in the main process (e.g. the training and
            validation ``Compose``); their generators are found by walking the pipelines, nested transforms
            included, in a fixed order.
    """

    def __init__(self, transforms: Iterable[Transform] | Transform = ()) -> None:
        self.pipelines = [transforms] if isinstance(transforms, Transform) else list(transforms)

    def state_dict(self) -> dict:
        # found anew each time: ``set_random_state`` (MONAI's DataLoader calls it) replaces a transform's generator
        generators = transform_random_states(self.pipelines)
        state = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(np.random.get_state()),
            "python": _python_state(random.getstate()),
            "transforms": [_numpy_state(generator.get_state()) for generator in generators],
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Put saved streams back; raises ``ValueError`` when the pipelines hold another number of generators."""
        saved = state["transforms"]
        generators = transform_random_states(self.pipelines)
        if len(saved) != len(generators):
            raise ValueError(
                f"the checkpoint holds the random states of {len(saved)} transform generators, the pipelines "
                f"{len(generators)}: the training transforms changed since it was saved. Resume with "
                "the transforms it was trained with, or start a new run in an empty ckpt_dir."
            )
        torch.set_rng_state(state["torch"])
        np.random.set_state(_numpy_tuple(state["numpy"]))
        random.setstate(_python_tuple(state["python"]))
        for generator, generator_state in zip(generators, saved):
            generator.set_state(_numpy_tuple(generator_state))
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


def transform_random_states(pipelines: Iterable[Transform]) -> list[np.random.RandomState]:
    """Every NumPy generator a pipeline's transforms own (``Compose.R``, ``RandRotated.R``, its inner
    ``RandRotate.R``...), depth first in attribute order, each once."""
    found: list[np.random.RandomState] = []
    seen: set[int] = set()

    def visit(item) -> None:
        if id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, np.random.RandomState):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            for element in item:
                visit(element)
        elif isinstance(item, Mapping):
            for element in item.values():
                visit(element)
        elif isinstance(item, Transform):
            for attribute in vars(item).values():
                visit(attribute)

    for pipeline in pipelines:
        visit(pipeline)
    return found


def _numpy_state(state: tuple) -> dict:
    """``RandomState.get_state()`` ('MT19937', keys, pos, has_gauss, cached_gaussian) as tensors and numbers."""
    name, keys, position, has_gauss, cached_gaussian = state
    if name != "MT19937":
        raise ValueError(f"unsupported NumPy generator {name!r}")
    return {
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached_gaussian),
    }


def _numpy_tuple(state: Mapping) -> tuple:
    keys = state["keys"].numpy().astype(np.uint32)
    return ("MT19937", keys, state["pos"], state["has_gauss"], state["cached_gaussian"])


def _python_state(state: tuple) -> dict:
    """``random.getstate()`` (version, 625 ints, gauss_next) as a tensor and numbers."""
    version, internal, gauss_next = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next}


def _python_tuple(state: Mapping) -> tuple:
    return (state["version"], tuple(int(value) for value in state["internal"].tolist()), state["gauss_next"])
