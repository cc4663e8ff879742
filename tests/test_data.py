"""Data: the synthetic generator, CAMUS / EchoNet-Dynamic / DICOM converters, video IO and the atomic writes."""

from __future__ import annotations

import hashlib
import json
import math

import cv2
import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath

from ncm_components.data import camus, dicom, echonet
from ncm_components.data.atomic import atomic_path
from ncm_components.data.datalist import SPLITS, load_datalist, write_datalist
from ncm_components.metrics.clinical import ejection_fraction, volume_single_plane
from ncm_components.simulation import synthetic
from ncm_components.transforms import VideoReadError, read_video, write_volume

from .conftest import CAMUS_SAMPLES, requires_camus
from .video_files import write_dicom_cine


def tree_digest(folder) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- synthetic generator
def test_synthetic_is_deterministic():
    a, b = synthetic.generate_echo(5), synthetic.generate_echo(5)
    assert np.array_equal(a.video, b.video) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.video[..., 0], synthetic.generate_echo(6).video[..., 0])


@pytest.mark.parametrize("ef", [20, 35, 50, 62, 75])
def test_synthetic_ground_truth_ef_matches_request(ef):
    for seed in range(3):
        echo = synthetic.generate_echo(seed, ef=ef)
        edv = volume_single_plane(echo.lv_masks[..., echo.ed_frame], echo.spacing)
        esv = volume_single_plane(echo.lv_masks[..., echo.es_frame], echo.spacing)
        assert abs(ejection_fraction(edv, esv) - ef) <= 3.0  # pixel masks, measured along their own axes


def test_synthetic_every_frame_labelled_and_ed_es_extremes():
    echo = synthetic.generate_echo(3)
    areas = echo.lv_masks.sum(axis=(0, 1))
    assert (areas > 0).all() and set(np.unique(echo.labels)) == {0, 1, 2, 3}
    cycle_areas = areas[echo.ed_frame : echo.es_frame + 1]
    # ED and ES are the extremes, to within a pixel's rasterisation of the whole heart's sway
    assert areas[echo.ed_frame] >= 0.99 * cycle_areas.max() and areas[echo.es_frame] <= 1.01 * cycle_areas.min()
    assert echo.video.dtype == np.uint8 and echo.video.shape == echo.labels.shape


def test_simulation_grey_levels_and_scene_match_real_echonet():
    """The ultrasound simulation's LV cavity, wall ring and surroundings have grey-level medians within +-50 % of
    406 real EchoNet-Dynamic ED/ES frames (the old painted generator: 48 / 167 / 83 against 7 / 50 / 40), and every
    row of the apical four-chamber scene around the LV (near field, apex, annulus, atrium, septum, lateral wall,
    sector footprint, axis angle, LV position) is within its bound of 152 real videos (0.7.0's simulation failed
    eleven of them)."""
    from ncm_components.simulation.image_stats import within_tolerance
    from ncm_components.simulation.scene_stats import scene_tolerance

    summary = synthetic.simulation_statistics(num_videos=40, size=112, seed=0)  # pooled like the real ones
    assert within_tolerance(summary) == {"cavity": True, "ring": True, "outside": True}, summary
    assert 0.04 < summary["lv_area"][1] < 0.14 and 0.5 < summary["sector"] < 0.75
    failed = {row: summary["scene"] for row, ok in scene_tolerance(summary["scene"]).items() if not ok}
    assert not failed, failed


