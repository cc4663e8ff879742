"""Neighbourhood correlation mining (NCM), the space-time correlation block of NCM-Net.

Deng & Wu, "Echocardiography Video Segmentation via Neighborhood Correlation Mining", IEEE TMI 2025,
doi:10.1109/TMI.2025.3588157. The paper's abstract fixes the idea (correlate each query with its spatio-temporal
neighbourhood to resist speckle, plus cross-scale context correlation); the window, radius, pooling and head sizes
below are our choices and are all constructor arguments (see ``docs/design.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.utils import get_norm_layer
from torch import nn

__all__ = ["NeighborhoodCorrelationMining"]

_MASKED_LOGIT = -1.0e4  # added to affinities of neighbours outside the clip or the image (fp32, softmax-safe)


class NeighborhoodCorrelationMining(nn.Module):
    """Local space-time correlation plus cross-scale context correlation, added residually to the features.

    For each query position (y, x) of frame t, keys in the ``window_size x window_size`` window around (y, x) in
    frames ``t - temporal_radius .. t + temporal_radius`` are correlated with the query (scaled dot product per
    head), a softmax is taken over that space-time neighbourhood and the values are summed with those weights.
    Neighbours outside the clip or the image are masked out of the softmax (not zero-padded into it), so a clip of
    ``T`` copies of one frame gives exactly the output of that frame alone, and ``T = 1`` is spatial correlation.

    In parallel, every query attends to context tokens of its own frame at coarser scales: the features average-pooled
    to about ``g x g`` cells for each ``g`` in ``context_grid_sizes`` (window ``ceil(H / g)``), plus one global token.

    The local and context results are concatenated, projected back to ``channels`` and added to the input.

    Args:
        channels: feature channels C of the input and output.
        key_channels: channels of queries and keys (all heads together); default ``channels // 4``.
        value_channels: channels of values (all heads together); default ``channels // 2``.
        num_heads: attention heads; must divide ``key_channels`` and ``value_channels``.
        window_size: odd spatial window k of the local correlation.
        temporal_radius: r, number of neighbouring frames on each side (0 = per-frame spatial correlation).
        context_grid_sizes: approximate pooled grid sizes of the context tokens; empty disables context correlation.
        norm: MONAI norm factory name or (name, args) after the output projection (the network's norm).

    Shapes:
        ``forward(x, num_frames)``: x (B*T, C, H, W) with frames folded into the batch, frame index fastest within
        each video (as ``x.reshape(B, T, ...)`` unfolds), returns (B*T, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        key_channels: int | None = None,
        value_channels: int | None = None,
        num_heads: int = 1,
        window_size: int = 3,
        temporal_radius: int = 1,
        context_grid_sizes: Sequence[int] = (4, 8),
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        key_channels = key_channels or max(channels // 4, num_heads)
        value_channels = value_channels or max(channels // 2, num_heads)
        if window_size < 1 or window_size % 2 == 0:
            raise ValueError(f"window_size must be a positive odd number, got {window_size}.")
        if temporal_radius < 0:
            raise ValueError(f"temporal_radius must be >= 0, got {temporal_radius}.")
        if key_channels % num_heads or value_channels % num_heads:
            raise ValueError(
                f"num_heads={num_heads} must divide key_channels={key_channels} and value_channels={value_channels}."
            )
        self.channels = channels
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.num_heads = num_heads
        self.window_size = window_size
        self.temporal_radius = temporal_radius
        self.context_grid_sizes = tuple(int(g) for g in context_grid_sizes)
        self.use_context = len(self.context_grid_sizes) > 0

        self.to_qkv = nn.Conv2d(channels, 2 * key_channels + value_channels, kernel_size=1)
        num_branches = 2 if self.use_context else 1
        if self.use_context:
            self.context_to_kv = nn.Conv2d(channels, key_channels + value_channels, kernel_size=1)
        self.project = nn.Sequential(
            nn.Conv2d(num_branches * value_channels, channels, kernel_size=1, bias=False),
            get_norm_layer(norm, spatial_dims=2, channels=channels),
        )

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        bt, _, height, width = x.shape
        batch = bt // num_frames
        heads, dk, dv = self.num_heads, self.key_channels // self.num_heads, self.value_channels // self.num_heads
        q, k, v = torch.split(self.to_qkv(x), [self.key_channels, self.key_channels, self.value_channels], dim=1)
        # affinities in fp32, also under autocast
        q, k = q.float(), k.float()

        local = self._local_correlation(q, k, v, batch, num_frames, heads, dk, dv)  # B*T x Cv x H x W
        branches = [local.to(x.dtype)]
        if self.use_context:
            branches.append(self._context_correlation(x, q, heads, dk, dv).to(x.dtype))
        return x + self.project(torch.cat(branches, dim=1))

    def _local_correlation(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, frames: int, heads: int, dk: int, dv: int
    ) -> torch.Tensor:
        height, width = q.shape[-2], q.shape[-1]
        r, pad = self.temporal_radius, self.window_size // 2
        # q: B x heads x dk x T x H x W ; keys/values padded to B x heads x d x (T+2r) x (H+2p) x (W+2p)
        q = self._to_heads(q, batch, frames, heads, dk)
        k_pad = F.pad(self._to_heads(k, batch, frames, heads, dk), (pad, pad, pad, pad, r, r))
        v_pad = F.pad(self._to_heads(v.float(), batch, frames, heads, dv), (pad, pad, pad, pad, r, r))
        valid = F.pad(
            torch.ones_like(q[:1, :1, :1]), (pad, pad, pad, pad, r, r)
        )  # 1 x 1 x 1 x (T+2r) x (H+2p) x (W+2p)

        # the 2r+1 temporal neighbours side by side (one copy), then one spatial offset at a time: a loop of k^2
        # slices beats stacking (2r+1) k^2 shifted copies (2-9x on CPU) and one op per neighbour (3x fewer ops)
        def neighbours_in_time(t: torch.Tensor) -> torch.Tensor:  # B x h x d x (T+2r) x .. -> B x h x d x R x T x ..
            return torch.stack([t[:, :, :, dt : dt + frames] for dt in range(2 * r + 1)], dim=3)

        k_nb, v_nb, valid_nb = neighbours_in_time(k_pad), neighbours_in_time(v_pad), neighbours_in_time(valid)
        windows = [(dy, dx) for dy in range(self.window_size) for dx in range(self.window_size)]
        q = q.unsqueeze(3)  # B x heads x dk x 1 x T x H x W
        # affinity: B x heads x R x k^2 x T x H x W, R = 2r+1 frames, k^2 window positions
        affinity = torch.stack(
            [(q * k_nb[..., dy : dy + height, dx : dx + width]).sum(dim=2) for dy, dx in windows], dim=3
        ) * (dk**-0.5)
        mask = torch.stack([valid_nb[..., dy : dy + height, dx : dx + width].squeeze(2) for dy, dx in windows], dim=3)
        affinity = affinity + (1.0 - mask) * _MASKED_LOGIT
        n_frames, n_windows = affinity.shape[2], affinity.shape[3]
        weights = torch.softmax(affinity.flatten(2, 3), dim=2).unflatten(2, (n_frames, n_windows)).unsqueeze(2)

        out = torch.zeros_like(v_pad[..., r : r + frames, pad : pad + height, pad : pad + width])
        for w, (dy, dx) in enumerate(windows):
            out = out + (weights[:, :, :, :, w] * v_nb[..., dy : dy + height, dx : dx + width]).sum(dim=3)
        # out: B x heads x dv x T x H x W -> B*T x heads*dv x H x W
        return out.permute(0, 3, 1, 2, 4, 5).reshape(batch * frames, heads * dv, height, width)

    @staticmethod
    def _to_heads(t: torch.Tensor, batch: int, frames: int, heads: int, depth: int) -> torch.Tensor:
        """B*T x heads*d x H x W -> B x heads x d x T x H x W."""
        height, width = t.shape[-2], t.shape[-1]
        return t.reshape(batch, frames, heads, depth, height, width).permute(0, 2, 3, 1, 4, 5).contiguous()

    def _context_correlation(self, x: torch.Tensor, q: torch.Tensor, heads: int, dk: int, dv: int) -> torch.Tensor:
        bt, _, height, width = x.shape
        pooled = [x.mean(dim=(2, 3), keepdim=True).flatten(2)]
        for grid in self.context_grid_sizes:
            window = (-(-int(height) // grid), -(-int(width) // grid))  # static: spatial size is fixed per export
            pooled.append(F.avg_pool2d(x, kernel_size=window, stride=window, ceil_mode=True).flatten(2))
        tokens = torch.cat(pooled, dim=2).unsqueeze(-1)  # B*T x C x S x 1
        k_ctx, v_ctx = torch.split(self.context_to_kv(tokens), [self.key_channels, self.value_channels], dim=1)
        # q: B*T x heads x HW x dk ; k: B*T x heads x dk x S ; v: B*T x heads x S x dv
        q_h = q.reshape(bt, heads, dk, height * width).transpose(2, 3)
        k_h = k_ctx.float().reshape(bt, heads, dk, -1)
        v_h = v_ctx.float().reshape(bt, heads, dv, -1).transpose(2, 3)
        # explicit softmax attention: nothing is masked, so SDPA's masked-softmax path would only cost time
        weights = torch.softmax(torch.matmul(q_h, k_h) * (dk**-0.5), dim=-1)  # B*T x heads x HW x S
        out = torch.matmul(weights, v_h)  # B*T x heads x HW x dv
        return out.transpose(2, 3).reshape(bt, heads * dv, height, width)
