"""Export NCM-Net (or any (B, C, H, W, T) -> (B, K, H, W, T) network) to TorchScript and ONNX.

Spatial size is fixed at export (UMA's token count depends on it); batch and frame count stay dynamic in ONNX.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["export_onnx", "export_torchscript"]


def _example_clip(model: nn.Module, spatial_size: tuple[int, int], frames: int) -> torch.Tensor:
    in_channels = getattr(model, "in_channels", 1)
    return torch.randn(1, in_channels, spatial_size[0], spatial_size[1], frames)


def export_torchscript(
    model: nn.Module, path: str | Path, spatial_size: tuple[int, int] = (112, 112), frames: int = 10
) -> Path:
    """Trace ``model`` in eval mode on a (1, C, H, W, frames) clip and save it; returns the path."""
    path = Path(path)
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, _example_clip(model, spatial_size, frames))
    tmp = path.with_name(path.name + ".tmp")
    torch.jit.save(traced, str(tmp))
    tmp.replace(path)
    return path


def export_onnx(
    model: nn.Module,
    path: str | Path,
    spatial_size: tuple[int, int] = (112, 112),
    frames: int = 10,
    opset_version: int = 17,
) -> Path:
    """Export ``model`` in eval mode to ONNX with input ``image`` and output ``pred``, batch and frames dynamic."""
    path = Path(path)
    model = model.eval()
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (_example_clip(model, spatial_size, frames),),
            str(tmp),
            dynamo=False,
            input_names=["image"],
            output_names=["pred"],
            dynamic_axes={"image": {0: "batch", 4: "frames"}, "pred": {0: "batch", 4: "frames"}},
            opset_version=opset_version,
        )
    tmp.replace(path)
    return path
