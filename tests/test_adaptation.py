"""Adaptation to a site's unlabelled videos (adapt.yaml): the folder rules, the label-free items, the teacher's guards
and a short run whose weights inference loads."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.utils import CommonKeys as Keys

from ncm_components.data.adaptation import mix_items, unlabelled_items
from ncm_components.data.datalist import load_datalist, write_datalist
from ncm_components.handlers import MeanTeacher
from ncm_components.simulation.synthetic import generate_dataset
from ncm_components.transforms import IGNORE_INDEX, SampleClipd, UnlabelledAsIgnoredd, annotated_frames, load_video

from .bundle_helpers import CONFIGS, TRAIN, make_tiny_dataset, run_bundle, tiny_overrides

ADAPT = str(CONFIGS / "adapt.yaml")
INFERENCE = str(CONFIGS / "inference.yaml")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A shifted-site folder of 5 videos (64 px), a broken file and a link to nothing; and the tiny labelled set."""
    root = tmp_path_factory.mktemp("site")
    generate_dataset(root / "site", num_train=5, num_val=0, num_test=0, size=64, seed=5, preset="shifted")
    (root / "site" / "videos" / "broken.nii.gz").write_bytes(b"not a video")
    os.symlink(root / "gone.avi", root / "site" / "videos" / "dangling.avi")
    make_tiny_dataset(root / "tiny")
    return root


def test_a_folder_gives_its_readable_videos_and_lists_the_rest_as_inference_does(site, tmp_path):
    items = unlabelled_items(site / "site" / "videos", tmp_path / "run", batch_size=2)
    assert len(items) == 5 and all(set(item) == {"image"} for item in items)
    with open(tmp_path / "run" / "failures.csv") as f:
        rows = {os.path.basename(row["input"]): row["error"] for row in csv.DictReader(f)}
    assert set(rows) == {"broken.nii.gz", "dangling.avi"} and "not a gzip file" in rows["broken.nii.gz"]
    assert "link to nothing" in rows["dangling.avi"]
    with pytest.raises(ValueError, match=r"5 usable video\(s\); 2 could not be read .*failures.csv.*one batch \(8\)"):
        unlabelled_items(site / "site" / "videos", tmp_path / "run", batch_size=8)
    with pytest.raises(ValueError, match="unlabelled_dir is empty"):
        unlabelled_items("", tmp_path / "run", batch_size=2)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        unlabelled_items(tmp_path / "nowhere", tmp_path / "run", batch_size=2)


def test_a_datalist_gives_the_videos_of_every_split(site, tmp_path):
    items = unlabelled_items(site / "tiny" / "datalist.json", tmp_path, batch_size=2)
    assert len(items) == 8 and not (tmp_path / "failures.csv").exists()  # 4 + 2 + 2, every one readable
    training_only = load_datalist(site / "tiny" / "datalist.json", "training")
    write_datalist(tmp_path / "training_only.json", {"training": training_only, "validation": [], "test": []})
    items = unlabelled_items(tmp_path / "training_only.json", tmp_path, batch_size=2)
    assert [item["image"] for item in items] == [item["image"] for item in training_only]  # empty splits: none


def test_mix_keeps_every_unlabelled_video_and_the_labelled_share():
    unlabelled = [{"image": f"u{i}"} for i in range(30)]
    labelled = [{"image": f"l{i}", "label": f"m{i}"} for i in range(4)]
    mixed = mix_items(labelled, unlabelled, 0.5, seed=1)
    assert mixed[:30] == unlabelled and len(mixed) == 60 and all("label" in item for item in mixed[30:])
    assert {item["image"] for item in mixed[30:]} == {f"l{i}" for i in range(4)}  # cycled through all of them
    assert len(mix_items([], unlabelled, 0.0)) == 30
    with pytest.raises(ValueError, match="labelled_share must be in"):
        mix_items(labelled, unlabelled, 1.0)
    with pytest.raises(ValueError, match="needs labelled items"):
        mix_items([], unlabelled, 0.25)


def test_an_unlabelled_video_gets_no_annotated_frame_and_a_window_anywhere(site):
    video = load_video(site / "site" / "videos" / "synthetic_0000.nii.gz")
    item = UnlabelledAsIgnoredd()({"image": video})
    assert item["label"].shape == video.shape and int(item["label"].unique()[0]) == IGNORE_INDEX
    assert torch.equal(item["label"].affine, video.affine) and not annotated_frames(item["label"]).any()
    sampler = SampleClipd(["image", "label"], num_frames=6, mode="mixed")
    sampler.set_random_state(0)
    starts = {int(sampler(dict(item))["clip_frames"][0]) for _ in range(20)}
    assert len(starts) > 3  # windows anywhere in the video
    with pytest.raises(ValueError, match="no ED/ES frames"):
        SampleClipd(["image", "label"], mode="uniform")(dict(item))


