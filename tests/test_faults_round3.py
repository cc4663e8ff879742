"""Fault suite, third round: runs that would do nothing, results that are not what they seem, inputs that stopped a
run, and errors that did not say what to do. Each test fails on the code before its fix."""

from __future__ import annotations

import json
import os
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from ncm_components.config import check_training_plan, flag, whole_number
from ncm_components.data import camus, echonet
from ncm_components.data.datalist import shared_videos
from ncm_components.handlers import RunLock
from ncm_components.handlers.run_lock import CheckpointFolderInUse
from ncm_components.metrics.video import score_video, summarise_videos
from ncm_components.networks import ncmnet_small
from ncm_components.simulation import synthetic
from ncm_components.transforms import load_video, write_volume

from .bundle_helpers import EVALUATE, LOGGING, TRAIN, make_tiny_dataset, tiny_overrides
from .test_data import chord_tracing, make_echonet
from .test_faults_inference import FRAMES, INFERENCE, _nifti, _run


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """(X, Y, T) = (40, 32, 8) float video in [0, 255]: non-square."""
    return synthetic.generate_echo(3, size=40).video[:, 4:36, :FRAMES].astype(np.float32)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def _train_error(overrides: dict) -> str:
    workflow = ConfigWorkflow(config_file=TRAIN, logging_file=LOGGING, workflow_type="train", **overrides)
    with pytest.raises(Exception) as error:
        workflow.initialize()
        workflow.run()
    cause, messages = error.value, []
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    return "\n".join(messages)


# ---------------------------------------------------------------- 1. runs that do nothing, or keep nothing
def test_a_training_that_would_run_no_iteration_or_keep_no_model_is_refused(tiny_data, tmp_path):
    too_big_batch = _train_error(tiny_overrides(tiny_data, tmp_path / "a", batch_size=5))
    assert "4 training video(s), fewer than one batch of 5" in too_big_batch and "--batch_size" in too_big_batch
    too_short = _train_error(tiny_overrides(tiny_data, tmp_path / "b", val_interval=5,
                                            **{"train#trainer#max_epochs": 2}))  # fmt: skip
    assert "2 epoch(s), fewer than --val_interval 5" in too_short and "no model.pt" in too_short
    zero = _train_error(tiny_overrides(tiny_data, tmp_path / "c", val_interval=0))
    assert "--val_interval 0: must be at least 1" in zero
    for folder in ("a", "b", "c"):
        assert not list((tmp_path / folder).rglob("*.pt"))
    with pytest.raises(ValueError, match="--batch_size 'four' is not a whole number"):
        check_training_plan(10, "four", 1, 1)


@pytest.mark.parametrize("spelling, value", [("false", False), ("False", False), ("0", False), (0, False),
                                             ("true", True), ("True", True), ("1", True), (True, True)])  # fmt: skip
def test_boolean_options_take_every_usual_spelling(spelling, value):
    assert flag(spelling, "keep_lv_component") is value


