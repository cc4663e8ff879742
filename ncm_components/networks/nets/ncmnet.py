"""NCM-Net: echocardiography video segmentation via neighbourhood correlation mining.

Deng & Wu, "Echocardiography Video Segmentation via Neighborhood Correlation Mining", IEEE TMI 2025,
doi:10.1109/TMI.2025.3588157. The paper fixes the three ideas (NCM, UMA, cross-frame boundary constraint); the
backbone, scales and sizes here are ours, chosen for CPU speed (see ``docs/design.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from ..blocks import FRAME_NORM, NeighborhoodCorrelationMining, UnreliableMaskedAttention
from ..layout import fold_frames, unfold_frames

__all__ = ["NCMNet", "ncmnet_small", "NCMNET_SMALL", "architecture_hint"]


class NCMNet(nn.Module):
    """NCM-Net for (B, C, H, W, T) echo clips: per-frame encoder, top-down decoder with NCM, coarse head, UMA, head.

    Frames are folded into the batch for every 2D layer. Encoder level i (stride 2 each, MONAI ``ResidualUnit``)
    gives features at 1/2^(i+1) of the input size. The decoder goes top-down with additive skips to level 0 (half the
    input size), fusing each level with one 3x3 convolution (a MONAI ``ResidualUnit`` of ``decoder_convs`` when more
    than one). The skip of every level listed in ``ncm_levels`` first passes a :class:`NeighborhoodCorrelationMining`
    block: each pixel correlates with its space-time neighbourhood on that level and with the decoded features of the
    next coarser level (cross-scale), so NCM works where speckle lives (1/2 and 1/4 of the input by default). A coarse
    head predicts logits at level 0, :class:`UnreliableMaskedAttention` refines the pixels it is unsure of, and the
    refined features are projected to ``head_channels`` (by default ``max(channels[0] // 2, 8)``) channels, upsampled
    to the input size, added to a full-resolution stem (one 3x3 convolution of the frame) and fused, and the final
    head predicts there: the boundary is placed at the input's own pixel size, not interpolated from half of it.

    Args:
        in_channels: image channels C (1 for B-mode echo).
        out_channels: classes K (2 for background + LV).
        channels: feature channels of the encoder levels; their count L sets the stride 2^L that H and W must divide.
        ncm_levels: levels (0-based; 0 = 1/2 of the input) whose skip features pass an NCM block.
        window_size: spatial window of the NCM space-time neighbourhood.
        temporal_radius: neighbouring frames on each side in the NCM neighbourhood: one radius for every NCM level,
            or one per entry of ``ncm_levels`` (e.g. a whole-clip reach at a coarse level, one frame at the fine ones).
        context_window: window of the NCM cross-scale neighbourhood on the coarser level (0: no cross-scale branch).
        ncm_heads: attention heads of the NCM blocks.
        position_bias: learn NCM's relative position biases.
        uma_threshold: unreliability above which UMA refines a pixel.
        uma_max_ratio: cap on the share of pixels per frame UMA refines.
        uma_context_grid: side of UMA's pooled context grid.
        uma_heads: attention heads of UMA.
        reliability: UMA reliability rule (``"max_prob"``, ``"margin"``, ``"entropy"``).
        decoder_convs: 3x3 convolutions that fuse each decoder level: 1 is a single convolution, more a residual unit
            of that many.
        head_channels: channels of the full-resolution stem and final head (None: ``max(channels[0] // 2, 8)``).
        use_ncm: build the NCM blocks (False for the ablation without NCM).
        use_uma: build UMA (False for the ablation without UMA).
        deep_supervision: in training mode also return the coarse logits (MONAI DynUNet convention).
        norm: MONAI norm factory name or tuple for the convolutions and NCM's output projection. Instance norm (with a
            learned scale) by default: every frame is normalised by its own statistics, whatever its gain and
            contrast, and the statistics never mix frames, videos or processes (see ``docs/design.md``).
        act: MONAI activation factory name or tuple.
        dropout: dropout of the convolution blocks.

    Shapes:
        ``forward(x)``: x (B, in_channels, H, W, T), T >= 1, H and W multiples of 2^L. In eval mode (or without deep
        supervision) returns logits (B, out_channels, H, W, T); in training mode with deep supervision returns
        ``torch.stack([final, coarse], dim=1)`` of shape (B, 2, out_channels, H, W, T), as DynUNet does.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        channels: Sequence[int] = (32, 64, 128, 256),
        ncm_levels: Sequence[int] = (0, 1),
        window_size: int = 3,
        temporal_radius: int | Sequence[int] = 1,
        context_window: int = 3,
        ncm_heads: int = 1,
        position_bias: bool = True,
        uma_threshold: float = 0.1,
        uma_max_ratio: float = 0.15,
        uma_context_grid: int = 8,
        uma_heads: int = 1,
        reliability: str = "max_prob",
        decoder_convs: int = 1,
        head_channels: int | None = None,
        use_ncm: bool = True,
        use_uma: bool = True,
        deep_supervision: bool = True,
        norm: str | tuple = FRAME_NORM,
        act: str | tuple = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"channels needs at least 2 levels, got {channels}.")
        bad_levels = [level for level in ncm_levels if not 0 <= level < len(channels)]
        if bad_levels:
            raise ValueError(f"ncm_levels {bad_levels} are outside the {len(channels)} encoder levels.")
        if decoder_convs < 1:
            raise ValueError(f"decoder_convs must be at least 1, got {decoder_convs}.")
        if head_channels is not None and head_channels < 1:
            raise ValueError(f"head_channels must be at least 1 (or None), got {head_channels}.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.channels = channels
        self.size_divisor = 2 ** len(channels)
        self.use_ncm = use_ncm
        self.use_uma = use_uma
        self.deep_supervision = deep_supervision
        self.ncm_levels = tuple(sorted(set(ncm_levels))) if use_ncm else ()
        radius = _per_level(temporal_radius, ncm_levels, "temporal_radius")

        def conv(cin: int, cout: int, kernel_size: int = 3) -> Convolution:
            return Convolution(2, cin, cout, kernel_size=kernel_size, act=act, norm=norm, dropout=dropout)

        self.encoder = nn.ModuleList()
        previous = in_channels
        for level_channels in channels:
            self.encoder.append(
                ResidualUnit(2, previous, level_channels, strides=2, subunits=2, act=act, norm=norm, dropout=dropout)
            )
            previous = level_channels
        deepest = len(channels) - 1
        self.ncm = nn.ModuleDict(
            {
                str(level): NeighborhoodCorrelationMining(
                    channels[level],
                    context_channels=channels[level + 1] if level < deepest and context_window else 0,
                    num_heads=ncm_heads,
                    window_size=window_size,
                    temporal_radius=radius[level],
                    context_window=max(context_window, 1),
                    position_bias=position_bias,
                    norm=norm,
                )
                for level in self.ncm_levels
            }
        )

        def fuse(level_channels: int) -> nn.Module:
            if decoder_convs == 1:
                return conv(level_channels, level_channels)
            return ResidualUnit(
                2, level_channels, level_channels, subunits=decoder_convs, act=act, norm=norm, dropout=dropout
            )

        # top-down decoder, level L-2 .. 0: project the upsampled deeper map, add the skip, fuse (3x3 convolutions)
        self.lateral = nn.ModuleList([nn.Conv2d(channels[i + 1], channels[i], 1) for i in range(len(channels) - 1)])
        self.fuse = nn.ModuleList([fuse(channels[i]) for i in range(len(channels) - 1)])
        self.coarse_head = nn.Conv2d(channels[0], out_channels, kernel_size=1)
        self.uma = (
            UnreliableMaskedAttention(
                channels[0],
                out_channels,
                threshold=uma_threshold,
                max_ratio=uma_max_ratio,
                context_grid=uma_context_grid,
                num_heads=uma_heads,
                reliability=reliability,
            )
            if use_uma
            else None
        )
        head = head_channels or max(channels[0] // 2, 8)  # full resolution: where the final boundary is placed
        self.stem = conv(in_channels, head)
        self.to_head = nn.Conv2d(channels[0], head, kernel_size=1)
        self.final_head = nn.Sequential(conv(head, head), nn.Conv2d(head, out_channels, 1))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the expected shape when ``x`` is not (B, in_channels, H, W, T)."""
        expected = f"(B, {self.in_channels}, H, W, T) with H and W multiples of {self.size_divisor}"
        if x.dim() != 5:
            raise ValueError(f"NCMNet expects a 5D clip {expected}; got a {x.dim()}D tensor of shape {tuple(x.shape)}.")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"NCMNet expects {expected}; got {x.shape[1]} channels in shape {tuple(x.shape)}.")
        if x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor:
            raise ValueError(f"NCMNet expects {expected}; got H x W = {x.shape[2]} x {x.shape[3]}.")
        if x.shape[4] < 1:
            raise ValueError(f"NCMNet expects {expected} and T >= 1; got shape {tuple(x.shape)}.")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``; a checkpoint of another configuration is refused with the options it was
        trained with (e.g. ``--network_def#use_uma False``) ahead of torch's list of keys."""
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as err:
            hint = architecture_hint(self.state_dict(), state_dict)
            if not hint:
                raise
            raise RuntimeError(f"the checkpoint does not fit this NCMNet: {hint}\n{err}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        batch, _, height, width, frames = x.shape
        skips = []
        frames_2d = fold_frames(x)  # B*T x C x H x W
        features = frames_2d
        for stage in self.encoder:
            features = stage(features)
            skips.append(features)  # level i: B*T x C_i x H/2^(i+1) x W/2^(i+1)

        deepest = len(self.channels) - 1
        decoded = self._mine(deepest, skips[deepest], frames, None)
        for level in range(deepest - 1, -1, -1):
            skip = self._mine(level, skips[level], frames, decoded)  # cross-scale keys: the coarser decoded level
            upsampled = F.interpolate(decoded, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            decoded = self.fuse[level](self.lateral[level](upsampled) + skip)

        coarse = _in_fp32(self.coarse_head, decoded)  # B*T x K x H/2 x W/2
        refined = self.uma(decoded, coarse) if self.uma is not None else decoded
        full = F.interpolate(self.to_head(refined), size=(height, width), mode="bilinear", align_corners=False)
        final = _in_fp32(self.final_head, full + self.stem(frames_2d))  # B*T x K x H x W

        final = self._to_video(final, batch, height, width)
        if self.training and self.deep_supervision:
            return torch.stack([final, self._to_video(coarse, batch, height, width)], dim=1)
        return final

    def _mine(self, level: int, skip: torch.Tensor, frames: int, coarser: torch.Tensor | None) -> torch.Tensor:
        """The skip of ``level`` after its NCM block (unchanged where the level has none)."""
        if str(level) not in self.ncm:
            return skip
        return self.ncm[str(level)](skip, frames, coarser)

    @staticmethod
    def _to_video(logits: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
        """B*T x K x h x w -> B x K x H x W x T, upsampled bilinearly to the input size."""
        if tuple(logits.shape[-2:]) != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return unfold_frames(logits, batch)


def architecture_hint(expected: dict, given: dict) -> str:
    """What to pass so that a network built from the config fits the checkpoint ``given`` (a state dict), judged from
    the parameters ``expected`` by the network: its UMA, its NCM levels, its classes; "" when nothing is recognised.
    """
    missing, unexpected = set(expected) - set(given), set(given) - set(expected)

    def block(keys: set[str], prefix: str) -> bool:
        return any(key.startswith(prefix) for key in keys)

    options = []
    if block(missing, "uma.") and not block(given, "uma."):
        options.append("--network_def#use_uma False (the checkpoint has no UMA)")
    elif block(unexpected, "uma.") and not block(expected, "uma."):
        options.append("--network_def#use_uma True (the checkpoint has UMA)")
    levels = sorted({int(key.split(".")[1]) for key in given if key.startswith("ncm.")})
    if block(missing | unexpected, "ncm."):
        options.append(
            f"--network_def#ncm_levels {levels}"
            if levels
            else "--network_def#use_ncm False (the checkpoint has no NCM)"
        )
    head = "final_head.1.weight"
    if head in given and head in expected and tuple(given[head].shape) != tuple(expected[head].shape):
        options.append(f"--num_classes {given[head].shape[0]} (it predicts {given[head].shape[0]} classes)")
    if not options:
        return ""
    return "build the network it was trained with: " + ", ".join(options) + "."


def _per_level(value: int | Sequence[int], levels: Sequence[int], name: str) -> dict[int, int]:
    """``value`` by NCM level: one int for every level, or one per entry of ``levels`` (in their given order)."""
    if isinstance(value, int):
        return dict.fromkeys(levels, value)
    value = [int(v) for v in value]
    if len(value) != len(levels):
        raise ValueError(f"{name} needs one value per NCM level {tuple(levels)} or a single int, got {value}.")
    return dict(zip(levels, value))


def _in_fp32(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """Run a prediction head in fp32 even under autocast: fp16 logits overflow (> 65504) into inf and NaN losses."""
    with torch.autocast(device_type=features.device.type, enabled=False):
        return head(features.float())


NCMNET_SMALL = {"channels": (16, 32, 64, 256), "ncm_levels": (0, 1)}
"""Keyword arguments of the small CPU configuration (see ``docs/benchmarks.md`` for its speed)."""


def ncmnet_small(in_channels: int = 1, out_channels: int = 2, **kwargs) -> NCMNet:
    """NCM-Net small: channels 16-32-64-256, for real-time CPU inference; ``kwargs`` override any other argument."""
    return NCMNet(in_channels=in_channels, out_channels=out_channels, **{**NCMNET_SMALL, **kwargs})