class _Identity(torch.nn.Module):
    """A network whose logits are its input: what the teacher sees is what it predicts."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.scale


def _logits(lv: torch.Tensor) -> torch.Tensor:
    """(1, 2, X, Y, T) logits: 6 for the LV where ``lv``, 6 for background elsewhere."""
    return torch.stack([(~lv).float(), lv.float()])[None] * 6.0


def _teacher_loss(teacher: MeanTeacher, student_view: torch.Tensor, teacher_view: torch.Tensor) -> float:
    engine = Engine(lambda e, b: None)
    engine.state.iteration = 10_000  # past the ramp
    engine.state.batch = {"image_teacher": teacher_view}
    label = torch.full((1, 1, *student_view.shape[2:]), IGNORE_INDEX)
    engine.state.output = {Keys.IMAGE: student_view, Keys.LABEL: label, Keys.PRED: student_view, Keys.LOSS: 0.0}
    teacher.add_unlabelled_loss(engine)
    return float(engine.state.output["unlabelled_loss"])


def test_the_teacher_sees_its_own_view_and_teaches_one_lv_region():
    """The student predicts the LV; the teacher's weak view also shows a stray LV blob (another chamber) on one
    frame. Seen through its own view the teacher disagrees on the blob; with the one-region prior it does not."""
    lv = torch.zeros(16, 16, 3, dtype=torch.bool)
    lv[2:8, 2:8] = True
    with_blob = lv.clone()
    with_blob[12:14, 12:14, 1] = True
    student_view, teacher_view = _logits(lv), _logits(with_blob)

    def teacher(**kwargs) -> MeanTeacher:
        return MeanTeacher(_Identity(), time_flip_prob=0.0, noise_std=0.0, **kwargs)

    own_view = _teacher_loss(teacher(), student_view, teacher_view)  # no teacher_key: the student's view
    weak_view = _teacher_loss(teacher(teacher_key="image_teacher"), student_view, teacher_view)
    one_region = _teacher_loss(teacher(teacher_key="image_teacher", one_region=True), student_view, teacher_view)
    assert own_view == pytest.approx(0.0, abs=1e-6) and weak_view > 1e-3
    assert one_region < 1e-3 * weak_view


def test_adapting_on_a_folder_writes_weights_inference_loads(site, tmp_path):
    """A short run from the tiny labelled set's weights: model.pt is the teacher at the end, the broken video is listed,
    no video of the site is copied, and inference.yaml segments with the adapted weights."""
    overrides = tiny_overrides(site / "tiny", tmp_path / "run", unlabelled_dir=str(site / "site" / "videos"),
                               adapt_iterations=4, init_weights="")  # fmt: skip
    del overrides["train#trainer#max_epochs"]  # adapt_iterations sets it
    result = run_bundle([TRAIN, ADAPT], overrides, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    models = tmp_path / "run" / "models"
    assert {"model.pt", "labelled_best.pt", "failures.csv"} <= {p.name for p in models.iterdir()}
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.endswith((".nii.gz", ".avi"))]
    checkpoint = torch.load(models / "checkpoint_epoch=1.pt", weights_only=True)
    final = torch.load(models / "model.pt", weights_only=True)
    assert all(torch.equal(final[k], checkpoint["teacher"][k]) for k in final)  # the teacher, not the student
    fingerprint = json.loads(checkpoint["fingerprint"]["fingerprint"])
    assert fingerprint["unlabelled_dir"] == str(site / "site" / "videos") and fingerprint["labelled_share"] == 0.5
    inferred = run_bundle([INFERENCE], {"dataset_dir": str(site / "site" / "videos" / "synthetic_0001.nii.gz"),
                                        "ckpt_dir": str(models), "output_dir": str(tmp_path / "out"),
                                        "image_size": 32, "clip_frames": 4})  # fmt: skip
    assert inferred.returncode == 0, inferred.stderr[-3000:]
    assert "NOT the shipped weights" in inferred.stderr + inferred.stdout
    assert (tmp_path / "out" / "predictions.csv").is_file()
    mask = load_video(tmp_path / "out" / "synthetic_0001_mask.nii.gz")
    assert mask.shape[1:] == load_video(site / "site" / "videos" / "synthetic_0001.nii.gz").shape[1:]
    assert np.isin(mask.numpy(), [0, 1]).all()
