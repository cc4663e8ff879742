"""The LV as one region: the cleanup that inference.yaml and evaluate.yaml run after the argmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.transforms import Compose

CONFIGS = Path(__file__).resolve().parents[1] / "bundle" / "configs"


def _cleanup(config: str) -> Compose:
    parser = ConfigParser()
    merged = ["train.yaml", config] if config == "evaluate.yaml" else [config]  # evaluate.yaml extends train.yaml
    parser.read_config([str(CONFIGS / name) for name in merged])
    assert parser.get_parsed_content("keep_lv_component") is True  # on by default
    return Compose(parser.get_parsed_content("lv_cleanup"))


def _moving_lv(frames: int = 6) -> np.ndarray:
    """(1, X, Y, T) masks of an LV (a 20 x 30 box) on every frame."""
    pred = np.zeros((1, 64, 48, frames), np.float32)
    pred[0, 20:40, 10:40] = 1
    return pred


@pytest.mark.parametrize("config", ["inference.yaml", "evaluate.yaml"])
def test_cleanup_removes_other_chambers_and_fills_holes(config):
    pred = _moving_lv()
    pred[0, 50:58, 5:12, 1:4] = 1  # a blob in another chamber on three frames
    pred[0, 28:31, 20:23, 2] = 0  # a hole in the LV
    cleaned = _cleanup(config)({"pred": torch.as_tensor(pred)})["pred"].numpy()
    expected = _moving_lv()
    np.testing.assert_array_equal(cleaned, expected)


def test_cleanup_keeps_an_lv_that_dropout_splits_on_one_frame():
    pred = _moving_lv()
    pred[0, 20:40, 24:27, 3] = 0  # frame 3: a dropout band cuts the LV in two
    cleaned = _cleanup("inference.yaml")({"pred": torch.as_tensor(pred)})["pred"].numpy()
    np.testing.assert_array_equal(cleaned, pred)  # both halves kept: they join the LV of frames 2 and 4
