"""Fault suite, inference (second round): whatever one input does, the others are segmented, the failures listed
with their file and problem in ``failures.csv``, and no input or earlier result is touched or read as a video."""

from __future__ import annotations

import csv
import errno
import json
import os

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from monai.bundle import ConfigWorkflow

from ncm_components.data.atomic import PARTIAL_PREFIX
from ncm_components.handlers import VideoMetricsSaver, video_metrics, video_writer
from ncm_components.metrics.video import VideoScores
from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms import VideoReadError, load_video, write_volume

from .bundle_helpers import LOGGING
from .conftest import REPO_ROOT
from .video_files import write_avi, write_dicom_cine

INFERENCE = str(REPO_ROOT / "bundle" / "configs" / "inference.yaml")
FRAMES = 8


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """(X, Y, T) = (40, 32, 8) float video in [0, 255]: non-square."""
    return generate_echo(3, size=40).video[:, 4:36, :FRAMES].astype(np.float32)


def _nifti(path, array: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(array, np.diag([0.3, 0.3, 20.0, 1.0])), str(path))


def _run(inputs, weights, out, **extra) -> tuple[Exception | None, list[dict], dict[str, str]]:
    """Inference on ``inputs``; returns (the error it ended with, predictions.csv rows, {input name: failure})."""
    overrides = {"dataset_dir": str(inputs), "ckpt_path": str(weights), "output_dir": str(out), "image_size": 32,
                 "clip_frames": 4, "overlay_format": "none", **extra}  # fmt: skip
    workflow = ConfigWorkflow(config_file=INFERENCE, logging_file=LOGGING, workflow_type="infer", **overrides)
    error = None
    try:
        workflow.initialize()
        workflow.run()
    except Exception as raised:  # noqa: BLE001 (the test inspects it)
        error = raised
        while error.__cause__ is not None:  # MONAI wraps errors raised in a config expression
            error = error.__cause__
    rows = list(csv.DictReader(open(out / "predictions.csv"))) if (out / "predictions.csv").is_file() else []
    failures = {}
    if (out / "failures.csv").is_file():
        failures = {os.path.basename(row["input"]): row["error"] for row in csv.DictReader(open(out / "failures.csv"))}
    return error, rows, failures


