"""Plots of an accuracy benchmark run (``benchmarks/accuracy.py``): Dice along ED -> ES, and LV area curves.

python benchmarks/accuracy_plots.py --out .cache/accuracy --figures docs/figures
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
from accuracy import run_slug  # noqa: E402


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
            dirs[row["model"]] = out / "runs" / f"{run_slug(row['model'])}_seed{seed}"
    return dirs


def dice_along_cycle(out: Path, figures: Path, seed: int, bins: int = 10) -> Path:
    """Mean all-frame Dice against the position between ED (0) and ES (1), one line per model."""
    items = {Path(i["image"]).name: i for i in load_datalist(out / "data" / "datalist.json", "test")}
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for model, run_dir in _run_dirs(out, seed).items():
        sums, counts = np.zeros(bins), np.zeros(bins)
        for video, rows in _frames(run_dir).items():
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
    path = figures / "accuracy_dice_along_cycle.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def area_curves(out: Path, figures: Path, seed: int, models: list[str], videos: int = 3) -> Path:
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
    path = figures / "accuracy_area_curves.png"
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
    args = parser.parse_args(argv)
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    print(dice_along_cycle(Path(args.out), figures, args.seed))
    print(area_curves(Path(args.out), figures, args.seed, args.curve_models))


if __name__ == "__main__":
    main()
