"""Inference end to end (AVI, NIfTI, DICOM inputs), its outputs, bad input, and biplane volumes on real CAMUS."""

from __future__ import annotations

import csv
import math
import re

import cv2
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from ncm_components.data.camus import parse_info
from ncm_components.metrics.clinical import ejection_fraction, volume_biplane
from ncm_components.networks import ncmnet_small
from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms import read_video, write_volume

from .bundle_helpers import CONFIGS, LOGGING
from .conftest import CAMUS_SAMPLES, requires_camus
from .video_files import write_avi, write_dicom_cine

INFERENCE = str(CONFIGS / "inference.yaml")


@pytest.fixture(scope="module")
def input_videos(tmp_path_factory):
    """One synthetic video written as AVI, NIfTI and DICOM: {format: (path, (X, Y, T), spacing or None)}."""
    folder = tmp_path_factory.mktemp("inputs")
    echo = generate_echo(11, size=64)
    video = echo.video[..., :24]
    write_avi(folder / "clip.avi", video, fps=echo.fps)
    write_volume(folder / "clip_nifti.nii.gz", video, echo.spacing, echo.fps)
    write_dicom_cine(folder / "clip_dicom.dcm", video, spacing=(0.3, 0.25), frame_time_ms=20.0)
    return folder, video.shape, {"clip": None, "clip_nifti": echo.spacing, "clip_dicom": (0.3, 0.25)}


def _error_chain(error: BaseException) -> str:
    """All messages of an exception chain (MONAI wraps errors raised inside a config expression)."""
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(messages)


def _fails_with(run, pattern: str) -> None:
    with pytest.raises(Exception) as error:
        run()
    assert re.search(pattern, _error_chain(error.value), re.S), _error_chain(error.value)


def _inference(overrides: dict) -> ConfigWorkflow:
    workflow = ConfigWorkflow(config_file=INFERENCE, logging_file=LOGGING, workflow_type="infer", **overrides)
    workflow.initialize()
    return workflow


def _overrides(inputs, weights, output_dir, **extra) -> dict:
    return {
        "dataset_dir": str(inputs),
        "ckpt_path": str(weights),
        "output_dir": str(output_dir),
        "image_size": 32,
        "clip_frames": 4,
        **extra,
    }


def test_inference_on_avi_nifti_and_dicom(input_videos, random_weights, tmp_path):
    inputs, shape, spacings = input_videos
    workflow = _inference(_overrides(inputs, random_weights, tmp_path / "out"))
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert sorted(row["name"] for row in rows) == ["clip", "clip_dicom", "clip_nifti"]
    for name, spacing in spacings.items():
        mask = read_video(out / f"{name}_mask.nii.gz")
        assert mask.array.shape == shape, name  # input geometry and frame count
        assert set(np.unique(mask.array)) <= {0, 1}
        if spacing is None:  # unknown spacing stays unknown: pixels, never mm
            assert not mask.spacing_known and np.isnan(mask.spacing).all(), name
        else:
            assert mask.spacing_known and mask.spacing == pytest.approx(spacing, rel=1e-4), name
        areas = list(csv.DictReader(open(out / f"{name}_areas.csv")))
        assert len(areas) == shape[-1]
        overlay = cv2.VideoCapture(str(out / f"{name}_overlay.mp4"))
        assert int(overlay.get(cv2.CAP_PROP_FRAME_COUNT)) == shape[-1]
        assert (out / f"{name}_summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_spacing = next(row for row in rows if row["name"] == "clip")
    assert "no pixel spacing" in no_spacing["notes"] and "edv_kpx3" in no_spacing


def test_inference_never_overwrites_results_silently(input_videos, random_weights, tmp_path):
    inputs, _, _ = input_videos
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "predictions.csv").write_text("earlier results\n")
    workflow = _inference(_overrides(inputs / "clip.avi", random_weights, tmp_path / "out", overlay_format="gif"))
    _fails_with(workflow.run, "not empty.*--overwrite True")
    assert (tmp_path / "out" / "predictions.csv").read_text() == "earlier results\n"
    workflow = _inference(
        _overrides(inputs / "clip.avi", random_weights, tmp_path / "out", overlay_format="gif", overwrite=True)
    )
    workflow.run()
    assert (tmp_path / "out" / "clip_overlay.gif").read_bytes()[:6] == b"GIF89a"


def test_inference_bad_inputs_name_what_to_fix(input_videos, random_weights, tmp_path):
    inputs, _, _ = input_videos
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    _fails_with(
        _inference(_overrides(broken, random_weights, tmp_path / "a")).run, "1 of 1 videos could not be segmented"
    )
    assert "OpenCV cannot open" in (tmp_path / "a" / "failures.csv").read_text()
    _fails_with(
        _inference(_overrides(inputs / "clip.avi", tmp_path / "absent.pt", tmp_path / "b")).run,
        "absent.pt: no trained weights",
    )
    three_classes = tmp_path / "three.pt"
    torch.save(ncmnet_small(out_channels=3).state_dict(), three_classes)
    _fails_with(
        _inference(_overrides(inputs / "clip.avi", three_classes, tmp_path / "c")).run,
        "three.pt: .*another number of classes",
    )
    _fails_with(
        _inference(_overrides(tmp_path / "nowhere", random_weights, tmp_path / "d")).run,
        "nowhere: no such file or folder",
    )


def test_plain_and_wrapped_state_dicts_both_load(input_videos, random_weights, tmp_path):
    inputs, _, _ = input_videos
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"model": torch.load(random_weights, weights_only=True)}, wrapped)
    for weights, out in ((random_weights, "plain"), (wrapped, "wrapped")):
        workflow = _inference(_overrides(inputs / "clip_nifti.nii.gz", weights, tmp_path / out))
        workflow.run()
    plain = read_video(tmp_path / "plain" / "clip_nifti_mask.nii.gz").array
    assert np.array_equal(plain, read_video(tmp_path / "wrapped" / "clip_nifti_mask.nii.gz").array)


@requires_camus
@pytest.mark.parametrize("patient", ["patient0001", "patient0003"])
def test_biplane_volumes_match_camus_references(patient):
    """Biplane method of disks on the expert masks against the LVedv/LVesv in the CAMUS Info files (within 5 %)."""
    folder = CAMUS_SAMPLES / patient
    info = parse_info(folder / "Info_2CH.cfg")
    volumes = {}
    for phase in ("ED", "ES"):
        two = read_video(folder / f"{patient}_2CH_{phase}_gt.mhd")
        four = read_video(folder / f"{patient}_4CH_{phase}_gt.mhd")
        volumes[phase] = volume_biplane(two.array[..., 0] == 1, four.array[..., 0] == 1, two.spacing, four.spacing)
    assert volumes["ED"] == pytest.approx(info["LVedv"], rel=0.05)
    assert volumes["ES"] == pytest.approx(info["LVesv"], rel=0.05)
    assert ejection_fraction(volumes["ED"], volumes["ES"]) == pytest.approx(info["LVef"], abs=2.0)
    assert not math.isnan(volumes["ED"])
