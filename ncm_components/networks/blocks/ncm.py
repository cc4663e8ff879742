"""Neighbourhood correlation mining (NCM), the space-time and cross-scale correlation block of NCM-Net.

Deng & Wu, "Echocardiography Video Segmentation via Neighborhood Correlation Mining", IEEE TMI 2025,
doi:10.1109/TMI.2025.3588157. The paper's abstract fixes the idea (correlate each query with its spatio-temporal
neighbourhood to resist speckle, plus cross-scale contextual correlation); the window, radius, position bias, head
sizes and the joint softmax below are our choices and are all constructor arguments (see ``docs/design.md``).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from monai.networks.layers.utils import get_norm_layer
from torch import nn

__all__ = ["NeighborhoodCorrelationMining", "FRAME_NORM"]

FRAME_NORM = ("instance", {"affine": True})
"""NCM-Net's default norm: instance norm with a learned scale, each frame normalised by its own statistics."""

_MASKED_LOGIT = -1.0e4  # added to affinities of neighbours outside the clip or the image (fp32, softmax-safe)


class NeighborhoodCorrelationMining(nn.Module):
    """Space-time neighbourhood correlation and cross-scale correlation, added residually to the features.

    Each query position (y, x) of frame t is correlated (scaled dot product per head) with

    - the keys in the ``window_size x window_size`` window around (y, x) in frames ``t - temporal_radius .. t +
      temporal_radius`` of the same level (space-time neighbourhood), plus a learned relative position bias that is
      the sum of a spatial term (per window offset) and a temporal term (per frame offset);
    - when ``context`` is given, the keys of the adjacent coarser level in the ``context_window x context_window``
      window around (y / 2, x / 2) of the same frame (cross-scale neighbourhood), with their own position bias.

    Each of the two neighbourhoods has its own softmax and weighted sum of values; the two results are concatenated,
    projected back to ``channels`` (1x1 conv + norm, the norm's scale initialised to zero so that the block starts as
    the identity) and added to the input. Neighbours outside the clip or the image are masked out of the softmax (not
    zero-padded into it). With the factorised position bias and separate softmaxes, a clip of ``T`` copies of one
    frame gives exactly the output of that frame alone: how many neighbours a frame has (at a clip's ends, in a short
    video) never changes the balance between the two branches, only their content does. ``T = 1`` is spatial and
    cross-scale correlation. (One softmax over both neighbourhoods made the output depend on the count of valid
    frames: frames in the middle of a window were segmented worse than the same frames alone.)

    Args:
        channels: feature channels C of the input and output.
        context_channels: channels C' of the coarser level's features; 0 disables the cross-scale branch.
        key_channels: channels of queries and keys (all heads together); default ``max(channels // 4, 8)``.
        value_channels: channels of values (all heads together); default ``max(channels // 2, 8)``.
        num_heads: attention heads; must divide ``key_channels`` and ``value_channels``.
        window_size: odd spatial window k of the space-time neighbourhood.
        temporal_radius: r, neighbouring frames on each side (0 = per-frame correlation).
        context_window: odd window of the cross-scale neighbourhood on the coarser level.
        position_bias: learn the relative position biases (zeros, not learned, when False).
        norm: MONAI norm factory name or (name, args) after the output projection (the network's norm); it needs a
            learned scale (affine), which starts at zero.

    Attributes:
        whole_window: how the windows are computed. None (default) picks by device: all neighbours at once off the
            CPU, where the number of kernel launches bounds the speed (a training step of NCM-Net small launches 2.5x
            fewer operations), one neighbour at a time on the CPU, where each neighbour's products stay in cache
            (the whole window at once trains 1.6x slower there). True or False forces either; both give the same
            result up to float rounding.

    Shapes:
        ``forward(x, num_frames, context=None)``: x (B*T, C, H, W) with frames folded into the batch, frame index
        fastest within each video (as ``x.reshape(B, T, ...)`` unfolds); context (B*T, C', ceil(H/2), ceil(W/2)) or
        None. Returns (B*T, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        context_channels: int = 0,
        key_channels: int | None = None,
        value_channels: int | None = None,
        num_heads: int = 1,
        window_size: int = 3,
        temporal_radius: int = 1,
        context_window: int = 3,
        position_bias: bool = True,
        norm: str | tuple = FRAME_NORM,
    ) -> None:
        super().__init__()
        key_channels = key_channels or max(channels // 4, 8, num_heads)
        value_channels = value_channels or max(channels // 2, 8, num_heads)
        for name, window in (("window_size", window_size), ("context_window", context_window)):
            if window < 1 or window % 2 == 0:
                raise ValueError(f"{name} must be a positive odd number, got {window}.")
        if temporal_radius < 0:
            raise ValueError(f"temporal_radius must be >= 0, got {temporal_radius}.")
        if key_channels % num_heads or value_channels % num_heads:
            raise ValueError(
                f"num_heads={num_heads} must divide key_channels={key_channels} and value_channels={value_channels}."
            )
        self.channels = channels
        self.context_channels = context_channels
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.num_heads = num_heads
        self.window_size = window_size
        self.temporal_radius = temporal_radius
        self.context_window = context_window
        self.whole_window: bool | None = None

        self.to_qkv = nn.Conv2d(channels, 2 * key_channels + value_channels, kernel_size=1)
        self.spatial_bias = nn.Parameter(torch.zeros(num_heads, window_size**2), requires_grad=position_bias)
        self.temporal_bias = nn.Parameter(torch.zeros(num_heads, 2 * temporal_radius + 1), requires_grad=position_bias)
        if context_channels:
            self.context_to_kv = nn.Conv2d(context_channels, key_channels + value_channels, kernel_size=1)
            self.context_bias = nn.Parameter(torch.zeros(num_heads, context_window**2), requires_grad=position_bias)
        branches = 2 if context_channels else 1
        self.project = nn.Sequential(
            nn.Conv2d(branches * value_channels, channels, kernel_size=1, bias=False),
            get_norm_layer(norm, spatial_dims=2, channels=channels),
        )
        norm_layer = self.project[1]
        if getattr(norm_layer, "weight", None) is not None:
            nn.init.zeros_(norm_layer.weight)  # the block starts as the identity and adds only what training finds

    def forward(self, x: torch.Tensor, num_frames: int, context: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.project(self.correlate(x, num_frames, context).to(x.dtype))

    def correlate(self, x: torch.Tensor, num_frames: int, context: torch.Tensor | None = None) -> torch.Tensor:
        """The attention outputs before the projection: (B*T, V, H, W), fp32; V = value_channels for the space-time
        branch, then as many for the cross-scale branch when the block has one (zeros when ``context`` is None)."""
        bt, _, height, width = x.shape
        batch = bt // num_frames
        heads, dk, dv = self.num_heads, self.key_channels // self.num_heads, self.value_channels // self.num_heads
        q, k, v = torch.split(self.to_qkv(x), [self.key_channels, self.key_channels, self.value_channels], dim=1)
        # affinities and their softmax in fp32, also under autocast
        q, k, v = q.float(), k.float(), v.float()
        local = self._space_time(q, k, v, batch, num_frames, heads, dk, dv)  # B x h x dv x T x H x W
        branches = [local.permute(0, 3, 1, 2, 4, 5).reshape(bt, heads * dv, height, width)]
        if self.context_channels:
            if context is None:
                branches.append(torch.zeros_like(branches[0]))
            else:
                across = self._cross_scale(q, context, heads, dk, dv)  # B*T x h x dv x H x W
                branches.append(across.reshape(bt, heads * dv, height, width))
        return torch.cat(branches, dim=1)

    def _attend(
        self,
        q: torch.Tensor,
        keys: torch.Tensor | list[torch.Tensor],
        values: torch.Tensor | list[torch.Tensor],
        bias: torch.Tensor,
        valid: torch.Tensor | list[torch.Tensor],
    ) -> torch.Tensor:
        """Each query's softmax attention over its own window of neighbours.

        Args:
            q: (N, heads, d, *S), queries at the positions S, already scaled.
            keys: each position's neighbours from ``_neighbours``: (N, heads, d, *K, *S) over the window axes K, or
                the list of the prod(K) neighbours' (N, heads, d, *S) in row-major window order.
            values: the same for the values, with dv channels.
            bias: the relative position bias, (1, heads, *K, 1, ...) (one 1 per axis of S).
            valid: (1, 1, *K, *S) or its list of neighbours like ``keys``; 0 where a neighbour is outside the clip or
                the image.

        Returns:
            (N, heads, dv, *S).
        """
        window = bias.shape[2 : bias.dim() - q.dim() + 3]
        whole = isinstance(keys, torch.Tensor)  # else lists of neighbours, ``_neighbours(..., whole=False)``
        if whole:
            logits = (q.reshape(q.shape[:3] + (1,) * len(window) + q.shape[3:]) * keys).sum(dim=2)
        else:
            logits = torch.stack([(q * k).sum(dim=2) for k in keys], dim=2)
            logits = logits.view(logits.shape[:2] + window + logits.shape[3:])
            valid = torch.stack(valid, dim=2).unflatten(2, window)
        logits = logits + bias + (1.0 - valid) * _MASKED_LOGIT  # N x heads x *K x *S
        weights = torch.softmax(logits.flatten(2, 1 + len(window)), dim=2)  # N x heads x prod(K) x *S
        if whole:
            window_dims = tuple(range(3, 3 + len(window)))
            return (weights.view(logits.shape).unsqueeze(2) * values).sum(dim=window_dims)
        out = weights[:, :, 0].unsqueeze(2) * values[0]
        for n in range(1, len(values)):
            out = out + weights[:, :, n].unsqueeze(2) * values[n]
        return out

    def _space_time(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, frames: int, heads: int, dk: int, dv: int
    ) -> torch.Tensor:
        """Attention over the space-time window: (B*T, heads*dk, H, W) queries -> (B, heads, dv, T, H, W)."""
        r, size = self.temporal_radius, self.window_size
        pad = size // 2
        q = self._to_heads(q, batch, frames, heads, dk) * (dk**-0.5)  # B x heads x dk x T x H x W
        # keys/values padded to (T + 2r) x (H + 2p) x (W + 2p): each T x H x W position has its R x k x k window
        k_pad = F.pad(self._to_heads(k, batch, frames, heads, dk), (pad, pad, pad, pad, r, r))
        v_pad = F.pad(self._to_heads(v, batch, frames, heads, dv), (pad, pad, pad, pad, r, r))
        valid = F.pad(torch.ones_like(q[:1, :1, 0]), (pad, pad, pad, pad, r, r))  # 1 x 1 x (T+2r) x (H+2p) x (W+2p)
        # heads x R x k x k: a temporal term per frame offset plus a spatial term per window offset
        bias = self.temporal_bias[:, :, None, None] + self.spatial_bias.reshape(heads, 1, size, size)
        window, extent = (2 * r + 1, size, size), q.shape[3:]
        whole = self._whole_window(q)
        return self._attend(
            q,
            self._neighbours(k_pad, 3, window, extent, whole=whole),
            self._neighbours(v_pad, 3, window, extent, whole=whole),
            bias.reshape(1, heads, *window, 1, 1, 1),
            self._neighbours(valid, 2, window, extent, whole=whole),
        )

    def _cross_scale(self, q: torch.Tensor, context: torch.Tensor, heads: int, dk: int, dv: int) -> torch.Tensor:
        """Attention of each query over the coarser level's c x c window around (y/2, x/2): (B*T, heads*dk, H, W)
        queries and (B*T, C', ceil(H/2), ceil(W/2)) context -> (B*T, heads, dv, H, W)."""
        bt, _, height, width = q.shape
        size = self.context_window
        pad = size // 2
        kv = self.context_to_kv(context).float()  # B*T x (Ck + Cv) x h x w
        h, w = kv.shape[-2:]
        # nearest 2x upsampling of the padded coarse map: fine row y + 2 dy sits in coarse cell y // 2 + dy - pad
        kv = F.pad(kv, (pad, pad, pad, pad)).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        valid = F.pad(kv.new_ones(1, 1, h, w), (pad, pad, pad, pad))  # 0 where a neighbour is outside the image
        valid = valid.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        k_ctx = kv[:, : self.key_channels].reshape(bt, heads, dk, *kv.shape[-2:])
        v_ctx = kv[:, self.key_channels :].reshape(bt, heads, dv, *kv.shape[-2:])
        q = q.reshape(bt, heads, dk, height, width) * (dk**-0.5)
        window, extent, step = (size, size), (height, width), 2  # neighbours one coarse cell (2 fine pixels) apart
        whole = self._whole_window(q)
        return self._attend(
            q,
            self._neighbours(k_ctx, 3, window, extent, step, whole),
            self._neighbours(v_ctx, 3, window, extent, step, whole),
            self.context_bias.reshape(1, heads, *window, 1, 1),
            self._neighbours(valid, 2, window, extent, step, whole),
        )

    def _whole_window(self, q: torch.Tensor) -> bool:
        return self.whole_window if self.whole_window is not None else q.device.type != "cpu"

    @staticmethod
    def _neighbours(
        t: torch.Tensor,
        first_dim: int,
        window: tuple[int, ...],
        extent: tuple[int, ...],
        step: int = 1,
        whole: bool = True,
    ) -> torch.Tensor | list[torch.Tensor]:
        """The neighbours of each position of a padded map, without copying it.

        Axes ``first_dim, first_dim + 1, ...`` of ``t`` hold the padded map; the neighbour at window offset ``o`` of
        output position ``i`` is ``t[i + step * o]`` along each of them, for outputs ``i < extent``. With ``whole``:
        one strided view (..., *window, *extent, ...) of all of them; else the list of the prod(window) views
        (..., *extent, ...), one per offset in row-major order.
        """
        dims = range(first_dim, first_dim + len(window))
        if not whole:
            return [
                t[(slice(None),) * first_dim + tuple(slice(step * o, step * o + e) for o, e in zip(offsets, extent))]
                for offsets in itertools.product(*map(range, window))
            ]
        for dim, size in zip(dims, window):
            t = t.unfold(dim, step * (size - 1) + 1, 1)[..., ::step]
        t = t.movedim(tuple(range(-len(window), 0)), tuple(dims))
        crop = tuple(slice(e) for e in extent)
        return t[(slice(None),) * (first_dim + len(window)) + crop]

    @staticmethod
    def _to_heads(t: torch.Tensor, batch: int, frames: int, heads: int, depth: int) -> torch.Tensor:
        """B*T x heads*d x H x W -> B x heads x d x T x H x W."""
        height, width = t.shape[-2], t.shape[-1]
        return t.reshape(batch, frames, heads, depth, height, width).permute(0, 2, 3, 1, 4, 5).contiguous()
