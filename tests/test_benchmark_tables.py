"""The accuracy benchmark: paired tables (differences video by video, split by a datalist field) and parallel runs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from .benchmark_modules import benchmark_module


@pytest.fixture(scope="module")
def accuracy():
    with benchmark_module("accuracy") as module:
        yield module


def _write_run(accuracy, out: Path, model: str, seed: int, dice: dict[str, tuple[float, float]]) -> None:
    """A run folder whose eval/videos.csv holds (Dice ED/ES, all-frame Dice) per video."""
    folder = accuracy.run_dir(out, model, seed) / "eval"
    folder.mkdir(parents=True)
    with open(folder / "videos.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "dice_semi", "dice_full"])
        for video, (semi, full) in dice.items():
            writer.writerow([video, semi, full])


@pytest.fixture
def runs(accuracy, tmp_path):
    """Two models, seeds 0 and 1, three videos; "ours" beats "theirs" on a.nii.gz and c.nii.gz only."""
    ours = {"a.nii.gz": (0.95, 0.90), "b.nii.gz": (0.90, 0.80), "c.nii.gz": (0.80, 0.70)}
    theirs = {"a.nii.gz": (0.93, 0.89), "b.nii.gz": (0.91, 0.82), "c.nii.gz": (0.78, 0.66)}
    for seed in (0, 1):
        _write_run(accuracy, tmp_path, "ours", seed, ours)
        _write_run(accuracy, tmp_path, "theirs", seed, theirs)
    rows = [{"model": model, "seed": seed} for seed in (0, 1) for model in ("ours", "theirs")]
    test = [
        {"image": "videos/a.nii.gz", "quality": 0.9, "view": "4CH"},
        {"image": "videos/b.nii.gz", "quality": 0.5, "view": "2CH"},
        {"image": "videos/c.nii.gz", "quality": 0.1, "view": "4CH"},
    ]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": [], "test": test}))
    return tmp_path, rows


def test_paired_table_means_and_counts_video_by_video(accuracy, runs):
    out, rows = runs
    table = accuracy.paired_table(rows, out, "ours")
    # ED/ES: (+2 - 1 + 2) / 3 = +1.00 points, better in 2 of 3; all frames: (+1 - 2 + 4) / 3 = +1.00
    # over seeds: both seeds +1.00, no spread, so the 95 % interval is the point itself
    assert table.splitlines()[-1] == (
        "| theirs | 0 / 1 | +1.00 (2/3) / +1.00 (2/3) | +1.00 (2/3) / +1.00 (2/3) | +1.00 [+1.00, +1.00] | "
        "+1.00 [+1.00, +1.00] |"
    )


def test_seed_interval_is_a_student_t_interval_over_the_seed_means(accuracy):
    # mean 0.02 (2 points), SD 0.01 over 3 seeds: half width t(0.975, 2) = 4.303 x 1 / sqrt(3) = 2.48 points
    assert accuracy._seed_interval([0.01, 0.02, 0.03]) == "+2.00 [-0.48, +4.48]"
    assert accuracy._seed_interval([0.004]) == "+0.40"


def test_paired_table_lists_seeds_in_order_whatever_order_they_ran_in(accuracy, runs):
    out, rows = runs
    assert accuracy.paired_table(rows[::-1], out, "ours").splitlines()[-1].startswith("| theirs | 0 / 1 |")


def test_video_groups_bins_numbers_low_to_high_and_keeps_text(accuracy, runs):
    out, _ = runs
    by_quality = accuracy.video_groups(out / "datalist.json", "quality", bins=3)
    assert list(by_quality.values()) == ["quality 0.1-0.1", "quality 0.5-0.5", "quality 0.9-0.9"]
    assert list(by_quality) == ["c.nii.gz", "b.nii.gz", "a.nii.gz"]
    assert accuracy.video_groups(out / "datalist.json", "view") == {
        "b.nii.gz": "2CH",
        "a.nii.gz": "4CH",
        "c.nii.gz": "4CH",
    }


def test_paired_table_by_group_pools_seeds_per_group(accuracy, runs):
    out, rows = runs
    groups = accuracy.video_groups(out / "datalist.json", "view")
    lines = accuracy.paired_table(rows, out, "ours", groups).splitlines()
    # 2CH: video b, two seeds: -1 and -2 points; 4CH: videos a and c: ED/ES +2, +2; all frames +1, +4
    assert lines[2] == "| theirs | 0 / 1 | 2CH (1) | -1.00 (0/2) | -2.00 (0/2) | 0.900 / 0.800 |"
    assert lines[3] == "| theirs | 0 / 1 | 4CH (2) | +2.00 (4/4) | +2.50 (4/4) | 0.875 / 0.800 |"


def test_video_groups_names_the_datalist_when_the_field_is_missing(accuracy, runs):
    out, _ = runs
    with pytest.raises(ValueError, match=r"datalist\.json.*'ef'.*videos/a\.nii\.gz"):
        accuracy.video_groups(out / "datalist.json", "ef")


def test_parallel_runs_each_get_a_fresh_process(accuracy):
    """--jobs: a process serves one run only, so a run's log redirection cannot leak into the next run."""
    with accuracy.fresh_process_pool(2) as pool:
        pids = [future.result() for future in [pool.submit(os.getpid) for _ in range(3)]]
    assert len(set(pids)) == 3
    assert os.getpid() not in pids


