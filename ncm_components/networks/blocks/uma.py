"""Unreliable-pixels masked attention (UMA), the boundary-refinement block of NCM-Net.

Deng & Wu, IEEE TMI 2025 (doi:10.1109/TMI.2025.3588157): attention restricted to the pixels the coarse prediction is
unsure of, reliable pixels masked out. The reliability rules, the threshold with its token cap, and the context the
unreliable pixels attend to (a pooled grid of the whole frame and reliability-weighted class prototypes, both made of
reliable pixels as well) are our choices (see ``docs/design.md``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UnreliableMaskedAttention", "unreliability_score"]

RELIABILITY_RULES = ("max_prob", "margin", "entropy")


def unreliability_score(logits: torch.Tensor, rule: str = "max_prob") -> torch.Tensor:
    """Per-pixel unreliability of a prediction, higher = less reliable.

    Args:
        logits: (N, K, H, W) class logits.
        rule: ``"max_prob"`` (1 - max softmax probability), ``"margin"`` (1 - (top1 - top2) probability gap) or
            ``"entropy"`` (softmax entropy divided by log K, in [0, 1]).

    Returns:
        (N, H*W) fp32 scores.
    """
    probs = torch.softmax(logits.float(), dim=1).flatten(2)  # N x K x HW
    if rule == "max_prob":
        return 1.0 - probs.max(dim=1).values
    if rule == "margin":
        top2 = probs.topk(2, dim=1).values
        return 1.0 - (top2[:, 0] - top2[:, 1])
    if rule == "entropy":
        return -(probs * torch.log(probs.clamp_min(1e-8))).sum(dim=1) / math.log(max(probs.shape[1], 2))
    raise ValueError(f"Unknown reliability rule {rule!r}; expected one of {RELIABILITY_RULES}.")


class UnreliableMaskedAttention(nn.Module):
    """Refine the unreliable pixels of each frame by attending to context; reliable pixels pass through untouched.

    A pixel is unreliable when its :func:`unreliability_score` under the coarse logits exceeds ``threshold``; at most
    ``ceil(max_ratio * H * W)`` of the least reliable pixels per frame are refined (a static top-k keeps the block
    exportable and its cost bounded; the threshold makes the refined count adaptive below that cap). Each refined
    pixel becomes a query token (its features + an embedding of its coarse class probabilities and normalised
    position) that attends, in a pre-norm transformer layer (cross-attention, then an MLP), to context tokens that
    include the reliable pixels:

    - the frame's features average-pooled to about ``context_grid x context_grid`` cells (with the cells' mean class
      probabilities and positions embedded alike);
    - one prototype per class: the mean feature of the frame weighted by that class's probability times reliability.

    Updates are scattered back to the refined pixels; every other pixel of the output is bit-identical to the input.
    The attention output and MLP projections start at zero, so the block starts as the identity.

    Args:
        channels: feature channels C.
        num_classes: channels K of the coarse logits.
        threshold: unreliability above which a pixel is refined, in [0, 1).
        max_ratio: cap on the share of pixels per frame refined, in (0, 1].
        context_grid: approximate side of the pooled context grid.
        num_heads: attention heads; must divide ``channels``.
        mlp_ratio: hidden width of the MLP relative to ``channels``.
        reliability: rule of :func:`unreliability_score`.

    Shapes:
        ``forward(features, coarse_logits)``: features (N, C, H, W), coarse_logits (N, K, H, W) -> (N, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        threshold: float = 0.1,
        max_ratio: float = 0.15,
        context_grid: int = 8,
        num_heads: int = 1,
        mlp_ratio: float = 2.0,
        reliability: str = "max_prob",
    ) -> None:
        super().__init__()
        if not 0.0 < max_ratio <= 1.0:
            raise ValueError(f"max_ratio must be in (0, 1], got {max_ratio}.")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}.")
        if channels % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide channels={channels}.")
        if reliability not in RELIABILITY_RULES:
            raise ValueError(f"Unknown reliability rule {reliability!r}; expected one of {RELIABILITY_RULES}.")
        self.channels = channels
        self.num_classes = num_classes
        self.threshold = threshold
        self.max_ratio = max_ratio
        self.context_grid = context_grid
        self.num_heads = num_heads
        self.reliability = reliability
        self.embed = nn.Linear(num_classes + 2, channels)  # class probabilities + (y, x) position
        self.norm_query = nn.LayerNorm(channels)
        self.norm_context = nn.LayerNorm(channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_kv = nn.Linear(channels, 2 * channels)
        self.out = nn.Linear(channels, channels)
        self.norm_mlp = nn.LayerNorm(channels)
        hidden = max(int(channels * mlp_ratio), 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        for layer in (self.out, self.mlp[-1]):  # the refinement starts as the identity
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def num_tokens(self, height: int, width: int) -> int:
        """Largest number of refined pixels per frame for an (H, W) map."""
        return max(1, min(height * width, int(math.ceil(self.max_ratio * height * width))))

    def refined_mask(self, coarse_logits: torch.Tensor) -> torch.Tensor:
        """(N, H*W) bool: the pixels this block refines for these coarse logits."""
        score = unreliability_score(coarse_logits, self.reliability)
        top = score.topk(self.num_tokens(*coarse_logits.shape[-2:]), dim=1)
        chosen = torch.zeros_like(score, dtype=torch.bool)
        return chosen.scatter(1, top.indices, top.values > self.threshold)

    def forward(self, features: torch.Tensor, coarse_logits: torch.Tensor) -> torch.Tensor:
        n, c, height, width = features.shape
        score = unreliability_score(coarse_logits, self.reliability)  # N x HW
        top = score.topk(self.num_tokens(height, width), dim=1)
        index, active = top.indices, (top.values > self.threshold).unsqueeze(-1)  # N x k, N x k x 1

        flat = features.flatten(2)  # N x C x HW
        probs = torch.softmax(coarse_logits.float(), dim=1)  # N x K x H x W
        position = self._positions(height, width, features.device)  # 2 x HW
        tokens = flat.gather(2, index.unsqueeze(1).expand(-1, c, -1)).transpose(1, 2)  # N x k x C
        token_info = torch.cat([probs.flatten(2), position.expand(n, -1, -1)], dim=1)  # N x (K+2) x HW
        token_info = token_info.gather(2, index.unsqueeze(1).expand(-1, token_info.shape[1], -1)).transpose(1, 2)
        queries = tokens + self.embed(token_info).to(tokens.dtype)  # N x k x C

        context = self._context(features, probs, 1.0 - score, position)  # N x S x C
        update = self._attend(self.norm_query(queries), self.norm_context(context))
        refined = tokens + update  # the embedding informs the attention; the residual stream is the features
        refined = refined + self.mlp(self.norm_mlp(refined))
        tokens = torch.where(active, refined, tokens)  # N x k x C: only pixels above the threshold change

        out = flat.scatter(2, index.unsqueeze(1).expand(-1, c, -1), tokens.transpose(1, 2).to(flat.dtype))
        return out.reshape(n, c, height, width)

    @staticmethod
    def _positions(height: int, width: int, device: torch.device) -> torch.Tensor:
        """2 x HW normalised (row, column) of every pixel."""
        rows = torch.arange(height, device=device, dtype=torch.float32) / max(height - 1, 1)
        cols = torch.arange(width, device=device, dtype=torch.float32) / max(width - 1, 1)
        grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))  # 2 x H x W
        return grid.reshape(1, 2, height * width)

    def _context(
        self, features: torch.Tensor, probs: torch.Tensor, reliability: torch.Tensor, position: torch.Tensor
    ) -> torch.Tensor:
        """N x (g^2 + K) x C context tokens: the pooled frame, then reliability-weighted class prototypes."""
        n, c, height, width = features.shape
        window = (-(-int(height) // self.context_grid), -(-int(width) // self.context_grid))  # static per export
        info = torch.cat([probs, position.reshape(1, 2, height, width).expand(n, -1, -1, -1)], dim=1)
        cells = F.avg_pool2d(torch.cat([features.float(), info], dim=1), window, stride=window, ceil_mode=True)
        cells = cells.flatten(2).transpose(1, 2)  # N x g^2 x (C + K + 2)
        grid = cells[..., :c] + self.embed(cells[..., c:])
        weights = probs.flatten(2) * reliability.unsqueeze(1)  # N x K x HW
        weights = weights / (weights.sum(dim=2, keepdim=True) + 1e-6)
        prototypes = torch.matmul(weights, features.flatten(2).float().transpose(1, 2))  # N x K x C
        proto_info = torch.matmul(weights, info.flatten(2).transpose(1, 2))  # N x K x (K + 2)
        prototypes = prototypes + self.embed(proto_info)
        return torch.cat([grid, prototypes], dim=1).to(features.dtype)

    def _attend(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        n, k, c = queries.shape
        heads, d = self.num_heads, c // self.num_heads
        # q: N x heads x k x d ; k, v: N x heads x S x d ; affinities in fp32
        q = self.to_q(queries).reshape(n, k, heads, d).transpose(1, 2).float().contiguous()
        kv = self.to_kv(context).reshape(n, -1, 2, heads, d).permute(2, 0, 3, 1, 4).float()
        out = F.scaled_dot_product_attention(q, kv[0].contiguous(), kv[1].contiguous())  # N x heads x k x d
        return self.out(out.transpose(1, 2).reshape(n, k, c).to(queries.dtype))