def test_scene_statistics_follow_their_definitions():
    """A known frame: an upright LV mask with a bright band on its left (the septum) and a bright spot beyond its
    base; the footprint counts pixels the video ever lit above 10; intensities are scaled by the 99th percentile."""
    from ncm_components.simulation.scene_stats import scene_statistics

    video = np.zeros((112, 112, 3), np.uint8)  # (X, Y, T)
    video[20:100, 10:110, 1] = 40  # the lit sector on one frame only: the footprint is the video's maximum
    mask = np.zeros((112, 112), bool)
    mask[50:70, 20:80] = True  # x 50..69, y 20..79: L = 59 px along y, W = 1200 / 59
    video[40:46, 20:80, 0] = 200  # septum band left of the LV, on the ED frame
    video[58:62, 90:94, 0] = 200  # something bright 0.2 L beyond the base
    stats = scene_statistics(video, mask, ed_frame=0)
    assert stats["footprint"] == pytest.approx(80 * 100 / 112**2)
    assert stats["angle"] == pytest.approx(0.0, abs=1e-6) and stats["long_axis"] == pytest.approx(59.0)
    assert stats["centroid"] == pytest.approx((59.5, 49.5)) and stats["apex_row"] == pytest.approx(20.0)
    assert stats["across"][-0.75] == pytest.approx(1.0) and stats["across"][0.5] == 0.0  # 200 is the 99th pct
    assert stats["along"][1.2] == pytest.approx(1.0) and stats["along"][-0.2] == 0.0
    with pytest.raises(ValueError, match="empty"):
        scene_statistics(video, np.zeros_like(mask), 0)


def test_presets_are_sites_that_differ():
    """The shifted site draws another population, frame rate, framing and probe than the EchoNet-matched default;
    an unknown preset is named."""
    from ncm_components.simulation.presets import get_preset

    default, shifted = synthetic.generate_echo(3, size=64), synthetic.generate_echo(3, size=64, preset="shifted")
    assert default.fps == 50.0 and shifted.fps == 30.0 and default.view == "4CH"
    efs = [synthetic.draw_ejection_fraction(seed, "shifted") for seed in range(40)]
    assert 38 < np.median(efs) < 46 and np.median([synthetic.draw_ejection_fraction(s) for s in range(40)]) > 55
    assert not np.array_equal(default.video[..., 0], shifted.video[..., 0])
    with pytest.raises(ValueError, match="unknown simulation preset 'clinic'.*echonet"):
        get_preset("clinic")


def test_speckle_correlation_measures_the_grain_along_each_axis():
    """Fresh noise in every pixel correlates with nothing; noise smeared along x (a grain 3 px long, 1 px wide)
    correlates along x only; a smooth anatomical gradient under it does not count."""
    from ncm_components.simulation.image_stats import speckle_correlation

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(112, 112)).astype(np.float32)
    region = np.ones((112, 112), bool)
    along_x, along_y = speckle_correlation(noise, region)
    assert abs(along_x) < 0.1 and abs(along_y) < 0.1
    smeared = (noise + np.roll(noise, 1, axis=0) + np.roll(noise, 2, axis=0)) / 3
    gradient = np.linspace(0, 50, 112, dtype=np.float32)[None, :] * np.ones((112, 1), np.float32)
    along_x, along_y = speckle_correlation(smeared + gradient, region)
    assert 0.45 < along_x < 0.75 and abs(along_y) < 0.2  # the blur's residual leaves a small negative correlation
    assert all(np.isnan(speckle_correlation(noise, np.zeros((112, 112), bool))))


def test_simulation_varies_view_quality_and_keeps_the_label_in_the_sector():
    """EchoNet-Dynamic's site shows apical four-chamber views only; the shifted site mixes in two-chamber ones."""
    echoes = [synthetic.generate_echo(seed, size=64) for seed in range(6)]
    assert {echo.view for echo in echoes} == {"4CH"}
    assert {synthetic.generate_echo(seed, size=48, preset="shifted").view for seed in range(10)} == {"2CH", "4CH"}
    assert len({round(echo.quality, 3) for echo in echoes}) == 6
    for echo in echoes:
        assert echo.video[echo.lv_masks.astype(bool)].mean() < echo.video[echo.video > 0].mean()  # dark blood
    with pytest.raises(ValueError, match="view"):
        synthetic.generate_echo(0, view="PLAX")


