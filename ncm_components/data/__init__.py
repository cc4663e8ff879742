"""Echo datasets as MONAI datalists: CAMUS, EchoNet-Dynamic, DICOM cine loops and the built-in synthetic generator.

Converters and the generator live in their own modules (``camus``, ``echonet``, ``dicom``, ``synthetic``,
``sources``) and are imported by name; the package itself exports only what has no dependency on the transforms.
"""

from .datalist import load_datalist, write_datalist
from .dataset import BadItemError, EchoCacheDataset, VideoStream

__all__ = ["BadItemError", "EchoCacheDataset", "VideoStream", "load_datalist", "write_datalist"]
