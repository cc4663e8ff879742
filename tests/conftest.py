"""Shared test fixtures: deterministic seeds, few threads, random NCM-Net small weights, and the path of the real
CAMUS sample files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CAMUS_SAMPLES = REPO_ROOT.parent / "shared" / "data" / "camus_2019"
SCHEMA_FILE = REPO_ROOT.parent / "shared" / "schemas" / "meta_schema_20240725.json"

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """``model.pt`` of randomly initialised NCM-Net small weights, alone in its folder (a ``ckpt_dir``): the
    inference and evaluation paths do not need a trained network."""
    from ncm_components.networks import ncmnet_small

    path = tmp_path_factory.mktemp("weights") / "model.pt"
    torch.save(ncmnet_small().state_dict(), path)
    return path


requires_camus = pytest.mark.skipif(
    not CAMUS_SAMPLES.is_dir(), reason=f"real CAMUS sample files not found at {CAMUS_SAMPLES}"
)
