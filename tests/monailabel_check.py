"""Run MONAI Label's real ``BundleInferTask`` on the exported bundle (``make monailabel-check``, its own venv).

Usage: ``python tests/monailabel_check.py BUNDLE_FOLDER``. Writes a synthetic NIfTI video, loads the bundle the way
``monailabel start_server --app monaibundle`` does, segments the video and checks the label it returns: same frame
count and size as the input, values 0/1. Exits 0 on success. Not part of ``make test``: monailabel installs its own
torch and several GB of packages.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from monailabel.tasks.infer.bundle import BundleInferTask

from ncm_components.data.synthetic import generate_echo
from ncm_components.transforms import write_volume


def main(bundle: str) -> int:
    echo = generate_echo(21, size=112)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "echo_video.nii.gz"
        write_volume(video, echo.video, echo.spacing, echo.fps)
        task = BundleInferTask(bundle, conf={})
        if not task.is_valid():
            print(f"monailabel-check: MONAI Label rejected the bundle at {bundle}", file=sys.stderr)
            return 1
        label_file, result = task({"image": str(video), "device": "cpu"})
        label = sitk.GetArrayFromImage(sitk.ReadImage(label_file))  # (T, H, W) in SimpleITK order
        print(f"monailabel-check: label {label.shape} (T, H, W), values {np.unique(label).tolist()}, info {result}")
        expected = echo.video.transpose(2, 0, 1).shape
        if label.shape != expected or not set(np.unique(label).tolist()) <= {0, 1}:
            print(f"monailabel-check: expected a 0/1 label of shape {expected}", file=sys.stderr)
            return 1
    print("monailabel-check: BundleInferTask segmented the video")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
