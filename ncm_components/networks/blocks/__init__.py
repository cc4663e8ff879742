"""NCM-Net blocks: neighbourhood correlation mining and unreliable-pixels masked attention."""

from .ncm import FRAME_NORM, NeighborhoodCorrelationMining
from .uma import UnreliableMaskedAttention

__all__ = ["FRAME_NORM", "NeighborhoodCorrelationMining", "UnreliableMaskedAttention"]
