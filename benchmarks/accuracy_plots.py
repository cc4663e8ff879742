"""Plots of an accuracy benchmark run (``benchmarks/accuracy.py``): Dice along ED -> ES, LV area curves, each
model's Dice in every seed, one model minus every other paired by video (each seed's mean and the 95 % interval over
seeds), and one model against others phase by phase over the whole cycle (with how often the training clips show each
phase).

python benchmarks/accuracy_plots.py --out .cache/accuracy --figures docs/figures
python benchmarks/accuracy_plots.py --out .cache/long --plots seeds --prefix accuracy_1200_
python benchmarks/accuracy_plots.py --out .cache/traced --plots paired --prefix accuracy_traced_
python benchmarks/accuracy_plots.py --out .cache/traced --plots phases --against "small w/o NCM" --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ncm_components.data.datalist import load_datalist  # noqa: E402
from ncm_components.transforms.io import load_video  # noqa: E402
from ncm_components.transforms.video import SampleClipd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import paired_differences, run_dir, seed_interval, seed_mean, shared_seeds  # noqa: E402

PHASES = (
    "systole, large",
    "systole, middle",
    "systole, small",
    "diastole, small",
    "diastole, middle",
    "diastole, large",
)
"""The cycle's phases in order from ED, by the reference LV area: shrinking or growing, and in which third of the
video's area range. "diastole, middle" is rapid filling."""


