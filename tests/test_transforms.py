"""Video transforms: loading as MetaTensors, ED->ES clip sampling, annotation flags, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, CopyItemsd, Invertd, RandRotated, Resized, ScaleIntensityd

from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms import (
    IGNORE_INDEX,
    AnnotatedFramesd,
    EmptyFramesUnannotatedd,
    LoadVideod,
    RandDepthGaind,
    RandNearFieldClutterd,
    RandPerspectived,
    RandSectorDropoutd,
    RandSectorWidthd,
    RandSpeckleNoised,
    SampleClipd,
    TemporalSmooth,
    TemporalSmoothd,
    annotated_frames,
    clip_indices,
    sparse_label,
    write_volume,
)


@pytest.fixture
def echo_item(tmp_path):
    echo = generate_echo(11, size=64)
    write_volume(tmp_path / "v.nii.gz", echo.video, echo.spacing, echo.fps)
    write_volume(tmp_path / "l.nii.gz", sparse_label(echo.lv_masks, [echo.ed_frame, echo.es_frame]), echo.spacing)
    write_volume(tmp_path / "f.nii.gz", echo.lv_masks, echo.spacing)
    item = {"image": str(tmp_path / "v.nii.gz"), "label": str(tmp_path / "l.nii.gz")}
    item.update(label_full=str(tmp_path / "f.nii.gz"), ed_frame=echo.ed_frame, es_frame=echo.es_frame)
    return item, echo


def test_load_video_meta(echo_item):
    item, echo = echo_item
    d = LoadVideod(["image", "label", "label_full"], num_classes=2)(item)
    assert d["image"].shape == (1, 64, 64, echo.video.shape[2]) and d["image"].dtype == torch.float32
    assert d["label"].dtype == torch.uint8
    assert d["image"].meta["spacing_known"] and d["image"].meta["pixel_spacing"].tolist() == pytest.approx(echo.spacing)
    assert d["image"].meta["original_affine"].shape == (4, 4)  # MONAI LoadImage's meta
    assert d["image"].meta["fps"] == pytest.approx(50.0) and d["image"].meta["filename_or_obj"].endswith("v.nii.gz")


def test_load_video_rejects_mismatched_label(tmp_path, echo_item):
    item, echo = echo_item
    write_volume(tmp_path / "short.nii.gz", echo.lv_masks[..., :5])
    with pytest.raises(ValueError, match="short.nii.gz: label shape"):
        LoadVideod(["image", "label"])({**item, "label": str(tmp_path / "short.nii.gz")})
    with pytest.raises(ValueError, match="outside the declared classes"):
        write_volume(tmp_path / "multi.nii.gz", echo.labels)
        LoadVideod(["image", "label"], num_classes=2)({**item, "label": str(tmp_path / "multi.nii.gz")})


@pytest.mark.parametrize(
    "first,last,frames,expected",
    [(2, 11, 4, [2, 5, 8, 11]), (11, 2, 4, [11, 8, 5, 2]), (3, 4, 4, [3, 3, 4, 4]), (5, 9, 1, [5])],
)
def test_clip_indices_uniform(first, last, frames, expected):
    assert clip_indices(first, last, frames).tolist() == expected


def test_clip_indices_random_keeps_ends_and_order():
    rng = np.random.RandomState(0)
    for _ in range(50):
        idx = clip_indices(4, 30, 10, rng)
        assert idx[0] == 4 and idx[-1] == 30 and (np.diff(idx) >= 0).all()
    assert len({tuple(clip_indices(4, 30, 10, rng)) for _ in range(10)}) > 1


@pytest.mark.parametrize("mode", ["uniform", "random"])
def test_sample_clip_from_ed_to_es(echo_item, mode):
    item, echo = echo_item
    keys = ["image", "label", "label_full"]
    d = SampleClipd(keys, num_frames=10, mode=mode)(LoadVideod(keys)(item))
    assert d["image"].shape[-1] == 10 and d["label"].shape[-1] == 10
    assert annotated_frames(d["label"]).tolist() == [True] + [False] * 8 + [True]
    assert d["clip_frames"][0] == echo.ed_frame and d["clip_frames"][-1] == echo.es_frame
    assert torch.equal(d["label_full"][..., 0], d["label"][..., 0])
    areas = d["label_full"].float().sum(dim=(0, 1, 2))
    # ED -> ES: the LV shrinks (to within a pixel's rasterisation of the whole heart's sway)
    assert areas[0] >= 0.99 * areas.max() and areas[-1] <= 1.01 * areas.min()


def test_sample_clip_falls_back_to_annotated_frames(echo_item):
    item, echo = echo_item
    item = {k: v for k, v in item.items() if k not in ("ed_frame", "es_frame")}
    d = SampleClipd(["image", "label"], num_frames=5)(LoadVideod(["image", "label"])(item))
    assert d["clip_frames"][0] == min(echo.ed_frame, echo.es_frame)
    with pytest.raises(ValueError, match="no ED/ES frames"):
        SampleClipd(["image"], num_frames=5)({"image": torch.zeros(1, 8, 8, 6)})


def test_annotated_frames_survive_rotation_with_border_padding(echo_item):
    item, _ = echo_item
    pipeline = Compose(
        [
            LoadVideod(["image", "label"]),
            SampleClipd(["image", "label"], num_frames=6),
            ScaleIntensityd("image"),
            Resized(["image", "label"], spatial_size=(48, 48, -1), mode=("bilinear", "nearest")),
            RandRotated(["image", "label"], range_z=0.4, prob=1.0, mode=("bilinear", "nearest"), padding_mode="border"),
            RandSpeckleNoised("image", prob=1.0),
            AnnotatedFramesd("label"),
        ]
    )
    pipeline.set_random_state(0)
    d = pipeline(item)
    assert d["image"].shape == (1, 48, 48, 6)
    assert d["annotated"].tolist() == [True, False, False, False, False, True]
    assert set(torch.unique(d["label"]).tolist()) <= {0, 1, 255}


def test_empty_frames_become_unannotated():
    label = torch.zeros(1, 8, 8, 5, dtype=torch.uint8)
    label[0, 2:5, 2:5, 0] = 1
    label[0, 3:6, 3:6, 4] = 1
    label[0, 0, 0, 2] = IGNORE_INDEX  # partly 255, otherwise empty: still unannotated
    out = EmptyFramesUnannotatedd("label")({"label": label})["label"]
    assert annotated_frames(out).tolist() == [True, False, False, False, True]
    assert torch.equal(out[..., 0], label[..., 0]) and label[..., 1].max() == 0  # input untouched
    as_array = EmptyFramesUnannotatedd("label")({"label": label.numpy()[0]})["label"]
    assert annotated_frames(as_array).tolist() == [True, False, False, False, True]


def test_sample_clip_window_holds_an_annotated_frame_at_varying_positions(echo_item):
    loaded = LoadVideod(["image", "label"], num_classes=4)(echo_item[0])
    sampler = SampleClipd(["image", "label"], num_frames=6, mode="window", max_stride=2)
    positions, strides = set(), set()
    for seed in range(30):
        sampler.set_random_state(seed)
        clip = sampler(loaded)
        frames = clip["clip_frames"].tolist()
        stride = frames[1] - frames[0]
        assert stride in (1, 2) and frames == list(range(frames[0], frames[0] + 6 * stride, stride))  # even stride
        flags = annotated_frames(clip["label"]).tolist()
        assert any(flags)
        positions.add(flags.index(True))
        strides.add(stride)
    assert len(positions) >= 4 and strides == {1, 2}  # labelled frames are not always at the clip's ends


def test_sample_clip_mixed_draws_ed_es_clips_and_windows(echo_item):
    loaded = LoadVideod(["image", "label"], num_classes=4)(echo_item[0])
    sampler = SampleClipd(["image", "label"], num_frames=6, mode="mixed")
    kinds = set()
    for seed in range(20):
        sampler.set_random_state(seed)
        flags = annotated_frames(sampler(loaded)["label"]).tolist()
        kinds.add("ed_es" if flags[0] and flags[-1] else "window")
    assert kinds == {"ed_es", "window"}
    with pytest.raises(ValueError, match="mode"):
        SampleClipd(["image"], mode="sometimes")


def test_sample_clip_anywhere_covers_the_whole_video_with_and_without_labels(echo_item):
    loaded = LoadVideod(["image", "label"], num_classes=4)(echo_item[0])
    length = loaded["image"].shape[-1]
    sampler = SampleClipd(["image", "label"], num_frames=6, mode="anywhere", max_stride=2)
    seen, unlabelled = set(), 0
    for seed in range(200):
        sampler.set_random_state(seed)
        clip = sampler(loaded)
        frames = clip["clip_frames"].tolist()
        stride = frames[1] - frames[0]
        assert stride in (1, 2) and frames == list(range(frames[0], frames[0] + 6 * stride, stride))
        assert torch.equal(clip["image"], loaded["image"][..., clip["clip_frames"]])  # labels stay with their frames
        seen.update(frames)
        unlabelled += not any(annotated_frames(clip["label"]).tolist())
    assert seen == set(range(length)) and unlabelled > 0  # every frame, and windows that hold no label


def test_sample_clip_mixed_anywhere_share(echo_item):
    loaded = LoadVideod(["image", "label"], num_classes=4)(echo_item[0])
    never = SampleClipd(["image", "label"], num_frames=6, mode="mixed", anywhere_prob=0.0)
    always = SampleClipd(["image", "label"], num_frames=6, mode="mixed", anywhere_prob=1.0)
    anywhere = SampleClipd(["image", "label"], num_frames=6, mode="anywhere")
    for seed in range(40):
        for sampler in (never, always, anywhere):
            sampler.set_random_state(seed)
        assert any(annotated_frames(never(loaded)["label"]).tolist())  # without the share every clip holds a label
        always_frames = always(loaded)["clip_frames"]
        anywhere.R.rand()  # mixed draws its choice first, then the window as "anywhere" does
        assert torch.equal(always_frames, anywhere(loaded)["clip_frames"])
    with pytest.raises(ValueError, match="anywhere_prob"):
        SampleClipd(["image"], mode="mixed", anywhere_prob=1.5)


def test_sector_dropout_darkens_a_deep_wedge_only():
    image = torch.ones(1, 40, 32, 3)  # (C, X, Y, T): apex at x = 20, y = 0
    dropout = RandSectorDropoutd("image", prob=1.0, strength=(0.9, 0.9), width=(0.1, 0.1))
    dropout.set_random_state(3)
    out = dropout({"image": image})["image"]
    assert torch.equal(out[:, :, :3], image[:, :, :3])  # the near field keeps its signal
    assert float(out.min()) < 0.2 and float(out.max()) == 1.0  # a wedge loses up to 90 %
    assert torch.equal(out[..., 0], out[..., 2])  # every frame alike: the window does not move with the heart
    assert torch.equal(RandSectorDropoutd("image", prob=0.0)({"image": image})["image"], image)


def _two_class(foreground: torch.Tensor) -> torch.Tensor:
    """(H, W, T) foreground probabilities -> (2, H, W, T) class probabilities."""
    return torch.stack([1.0 - foreground, foreground])


def test_temporal_smoothing_keeps_linear_motion_and_removes_a_one_frame_jump():
    rows = torch.arange(24.0).view(24, 1, 1)
    # a soft contour moving down one row per frame: a probability ramp that shifts linearly in time
    moving = _two_class(((rows + torch.arange(8.0)) / 31.0).expand(24, 6, 8))
    smoothed = TemporalSmooth(0.25)(moving)
    assert torch.allclose(smoothed[..., 1:-1], moving[..., 1:-1], atol=1e-6)  # linear in time: kept exactly
    assert torch.allclose(smoothed.sum(0), torch.ones(24, 6, 8))
    # a sharp contour at row 12, one frame jumping to row 15 and back
    edges = torch.tensor([12, 12, 12, 15, 12, 12, 12])
    flicker = _two_class((rows < edges).float().expand(24, 6, 7))
    area = lambda probs: probs.argmax(0).sum(dim=(0, 1)).float()  # noqa: E731
    assert area(flicker)[3] - area(flicker)[2] == 18  # 3 rows x 6 columns
    assert torch.equal(area(TemporalSmooth(0.25)(flicker)), area(flicker[..., :1]).expand(7))  # the jump is voted out
    assert torch.equal(TemporalSmooth(0.0)(flicker), flicker)


def test_temporal_smoothing_keeps_metadata_for_inversion():
    image = MetaTensor(torch.rand(1, 30, 20, 5), affine=torch.diag(torch.tensor([0.3, 0.5, 1.0, 1.0])))
    resize = Resized("image", spatial_size=(16, 16, -1))
    item = resize({"image": image})
    item = CopyItemsd("image", names="pred")(item)
    item["pred"] = _two_class(item["pred"][0])
    item["pred"].applied_operations = list(item["image"].applied_operations)
    smoothed = TemporalSmoothd("pred")(item)
    assert isinstance(smoothed["pred"], MetaTensor)
    assert smoothed["pred"].applied_operations == item["image"].applied_operations
    inverted = Invertd("pred", transform=resize, orig_keys="image")(smoothed)
    assert tuple(inverted["pred"].shape) == (2, 30, 20, 5)  # back in the input's geometry


def test_temporal_smoothing_rejects_bad_input():
    with pytest.raises(ValueError, match="weight"):
        TemporalSmooth(0.5)
    with pytest.raises(ValueError, match="shape"):
        TemporalSmooth()(torch.rand(2, 8, 8))
    single = torch.rand(2, 8, 8, 1)
    assert torch.equal(TemporalSmooth()(single), single)  # one frame: nothing to smooth with


def _label_file(path, array: np.ndarray, dtype) -> str:
    """A label NIfTI stored with ``dtype`` (as other tools save masks), geometry as the echo_item's video."""
    import nibabel as nib

    image = nib.Nifti1Image(array.astype(dtype), np.diag([0.3, 0.3, 1.0, 1.0]))
    image.set_data_dtype(dtype)
    nib.save(image, str(path))
    return str(path)


