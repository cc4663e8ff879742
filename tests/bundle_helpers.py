"""Tiny bundle runs for the tests: a 4-video synthetic set and config overrides that train for 2 iterations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ncm_components.simulation.synthetic import generate_dataset

from .conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "bundle" / "configs"
TRAIN = str(CONFIGS / "train.yaml")
EVALUATE = str(CONFIGS / "evaluate.yaml")
MULTI_GPU_TRAIN = str(CONFIGS / "multi_gpu_train.yaml")
MULTI_GPU_EVALUATE = str(CONFIGS / "multi_gpu_evaluate.yaml")
LOGGING = str(CONFIGS / "logging.conf")


def make_tiny_dataset(folder: Path) -> Path:
    """4 training, 2 validation and 2 test videos of 64 x 64 pixels; returns the folder."""
    generate_dataset(folder, num_train=4, num_val=2, num_test=2, size=64, seed=0)
    return folder


def tiny_overrides(data_dir: Path, run_dir: Path, **extra) -> dict:
    """Config overrides: the tiny data as ``dataset_dir``, 32 px, 4-frame clips, batch 2 (2 iterations/epoch)."""
    overrides = {
        "dataset_dir": str(data_dir),
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / "eval"),
        "image_size": 32,
        "clip_frames": 4,
        "batch_size": 2,
        "val_interval": 1,
        "train#trainer#max_epochs": 1,
        "train#dataset#num_workers": 1,
        "validate#dataset#num_workers": 1,
    }
    overrides.update(extra)
    return overrides


def cli_arguments(overrides: dict) -> list[str]:
    """``--key value`` pairs for ``python -m monai.bundle run``."""
    arguments = []
    for key, value in overrides.items():
        arguments += [f"--{key}", str(value)]
    return arguments


def bundle_command(config_files: list[str], overrides: dict, launcher: list[str] | None = None) -> list[str]:
    """The ``monai.bundle run`` command line (optionally under a launcher such as torchrun)."""
    files = "[" + ",".join(f"'{f}'" for f in config_files) + "]"
    prefix = launcher or [sys.executable, "-m"]
    return (
        prefix + ["monai.bundle", "run", "--config_file", files, "--logging_file", LOGGING] + cli_arguments(overrides)
    )


def subprocess_env() -> dict:
    """Environment of child runs: one thread each, the repository importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    return env


def run_bundle(config_files: list[str], overrides: dict, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        bundle_command(config_files, overrides, **kwargs),
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
