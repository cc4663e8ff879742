"""Networks: NCM-Net and its building blocks."""

from .blocks import NeighborhoodCorrelationMining, UnreliableMaskedAttention
from .nets import NCMNet, ncmnet_small

__all__ = ["NeighborhoodCorrelationMining", "UnreliableMaskedAttention", "NCMNet", "ncmnet_small"]
