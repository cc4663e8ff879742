"""Fault suite, datalists and training folders: each problem stops the run before training, naming the file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from monai.bundle import ConfigWorkflow

from ncm_components.data import dicom, echonet, load_datalist
from ncm_components.data.sources import resolve_datalist
from ncm_components.transforms import IGNORE_INDEX, read_video, write_volume

from .bundle_helpers import LOGGING, TRAIN, make_tiny_dataset, tiny_overrides
from .test_data import make_echonet
from .video_files import write_dicom_cine


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


def _copy_with(tiny_data, tmp_path, edit) -> str:
    """The tiny dataset copied, its datalist edited by ``edit(datalist, folder)``; returns the folder."""
    folder = tmp_path / "data"
    shutil.copytree(tiny_data, folder)
    datalist = json.loads((folder / "datalist.json").read_text())
    edit(datalist, folder)
    (folder / "datalist.json").write_text(json.dumps(datalist))
    return str(folder)


def _train_error(dataset_dir, tmp_path) -> str:
    """Run training; return the chain of messages it stopped with (it must stop)."""
    workflow = ConfigWorkflow(
        config_file=TRAIN, logging_file=LOGGING, workflow_type="train", **tiny_overrides(dataset_dir, tmp_path)
    )
    with pytest.raises(Exception) as error:
        workflow.initialize()
        workflow.run()
    messages, cause = [], error.value
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    assert not list((tmp_path / "models").glob("checkpoint_epoch=*.pt")), "trained before finding the fault"
    return "\n".join(messages)


def test_one_based_indices_and_an_unannotated_validation_clip_are_named_before_training(tiny_data, tmp_path):
    def one_based(datalist, folder):
        item = datalist["validation"][0]
        item["ed_frame"], item["es_frame"] = item["ed_frame"] + 1, item["es_frame"] + 1

    message = _train_error(_copy_with(tiny_data, tmp_path, one_based), tmp_path)
    assert "synthetic_0004.nii.gz: ed_frame" in message and "must be 0-based" in message
    assert "tensor(" not in message and len(message) < 2000  # no dump of the data before the file's name


def test_a_label_without_annotated_frames_is_named_before_training(tiny_data, tmp_path):
    def unannotated(datalist, folder):
        label = folder / datalist["validation"][1]["label"]
        video = read_video(label)
        write_volume(label, np.full(video.array.shape, IGNORE_INDEX, np.uint8), affine=video.affine)

    message = _train_error(_copy_with(tiny_data, tmp_path, unannotated), tmp_path)
    assert "synthetic_0005.nii.gz: its label" in message and "has no annotated frame" in message


def test_an_index_beyond_the_video_is_named_without_a_tensor_dump(tiny_data, tmp_path):
    def beyond(datalist, folder):
        datalist["training"][2]["es_frame"] = 400

    message = _train_error(_copy_with(tiny_data, tmp_path, beyond), tmp_path)
    assert "synthetic_0002.nii.gz: es_frame 400 is outside its" in message and "tensor(" not in message


def test_a_datalist_of_strings_or_items_without_image_says_what_an_item_is(tiny_data, tmp_path):
    def strings(datalist, folder):
        datalist["training"] = [item["image"] for item in datalist["training"]]

    message = _train_error(_copy_with(tiny_data, tmp_path, strings), tmp_path)
    assert "item 0 of 'training' is a str" in message and 'an object with an "image" path' in message
    assert "dictionary update sequence" not in message
    (tmp_path / "no_image.json").write_text(json.dumps({"test": [{"label": "labels/a.nii.gz"}]}))
    with pytest.raises(ValueError, match="item 0 of 'test' is {'label': 'labels/a.nii.gz'}; every item is an object"):
        load_datalist(tmp_path / "no_image.json", "test")


def test_dataset_dir_may_point_at_the_datalist_file(tiny_data):
    assert resolve_datalist(str(tiny_data / "datalist.json")) == str(tiny_data / "datalist.json")
    assert resolve_datalist(str(tiny_data)) == str(tiny_data / "datalist.json")
    with pytest.raises(FileNotFoundError, match="no datalist"):
        resolve_datalist(str(tiny_data / "videos"))


def test_a_video_listed_under_two_splits_is_named_not_dropped(tmp_path):
    make_echonet(tmp_path / "in")
    with open(tmp_path / "in" / "FileList.csv", "a") as stream:
        stream.write("0X1,55.0,40.0,89.0,112,112,50,20,TEST\n")
    report = echonet.convert(tmp_path / "in", tmp_path / "out")
    assert report.exit_code != 0
    ((source, message),) = report.failed
    assert "lists 0X1 on several rows: line 2 (TRAIN), line 3 (TEST)" in message and "leak" in message


def test_a_series_stored_one_frame_per_file_is_converted_with_a_warning(tmp_path):
    (tmp_path / "export").mkdir()
    frame = np.random.default_rng(0).integers(0, 255, (40, 32, 1), dtype=np.uint8)
    for index in range(3):
        write_dicom_cine(tmp_path / "export" / f"IM{index}.dcm", frame)
    report = dicom.convert([tmp_path / "export"], tmp_path / "out")
    assert report.exit_code == 0 and len(report.done) == 3
    assert "3 one-frame DICOM files" in report.summary() and "multi-frame DICOM" in report.summary()