def test_a_boolean_option_in_yaml_spelling_turns_the_cleanup_off_and_a_typo_is_named(tmp_path):
    """``--keep_lv_component false`` from a shell is the string "false": the clean-up must be off, not on."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(INFERENCE)
    parser["keep_lv_component"] = "false"
    names = [type(t).__name__ for t in parser.get_parsed_content("postprocessing").transforms]
    assert "KeepLargestConnectedComponentd" not in names
    parser = ConfigParser()
    parser.read_config(INFERENCE)
    parser["keep_lv_component"] = "flase"
    with pytest.raises(Exception) as error:
        parser.get_parsed_content("postprocessing")
    assert "--keep_lv_component 'flase' is not a boolean" in str(error.value.__cause__ or error.value)
    assert whole_number("3", "val_interval") == 3


def test_inference_on_an_empty_test_split_says_so(tmp_path, random_weights):
    (tmp_path / "list.json").write_text(json.dumps({"training": [{"image": "a.nii.gz"}], "test": []}))
    error, rows, _ = _run(tmp_path / "list.json", random_weights, tmp_path / "out")
    assert "'test' split has no videos" in str(error) and "--input_split" in str(error) and not rows


# ---------------------------------------------------------------- 2. results that are not what they seem
def test_a_converted_dataset_folder_is_read_through_its_datalist(tmp_path, random_weights):
    synthetic.generate_dataset(tmp_path / "data", num_train=2, num_val=0, num_test=1, size=32)
    error, rows, failures = _run(tmp_path / "data", random_weights, tmp_path / "out")
    assert error is None and [os.path.basename(r["input"]) for r in rows] == ["synthetic_0002.nii.gz"]
    (tmp_path / "release").mkdir()  # a converter's output inside a folder of videos: left out, not segmented
    shutil.copytree(tmp_path / "data", tmp_path / "release" / "converted")
    _nifti(tmp_path / "release" / "own.nii.gz", load_video(rows[0]["input"]).numpy()[0])
    error, rows, failures = _run(tmp_path / "release", random_weights, tmp_path / "out2")
    assert error is None and [os.path.basename(r["input"]) for r in rows] == ["own.nii.gz"] and not failures


def test_blank_frames_first_and_impossible_spacings_are_listed_or_noted(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _nifti(inputs / "good.nii.gz", clip)
    _nifti(inputs / "blank.nii.gz", np.zeros_like(clip))
    _nifti(inputs / "grey.nii.gz", np.full_like(clip, 7.0))
    frames_first = nib.Nifti1Image(np.transpose(clip, (2, 0, 1)).copy(), np.eye(4))  # (T, X, Y), no time unit
    nib.save(frames_first, str(inputs / "frames_first.nii.gz"))
    for name, value in (("zero", 0.0), ("huge", 1e30), ("nan", np.nan)):
        image = nib.Nifti1Image(clip, None)
        image.header.set_xyzt_units("mm", "msec")
        image.header["pixdim"][1:3] = value
        nib.save(image, str(inputs / f"spacing_{name}.nii.gz"))
    error, rows, failures = _run(inputs, random_weights, tmp_path / "out")
    assert set(failures) == {"blank.nii.gz", "grey.nii.gz"} and "blank, every voxel is 7" in failures["grey.nii.gz"]
    notes = {os.path.basename(r["input"]): r for r in rows}
    assert "time axis assumed last" in notes["frames_first.nii.gz"]["notes"]
    for name in ("zero", "huge", "nan"):
        row = notes[f"spacing_{name}.nii.gz"]
        assert "is not a pixel's size" in row["notes"] and "edv_kpx3" in row and row["spacing_x_mm"] in ("", "nan")
    assert "affine is not usable" in notes["spacing_nan.nii.gz"]["notes"]
    assert (tmp_path / "out" / "spacing_nan_mask.nii.gz").is_file()  # the segmentation is kept, not lost


def test_metaimage_spacing_zero_or_nan_is_unknown_spacing(tmp_path):
    import SimpleITK as sitk

    array = (np.random.default_rng(0).random((6, 20, 24)) * 200).astype(np.uint8)
    for name, spacing in (("zero", "0 0 1"), ("nan", "nan nan 1")):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.3, 0.3, 20.0))
        sitk.WriteImage(image, str(tmp_path / f"{name}.mhd"))
        header = (tmp_path / f"{name}.mhd").read_text()
        header = "\n".join(f"ElementSpacing = {spacing}" if line.startswith("ElementSpacing") else line
                           for line in header.splitlines()) + "\n"  # fmt: skip
        (tmp_path / f"{name}.mhd").write_text(header)
        video = load_video(tmp_path / f"{name}.mhd")
        assert tuple(video.shape) == (1, 24, 20, 6) and not video.meta["spacing_known"]
        assert f"ElementSpacing {spacing} is not a pixel's size" in video.meta["reading_notes"]
        assert (tmp_path / f"{name}.mhd").read_text() == header  # the input untouched


def test_an_unknown_frame_rate_is_said_with_how_the_cycle_was_found(tmp_path, random_weights):
    echo = synthetic.generate_echo(4, size=32)
    write_volume(tmp_path / "in" / "no_rate.nii.gz", echo.video.astype(np.float32), spacing=None, fps=float("nan"))
    _, rows, _ = _run(tmp_path / "in", random_weights, tmp_path / "out")
    assert rows[0]["fps"] in ("", "nan") and "frame rate unknown (none in the file), none assumed" in rows[0]["notes"]
    assert rows[0]["cycle_found_by"]


def test_a_reference_with_ed_and_es_swapped_is_not_compared():
    label = np.zeros((16, 16, 4), np.uint8)
    label[2:12, 2:12, 0], label[4:8, 4:8, 3] = 1, 1  # ED (frame 0) large, ES (frame 3) small
    scored = score_video(label, label=label, ed_frame=3, es_frame=0, name="swapped")  # swapped in the datalist
    assert "ED and ES swapped" in scored.summary["reference_note"] and np.isnan(scored.summary["ef_ref"])
    summary = summarise_videos([scored])
    assert summary["ef_reference_refused"] == 1 and summary["ef_missing"] == 1 and np.isnan(summary["ef_mae"])


def test_echonet_tracings_outside_the_frame(tmp_path, capsys):
    outside = {3: chord_tracing((300, 300), 20, 10), 12: chord_tracing((62, 57), 24, 12)}
    make_echonet(tmp_path / "wholly", tracings_override=outside)
    report = echonet.convert(tmp_path / "wholly", tmp_path / "out1")
    assert report.exit_code == 1 and "wholly outside the 112 x 112 frame" in report.summary()
    partly = {3: chord_tracing((60, 100), 30, 18), 12: chord_tracing((62, 57), 24, 12)}
    make_echonet(tmp_path / "partly", tracings_override=partly)
    report = echonet.convert(tmp_path / "partly", tmp_path / "out2")
    assert report.exit_code == 0 and "of the tracing of frame 3 lies outside the frame: clipped" in report.summary()


def test_two_inferences_into_one_folder_cannot_run_at_once(tmp_path):
    holder = RunLock(str(tmp_path / "out"), what="inference run", option="--output_dir")
    holder.acquire()
    holder.path.write_text(json.dumps({"pid": 1, "host": os.uname().nodename, "started": "now"}))  # a live process
    error = None
    try:
        RunLock(str(tmp_path / "out"), what="inference run", option="--output_dir").acquire()
    except CheckpointFolderInUse as raised:
        error = raised
    assert error and "give this inference run its own --output_dir" in str(error)
    config = json.dumps(open(INFERENCE).read())
    assert "ncm_components.handlers.RunLock" in config and "ncm_components.handlers.RunLock" in open(EVALUATE).read()


def test_a_rerun_with_overwrite_removes_only_what_the_earlier_run_wrote(tmp_path, random_weights, clip):
    (tmp_path / "in").mkdir()
    _nifti(tmp_path / "in" / "first.nii.gz", clip)
    _nifti(tmp_path / "in" / "second.nii.gz", clip)
    _run(tmp_path / "in", random_weights, tmp_path / "out")
    (tmp_path / "out" / "my_notes.txt").write_text("keep me")
    (tmp_path / "in" / "first.nii.gz").unlink()
    error, rows, _ = _run(tmp_path / "in", random_weights, tmp_path / "out", overwrite=True)
    assert error is None and len(rows) == 1
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [name for name in left if name.startswith("first_")] and "my_notes.txt" in left


def test_converter_arguments_and_datalists_that_mislead(tmp_path, tiny_data):
    make_echonet(tmp_path / "release")
    report = echonet.convert(tmp_path / "release", tmp_path / "out", limit=-2)
    assert report.exit_code == 1 and "--limit" in report.summary() and not (tmp_path / "out").exists()
    assert echonet.main(["--root", str(tmp_path / "release"), "--out", str(tmp_path / "release" / "conv")]) == 1
    assert not (tmp_path / "release" / "conv").exists()  # refused before writing labels into the release
    leaky = tmp_path / "data"
    shutil.copytree(tiny_data, leaky)
    content = json.loads((leaky / "datalist.json").read_text())
    content["test"].append(content["training"][0])  # a training video also scored as a test video
    (leaky / "datalist.json").write_text(json.dumps(content))
    assert [os.path.basename(p) for p in shared_videos(leaky / "datalist.json", "test")] == ["synthetic_0000.nii.gz"]


def test_a_label_on_another_grid_than_its_video_is_named(tmp_path, caplog):
    from ncm_components.transforms import LoadVideod

    video = np.random.default_rng(0).random((16, 16, 4)).astype(np.float32) * 100
    write_volume(tmp_path / "v.nii.gz", video, (0.5, 0.5))
    write_volume(tmp_path / "l.nii.gz", np.zeros((16, 16, 4), np.uint8), (0.9, 0.9))
    LoadVideod(["image", "label"])({"image": str(tmp_path / "v.nii.gz"), "label": str(tmp_path / "l.nii.gz")})
    assert "l.nii.gz: its origin, spacing or direction differs from its video's" in caplog.text


# ---------------------------------------------------------------- 3. one input that stopped a run
def test_odd_names_links_and_mac_files_do_not_stop_inference(tmp_path, random_weights, clip):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _nifti(inputs / "good.nii.gz", clip)
    (inputs / "._good.nii.gz").write_bytes(b"\x00\x05\x16\x07 Mac OS X")  # AppleDouble
    os.symlink(inputs / "loop_b.nii.gz", inputs / "loop_a.nii.gz")
    os.symlink(inputs / "loop_a.nii.gz", inputs / "loop_b.nii.gz")
    with open(os.fsencode(str(inputs)) + b"/bad\xff.nii.gz", "wb") as stream:
        stream.write(b"not a video")  # a name that is not UTF-8
    _nifti(inputs / ("L" * 230 + ".nii.gz"), clip)
    error, rows, failures = _run(inputs, random_weights, tmp_path / "out")
    assert len(rows) == 2 and "._good.nii.gz" not in failures
    assert failures["loop_a.nii.gz"] == "a symbolic link loop (the links point at each other)"
    assert "bad\\xff.nii.gz" in failures and "not a gzip file" in failures["bad\\xff.nii.gz"]
    assert all(len(p.name) < 140 for p in (tmp_path / "out").iterdir())  # a shortened, unique output name


@pytest.mark.parametrize("encoding, separator, ending", [("utf-8-sig", ",", "\r\n"), ("utf-8", ";", "\n")])
def test_release_csvs_saved_by_a_spreadsheet_are_read(tmp_path, encoding, separator, ending):
    make_echonet(tmp_path / "release")
    for name in ("FileList.csv", "VolumeTracings.csv"):
        path = tmp_path / "release" / name
        lines = path.read_text().splitlines()
        path.write_bytes(ending.join(line.replace(",", separator) for line in lines).encode(encoding) + b"\n")
    report = echonet.convert(tmp_path / "release", tmp_path / "out")
    assert report.exit_code == 0, report.summary()
    (tmp_path / "release" / "FileList.csv").write_text("Name;EF\n0X1;50\n")
    with pytest.raises(ValueError, match=r"no FileName column \(read ';'-separated columns \['Name', 'EF'\]\)"):
        echonet.read_file_list(tmp_path / "release" / "FileList.csv")


def test_an_impossible_simulation_size_is_refused_before_allocating(capsys):
    with pytest.raises(SystemExit):
        synthetic.main(["--out", "/nonexistent", "--size", "100000"])
    assert "frames are 16 to 1024 pixels wide" in capsys.readouterr().err
    with pytest.raises(ValueError, match="size 100000"):
        synthetic.generate_echo(0, size=100000)


# ---------------------------------------------------------------- 4. errors that say what to do
def test_exporting_a_checkpoint_of_another_configuration_names_the_option(tmp_path):
    torch.save(ncmnet_small(use_uma=False).state_dict(), tmp_path / "no_uma.pt")
    network = ncmnet_small()
    with pytest.raises(RuntimeError, match=r"--network_def#use_uma False \(the checkpoint has no UMA\)"):
        network.load_state_dict(torch.load(tmp_path / "no_uma.pt", weights_only=True))
    from ncm_components import bundle_tools

    with pytest.raises(ValueError, match="To export it, build the network it was trained with: --network_def#use_uma"):
        bundle_tools.load_model_state(tmp_path / "no_uma.pt", ncmnet_small())


def test_camus_messages_say_what_is_wrong(tmp_path):
    from .test_data import make_camus_nifti_patient

    make_camus_nifti_patient(tmp_path / "in", info_extra="")
    (tmp_path / "in" / "patient0420" / "Info_4CH.cfg").write_text("ED: 0\nES: 5\nNbFrame: 6\n")
    (tmp_path / "in" / "patient0420" / "patient0420_2CH_half_sequence.nii.gz").unlink()
    report = camus.convert(tmp_path / "in", tmp_path / "out")
    summary = report.summary()
    assert "patient0420_2CH_half_sequence.nii.gz: missing; CAMUS 2023" in summary and ".mhd" not in summary
    assert "CAMUS numbers frames from 1" in summary
