"""NCM-Net blocks: neighbourhood correlation mining and unreliable-pixels masked attention."""

from .ncm import NeighborhoodCorrelationMining
from .uma import UnreliableMaskedAttention

__all__ = ["NeighborhoodCorrelationMining", "UnreliableMaskedAttention"]