def test_through_plane_loss_darkens_its_segment_only_around_its_phase():
    """A wall segment that leaves the plane at end-systole is lost there, back at end-diastole, untouched elsewhere."""
    from dataclasses import replace

    from ncm_components.simulation import anatomy, ultrasound

    rng = np.random.default_rng(0)
    heart = anatomy.sample_heart(rng, 55.0, "4CH")
    scan = ultrasound.SectorScan(150.0, math.radians(35), 96, 64)
    settings = replace(ultrasound.sample_scanner(rng, 0.5), through_plane=((0.9, 0.08, 40.0, 30.0, 0.9, 1.0),))
    simulator = ultrasound.BModeSimulator(heart, scan, settings, 64, 150.0 / 64, rng)
    at_es, at_ed = simulator._window_at(1.0), simulator._window_at(0.0)
    depth = scan.radii()[:, None] * np.ones((1, scan.beams))
    beam = np.ones((scan.samples, 1)) * (np.arange(scan.beams) + 0.5) / scan.beams
    segment = (np.abs(beam - 0.9) < 0.02) & (depth > 50) & (depth < 60)  # the core of the 40-70 mm segment
    far = (beam < 0.5) | (depth > 100)
    assert (at_es[segment] / simulator.window[segment]).max() < 0.2  # 90 % lost at the core at its worst phase
    np.testing.assert_allclose(at_ed, simulator.window, rtol=1e-6)  # |0 - 1| > 0.6: no loss at the other end
    np.testing.assert_allclose(at_es[far], simulator.window[far], rtol=1e-3)


def test_poor_windows_blur_the_wall_into_the_cavity():
    """Videos of the same seeds at a poor and at a good acoustic window: at the poor window the ring of wall around
    the LV stands out less from the cavity (clutter and noise fill the cavity; dropout and through-plane losses take
    parts of the wall)."""
    from ncm_components.simulation.image_stats import frame_statistics

    contrast = {}
    for quality in (0.05, 0.95):
        echoes = [synthetic.generate_echo(seed, size=80, quality=quality) for seed in range(4)]
        stats = [frame_statistics(e.video[..., e.ed_frame], e.lv_masks[..., e.ed_frame]) for e in echoes]
        ring, cavity = (np.median(np.concatenate([s[region] for s in stats])) for region in ("ring", "cavity"))
        contrast[quality] = float(ring - cavity)
    assert contrast[0.05] < 0.8 * contrast[0.95], contrast


def _circle(radius: float, points: int = 200, clockwise: bool = False) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False) * (-1 if clockwise else 1)
    return np.stack([radius * np.cos(angles), 50.0 + radius * np.sin(angles)], axis=1)


@pytest.mark.parametrize("clockwise", [False, True])
def test_tracing_runs_the_annotators_offset_outside_the_wall_and_moves_apex_and_annulus(clockwise):
    from ncm_components.simulation.tracing import Annotator, trace_cavity

    cavity, apex, base = _circle(20.0, clockwise=clockwise), np.array([0.0, 30.0]), np.array([0.0, 70.0])
    rng = np.random.default_rng(0)
    outside = trace_cavity(cavity, apex, base, Annotator(1.5, 0.0, 0.0, 0.0, 0.0, 400), rng)
    assert outside.shape == (400, 2)
    radii = np.hypot(outside[:, 0], outside[:, 1] - 50.0)
    assert np.allclose(radii, 21.5, atol=0.05)  # whichever way the outline runs
    stretched = trace_cavity(cavity, apex, base, Annotator(0.0, 3.0, 2.0, 0.0, 0.0, 400), rng)
    assert stretched[:, 1].max() == pytest.approx(73.0, abs=0.1) and stretched[:, 1].min() == pytest.approx(
        28.0, abs=0.1
    )
    wobbly = [trace_cavity(cavity, apex, base, Annotator(0.0, 0.0, 0.0, 1.0, 1.0, 24), rng) for _ in range(2)]
    assert wobbly[0].shape == (24, 2) and not np.allclose(wobbly[0], wobbly[1])  # no two frames traced alike
    with pytest.raises(ValueError, match="long axis"):
        trace_cavity(cavity, apex, apex, Annotator(0.0, 0.0, 0.0, 0.0, 0.0, 24), rng)