def test_one_folder_of_every_kind_of_input(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    _nifti(inputs / "good.nii.gz", clip)
    _nifti(inputs / "singleton_axis.nii.gz", clip[:, :, None, :])  # (X, Y, 1, T): read by rule
    _nifti(inputs / "rgb.nii.gz", np.stack([clip, clip, clip], axis=-1))  # (X, Y, T, 3): grey by rule
    _nifti(inputs / "two_d.nii.gz", clip[..., 0])  # one frame: listed
    with_nan, with_inf = clip.copy(), clip.copy()
    with_nan[3, 3, 2], with_inf[3, 3, 2] = np.nan, np.inf
    _nifti(inputs / "nan.nii.gz", with_nan)
    _nifti(inputs / "inf.nii.gz", with_inf)
    _nifti(inputs / "tiny.nii.gz", clip[:1, :1])  # 1 x 1 pixels
    write_dicom_cine(inputs / "zero_spacing.dcm", clip.astype(np.uint8), spacing=(0.0, 0.0))  # calibration 0
    _nifti(inputs / os.fsdecode(b"caf\xff.nii.gz"), clip)  # a name that is not UTF-8
    write_avi(inputs / "a.avi", clip.astype(np.uint8), fps=50.0)
    _nifti(inputs / "a.nii.gz", clip)
    _nifti(inputs / "a_2.nii.gz", clip)
    image = sitk.GetImageFromArray(np.ascontiguousarray(clip.transpose(2, 1, 0)))
    sitk.WriteImage(image, str(inputs / "meta.mha"))
    sitk.WriteImage(image, str(inputs / "raw.nrrd"))
    _nifti(inputs / "a_gt.nii", (clip > 100).astype(np.uint8))  # a CAMUS-style label, uncompressed: not a video
    (inputs / f"{PARTIAL_PREFIX}x.nii.gz.tmp.nii.gz").write_bytes(b"\x1f\x8b")  # left by a killed run: ignored
    (tmp_path / "linked").mkdir()
    _nifti(tmp_path / "linked" / "through_link.nii.gz", clip)
    (inputs / "sub" / "link").symlink_to(tmp_path / "linked", target_is_directory=True)
    (inputs / "dangling.nii.gz").symlink_to(tmp_path / "gone.nii.gz")
    (inputs / "old_results").mkdir()  # an earlier run's results inside the input folder: not read
    _nifti(inputs / "old_results" / "v_mask.nii.gz", (clip > 100).astype(np.uint8))
    (inputs / "old_results" / "predictions.csv").write_text("name\nv\n")

    error, rows, failures = _run(inputs, random_weights, tmp_path / "out")
    assert "5 of 16 videos could not be segmented" in str(error)
    names = {row["name"] for row in rows}
    assert names == {"good", "singleton_axis", "rgb", "zero_spacing", "cafxff", "a_avi", "a_nii_gz", "a_2", "meta",
                     "raw", "through_link"}  # fmt: skip
    assert "single frame" in failures["two_d.nii.gz"]
    assert "1 voxel(s) are NaN or infinite" in failures["nan.nii.gz"] and "NaN or infinite" in failures["inf.nii.gz"]
    assert "1 x 1 pixels is too small" in failures["tiny.nii.gz"]
    assert "symbolic link to nothing" in failures["dangling.nii.gz"]
    zero = next(row for row in rows if row["name"] == "zero_spacing")
    assert "no pixel spacing" in zero["notes"]  # a calibration of 0 is no calibration: pixels
    assert next(row for row in rows if row["name"] == "cafxff")["input"].endswith("caf\\xff.nii.gz")
    mask = nib.load(str(tmp_path / "out" / "singleton_axis_mask.nii.gz"))
    assert mask.shape == (40, 32, FRAMES)
    assert (inputs / "old_results" / "v_mask.nii.gz").is_file()  # untouched


def test_input_folder_as_output_folder_is_refused_and_inputs_kept(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _nifti(inputs / "echo.nii.gz", clip)
    _nifti(inputs / "echo_mask.nii.gz", clip)
    before = {path.name: path.read_bytes() for path in inputs.iterdir()}
    error, rows, _ = _run(inputs, random_weights, inputs, overwrite=True)
    assert "the output folder holds the inputs" in str(error)
    assert {path.name: path.read_bytes() for path in inputs.iterdir()} == before


def test_a_rerun_removes_the_earlier_failures_and_reference_frames_outside_are_noted(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _nifti(inputs / "good.nii.gz", clip)
    (inputs / "broken.nii.gz").write_bytes(b"not a nifti")
    error, _, failures = _run(inputs, random_weights, tmp_path / "out")
    assert error is not None and "broken.nii.gz" in failures
    (inputs / "broken.nii.gz").unlink()
    partial = tmp_path / "out" / f"{PARTIAL_PREFIX}good_mask.nii.gz.x1y2.tmp.nii.gz"  # as a kill mid-write leaves it
    partial.write_bytes(b"\x1f\x8b")
    datalist = {"test": [{"image": str(inputs / "good.nii.gz"), "ed_frame": 40, "es_frame": 3}]}
    (tmp_path / "list.json").write_text(json.dumps(datalist))
    error, rows, failures = _run(tmp_path / "list.json", random_weights, tmp_path / "out", overwrite=True)
    assert error is None and failures == {} and not (tmp_path / "out" / "failures.csv").exists()
    assert not partial.exists()  # the killed write's leftover cleaned
    assert "ed_frame 40 of the datalist is outside the 8 frames: ignored" in rows[0]["notes"]


def test_a_full_disk_lists_the_video_and_keeps_the_others(tmp_path, random_weights, clip, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b", "c"):
        _nifti(inputs / f"{name}.nii.gz", clip)
    real_write = video_writer.write_volume

    def full_disk_for_b(path, *args, **kwargs):
        if os.path.basename(path) == "b_mask.nii.gz":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(video_writer, "write_volume", full_disk_for_b)
    error, rows, failures = _run(inputs, random_weights, tmp_path / "out")
    assert "1 of 3 videos could not be segmented" in str(error)
    assert [row["name"] for row in rows] == ["a", "c"]
    assert "cannot write its results (No space left on device)" in failures["b.nii.gz"]
    assert str(tmp_path / "out") in failures["b.nii.gz"]
    assert not list((tmp_path / "out").glob("b_*"))  # no half set of files


def test_a_truncated_gzip_is_listed_as_truncated(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _nifti(inputs / "good.nii.gz", clip)
    write_volume(inputs / "cut.nii.gz", clip)
    data = (inputs / "cut.nii.gz").read_bytes()
    (inputs / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    _, _, failures = _run(inputs, random_weights, tmp_path / "out")
    assert "the file is truncated" in failures["cut.nii.gz"]


def test_views_are_case_blind_and_a_patient_with_two_4ch_videos_gets_no_biplane_row(tmp_path, random_weights, clip):
    for name in ("p1_2ch", "p1_4ch", "p2_2ch", "p2_4ch_a", "p2_4ch_b"):
        _nifti(tmp_path / f"{name}.nii.gz", clip)
    items = [{"image": str(tmp_path / "p1_2ch.nii.gz"), "patient": "p1", "view": "2ch"},
             {"image": str(tmp_path / "p1_4ch.nii.gz"), "patient": "p1", "view": "4Ch"},
             {"image": str(tmp_path / "p2_2ch.nii.gz"), "patient": "p2", "view": "2CH"},
             {"image": str(tmp_path / "p2_4ch_a.nii.gz"), "patient": "p2", "view": "4CH"},
             {"image": str(tmp_path / "p2_4ch_b.nii.gz"), "patient": "p2", "view": "4CH"}]  # fmt: skip
    (tmp_path / "list.json").write_text(json.dumps({"test": items}))
    error, rows, _ = _run(tmp_path / "list.json", random_weights, tmp_path / "out")
    assert error is None and len(rows) == 5
    patients = {row["patient"]: row for row in csv.DictReader(open(tmp_path / "out" / "patients.csv"))}
    assert patients["p1"]["notes"] == "" and patients["p1"]["edv_ml"] != ""
    assert "2 4CH videos: no biplane volumes" in patients["p2"]["notes"] and patients["p2"]["ef_percent"] == ""


def test_evaluation_results_are_not_replaced_silently_and_rows_keep_their_folder(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    saver = VideoMetricsSaver(str(tmp_path))
    with pytest.raises(FileExistsError, match="results of an earlier evaluation .*--overwrite True"):
        saver.reset(None)
    VideoMetricsSaver(str(tmp_path), overwrite=True).reset(None)
    videos = [VideoScores(path, [{"video": path}], {"video": path}) for path in ("/d/a/x.nii.gz", "/d/b/x.nii.gz")]
    video_metrics._distinct_names(videos)
    assert [v.summary["video"] for v in videos] == ["a/x.nii.gz", "b/x.nii.gz"]
    assert videos[1].frames[0]["video"] == "b/x.nii.gz"


def test_a_negative_nifti_dimension_is_named(tmp_path, clip):
    path = tmp_path / "negative.nii"
    nib.save(nib.Nifti1Image(clip, np.eye(4)), str(path))
    header = bytearray(path.read_bytes())
    header[42:44] = (-5).to_bytes(2, "little", signed=True)  # dim[1] of the NIfTI-1 header
    path.write_bytes(bytes(header))
    with pytest.raises(VideoReadError, match=r"negative.nii: its header gives the image dimensions \(-5, 32, 8\)"):
        load_video(path)
