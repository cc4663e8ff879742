"""Masks land on their video voxel for voxel: non-square, anisotropic, offset and rotated inputs in every format.

The network here is a fixed intensity threshold (its output is known: the bright, off-centre moving block of each
test video), so a mask that is transposed, flipped, shifted or resampled wrongly cannot score. Each format's video is
checked through ``inference.yaml`` (the written mask file), ``evaluate.yaml`` (Dice against a reference written in
the input's geometry) and MONAI Label's ``BundleInferTask`` path (preprocessing, inferer, postprocessing).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from torch import nn

from ncm_components.transforms import load_video, write_volume

from .bundle_helpers import CONFIGS, EVALUATE, LOGGING, TRAIN
from .video_files import write_avi, write_dicom_cine

INFERENCE = str(CONFIGS / "inference.yaml")
SIZE = (48, 40, 6)  # X, Y, T: not square
THRESHOLD_NET = {"_target_": "tests.test_geometry.IntensityThreshold"}


class IntensityThreshold(nn.Module):
    """Logits (background, foreground) = +-20 (x - 0.5): the mask is where the scaled intensity exceeds 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - x, x - 0.5], dim=1) * 20.0


def block_video() -> np.ndarray:
    """(X, Y, T) uint8: a bright block near a corner that moves 4 pixels per frame, on a dim background."""
    video = np.full(SIZE, 20, np.uint8)
    for t in range(SIZE[2]):
        video[4 + 4 * t : 16 + 4 * t, 24:36, t] = 220
    return video


def rotated_affine(spacing=(0.3, 0.5), frame_time=20.0, origin=(12.0, -30.0, 5.0)) -> np.ndarray:
    """An oriented (90 degrees in plane), anisotropic, offset RAS affine."""
    affine = np.eye(4)
    affine[:3, 0] = (0.0, spacing[0], 0.0)  # voxel x runs along world y
    affine[:3, 1] = (-spacing[1], 0.0, 0.0)  # voxel y runs along world -x
    affine[:3, 2] = (0.0, 0.0, frame_time)
    affine[:3, 3] = origin
    return affine


def write_mhd(path, video: np.ndarray) -> None:
    """MetaImage with anisotropic spacing, an origin and a rotated direction (LPS, as ITK stores it)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(video.transpose(2, 1, 0)))
    image.SetSpacing((0.35, 0.6, 25.0))
    image.SetOrigin((5.0, 7.0, -3.0))
    angle = math.radians(30)
    image.SetDirection((math.cos(angle), -math.sin(angle), 0, math.sin(angle), math.cos(angle), 0, 0, 0, 1))
    sitk.WriteImage(image, str(path))


def write_oriented_dicom(path, video: np.ndarray) -> None:
    import pydicom

    write_dicom_cine(path, video, spacing=(0.4, 0.25), frame_time_ms=30.0, regions=False)
    ds = pydicom.dcmread(str(path))
    ds.ImageOrientationPatient = [0, 1, 0, -1, 0, 0]
    ds.ImagePositionPatient = [-15.0, 8.0, 2.5]
    ds.save_as(str(path))


WRITERS = {
    "video.nii.gz": lambda path, video: write_volume(path, video, affine=rotated_affine()),
    "video.mhd": write_mhd,
    "video.avi": lambda path, video: write_avi(path, video, fps=25.0),
    "video.dcm": write_oriented_dicom,
}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geometry")
    video = block_video()
    for name, write in WRITERS.items():
        (folder / name.split(".")[1]).mkdir()
        write(folder / name.split(".")[1] / name, video)
    weights = folder / "model.pt"
    torch.save(IntensityThreshold().state_dict(), weights)
    return folder, weights


def _source(folder, name):
    return folder / name.split(".")[1] / name


@pytest.mark.parametrize("name", list(WRITERS))
def test_inference_mask_overlays_the_video(inputs, name, tmp_path):
    folder, weights = inputs
    source = _source(folder, name)
    overrides = {"dataset_dir": str(source), "ckpt_path": str(weights), "output_dir": str(tmp_path / "out")}
    overrides.update(network_def=THRESHOLD_NET, image_size=32, clip_frames=4, overlay_format="none")
    workflow = ConfigWorkflow(config_file=INFERENCE, logging_file=LOGGING, workflow_type="infer", **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    video = load_video(source)
    mask = load_video(tmp_path / "out" / "video_mask.nii.gz", dtype=np.uint8)
    assert mask.shape == video.shape  # the input's size, frames included
    assert np.allclose(mask.affine.numpy(), video.affine.numpy(), atol=1e-4)  # its spacing, origin, direction
    assert mask.meta["spacing_known"] == video.meta["spacing_known"]
    expected = video.numpy()[0] > 120
    assert dice(mask.numpy()[0], expected) > 0.9  # the block, voxel for voxel
    assert dice(mask.numpy()[0], expected[::-1]) < 0.5  # not mirrored ...
    assert dice(mask.numpy()[0][..., ::-1], expected) < 0.8  # ... nor played backwards


@pytest.mark.parametrize("name", ["video.nii.gz", "video.mhd"])
def test_evaluation_scores_in_the_input_geometry(inputs, name, tmp_path):
    folder, weights = inputs
    source = _source(folder, name)
    video = load_video(source)
    reference = (video.numpy()[0] > 120).astype(np.uint8)
    write_volume(tmp_path / "label.nii.gz", reference, affine=video.affine.numpy())
    item = {"image": str(source), "label": "label.nii.gz", "label_full": "label.nii.gz"}
    datalist = {"training": [], "validation": [], "test": [item]}
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    (tmp_path / "models").mkdir()
    torch.save(IntensityThreshold().state_dict(), tmp_path / "models" / "model.pt")
    overrides = {"dataset_dir": str(tmp_path), "ckpt_dir": str(tmp_path / "models"), "output_dir": str(tmp_path / "e")}
    overrides.update(network_def=THRESHOLD_NET, image_size=32, clip_frames=4)
    workflow = ConfigWorkflow(config_file=[TRAIN, EVALUATE], logging_file=LOGGING, workflow_type="train", **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["dice_full"] > 0.9 and summary["distance_unit"] == "mm"


@pytest.mark.parametrize("name", list(WRITERS))
def test_monai_label_infer_task_prediction_keeps_the_input_geometry(inputs, name):
    """BundleInferTask's path: the prediction handed to MONAI Label's writer has the input's shape and affine."""
    folder, _ = inputs
    source = _source(folder, name)
    parser = ConfigParser()
    parser.read_config(INFERENCE)
    parser.update({"network_def": THRESHOLD_NET, "image_size": 32, "clip_frames": 4, "device": "$torch.device('cpu')"})
    network = parser.get_parsed_content("network").eval()
    data = parser.get_parsed_content("preprocessing")({"image": str(source)})
    with torch.no_grad():
        data["pred"] = parser.get_parsed_content("inferer")(data["image"][None], network)[0]
    pred = parser.get_parsed_content("postprocessing")(data)["pred"]
    video = load_video(source)
    assert tuple(pred.shape) == tuple(video.shape)
    assert np.allclose(np.asarray(pred.affine), video.affine.numpy(), atol=1e-4)
    assert dice(pred.numpy()[0], video.numpy()[0] > 120) > 0.9