def _frames(run_dir: Path) -> dict[str, list[dict]]:
    rows = defaultdict(list)
    with open(run_dir / "eval" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            rows[row["video"]].append(row)
    return rows


def _run_dirs(out: Path, seed: int) -> dict[str, Path]:
    results = json.loads((out / "results.json").read_text())
    dirs = {}
    for row in results:
        if row["seed"] == seed:
            dirs[row["model"]] = run_dir(out, row["model"], seed)
    return dirs


def paired_intervals(out: Path, figures: Path, reference: str, prefix: str = "accuracy_") -> Path:
    """``reference`` minus every model trained with at least two of its seeds, in Dice points on ED/ES and on all
    frames: one dot per seed (that seed's mean over the test videos), a bar at the mean over seeds and a line across
    its 95 % Student-t interval; a model is ahead beyond what retraining moves only where the line misses zero."""
    rows = json.loads((out / "results.json").read_text())
    seeds = {m: shared_seeds(rows, reference, m) for m in dict.fromkeys(r["model"] for r in rows) if m != reference}
    others = [m for m, shared in seeds.items() if len(shared) >= 2]
    if not others:
        raise ValueError(f"{out / 'results.json'}: no model shares two seeds with {reference!r}.")
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(others) + 1.6), sharey=True)
    for y, model in enumerate(others):
        differences = [paired_differences(out, reference, model, seed) for seed in seeds[model]]
        for axis, key in zip(axes, ("dice_semi", "dice_full")):
            means = [100 * seed_mean(d, key) for d in differences]
            centre, low, high = seed_interval(means)
            colour = "tab:green" if low > 0 else ("tab:red" if high < 0 else "tab:grey")
            axis.plot([low, high], [y, y], color=colour, linewidth=2, zorder=2)
            axis.plot([centre] * 2, [y - 0.25, y + 0.25], color="black", linewidth=2, zorder=3)
            axis.scatter(means, [y] * len(means), color="tab:blue", s=18, zorder=4)
    for axis, title in zip(axes, ("Dice on ED and ES", "Dice on all frames")):
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(f"{title}: {reference} minus the model (points)", fontsize=9)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(others)))
    axes[0].set_yticklabels([f"{m} ({len(seeds[m])} seeds)" for m in others], fontsize=8)
    figure.suptitle("Paired by video: dots = seeds, bar = mean, line = 95 % interval over seeds (green: above 0)")
    figure.tight_layout()
    path = figures / f"{prefix}paired.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def seed_spread(out: Path, figures: Path, prefix: str = "accuracy_", reference: str = "NCM-Net small") -> Path:
    """Dice ED/ES and all-frame Dice of every model, one dot per seed, a bar at the mean and a dotted line at the
    ``reference`` model's mean (from ``results.json``)."""
    results = json.loads((out / "results.json").read_text())
    by_model = defaultdict(list)
    for row in results:
        by_model[row["model"]].append(row)
    models = sorted(by_model, key=lambda m: -np.mean([r["dice_full"] for r in by_model[m]]))
    iterations = sorted({r.get("iterations") for r in results} - {None})
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(models) + 1.6), sharey=True)
    for axis, key, title in zip(axes, ("dice_semi", "dice_full"), ("Dice on ED and ES", "Dice on all frames")):
        for y, model in enumerate(models):
            values = [r[key] for r in by_model[model]]
            axis.scatter(values, [y] * len(values), color="tab:blue", s=22, zorder=3)
            axis.plot([np.mean(values)] * 2, [y - 0.3, y + 0.3], color="black", linewidth=2)
        if reference in by_model:
            axis.axvline(np.mean([r[key] for r in by_model[reference]]), color="tab:red", linestyle=":", linewidth=1)
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    seeds = {m: len(by_model[m]) for m in models}
    axes[0].set_yticks(range(len(models)))
    axes[0].set_yticklabels([f"{m} ({seeds[m]} seed{'s' * (seeds[m] > 1)})" for m in models], fontsize=8)
    axes[0].invert_yaxis()
    trained = "/".join(map(str, iterations))
    figure.suptitle(f"Held-out simulated videos, {trained} iterations: dots = seeds, bar = mean, dotted = {reference}")
    figure.tight_layout()
    path = figures / f"{prefix}seeds.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def dice_along_cycle(out: Path, figures: Path, seed: int, bins: int = 10, prefix: str = "accuracy_") -> Path:
    """Mean all-frame Dice against the position between ED (0) and ES (1), one line per model."""
    items = {Path(i["image"]).name: i for i in load_datalist(out / "data" / "datalist.json", "test")}
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for model, run in _run_dirs(out, seed).items():
        sums, counts = np.zeros(bins), np.zeros(bins)
        for video, rows in _frames(run).items():
            ed, es = items[video]["ed_frame"], items[video]["es_frame"]
            for row in rows:
                t = int(row["frame"])
                if ed <= t <= es and row.get("dice_full"):
                    position = min(bins - 1, int((t - ed) / max(1, es - ed) * bins))
                    sums[position] += float(row["dice_full"])
                    counts[position] += 1
        axis.plot((np.arange(bins) + 0.5) / bins, sums / np.maximum(counts, 1), marker="o", label=model)
    axis.set_xlabel("position between ED (0) and ES (1)")
    axis.set_ylabel("mean Dice, all frames")
    axis.set_title("Dice along the ED -> ES phase (50 held-out simulated videos, seed 0)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = figures / f"{prefix}dice_along_cycle.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def area_curves(
    out: Path, figures: Path, seed: int, models: list[str], videos: int = 3, prefix: str = "accuracy_"
) -> Path:
    """LV area per frame of a few test videos: ground truth against the chosen models."""
    dirs = _run_dirs(out, seed)
    first = _frames(dirs[models[0]])
    names = sorted(first)[:videos]
    figure, axes = plt.subplots(1, videos, figsize=(5 * videos, 3.8))
    for axis, name in zip(np.atleast_1d(axes), names):
        reference = [float(r["area_ref"]) for r in first[name]]
        axis.plot(reference, color="black", linewidth=2, label="ground truth")
        for model in models:
            rows = _frames(dirs[model])[name]
            axis.plot([float(r["area_pred"]) for r in rows], label=model)
        axis.set_title(name)
        axis.set_xlabel("frame")
        axis.set_ylabel("LV area (mm²)")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.tight_layout()
    path = figures / f"{prefix}area_curves.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def frame_phases(areas: np.ndarray) -> np.ndarray:
    """Index into :data:`PHASES` of every frame of a video, from its reference LV areas (T,): systole where the
    area shrinks (``np.gradient`` < 0), diastole elsewhere; large / middle / small by the third of the video's area
    range the frame is in."""
    areas = np.asarray(areas, dtype=float)
    span = max(float(areas.max() - areas.min()), 1e-9)
    third = np.clip(((areas - areas.min()) / span * 3).astype(int), 0, 2)  # 0 small, 1 middle, 2 large
    growing = np.gradient(areas) >= 0 if areas.size > 1 else np.ones(areas.shape, bool)
    return np.where(growing, 3 + third, 2 - third)


def phase_differences(out: Path, reference: str, other: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``reference`` minus ``other`` in all-frame Dice points, frame by frame, averaged by phase: (means, frames)
    over :data:`PHASES`, both (6,)."""
    ours, theirs = (_frames(run_dir(out, model, seed)) for model in (reference, other))
    sums, counts = np.zeros(len(PHASES)), np.zeros(len(PHASES))
    for video, rows in ours.items():
        phases = frame_phases([float(r["area_ref"]) for r in rows])
        for row, them, phase in zip(rows, theirs[video], phases):
            if row.get("dice_full") and them.get("dice_full"):
                sums[phase] += 100 * (float(row["dice_full"]) - float(them["dice_full"]))
                counts[phase] += 1
    return sums / np.maximum(counts, 1), counts


def clip_phase_coverage(out: Path, anywhere_prob: float, clips_per_video: int = 40, seed: int = 0) -> np.ndarray:
    """Share of training clips that hold at least one frame of each phase (6,), for the training sampler of
    ``train.yaml`` (``SampleClipd`` in mixed mode, 10 frames) with ``anywhere_prob``, on the benchmark's training
    videos (phases from their all-frame labels)."""
    items = load_datalist(out / "data" / "datalist.json", "training")
    sampler = SampleClipd(["label"], num_frames=10, mode="mixed", anywhere_prob=anywhere_prob)
    sampler.set_random_state(seed)
    held = np.zeros(len(PHASES))
    for item in items:
        labels = load_video(out / "data" / item["label_full"], dtype=np.uint8)[0].numpy()  # X x Y x T
        phases = frame_phases((labels == 1).reshape(-1, labels.shape[-1]).sum(axis=0))
        ends = {"ed_frame": item["ed_frame"], "es_frame": item["es_frame"]}
        for _ in range(clips_per_video):
            frames = sampler({"label": np.zeros((1, 1, 1, phases.size)), **ends})["clip_frames"].numpy()
            held[np.unique(phases[frames])] += 1
    return held / (len(items) * clips_per_video)


def dice_by_phase(
    out: Path, figures: Path, reference: str, against: list[str], seeds: list[int], prefix: str = "accuracy_"
) -> Path:
    """``reference`` minus each model of ``against`` in all-frame Dice by phase of the whole cycle, one line per
    model and seed, next to how often the training clips show each phase; prints both as a markdown table."""
    figure, (axis, coverage_axis) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    x = np.arange(len(PHASES))
    lines = ["| " + " | ".join([f"{reference} minus", "seed"] + list(PHASES)) + " |", "|" + "---|" * (2 + len(PHASES))]
    for colour, other in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], against):
        for marker, seed in zip("os^dv", seeds):
            if not run_dir(out, other, seed).is_dir() or not run_dir(out, reference, seed).is_dir():
                continue
            means, counts = phase_differences(out, reference, other, seed)
            axis.plot(x, means, marker=marker, color=colour, label=f"{other}, seed {seed}")
            lines.append(
                f"| {other} | {seed} | " + " | ".join(f"{m:+.2f} ({c:.0f})" for m, c in zip(means, counts)) + " |"
            )
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_ylabel(f"{reference} minus the other model (Dice points)")
    axis.set_title("All-frame Dice by phase of the cycle (50 held-out simulated videos)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    for share, offset, label in ((0.0, -0.2, "mixed clips"), (1 / 3, 0.2, "a third of them placed anywhere")):
        held = clip_phase_coverage(out, share)
        coverage_axis.bar(x + offset, 100 * held, width=0.4, label=label)
        lines.append(
            f"| training clips holding the phase ({label}) | | " + " | ".join(f"{100 * h:.0f} %" for h in held) + " |"
        )
    for panel in (axis, coverage_axis):
        panel.set_xticks(x)
        panel.set_xticklabels([p.replace(", ", "\n") for p in PHASES], fontsize=8)
    coverage_axis.set_ylabel("training clips holding the phase (%)")
    coverage_axis.set_title("How often training clips show each phase")
    coverage_axis.legend(fontsize=8)
    coverage_axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = figures / f"{prefix}dice_by_phase.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".cache/accuracy")
    parser.add_argument("--figures", default="docs/figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--curve-models",
        nargs="+",
        default=["NCM-Net small", "UNet 2D per frame (EchoNet)", "UNet 3D on the clip (SimLVSeg-3D)"],
    )
    parser.add_argument(
        "--plots",
        nargs="+",
        choices=("cycle", "areas", "seeds", "paired", "phases"),
        default=["cycle", "areas", "seeds"],
    )
    parser.add_argument("--reference", default="NCM-Net small", help="the model the phase and paired plots compare")
    parser.add_argument("--against", nargs="+", default=["small w/o NCM"], help="the models it is compared with")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the phase plot")
    parser.add_argument("--prefix", default="accuracy_", help="start of the figures' file names")
    args = parser.parse_args(argv)
    out, figures = Path(args.out), Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    if "cycle" in args.plots:
        print(dice_along_cycle(out, figures, args.seed, prefix=args.prefix))
    if "areas" in args.plots:
        print(area_curves(out, figures, args.seed, args.curve_models, prefix=args.prefix))
    if "seeds" in args.plots:
        print(seed_spread(out, figures, prefix=args.prefix))
    if "paired" in args.plots:
        print(paired_intervals(out, figures, args.reference, prefix=args.prefix))
    if "phases" in args.plots:
        print(dice_by_phase(out, figures, args.reference, args.against, args.seeds, prefix=args.prefix))


if __name__ == "__main__":
    main()
