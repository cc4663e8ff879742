"""Every model the benchmarks name builds from its ``network_def`` and segments a clip in the bundle's layout."""

from __future__ import annotations

import pytest
import torch

from .benchmark_modules import benchmark_module

with benchmark_module("models") as _models:
    BENCHMARK_MODELS, build_model = _models.BENCHMARK_MODELS, _models.build_model


@pytest.mark.parametrize("name", sorted(BENCHMARK_MODELS))
def test_benchmark_model_maps_a_clip_to_two_class_logits(name):
    """(B, 1, H, W, T) in, (B, 2, H, W, T) out, for a non-square clip; a broken entry fails here, not hours into a
    benchmark."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    clip = torch.rand(1, 1, 32, 48, 4)
    with torch.inference_mode():
        logits = model(clip)
    assert logits.shape == (1, 2, 32, 48, 4)
    assert torch.isfinite(logits).all()


def test_within_frame_experiment_is_ncmnet_small_with_per_frame_ncm_blocks():
    within = build_model("small with NCM within each frame")
    small = build_model("NCM-Net small")
    assert [block.temporal_radius for block in within.ncm.values()] == [0] * len(small.ncm) != []
    assert sum(p.numel() for p in small.parameters()) - sum(p.numel() for p in within.parameters()) == sum(
        block.temporal_bias.numel() - block.num_heads for block in small.ncm.values()
    )  # only the temporal position bias shrinks (to one frame offset per head)