@pytest.mark.parametrize(
    "dtype,value,message",
    [(np.float32, 0.9999, "must be whole class numbers; found 0.9999"), (np.int16, 256, r"\[256\] do not fit"),
     (np.int16, -1, r"\[-1\] do not fit"), (np.float32, np.nan, "must be whole class numbers; found NaN/inf")],
)  # fmt: skip
def test_label_values_a_cast_would_cut_are_refused_naming_the_file(tmp_path, echo_item, dtype, value, message):
    item, echo = echo_item
    label = sparse_label(echo.lv_masks, [echo.ed_frame, echo.es_frame]).astype(np.float64)
    label[label == 1] = value  # the LV saved as 0.9999 (interpolated), 256 or -1 (int16), NaN
    path = _label_file(tmp_path / "odd.nii.gz", label, dtype)
    with pytest.raises(ValueError, match=f"odd.nii.gz: label values {message}"):
        LoadVideod(["image", "label"], num_classes=2)({**item, "label": path})


def test_a_0_255_mask_reads_as_the_lv_on_its_annotated_frames(tmp_path, echo_item):
    item, echo = echo_item
    frames = [echo.ed_frame, echo.es_frame]
    mask = np.full(echo.lv_masks.shape, 255, np.uint8)  # frames nobody annotated: 255, as the convention says
    mask[..., frames] = echo.lv_masks[..., frames] * 255  # LV = 255, background 0, as many tools save masks
    path = _label_file(tmp_path / "m.nii.gz", mask, np.uint8)
    d = LoadVideod(["image", "label"], num_classes=2)({**item, "label": path})
    expected = sparse_label(echo.lv_masks, frames)
    np.testing.assert_array_equal(d["label"][0].numpy(), expected)
    assert np.flatnonzero(annotated_frames(d["label"][0].numpy())).tolist() == sorted(frames)


