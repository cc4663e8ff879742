"""Handlers and datasets of the training workflow: atomic checkpoints, resume lookup, random streams, NaN stop, bad
items."""

from __future__ import annotations

import logging
import math
import random
import stat

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.transforms import Compose, RandFlipd, RandRotated

from ncm_components.data import BadItemError, EchoCacheDataset
from ncm_components.handlers import AtomicCheckpointSaver, NaNLossGuard, RandomStates, latest_checkpoint
from ncm_components.handlers.random_state import transform_random_states
from ncm_components.transforms import LoadVideod, write_volume


def _engine(losses):
    def step(engine, batch):
        return {"loss": torch.tensor(losses[engine.state.iteration - 1])}

    return Engine(step)


def test_nan_loss_stops_before_a_checkpoint_is_saved(tmp_path):
    model = torch.nn.Linear(2, 2)
    engine = _engine([0.5, 0.4, 0.3, math.nan, 0.2, 0.1])
    NaNLossGuard().attach(engine)
    saver = AtomicCheckpointSaver(str(tmp_path), {"model": model}, save_engine_as="trainer", save_interval=1, n_saved=1)
    saver.attach(engine)
    with pytest.raises(FloatingPointError, match="training loss is nan at epoch 2, iteration 4"):
        engine.run([0, 1, 2], max_epochs=2)
    assert latest_checkpoint(tmp_path).endswith("checkpoint_epoch=1.pt")  # epoch 2 was never saved


def test_nan_guard_accepts_finite_and_infinite_losses():
    engine = _engine([1.0, math.inf])
    NaNLossGuard().attach(engine)
    with pytest.raises(FloatingPointError, match="inf"):
        engine.run([0, 1], max_epochs=1)


def test_atomic_saver_keeps_the_newest_epochs_across_runs_and_readable_files(tmp_path):
    model = torch.nn.Linear(2, 2)
    (tmp_path / "checkpoint_epoch=1.pt").write_bytes(b"from an earlier run")
    engine = _engine([0.1] * 6)
    saver = AtomicCheckpointSaver(str(tmp_path), {"model": model}, save_engine_as="trainer", save_interval=1, n_saved=1)
    saver.attach(engine)
    engine.run([0, 1], max_epochs=3)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["checkpoint_epoch=3.pt"]
    mode = stat.S_IMODE((tmp_path / files[0]).stat().st_mode)
    assert mode == 0o644
    saved = torch.load(tmp_path / files[0], weights_only=False)
    assert saved["trainer"]["iteration"] == 6 and "weight" in saved["model"]


def test_latest_checkpoint_orders_by_epoch_number(tmp_path):
    assert latest_checkpoint(tmp_path) is None and latest_checkpoint(tmp_path / "absent") is None
    for epoch in (2, 10, 9):
        (tmp_path / f"checkpoint_epoch={epoch}.pt").write_bytes(b"x")
    (tmp_path / "tmpabc123").write_bytes(b"a half-written temporary file")
    assert latest_checkpoint(tmp_path).endswith("checkpoint_epoch=10.pt")


def _items(tmp_path, bad_index: int):
    items = []
    for i in range(3):
        path = tmp_path / f"video_{i}.nii.gz"
        if i == bad_index:
            path.write_bytes(b"not a NIfTI file")
        else:
            video = np.full((16, 16, 4), i, np.uint8)
            video[4:8, 4:8] = 100 + i  # not blank: blank videos are refused
            write_volume(path, video, (1.0, 1.0), 25.0)
        items.append({"image": str(path)})
    return items


def test_bad_item_stops_with_the_file_named(tmp_path):
    items = _items(tmp_path, bad_index=1)
    with pytest.raises(BadItemError, match="video_1.nii.gz.*skip_bad_items"):
        EchoCacheDataset(items, Compose([LoadVideod("image")]), cache_rate=1.0)
    uncached = EchoCacheDataset(items, Compose([LoadVideod("image")]), cache_rate=0.0)
    with pytest.raises(BadItemError, match="video_1.nii.gz"):
        uncached[1]


@pytest.mark.parametrize("cache_rate", [1.0, 0.0])
def test_skip_bad_items_replaces_them_and_logs_a_count(tmp_path, caplog, cache_rate):
    items = _items(tmp_path, bad_index=1)
    with caplog.at_level(logging.WARNING):
        dataset = EchoCacheDataset(items, Compose([LoadVideod("image")]), skip_bad_items=True, cache_rate=cache_rate)
        values = [int(dataset[i]["image"].max()) for i in range(len(dataset))]
    assert len(dataset) == 3 and values == [100, 102, 102]  # video 1 replaced by the next loadable one
    assert "video_1.nii.gz" in caplog.text and "1 item(s) skipped so far" in caplog.text


def _draws(pipeline) -> list:
    """One draw from every stream RandomStates restores."""
    return [
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        random.random(),
        np.random.randn(),  # leaves a cached Gaussian behind in NumPy's state
    ] + [generator.rand() for generator in transform_random_states([pipeline])]


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    pipeline = Compose([RandFlipd(keys="image", prob=0.5), RandRotated(keys="image", range_z=0.3, prob=1.0)])
    pipeline.set_random_state(seed=3)
    states = RandomStates([pipeline])
    _draws(pipeline)
    torch.save({"random_states": states.state_dict()}, tmp_path / "checkpoint.pt")
    expected = _draws(pipeline)
    _draws(pipeline)
    pipeline.set_random_state(seed=99)  # a new run replaces every transform's generator (MONAI's DataLoader does)
    states.load_state_dict(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["random_states"])
    assert _draws(pipeline) == expected


def test_random_states_find_nested_generators_and_refuse_other_pipelines():
    pipeline = Compose([RandFlipd(keys="image", prob=0.5), RandRotated(keys="image", range_z=0.3, prob=1.0)])
    # Compose, RandFlipd, RandRotated and the RandRotate inside it each own a generator
    assert len(transform_random_states([pipeline])) == 4
    saved = RandomStates(pipeline).state_dict()
    smaller = RandomStates([Compose([RandFlipd(keys="image", prob=0.5)])])
    with pytest.raises(ValueError, match="random states of 4 transform generators, the pipelines 2"):
        smaller.load_state_dict(saved)