def test_reevaluation_rescores_stale_rows_only_and_keeps_the_replaced_evaluation(accuracy, tmp_path, monkeypatch):
    """--reevaluate: rows scored by another evaluate.yaml are scored again (eval/ replaced only when the new one is
    complete, the old kept as eval_previous/), rows scored by the current one are left, training fields stay."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "evaluate.yaml").write_text("an older evaluation\n")
    current = accuracy.hashlib.sha1((accuracy.CONFIGS / "evaluate.yaml").read_bytes()).hexdigest()[:10]
    rows = [
        {"model": "ours", "seed": 0, "dice_semi": 0.90, "dice_full": 0.80, "minutes": 30.0, "evaluated_with": "old"},
        {"model": "ours", "seed": 1, "dice_semi": 0.91, "dice_full": 0.81, "minutes": 31.0},  # before versions
        {"model": "ours", "seed": 2, "dice_semi": 0.92, "dice_full": 0.82, "minutes": 32.0, "evaluated_with": current},
    ]
    for seed in (0, 1, 2):
        (accuracy.run_dir(tmp_path, "ours", seed) / "eval").mkdir(parents=True)
    (accuracy.run_dir(tmp_path, "ours", 1) / "eval_new").mkdir()  # left by an interrupted re-evaluation
    scored = []

    def fake_evaluation(name, seed, run_dir, data_dir, output, args, extra=()):
        assert not (run_dir / output).exists()  # an interrupted evaluation's folder is cleared first
        (run_dir / output).mkdir()
        scored.append(seed)
        return {"model": name, "seed": seed, "dice_semi": 0.95, "dice_full": 0.85, "evaluated_with": current}

    monkeypatch.setattr(accuracy, "evaluate_trained", fake_evaluation)
    args = accuracy.argparse.Namespace(models=["ours"], seeds=[0, 1, 2], configs=configs, jobs=1, out=str(tmp_path))
    accuracy.reevaluate(rows, tmp_path / "data", tmp_path / "results.json", args)

    assert scored == [0, 1]
    assert (configs / "evaluate.yaml").read_bytes() == (accuracy.CONFIGS / "evaluate.yaml").read_bytes()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [(r["dice_full"], r["minutes"], r["evaluated_with"]) for r in saved] == [
        (0.85, 30.0, current),
        (0.85, 31.0, current),
        (0.82, 32.0, current),
    ]
    assert [r["dice_full"] for r in json.loads((tmp_path / "results_previous.json").read_text())] == [0.80, 0.81]
    for seed in (0, 1):
        run = accuracy.run_dir(tmp_path, "ours", seed)
        assert (run / "eval").is_dir() and (run / "eval_previous").is_dir() and not (run / "eval_new").exists()
    assert not (accuracy.run_dir(tmp_path, "ours", 2) / "eval_previous").exists()


@pytest.fixture(scope="module")
def plots():
    with benchmark_module("accuracy_plots") as module:
        yield module


def test_frame_phases_follow_the_cycle_from_ed(plots):
    areas = [10.0, 9.0, 5.0, 1.0, 0.0, 1.0, 5.0, 9.0, 10.0]  # ED, systole to ES (frame 4), diastole back to ED
    phases = [plots.PHASES[i] for i in plots.frame_phases(areas)]
    assert phases == [
        "systole, large", "systole, large", "systole, middle", "systole, small",
        "diastole, small", "diastole, small", "diastole, middle", "diastole, large", "diastole, large",
    ]  # fmt: skip


def test_phase_differences_pair_frames_of_each_phase(plots, tmp_path):
    """ "ours" is 2 points better on the growing (diastolic) frames only."""
    areas = [10.0, 9.0, 5.0, 1.0, 0.0, 1.0, 5.0, 9.0, 10.0]
    for model, bonus in (("ours", 0.02), ("theirs", 0.0)):
        folder = plots.run_dir(tmp_path, model, 0) / "eval"
        folder.mkdir(parents=True)
        with open(folder / "metrics.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video", "frame", "area_ref", "dice_full"])
            for frame, area in enumerate(areas):
                writer.writerow(["a.nii.gz", frame, area, 0.9 + (bonus if frame >= 4 else 0.0)])
    means, frames = plots.phase_differences(tmp_path, "ours", "theirs", 0)
    assert frames.tolist() == [2, 1, 1, 2, 1, 2]
    assert means.round(6).tolist() == [0.0, 0.0, 0.0, 2.0, 2.0, 2.0]


def test_paired_plot_draws_each_model_sharing_two_seeds(plots, accuracy, runs, tmp_path):
    """One row per model trained with two seeds of the reference; a model with one shared seed is left out, and
    without any the plot names the results file."""
    out, rows = runs
    _write_run(accuracy, out, "single", 0, {"a.nii.gz": (0.9, 0.9)})
    (out / "results.json").write_text(json.dumps(rows + [{"model": "single", "seed": 0}]))
    figures = tmp_path / "figures"
    figures.mkdir()
    path = plots.paired_intervals(out, figures, "ours", prefix="t_")
    assert path == figures / "t_paired.png" and path.stat().st_size > 0
    assert accuracy.shared_seeds(rows, "ours", "theirs") == [0, 1]
    (out / "results.json").write_text(json.dumps([{"model": "ours", "seed": 0}, {"model": "single", "seed": 0}]))
    with pytest.raises(ValueError, match=r"results\.json: no model shares two seeds with 'ours'"):
        plots.paired_intervals(out, figures, "ours")
