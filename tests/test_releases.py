"""The simulation written as public releases (EchoNet-Dynamic, CAMUS 2019/2023) and read back by the converters, and
the simulation's population and motion against EchoNet-Dynamic's published statistics."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ncm_components.data import camus, echonet
from ncm_components.data.datalist import load_datalist
from ncm_components.simulation import synthetic
from ncm_components.simulation.motion_stats import (
    ECHONET_MOTION_REFERENCE,
    contraction_statistics,
    motion_tolerance,
    summarise_motion,
)
from ncm_components.transforms.io import read_video


def _release_echoes(count: int, **kwargs):
    return [synthetic.generate_echo(i, **kwargs) for i in range(count)]


def test_echonet_release_reads_back_as_the_simulation(tmp_path):
    assert synthetic.main(["--layout", "echonet", "--out", str(tmp_path / "release"), "--num-videos", "3"]) == 0
    release = tmp_path / "release"
    with open(release / "FileList.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames",
                             "Split"]  # fmt: skip
    assert [row["Split"] for row in rows] == ["TRAIN", "VAL", "TEST"]
    tracings = echonet.read_tracings(release / "VolumeTracings.csv")
    assert all(len(frame_rows) == 21 for frames in tracings.values() for frame_rows in frames.values())
    report = echonet.convert(release, tmp_path / "converted")
    assert report.exit_code == 0
    items = [item for split in ("training", "validation", "test") for item in load_datalist(
        tmp_path / "converted" / "datalist.json", split)]  # fmt: skip
    for index, item in enumerate(items):
        echo = synthetic.generate_echo(index)
        assert (item["ed_frame"], item["es_frame"]) == (echo.ed_frame, echo.es_frame)
        assert item["ef"] == pytest.approx(echo.ef_requested, abs=1e-4) and item["spacing"] is None
        video, label = read_video(item["image"]).array, read_video(item["label"]).array
        assert video.shape == echo.video.shape and np.abs(video.astype(float) - echo.video).mean() < 3.0  # MJPEG
        for frame in (echo.ed_frame, echo.es_frame):
            polygon, apex, base = echo.tracings[frame]
            expected = echonet.rasterize_tracing(echonet.encode_tracing(polygon, apex, base), (112, 112)).T
            np.testing.assert_array_equal(label[..., frame], expected)  # voxel for voxel: the release's tracing
            traced = echo.lv_annotations[..., frame]
            dice = 2 * np.sum(expected & traced) / (expected.sum() + traced.sum())
            assert dice > 0.93  # the 20-chord encoding keeps the sonographer's outline
        assert set(
            np.unique(label[..., [t for t in range(label.shape[-1]) if t not in (echo.ed_frame, echo.es_frame)]])
        ) == {255}


@pytest.mark.parametrize("version", ["2019", "2023"])
def test_camus_release_reads_back_voxel_for_voxel(tmp_path, version):
    release = tmp_path / "release"
    assert synthetic.main(["--layout", f"camus{version}", "--out", str(release), "--num-videos", "3"]) == 0
    assert sorted(p.name for p in release.iterdir()) == ["patient0001", "patient0351", "patient0401"]
    report = camus.convert(release, tmp_path / "converted", all_classes=True)
    assert report.exit_code == 0
    splits = {split: load_datalist(tmp_path / "converted" / "datalist.json", split) for split in
              ("training", "validation", "test")}  # fmt: skip
    assert [len(items) for items in splits.values()] == [1, 1, 1]
    for index, item in enumerate(splits[s][0] for s in splits):
        echo = synthetic.generate_echo(index, view="4CH")
        half = slice(echo.ed_frame, echo.es_frame + 1)
        video, label = read_video(item["image"]), read_video(item["label"]).array
        np.testing.assert_array_equal(video.array, echo.video[..., half])
        assert video.spacing == pytest.approx(echo.spacing)
        source = echo.labels if version == "2023" else echo.annotations  # 2019: the traced ED/ES labels
        np.testing.assert_array_equal(label[..., 0], source[..., echo.ed_frame])
        np.testing.assert_array_equal(label[..., -1], source[..., echo.es_frame])
        assert item["ef"] == pytest.approx(100 * (item["edv"] - item["esv"]) / item["edv"], abs=0.05)


def test_simulated_ef_population_is_echonets():
    efs = [synthetic.draw_ejection_fraction(seed) for seed in range(1000)]
    assert np.percentile(efs, [10, 50, 90]) == pytest.approx(ECHONET_MOTION_REFERENCE["ef"], abs=1.0)
    assert np.mean(efs) == pytest.approx(55.7, abs=0.5) and np.std(efs) == pytest.approx(12.4, abs=0.5)
    assert np.mean(np.array(efs) < 40) == pytest.approx(0.126, abs=0.01)
    forty = [synthetic.draw_ejection_fraction(seed) for seed in range(40)]  # the 40 videos of --stats
    assert np.percentile(forty, [10, 50, 90]) == pytest.approx(ECHONET_MOTION_REFERENCE["ef"], abs=3.0)


def test_systole_duration_is_echonets():
    rng = np.random.default_rng(0)
    frames = [synthetic.draw_cycle(rng, float(rng.uniform(50, 110)), 50.0)[1] for _ in range(2000)]
    assert np.percentile(frames, [10, 50, 90]) == pytest.approx([12, 16, 20], abs=1.0)


def test_contraction_statistics_of_known_shapes():
    ed = np.zeros((112, 112), np.uint8)
    ed[40:60, 20:80] = 1  # 20 wide (x), 60 long (y, rows 20..79)
    es = np.zeros_like(ed)
    es[43:57, 26:76] = 1  # 14 wide, 50 long: base up 4 rows, apex down 6
    stats = contraction_statistics(ed, es, systole_frames=8, fps=25.0)
    assert stats["area"] == pytest.approx(14 * 50 / (20 * 60))
    assert stats["long_axis"] == pytest.approx(50 / 60, abs=0.01) and stats["width"] == pytest.approx(0.7, abs=0.01)
    assert (stats["base_rise"], stats["apex_descent"], stats["systole_frames"]) == (4.0, 6.0, 16.0)
    summary = summarise_motion([stats] * 3, [60.0, 59.0, 58.0])
    assert summary["area"][1] == pytest.approx(stats["area"]) and summary["videos"] == 3
    checks = motion_tolerance(summary)
    assert checks["systole_frames"] and not checks["apex_descent"] and not checks["ef"]
    with pytest.raises(ValueError, match="empty"):
        contraction_statistics(ed, np.zeros_like(ed), 8, 25.0)


def test_simulated_motion_matches_echonet_at_the_median():
    """The traced ED/ES of the 40 videos of ``--stats``: every motion median within its bound."""
    motion, efs = [], []
    for seed in range(40):
        echo = synthetic.generate_echo(seed)
        traced = echo.lv_annotations
        motion.append(contraction_statistics(traced[..., echo.ed_frame], traced[..., echo.es_frame],
                                             echo.es_frame - echo.ed_frame, echo.fps))  # fmt: skip
        efs.append(echo.ef_requested)
    checks = motion_tolerance(summarise_motion(motion, efs))
    assert all(checks[key] for key in ("area", "long_axis", "width", "base_rise", "apex_descent")), checks
