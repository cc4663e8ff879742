"""Where a bundle run's datalist comes from: a converted dataset folder, or the built-in synthetic data.

A bundle config names ``dataset_dir``: the folder a converter (``ncm_components.data.camus``/``echonet``/``dicom``)
or a team wrote, holding ``datalist.json``. When it is empty or null, the synthetic generator fills
``synthetic_dir`` once (the same seed gives the same videos) and its datalist is used, so a fresh machine can train.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .synthetic import generate_dataset

__all__ = ["resolve_datalist"]

logger = logging.getLogger(__name__)


def resolve_datalist(
    dataset_dir: str | None,
    datalist_name: str = "datalist.json",
    synthetic_dir: str = ".cache/synthetic_echo",
    num_train: int = 48,
    num_val: int = 8,
    num_test: int = 8,
    size: int = 112,
    seed: int = 0,
) -> str:
    """Path of the datalist to train or evaluate on.

    Args:
        dataset_dir: folder holding ``datalist_name``; empty or None selects the synthetic data.
        datalist_name: the datalist's file name inside ``dataset_dir`` (or an absolute path).
        synthetic_dir: cache folder of the synthetic data.
        num_train, num_val, num_test, size, seed: synthetic set to generate when ``synthetic_dir`` has none.

    Raises:
        FileNotFoundError: ``dataset_dir`` is given but holds no datalist; the message says how to make one.
    """
    if dataset_dir:
        path = Path(dataset_dir) / datalist_name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no datalist. Convert a dataset first (python -m ncm_components.data.camus / echonet / "
                "dicom --out DIR) and point dataset_dir at DIR, or leave dataset_dir empty for the synthetic data."
            )
        return str(path)
    path = Path(synthetic_dir) / "datalist.json"
    if not path.is_file():
        logger.info(f"generating {num_train + num_val + num_test} synthetic videos in {synthetic_dir}")
        generate_dataset(synthetic_dir, num_train=num_train, num_val=num_val, num_test=num_test, size=size, seed=seed)
    return str(path)
