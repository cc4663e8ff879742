"""Fault injection: what a new user's broken files, folders and interrupted runs do, and that nothing is lost.

Each test reproduces a fault found by trying the product as a new user would and checks the fix: incomplete files
are refused with their name, no series is lost to a name collision, a kill during a checkpoint save leaves a
resumable checkpoint, a fresh run into a used checkpoint folder stops before training, one corrupt video does not stop
inference, and every error names the file and the problem.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigWorkflow

from ncm_components.data import camus, dicom, echonet, load_datalist
from ncm_components.data.atomic import PARTIAL_PREFIX
from ncm_components.handlers import CheckpointError, ModelWeightsLoader, latest_checkpoint, read_checkpoint
from ncm_components.handlers.checkpoint import AtomicCheckpointSaver, remove_orphaned_temporaries
from ncm_components.handlers.run_lock import LOCK_NAME
from ncm_components.metrics.video import clinical_figures
from ncm_components.networks import ncmnet_small
from ncm_components.simulation import synthetic
from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms import IncompleteFileError, VideoReadError, load_video, read_video, write_volume

from .bundle_helpers import LOGGING, TRAIN, bundle_command, make_tiny_dataset, subprocess_env, tiny_overrides
from .conftest import REPO_ROOT
from .test_data import make_camus_nifti_patient, make_echonet, tree_digest
from .video_files import write_avi, write_dicom_cine

INFERENCE = str(REPO_ROOT / "bundle" / "configs" / "inference.yaml")


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# ------------------------------------------------------------------------------------------ 1. incomplete files
def test_truncated_nifti_label_fails_conversion_naming_the_file(tmp_path, capsys):
    make_camus_nifti_patient(tmp_path / "in")
    label = tmp_path / "in" / "patient0420" / "patient0420_2CH_half_sequence_gt.nii.gz"
    truncate(label)
    assert camus.main(["--root", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(label) in err and "truncated" in err
    assert [i["case"] for i in load_datalist(tmp_path / "out" / "datalist.json", "test")] == ["patient0420_4CH"]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_truncated_nifti_video_is_refused(tmp_path, suffix):
    path = write_volume(tmp_path / f"video{suffix}", np.ones((32, 24, 8), np.uint8), (0.5, 0.5), 30.0)
    truncate(path, 0.7)
    with pytest.raises(IncompleteFileError, match=f"video{suffix}.*truncated"):
        load_video(path)


def test_truncated_metaimage_and_dicom_are_refused(tmp_path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.ones((6, 20, 30), np.uint8)), str(tmp_path / "v.mhd"))
    truncate(tmp_path / "v.raw")
    with pytest.raises(VideoReadError, match="v.raw.*truncated"):
        load_video(tmp_path / "v.mhd")
    write_dicom_cine(tmp_path / "loop.dcm", np.ones((30, 20, 6), np.uint8))
    truncate(tmp_path / "loop.dcm", 0.6)
    with pytest.raises(VideoReadError, match="loop.dcm"):
        load_video(tmp_path / "loop.dcm")


def test_truncated_avi_is_refused_by_the_reader_and_the_echonet_converter(tmp_path, capsys):
    make_echonet(tmp_path / "in", frames=20)
    avi = tmp_path / "in" / "Videos" / "0X1.avi"
    truncate(avi, 0.8)  # the tracings (frames 3 and 12) still decode
    assert echonet.main(["--root", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    assert "0X1" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ 2. DICOM names
def test_dicom_series_with_the_same_file_name_are_both_kept(tmp_path):
    for series, frames in (("series1", 10), ("series2", 25)):
        (tmp_path / "in" / series).mkdir(parents=True)
        write_dicom_cine(tmp_path / "in" / series / "IM0001.dcm", np.full((24, 16, frames), frames, np.uint8))
        (tmp_path / "in" / series / "IM0001.dcm").rename(tmp_path / "in" / series / "IM0001")  # the export's names
    (tmp_path / "in" / "README").write_text("exported by the scanner\n")  # not DICOM: ignored
    assert dicom.main(["--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    items = load_datalist(tmp_path / "out" / "datalist.json", "test")
    assert sorted(i["case"] for i in items) == ["series1_IM0001", "series2_IM0001"]
    assert sorted(read_video(i["image"]).num_frames for i in items) == [10, 25]


# ------------------------------------------------------------------------------------------ 3-4. checkpoints
KILL_AT_SECOND_CHECKPOINT = """
import os, runpy, signal, sys
real_replace = os.replace
def replace(source, target, *args, **kwargs):
    if str(target).endswith("checkpoint_epoch=2.pt"):
        os.kill(os.getpid(), signal.SIGKILL)  # the new checkpoint is written, the old one not yet removed
    return real_replace(source, target, *args, **kwargs)
