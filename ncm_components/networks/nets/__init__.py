"""NCM-Net, the full video segmentation network."""

from .framewise import FrameWise
from .ncmnet import NCMNet, ncmnet_small

__all__ = ["FrameWise", "NCMNet", "ncmnet_small"]