def test_synthetic_annotations_are_tracings_on_ed_and_es_of_the_same_video():
    traced, exact = synthetic.generate_echo(4, size=80), synthetic.generate_echo(4, size=80, traced=False)
    assert np.array_equal(traced.video, exact.video) and np.array_equal(traced.labels, exact.labels)
    annotated = [t for t in range(traced.annotations.shape[-1]) if (traced.annotations[..., t] != 255).any()]
    assert annotated == [traced.ed_frame, traced.es_frame]
    assert np.array_equal(exact.annotations[..., annotated], exact.labels[..., annotated])
    for t in annotated:
        lv_traced, lv_true = traced.annotations[..., t] == 1, traced.lv_masks[..., t].astype(bool)
        dice = 2 * (lv_traced & lv_true).sum() / (lv_traced.sum() + lv_true.sum())
        assert 0.8 < dice < 0.995  # close to the anatomy, never the anatomy itself
        assert set(np.unique(traced.annotations[..., t])) == set(np.unique(traced.labels[..., t]))


def test_synthetic_stats_cli_prints_the_table(capsys):
    assert synthetic.main(["--stats", "--num-videos", "3", "--size", "64"]) in (0, 1)
    out = capsys.readouterr().out
    assert "EchoNet-Dynamic (real)" in out and "LV cavity grey" in out
    assert "simulated tracings against the anatomy: Dice ED 0." in out
    assert "| LV area ES / ED | 0.51 / 0.56 / 0.62 |" in out and "frames ED -> ES at 50 fps" in out


def test_synthetic_dataset_cli_writes_datalist(tmp_path):
    assert synthetic.main(["--out", str(tmp_path), "--num-videos", "5", "--size", "64"]) == 0
    content = json.loads((tmp_path / "datalist.json").read_text())
    assert [len(content[s]) for s in ("training", "validation", "test")] == [3, 1, 1]
    item = load_datalist(tmp_path / "datalist.json", "training")[1]  # [0] has EF 10 %: 64 px masks measure it poorly
    video, sparse, full = (read_video(item[k]) for k in ("image", "label", "label_full"))
    assert video.array.shape == sparse.array.shape == full.array.shape and video.array.shape[:2] == (64, 64)
    annotated = [t for t in range(sparse.num_frames) if (sparse.array[..., t] != 255).any()]
    assert annotated == sorted([item["ed_frame"], item["es_frame"]])
    assert np.isin(full.array, [0, 1]).all() and video.fps == pytest.approx(50.0)
    assert abs(item["ef_masks"] - item["ef"]) <= 2.0 and video.spacing[0] == pytest.approx(item["spacing"][0])
    traced = sparse.array[..., annotated] == 1
    assert all(0.8 < d < 1.0 for d in item["tracing_dice"]) and not np.array_equal(traced, full.array[..., annotated])


def test_synthetic_dataset_exact_labels_annotate_with_the_anatomy(tmp_path):
    assert synthetic.main(["--out", str(tmp_path), "--num-videos", "1", "--size", "48", "--exact-labels"]) == 0
    assert json.loads((tmp_path / "datalist.json").read_text())["metadata"]["annotations"] == "anatomy"
    item = load_datalist(tmp_path / "datalist.json", "training")[0]
    sparse, full = (read_video(item[k]).array for k in ("label", "label_full"))
    frames = [item["ed_frame"], item["es_frame"]]
    assert np.array_equal(sparse[..., frames], full[..., frames]) and item["tracing_dice"] == [1.0, 1.0]


# ---------------------------------------------------------------- CAMUS
@requires_camus
def test_camus_2019_round_trip(tmp_path):
    before = tree_digest(CAMUS_SAMPLES)
    report = camus.convert(CAMUS_SAMPLES, tmp_path)
    assert report.exit_code == 0 and len(report.done) == 4
    items = load_datalist(tmp_path / "datalist.json", "training")
    assert {i["case"] for i in items} == {"patient0001_2CH", "patient0001_4CH", "patient0003_2CH", "patient0003_4CH"}
    item = next(i for i in items if i["case"] == "patient0001_2CH")
    video, label = read_video(item["image"]), read_video(item["label"])
    ed_source = read_video(CAMUS_SAMPLES / "patient0001" / "patient0001_2CH_ED.mhd")
    es_gt = read_video(CAMUS_SAMPLES / "patient0001" / "patient0001_2CH_ES_gt.mhd")
    assert video.array.shape == (549, 778, 2) and video.spacing == pytest.approx((0.308, 0.154))  # (X, Y, T), MONAI's
    assert np.array_equal(video.array[..., 0], ed_source.array[..., 0])  # frame 0 = ED
    assert np.array_equal(label.array[..., 1], (es_gt.array[..., 0] == 1).astype(np.uint8))
    assert set(np.unique(label.array)) == {0, 1}
    assert item["edv"] == 94.0 and item["ef"] == 63.2 and (item["ed_frame"], item["es_frame"]) == (0, 1)
    assert tree_digest(CAMUS_SAMPLES) == before  # inputs untouched


