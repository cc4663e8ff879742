"""NCM-Net components for left-ventricle segmentation in echocardiography videos (MONAI-compatible)."""

__version__ = "0.7.0"
