"""Plots of an accuracy benchmark run (``benchmarks/accuracy.py``): Dice along ED -> ES, LV area curves, and each
model's Dice in every seed.

python benchmarks/accuracy_plots.py --out .cache/accuracy --figures docs/figures
python benchmarks/accuracy_plots.py --out .cache/long --plots seeds --prefix accuracy_1200_
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import run_dir  # noqa: E402


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
    parser.add_argument("--plots", nargs="+", choices=("cycle", "areas", "seeds"), default=["cycle", "areas", "seeds"])
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


if __name__ == "__main__":
    main()