os.replace = replace
sys.argv = ["monai.bundle"] + sys.argv[1:]
runpy.run_module("monai.bundle", run_name="__main__")
"""


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.mark.slow
def test_kill_during_a_checkpoint_save_keeps_a_resumable_checkpoint(tiny_data, tmp_path):
    overrides = tiny_overrides(tiny_data, tmp_path, **{"train#trainer#max_epochs": 3, "val_interval": 3})
    command = bundle_command([TRAIN], overrides)
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT_SECOND_CHECKPOINT] + command[3:],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    models = tmp_path / "models"
    assert latest_checkpoint(models).endswith("checkpoint_epoch=1.pt")  # the old checkpoint survived the kill
    assert [p.name for p in models.iterdir() if p.name.startswith(PARTIAL_PREFIX)]  # with the orphaned temporary
    resumed = subprocess.run(command, cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming training from" in resumed.stdout + resumed.stderr
    assert sorted(p.name for p in models.glob("checkpoint_epoch=*.pt")) == ["checkpoint_epoch=3.pt"]
    assert not [p.name for p in models.iterdir() if p.name.startswith(PARTIAL_PREFIX)]  # orphans cleaned


def test_orphaned_temporaries_are_removed_and_nothing_of_the_user(tmp_path):
    orphan = f"{PARTIAL_PREFIX}checkpoint_epoch=2.pt.ab12cd34"
    for name in (orphan, "checkpoint_epoch=1.pt", "tmp_best_so_far", "tmpab12cd34"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in remove_orphaned_temporaries(tmp_path)] == [orphan]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=1.pt", "tmp_best_so_far", "tmpab12cd34"]


def test_a_checkpoint_that_cannot_be_written_names_its_path(tmp_path, monkeypatch):
    saver = AtomicCheckpointSaver(str(tmp_path), {"model": torch.nn.Linear(2, 2)}, save_interval=1)

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full_disk)
    engine = Engine(lambda engine, batch: None)
    saver.attach(engine)
    with pytest.raises(OSError, match=r"_epoch=1\.pt: the checkpoint could not be written .*free space"):
        engine.run([0], max_epochs=1)
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_fresh_run_into_a_used_checkpoint_folder_stops_before_training(tiny_data, tmp_path):
    (tmp_path / "models").mkdir()
    torch.save({"model": {}}, tmp_path / "models" / "checkpoint_epoch=11.pt")
    overrides = tiny_overrides(tiny_data, tmp_path, resume=False)
    workflow = ConfigWorkflow(config_file=TRAIN, logging_file=LOGGING, workflow_type="train", **overrides)
    with pytest.raises(Exception) as error:
        workflow.initialize()
        workflow.run()
    assert "checkpoint_epoch=11.pt of an earlier run" in _chain(error.value)
    kept = [p.name for p in (tmp_path / "models").iterdir() if p.name != LOCK_NAME]  # (the lock goes at exit)
    assert kept == ["checkpoint_epoch=11.pt"]  # nothing touched


# ------------------------------------------------------------------------------------------ 5. one corrupt video
def test_one_corrupt_video_does_not_stop_inference(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, seed in (("a_good", 1), ("c_good", 2)):
        echo = generate_echo(seed, size=32)
        write_volume(inputs / f"{name}.nii.gz", echo.video, echo.spacing, echo.fps)
    (inputs / "b_corrupt.avi").write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save(ncmnet_small().state_dict(), tmp_path / "model.pt")
    overrides = {
        "dataset_dir": str(inputs),
        "ckpt_path": str(tmp_path / "model.pt"),
        "output_dir": str(tmp_path / "out"),
    }
    overrides.update(image_size=32, clip_frames=4, overlay_format="none")
    workflow = ConfigWorkflow(config_file=INFERENCE, logging_file=LOGGING, workflow_type="infer", **overrides)
    workflow.initialize()
    with pytest.raises(Exception) as error:
        workflow.run()
    assert "1 of 3 videos could not be segmented" in _chain(error.value)
    out = tmp_path / "out"
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in predictions[1:]] == ["a_good", "c_good"]  # each once, in order
    failures = (out / "failures.csv").read_text()
    assert "b_corrupt.avi" in failures and "OpenCV" in failures
    assert sorted(p.name for p in out.glob("*_mask.nii.gz")) == ["a_good_mask.nii.gz", "c_good_mask.nii.gz"]


def test_inference_cli_exits_non_zero_when_a_video_failed(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.avi").write_bytes(b"\x00" * 100)
    torch.save(ncmnet_small().state_dict(), tmp_path / "model.pt")
    overrides = {"dataset_dir": str(tmp_path / "in"), "ckpt_path": str(tmp_path / "model.pt")}
    overrides.update(output_dir=str(tmp_path / "out"), image_size=32)
    result = subprocess.run(
        bundle_command([INFERENCE], overrides), cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True
    )
    assert result.returncode != 0 and "could not be segmented" in result.stderr
    assert "broken.avi" in (tmp_path / "out" / "failures.csv").read_text()


# ------------------------------------------------------------------------------------------ 6. named errors
@pytest.mark.parametrize("root", ["missing", "empty"])
@pytest.mark.parametrize("converter", [camus, echonet])
def test_converters_name_a_missing_or_empty_root(tmp_path, capsys, converter, root):
    (tmp_path / "empty").mkdir()
    assert converter.main(["--root", str(tmp_path / root), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert str(tmp_path / root) in out and ("no such folder" in out or "missing" in out or "no patient" in out)


@pytest.mark.parametrize(
    "content,message", [(b"", "empty file"), (b"\x00" * 64, "not a loadable PyTorch checkpoint"), (None, "truncated")]
)
def test_broken_checkpoints_name_the_file(tmp_path, content, message):
    path = tmp_path / "model.pt"
    if content is None:
        torch.save(ncmnet_small().state_dict(), path)
        truncate(path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"{path.name}.*{message}"):
        read_checkpoint(path)
    network = ncmnet_small()
    loader = ModelWeightsLoader(str(path), {"model": network})
    with pytest.raises(CheckpointError, match=f"{path.name}"):
        loader(None)


def test_checkpoint_with_a_wrong_sha256_is_not_loaded(tmp_path):
    torch.save(ncmnet_small().state_dict(), tmp_path / "model.pt")
    loader = ModelWeightsLoader(str(tmp_path / "model.pt"), {"model": ncmnet_small()}, expected_sha256="0" * 64)
    with pytest.raises(CheckpointError, match="sha256 .* differs"):
        loader.attach(None)


def test_malformed_datalist_and_empty_split_name_the_file(tmp_path):
    (tmp_path / "datalist.json").write_text('{"training": [')
    with pytest.raises(ValueError, match="datalist.json: not a valid JSON"):
        load_datalist(tmp_path / "datalist.json")
    (tmp_path / "datalist.json").write_text(json.dumps({"training": [], "validation": [], "test": []}))
    with pytest.raises(ValueError, match="datalist.json: the 'training' split has no items"):
        load_datalist(tmp_path / "datalist.json", "training", required=True)


@pytest.mark.slow
def test_missing_training_file_exits_cleanly_naming_it(tiny_data, tmp_path):
    datalist = json.loads((tiny_data / "datalist.json").read_text())
    datalist["training"][0]["image"] = "videos/gone.nii.gz"
    (tmp_path / "data").mkdir()
    for folder in ("videos", "labels", "labels_full"):
        os.symlink(tiny_data / folder, tmp_path / "data" / folder)
    (tmp_path / "data" / "datalist.json").write_text(json.dumps(datalist))
    overrides = tiny_overrides(tmp_path / "data", tmp_path / "run")
    result = subprocess.run(
        bundle_command([TRAIN], overrides), cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True
    )
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "gone.nii.gz: file not found" in result.stderr and "terminate called" not in result.stderr


def test_unwritable_output_folder_is_a_message_not_a_traceback(tmp_path, capsys):
    make_camus_nifti_patient(tmp_path / "in")
    (tmp_path / "file").write_text("x")
    assert camus.main(["--root", str(tmp_path / "in"), "--out", str(tmp_path / "file")]) == 1
    assert "not an output folder" in capsys.readouterr().out


def test_nan_stop_names_the_batch_files(tiny_data, tmp_path):
    overrides = tiny_overrides(tiny_data, tmp_path, **{"loss#lambda_ce": float("nan")})
    workflow = ConfigWorkflow(config_file=TRAIN, logging_file=LOGGING, workflow_type="train", **overrides)
    workflow.initialize()
    with pytest.raises(Exception) as error:
        workflow.run()
    text = _chain(error.value)
    assert "training loss is nan" in text and "synthetic_00" in text and "batch files: []" not in text


# ------------------------------------------------------------------------------------------ 7. converter outputs
@pytest.mark.parametrize("overwrite", [False, True])
def test_converters_refuse_a_non_empty_output_folder_unless_told(tmp_path, capsys, overwrite):
    make_camus_nifti_patient(tmp_path / "in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.nii.gz").write_bytes(b"old")
    before = tree_digest(tmp_path / "out")
    argv = ["--root", str(tmp_path / "in"), "--out", str(tmp_path / "out")] + (["--overwrite"] if overwrite else [])
    code = camus.main(argv)
    if overwrite:
        assert code == 0 and (tmp_path / "out" / "datalist.json").is_file()
    else:
        assert code == 1 and "not empty" in capsys.readouterr().out and tree_digest(tmp_path / "out") == before
    assert synthetic.main(["--out", str(tmp_path / "out"), "--num-videos", "1", "--size", "32"]) == 1


# ------------------------------------------------------------------------------------------ 8. small ones
@pytest.mark.parametrize("frames", [1, 2])
def test_ef_of_a_one_or_two_frame_video_is_undefined(frames):
    mask = np.zeros((16, 16, frames), np.uint8)
    mask[4:12, 4:12] = 1
    figures = clinical_figures(mask)
    assert np.isnan(figures.ef)


def test_negative_video_count_is_refused(capsys):
    with pytest.raises(SystemExit) as error:
        synthetic.main(["--out", "unused", "--num-videos", "-5"])
    assert error.value.code == 2 and "positive" in capsys.readouterr().err


def test_avi_reader_refuses_fewer_frames_than_announced(tmp_path):
    write_avi(tmp_path / "v.avi", np.full((32, 24, 30), 100, np.uint8))
    truncate(tmp_path / "v.avi", 0.6)
    with pytest.raises(VideoReadError, match="v.avi"):
        load_video(tmp_path / "v.avi")


def _chain(error: BaseException | None) -> str:
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(messages)
