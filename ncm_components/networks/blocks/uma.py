"""Unreliable-pixels masked attention (UMA), the boundary-refinement block of NCM-Net.

Deng & Wu, IEEE TMI 2025 (doi:10.1109/TMI.2025.3588157): attention restricted to the pixels the coarse prediction is
least sure about, reliable pixels masked out. The reliability rules, the fixed token budget (``unreliable_ratio``)
and the token embedding below are our choices (see ``docs/design.md``).
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
            ``"entropy"`` (softmax entropy).

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
        return -(probs * torch.log(probs.clamp_min(1e-8))).sum(dim=1)
    raise ValueError(f"Unknown reliability rule {rule!r}; expected one of {RELIABILITY_RULES}.")


class UnreliableMaskedAttention(nn.Module):
    """Self-attention among the least reliable pixels of each frame; reliable pixels pass through untouched.

    The ``ceil(unreliable_ratio * H * W)`` pixels with the highest :func:`unreliability_score` of the coarse logits are
    gathered as tokens (features + an embedding of their coarse class probabilities and normalised position), refined
    by a pre-norm transformer layer (multi-head attention among those tokens only, then an MLP) and scattered back.
    The token count is fixed by the input shape, which keeps the block exportable (TopK/Gather/ScatterElements) and its
    cost bounded. Every other pixel of the output is bit-identical to the input.

    Args:
        channels: feature channels C.
        num_classes: channels K of the coarse logits.
        unreliable_ratio: share of pixels per frame refined, in (0, 1].
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
        unreliable_ratio: float = 0.1,
        num_heads: int = 1,
        mlp_ratio: float = 2.0,
        reliability: str = "max_prob",
    ) -> None:
        super().__init__()
        if not 0.0 < unreliable_ratio <= 1.0:
            raise ValueError(f"unreliable_ratio must be in (0, 1], got {unreliable_ratio}.")
        if channels % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide channels={channels}.")
        if reliability not in RELIABILITY_RULES:
            raise ValueError(f"Unknown reliability rule {reliability!r}; expected one of {RELIABILITY_RULES}.")
        self.channels = channels
        self.unreliable_ratio = unreliable_ratio
        self.num_heads = num_heads
        self.reliability = reliability
        self.embed = nn.Linear(num_classes + 2, channels)  # class probabilities + (y, x) position
        self.norm_attn = nn.LayerNorm(channels)
        self.to_qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.norm_mlp = nn.LayerNorm(channels)
        hidden = max(int(channels * mlp_ratio), 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))

    def num_tokens(self, height: int, width: int) -> int:
        """Number of refined pixels per frame for an (H, W) map."""
        return max(1, min(height * width, int(math.ceil(self.unreliable_ratio * height * width))))

    def forward(self, features: torch.Tensor, coarse_logits: torch.Tensor) -> torch.Tensor:
        n, c, height, width = features.shape
        num_tokens = self.num_tokens(height, width)
        score = unreliability_score(coarse_logits, self.reliability)  # N x HW
        index = score.topk(num_tokens, dim=1).indices  # N x k

        flat = features.flatten(2)  # N x C x HW
        tokens = flat.gather(2, index.unsqueeze(1).expand(-1, c, -1)).transpose(1, 2)  # N x k x C
        probs = torch.softmax(coarse_logits.float(), dim=1).flatten(2)  # N x K x HW
        token_probs = probs.gather(2, index.unsqueeze(1).expand(-1, probs.shape[1], -1)).transpose(1, 2)  # N x k x K
        rows = torch.div(index, width, rounding_mode="floor").float() / max(int(height) - 1, 1)
        cols = torch.remainder(index, width).float() / max(int(width) - 1, 1)
        position = torch.stack([rows, cols], dim=2)  # N x k x 2
        tokens = tokens + self.embed(torch.cat([token_probs, position], dim=2)).to(tokens.dtype)

        tokens = tokens + self._attend(self.norm_attn(tokens))
        tokens = tokens + self.mlp(self.norm_mlp(tokens))  # N x k x C

        refined = flat.scatter(2, index.unsqueeze(1).expand(-1, c, -1), tokens.transpose(1, 2).to(flat.dtype))
        return refined.reshape(n, c, height, width)

    def _attend(self, tokens: torch.Tensor) -> torch.Tensor:
        n, k, c = tokens.shape
        heads, d = self.num_heads, c // self.num_heads
        # qkv: 3 x N x heads x k x d, affinities in fp32
        qkv = self.to_qkv(tokens).reshape(n, k, 3, heads, d).permute(2, 0, 3, 1, 4).float()
        out = F.scaled_dot_product_attention(qkv[0].contiguous(), qkv[1].contiguous(), qkv[2].contiguous())
        return self.out(out.transpose(1, 2).reshape(n, k, c).to(tokens.dtype))