@requires_camus
def test_camus_all_classes(tmp_path):
    camus.convert(CAMUS_SAMPLES / "patient0003", tmp_path, all_classes=True)
    label = read_video(load_datalist(tmp_path / "datalist.json", "training")[0]["label"])
    assert set(np.unique(label.array)) == {0, 1, 2, 3}


def make_camus_nifti_patient(root, patient="patient0420", frames=6, es_first=True, info_extra=""):
    folder = root / patient
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, (32, 48, frames), dtype=np.uint8)
    gt = np.zeros((32, 48, frames), np.uint8)
    for t in range(frames):
        gt[8 : 20 + t, 10:30, t] = 1  # LV grows with t: frame order is visible
        gt[2:6, 10:30, t] = 2
    for view in ("2CH", "4CH"):
        write_volume(folder / f"{patient}_{view}_half_sequence.nii.gz", video, (0.3, 0.3))
        write_volume(folder / f"{patient}_{view}_half_sequence_gt.nii.gz", gt, (0.3, 0.3))
        ed, es = (frames, 1) if es_first else (1, frames)
        (folder / f"Info_{view}.cfg").write_text(f"ED: {ed}\nES: {es}\nNbFrame: {frames}\n{info_extra}")
    return video, gt


def test_camus_nifti_flips_time_when_es_first(tmp_path):
    video, gt = make_camus_nifti_patient(tmp_path / "in", es_first=True)
    report = camus.convert(tmp_path / "in", tmp_path / "out")
    assert report.exit_code == 0
    item = load_datalist(tmp_path / "out" / "datalist.json", "test")[0]  # patient 420 -> test split
    out_video, full = read_video(item["image"]), read_video(item["label_full"])
    sparse = read_video(item["label"])
    assert np.array_equal(out_video.array, video[..., ::-1])
    assert np.array_equal(full.array, (gt[..., ::-1] == 1).astype(np.uint8))
    assert [t for t in range(6) if (sparse.array[..., t] != 255).any()] == [0, 5]
    assert full.array[..., 0].sum() > full.array[..., 5].sum()  # frame 0 = ED, the largest LV


def test_camus_official_split(tmp_path):
    make_camus_nifti_patient(tmp_path / "in", patient="patient0007", es_first=False)
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "subgroup_validation.txt").write_text("patient0007\n")
    camus.convert(tmp_path / "in", tmp_path / "out", split_dir=tmp_path / "split")
    assert len(load_datalist(tmp_path / "out" / "datalist.json", "validation")) == 2