# ---------------------------------------------------------------- randomisation families
def _lv_clip() -> dict:
    """A clip (C, X, Y, T) with an LV label on frames 0 and 3 and 255 elsewhere, and a textured image."""
    image = torch.rand(1, 48, 40, 4)
    label = torch.full((1, 48, 40, 4), float(IGNORE_INDEX))
    for t in (0, 3):
        label[0, :, :, t] = 0
        label[0, 20:28, 10:30, t] = 1
    return {"image": image, "label": label}


def test_perspective_warps_image_and_label_alike_and_keeps_unannotated_frames():
    clip = _lv_clip()
    clip["image"] = (clip["label"] == 1).float()  # the image is the mask: both must land on the same pixels
    warp = RandPerspectived(["image", "label"], prob=1.0, distortion=0.1)
    warp.set_random_state(0)
    out = warp(clip)
    assert not torch.equal(out["label"], clip["label"])  # moved
    image_mask, label_mask = out["image"][..., 0] > 0.5, out["label"][..., 0] == 1
    dice = 2 * float((image_mask & label_mask).sum()) / float(image_mask.sum() + label_mask.sum())
    assert dice > 0.9  # the same geometry (bilinear and nearest differ on edge pixels only)
    assert set(out["label"][..., 1].unique().tolist()) == {float(IGNORE_INDEX)}  # nobody annotated it: still 255
    assert set(out["label"][..., 0].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(out["label"][..., 0], out["label"][..., 3])  # one warp for the whole clip


def test_sector_width_never_cuts_the_labelled_lv():
    clip = _lv_clip()
    clip["image"] = torch.ones_like(clip["image"])
    narrow = RandSectorWidthd("image", label_key="label", prob=1.0, half_angle=(0.1, 1.2))
    for seed in range(20):
        narrow.set_random_state(seed)
        out = narrow(dict(clip))["image"]
        assert bool((out[0, 20:28, 10:30] == 1).all())  # every LV pixel kept
        assert float(out.mean()) < 1.0  # the corners beyond the sector are black
    assert torch.equal(out[..., 0], out[..., 2])


def test_appearance_transforms_touch_images_only_and_keep_the_range():
    clip = _lv_clip()
    for transform in (
        RandDepthGaind("image", prob=1.0, gain=(1.5, 1.5), slope=(0.7, 0.7)),
        RandNearFieldClutterd("image", prob=1.0, level=(0.3, 0.3)),
        RandSpeckleNoised("image", prob=1.0, strength=(0.3, 0.3), grain=(1.2, 1.2)),
    ):
        transform.set_random_state(1)
        out = transform(dict(clip))
        assert out["label"] is clip["label"] and out["image"].shape == clip["image"].shape
        assert not torch.equal(out["image"], clip["image"]) and float(out["image"].min()) >= 0.0
    gained = RandDepthGaind("image", prob=1.0, gain=(1.0, 1.0), slope=(0.7, 0.7))(
        {"image": torch.full((1, 8, 8, 2), 0.5)}
    )
    assert float(gained["image"][0, 0, -1, 0]) > float(gained["image"][0, 0, 0, 0])  # the far field brighter
    hazed = RandNearFieldClutterd("image", prob=1.0, level=(0.3, 0.3))({"image": torch.zeros(1, 32, 32, 2)})["image"]
    assert float(hazed[:, :, :4].mean()) > 5 * float(hazed[:, :, -4:].mean())  # clutter lives near the transducer


def test_speckle_grain_coarsens_the_texture():
    flat = {"image": torch.full((1, 64, 64, 2), 0.5)}
    fine, coarse = (RandSpeckleNoised("image", prob=1.0, strength=(0.5, 0.5), grain=(g, g)) for g in (0.0, 2.0))
    fine.set_random_state(0)
    coarse.set_random_state(0)

    def neighbour_correlation(image: torch.Tensor) -> float:
        a = image[0, :-1, :, 0].flatten()
        b = image[0, 1:, :, 0].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

    assert neighbour_correlation(fine(flat)["image"]) < 0.1 < 0.5 < neighbour_correlation(coarse(flat)["image"])


@pytest.mark.parametrize("geometry, appearance", [(False, False), (True, False), (False, True), (True, True)])
def test_train_config_switches_the_families(geometry, appearance):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config("bundle/configs/train.yaml")
    parser["geometry_randomisation"], parser["appearance_randomisation"] = geometry, appearance
    names = [type(t).__name__ for t in parser.get_parsed_content("train#random_transforms")]
    assert names[:2] == ["SampleClipd", "RandFlipd"] and names[-1] == "SelectItemsd"
    assert ("RandAffined" in names) == geometry and ("RandPerspectived" in names) == geometry
    assert ("RandDepthGaind" in names) == appearance and ("RandSectorWidthd" in names) == appearance
