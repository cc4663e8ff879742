"""Test-time knockouts (``benchmarks/knockouts.py``): each is the trained network with exactly one mechanism off."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser

from .benchmark_modules import benchmark_module

NETWORK_DEF = {"_target_": "ncm_components.networks.NCMNet", "channels": [8, 16, 32, 64], "ncm_levels": [0, 1]}


@pytest.fixture(scope="module")
def knockouts():
    with benchmark_module("knockouts") as module:
        yield module


def _build(network_def: dict, state: dict | None = None) -> torch.nn.Module:
    net = ConfigParser({"net": network_def}).get_parsed_content("net", instantiate=True)
    if state is not None:
        net.load_state_dict(state)  # strict: the knocked-out state fits its network exactly
    return net.eval()


@pytest.fixture(scope="module")
def trained():
    """An NCMNet whose NCM blocks and UMA add something (both start as the identity) and whose biases are not flat."""
    torch.manual_seed(0)
    net = _build(NETWORK_DEF)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if any(part in name for part in (".project.1.", "uma.out.", "uma.mlp.2.")) or name.endswith("_bias"):
                param.normal_(0.0, 0.5)
    return net


def _reference(trained: torch.nn.Module, knockout: str) -> torch.nn.Module:
    """The trained network with the mechanism switched off by hand, keeping its architecture."""
    net = _build(NETWORK_DEF, trained.state_dict())
    with torch.no_grad():
        for block in net.ncm.values():
            if knockout == "temporal":  # other frames masked out of the softmax
                centre = block.temporal_bias.shape[1] // 2
                block.temporal_bias[:, :centre] = -1.0e4
                block.temporal_bias[:, centre + 1 :] = -1.0e4
            elif knockout == "cross_scale":  # zero keys and values: the branch gives zeros
                block.context_to_kv.weight.zero_()
                block.context_to_kv.bias.zero_()
            elif knockout == "ncm":  # zero output scale and shift: the block is the identity
                block.project[1].weight.zero_()
                block.project[1].bias.zero_()
    if knockout == "uma":
        net.uma = None
    return net


@pytest.mark.parametrize("knockout", ["temporal", "cross_scale", "ncm", "uma"])
def test_knockout_is_the_trained_network_with_one_mechanism_off(knockouts, trained, knockout):
    state = trained.state_dict()
    network_def, knocked_state = knockouts.knock_out(NETWORK_DEF, state, knockout)
    knocked = _build(network_def, knocked_state)
    assert state.keys() == trained.state_dict().keys()  # the trained state is not changed
    clip = torch.rand(1, 1, 32, 48, 4)
    with torch.no_grad():
        intact, out, expected = trained(clip), knocked(clip), _reference(trained, knockout)(clip)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert (out - intact).abs().max() > 1e-3  # the mechanism mattered to this network


def test_knockout_rejects_unknown_and_absent_mechanisms(knockouts, trained):
    with pytest.raises(ValueError, match="knockout must be one of"):
        knockouts.knock_out(NETWORK_DEF, trained.state_dict(), "boundary")
    with pytest.raises(ValueError, match="use_uma=False already"):
        knockouts.knock_out({**NETWORK_DEF, "use_uma": False}, trained.state_dict(), "uma")