@pytest.mark.parametrize(
    "break_case,message",
    [
        (lambda f: (f / "Info_2CH.cfg").write_text("NbFrame: 6\n"), "no integer ED and ES"),
        (lambda f: (f / "Info_2CH.cfg").write_text("ED: 1\nES: 9\n"), "beyond the 6 frames"),
        (
            lambda f: write_volume(f / "patient0420_2CH_half_sequence_gt.nii.gz", np.full((32, 48, 6), 7, np.uint8)),
            "outside the declared classes",
        ),
        (
            lambda f: write_volume(f / "patient0420_2CH_half_sequence_gt.nii.gz", np.zeros((32, 40, 6), np.uint8)),
            "differs from video",
        ),
        (lambda f: (f / "patient0420_2CH_half_sequence.nii.gz").write_bytes(b"not nifti"), "not a gzip file"),
        (lambda f: (f / "Info_2CH.cfg").write_text("ED: 1\nES: 6\nNbFrame: 9\n"), "says NbFrame 9"),
        (lambda f: (f / "Info_2CH.cfg").write_text("ED: 0\nES: 5\n"), "CAMUS numbers frames from 1"),
        (
            lambda f: (f / "patient0420_2CH_half_sequence.nii.gz").unlink(),
            "half_sequence.nii.gz: missing; CAMUS 2023 gives each view as",
        ),
    ],
)
def test_camus_bad_case_is_reported_and_skipped(tmp_path, capsys, break_case, message):
    make_camus_nifti_patient(tmp_path / "in")
    break_case(tmp_path / "in" / "patient0420")
    before = tree_digest(tmp_path / "in")
    assert camus.main(["--root", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "patient0420_2CH" in err and message in err
    assert [i["case"] for i in load_datalist(tmp_path / "out" / "datalist.json", "test")] == ["patient0420_4CH"]
    assert tree_digest(tmp_path / "in") == before


# ---------------------------------------------------------------- EchoNet-Dynamic
def chord_tracing(centre, half_length, half_width, chords=20):
    """EchoNet-style rows: long axis first, then chords X1,Y1 (left) -> X2,Y2 (right) down an ellipse."""
    cy, cx = centre
    rows = [[cx, cy - half_length, cx, cy + half_length]]
    for y in np.linspace(cy - half_length * 0.95, cy + half_length * 0.95, chords):
        w = half_width * math.sqrt(max(0.0, 1 - ((y - cy) / half_length) ** 2))
        rows.append([cx - w, y, cx + w, y])
    return np.array(rows)


def independent_fill(rows, shape):
    """Pixel centres inside or on the polygon, by matplotlib's point-in-polygon test (not the code under test)."""
    x = np.concatenate((rows[1:, 0], rows[1:, 2][::-1]))
    y = np.concatenate((rows[1:, 1], rows[1:, 3][::-1]))
    vertices = np.stack([np.rint(x), np.rint(y)], axis=1)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    points, path = np.stack([xx.ravel(), yy.ravel()], 1), PolygonPath(vertices)
    # the sign of radius grows or shrinks the path depending on its orientation: the union keeps the boundary
    on_or_inside = path.contains_points(points, radius=1e-6) | path.contains_points(points, radius=-1e-6)
    return on_or_inside.reshape(shape)


def make_echonet(root, tracings_override=None, frames=20):
    (root / "Videos").mkdir(parents=True)
    writer = cv2.VideoWriter(str(root / "Videos" / "0X1.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50, (112, 112), False)
    for t in range(frames):
        writer.write(np.full((112, 112), 10 * t % 255, np.uint8))
    writer.release()
    (root / "FileList.csv").write_text(
        "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n0X1,55.0,40.0,89.0,112,112,50,20,TRAIN\n"
    )
    traces = tracings_override or {3: chord_tracing((60, 56), 30, 18), 12: chord_tracing((62, 57), 24, 12)}
    lines = ["FileName,X1,Y1,X2,Y2,Frame"]
    for frame, rows in traces.items():
        lines += [f"0X1.avi,{a},{b},{c},{d},{frame}" for a, b, c, d in rows]
    (root / "VolumeTracings.csv").write_text("\n".join(lines) + "\n")
    return traces


def test_echonet_rasterisation_matches_independent_fill(tmp_path):
    traces = make_echonet(tmp_path / "in")
    before = tree_digest(tmp_path / "in")
    assert echonet.convert(tmp_path / "in", tmp_path / "out").exit_code == 0
    item = load_datalist(tmp_path / "out" / "datalist.json", "training")[0]
    label = read_video(item["label"]).array
    assert label.shape == (112, 112, 20) and read_video(item["image"]).num_frames == 20
    for frame, rows in traces.items():
        expected = independent_fill(rows, (112, 112))  # (rows, columns)
        produced = label[..., frame].T.astype(bool)  # (X, Y) -> (rows, columns)
        assert np.array_equal(produced, expected)
    assert (item["ed_frame"], item["es_frame"]) == (3, 12)  # larger area = ED
    assert set(np.unique(label[..., 0])) == {255} and item["ef"] == 55.0 and item["fps"] == 50.0
    assert tree_digest(tmp_path / "in") == before


@pytest.mark.parametrize(
    "traces,message",
    [
        ({3: chord_tracing((60, 56), 30, 18), 40: chord_tracing((60, 56), 20, 10)}, "beyond the video"),
        ({3: chord_tracing((60, 56), 30, 18), 12: np.tile([[50.0, 50.0, 50.0, 50.0]], (5, 1))}, "empty"),
        ({3: chord_tracing((60, 56), 30, 18)}, "expected 2 traced frames"),
    ],
)
def test_echonet_bad_tracings(tmp_path, capsys, traces, message):
    make_echonet(tmp_path / "in", traces)
    assert echonet.main(["--root", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "0X1" in err and message in err


# ---------------------------------------------------------------- DICOM
def write_cine_dicom(path, frames=8, regions=True):
    """A 56 x 40 (X x Y) cine of ``frames`` frames; returns the (X, Y, T) array."""
    arr = (np.arange(frames * 40 * 56) % 251).astype(np.uint8).reshape(frames, 40, 56).transpose(2, 1, 0)
    spacing = (0.3, 0.25) if regions else (0.4, 0.2)
    write_dicom_cine(path, arr, spacing=spacing, frame_time_ms=33.3, regions=regions)
    return arr


@pytest.mark.parametrize("regions,spacing", [(True, (0.3, 0.25)), (False, (0.4, 0.2))])
def test_dicom_cine_to_nifti(tmp_path, regions, spacing):
    arr = write_cine_dicom(tmp_path / "loop.dcm", regions=regions)
    assert dicom.main(["--input", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    item = load_datalist(tmp_path / "out" / "datalist.json", "test")[0]
    video = read_video(item["image"])
    assert np.array_equal(video.array, arr)
    assert video.spacing == pytest.approx(spacing) and video.fps == pytest.approx(1000 / 33.3, rel=1e-3)


# ---------------------------------------------------------------- IO and atomic writes
def test_read_video_errors_name_the_file(tmp_path):
    with pytest.raises(VideoReadError, match="missing.nii.gz: file not found"):
        read_video(tmp_path / "missing.nii.gz")
    (tmp_path / "broken.avi").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="broken.avi"):
        read_video(tmp_path / "broken.avi")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VideoReadError, match="unsupported file type"):
        read_video(tmp_path / "notes.txt")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_datalist_paths_mean_the_same_from_any_working_directory(tmp_path, monkeypatch):
    """One rule for every datalist the project writes: inside the datalist's folder relative, elsewhere absolute."""
    (tmp_path / "work" / "data" / "videos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    inside, outside = tmp_path / "work" / "data" / "videos" / "a.nii.gz", tmp_path / "elsewhere" / "b.avi"
    inside.write_bytes(b"video a")
    outside.write_bytes(b"video b")
    monkeypatch.chdir(tmp_path / "work")  # the writer sees paths relative to its working directory, as the demo does
    items = [{"image": "data/videos/a.nii.gz", "label": None, "case": "a"}, {"image": str(outside)}]
    write_datalist("data/list.json", {"test": items})
    stored = json.loads((tmp_path / "work" / "data" / "list.json").read_text())["test"]
    assert stored[0] == {"image": "videos/a.nii.gz", "label": None, "case": "a"} and stored[1]["image"] == str(outside)
    for reader_dir in (tmp_path, tmp_path / "elsewhere", tmp_path / "work" / "data" / "videos"):
        monkeypatch.chdir(reader_dir)
        loaded = load_datalist(tmp_path / "work" / "data" / "list.json", "test")
        assert [open(item["image"], "rb").read() for item in loaded] == [b"video a", b"video b"]
    with pytest.raises(ValueError, match="unknown datalist split"):
        write_datalist(tmp_path / "bad.json", {"train": items})


def test_converters_write_datalists_that_read_from_another_directory(tmp_path, monkeypatch):
    make_echonet(tmp_path / "release")
    monkeypatch.chdir(tmp_path)
    assert echonet.main(["--root", "release", "--out", "converted"]) == 0
    stored = json.loads((tmp_path / "converted" / "datalist.json").read_text())
    assert all(item["image"].startswith("videos/") for split in SPLITS for item in stored[split])
    monkeypatch.chdir(tmp_path / "release")
    items = [item for split in SPLITS for item in load_datalist(tmp_path / "converted" / "datalist.json", split)]
    assert len(items) == 1 and all(read_video(item["label"]).num_frames > 0 for item in items)
