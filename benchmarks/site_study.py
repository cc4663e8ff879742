"""Site study: how weights trained on the simulation carry over to another simulated site, and what helps there.

The simulation plays two sites (``ncm_components.simulation.presets``): ``echonet``, the EchoNet-matched site the
shipped weights come from, and ``shifted``, another probe, gain, framing, frame rate and population, never trained on
unless a study says so, its labels held back and used only to score. Every run goes through the bundle's own configs
and is scored by ``evaluate.yaml`` on whole test videos of both sites; arms are compared paired by test video, each
seed one sample (mean of the per-seed mean differences, 95 % Student-t interval over seeds).

Studies (``--study``):

- ``randomisation``: ``train.yaml`` from random weights on the echonet site with each family of training-time
  randomisation on or off (``none``, ``geometry``, ``appearance``, ``both``; docs/design.md).
- ``adaptation``: the shipped weights as they are; adapted by ``adapt.yaml`` on 50 and on 200 unlabelled videos of the
  shifted site; fine-tuned by ``train.yaml`` on 20 labelled videos of it; both (20 labelled + 200 unlabelled); and
  adapted on 200 unlabelled videos of their own site (the echonet site), which must not cost them.

    python benchmarks/site_study.py --study randomisation --out .cache/site_study --iterations 400 --seeds 0 1 2
    python benchmarks/site_study.py --study adaptation --out .cache/site_study --seeds 0 1 2
    python benchmarks/site_study.py --study randomisation --out .cache/site_study --table-only

Results accumulate in ``OUT/<study>/results.json`` (a finished run is not trained again; a run without a result row
was interrupted and starts over).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import CONFIGS, run_workflow, seed_interval, train_run  # noqa: E402

from ncm_components.data.atomic import write_json_atomic  # noqa: E402
from ncm_components.data.datalist import load_datalist, write_datalist  # noqa: E402
from ncm_components.handlers.weight_files import shipped_weights  # noqa: E402
from ncm_components.simulation.synthetic import generate_dataset  # noqa: E402

BUNDLE_ROOT = CONFIGS.parent
TEST_SITES = ("shifted", "echonet", "shifted_val")
TEST_DATA = {"shifted": "shifted_test", "echonet": "echonet_test", "shifted_val": "shifted_val_test"}
# the simulated data of the studies: (preset, train, validation, test videos, dataset seed); seeds differ from the
# shipped weights' release (seed 0) and from one another, so no video is in two sets
DATA = {
    "echonet_train": ("echonet", 80, 10, 0, 21),
    "echonet_test": ("echonet", 0, 0, 40, 22),
    "shifted_test": ("shifted", 0, 0, 40, 23),
    "shifted_unlabelled": ("shifted", 200, 0, 0, 24),
    "shifted_labelled": ("shifted", 20, 5, 0, 25),
    "echonet_unlabelled": ("echonet", 200, 0, 0, 26),
    "shifted_val_test": ("shifted", 0, 0, 40, 27),  # validation videos of the shifted site, for design choices
}
STUDIES = {
    "randomisation": {
        "none": {"overrides": {"geometry_randomisation": False, "appearance_randomisation": False}},
        "geometry": {"overrides": {"geometry_randomisation": True, "appearance_randomisation": False}},
        "appearance": {"overrides": {"geometry_randomisation": False, "appearance_randomisation": True}},
        "both": {"overrides": {"geometry_randomisation": True, "appearance_randomisation": True}},
    },
}
REFERENCE = {"randomisation": "none", "adaptation": "shipped"}


def prepare_data(out: Path, names: list[str]) -> dict[str, Path]:
    """Generate the simulated sets a study needs (once); returns {name: datalist}."""
    datalists = {}
    for name in names:
        preset, train, val, test, seed = DATA[name]
        folder = out / "data" / name
        if not (folder / "datalist.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            generate_dataset(folder, train, val, test, seed=seed, workers=2, preset=preset)
        datalists[name] = folder / "datalist.json"
    return datalists


def subset(datalist: Path, split: str, count: int, target: Path) -> Path:
    """A datalist of the first ``count`` items of one split (as ``training``), written once."""
    if not target.is_file():
        write_datalist(target, {"training": load_datalist(datalist, split)[:count]})
    return target


def evaluate(ckpt_dir: Path, datalist: Path, output: Path) -> dict:
    """Score ``ckpt_dir/model.pt`` on a datalist's test videos; returns the summary and the per-video rows."""
    overrides = {"dataset_dir": str(datalist), "ckpt_dir": str(ckpt_dir), "output_dir": str(output), "overwrite": True}
    run_workflow([str(CONFIGS / "train.yaml"), str(CONFIGS / "evaluate.yaml")], overrides)
    with open(output / "videos.csv") as f:
        videos = {row["video"]: row for row in csv.DictReader(f)}
    return {"summary": json.loads((output / "summary.json").read_text()), "videos": videos}


def randomisation_runs(arm: str, seed: int, run: Path, data: dict[str, Path], args) -> float:
    overrides = {"dataset_dir": str(data["echonet_train"]), "seed": seed, **STUDIES["randomisation"][arm]["overrides"]}
    return train_run(run, [str(CONFIGS / "train.yaml")], overrides, args.iterations, 80, args.batch_size)


def per_video(row: dict, site: str, key: str) -> dict[str, float]:
    return {video: float(values[key]) for video, values in row["sites"][site]["videos"].items()}


def cycle_ef_error(values: dict) -> float:
    """|cycle-averaged EF - reference EF| of one video; NaN where no cycle was found."""
    try:
        return abs(float(values["ef_cycles_pred"]) - float(values["ef_ref"]))
    except (KeyError, ValueError):
        return math.nan


def arm_table(rows: list[dict], site: str, reference: str) -> str:
    """Per arm: Dice ED/ES (mean over seeds), videos below 0.6, EF MAE at the traced frames and cycle-averaged,
    minutes, and the paired Dice ED/ES difference from ``reference`` with its 95 % interval over seeds."""
    arms = list(dict.fromkeys(row["arm"] for row in rows))
    lines = [
        f"| arm | seeds | Dice ED/ES | videos < 0.6 | EF MAE traced | EF MAE cycles | minutes | "
        f"Dice ED/ES minus {reference} (points, 95 % interval) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        own = [row for row in rows if row["arm"] == arm]
        dice = [statistics.fmean(per_video(row, site, "dice_semi").values()) for row in own]
        below = [sum(d < 0.6 for d in per_video(row, site, "dice_semi").values()) for row in own]
        ef = [row["sites"][site]["summary"]["ef_mae"] for row in own]
        cycles = [statistics.fmean([e for e in map(cycle_ef_error, row["sites"][site]["videos"].values())
                                    if not math.isnan(e)] or [math.nan]) for row in own]  # fmt: skip
        minutes = statistics.fmean(row["minutes"] for row in own)
        paired = "-"
        bases = {row["seed"]: row for row in rows if row["arm"] == reference}
        if len(bases) == 1:  # a reference without training (the shipped weights): one row pairs with every seed
            bases = {row["seed"]: next(iter(bases.values())) for row in own}
        pairs = [(row, bases[row["seed"]]) for row in own if row["seed"] in bases]
        if arm != reference and pairs:
            means = []
            for row, base in pairs:
                ours, theirs = per_video(row, site, "dice_semi"), per_video(base, site, "dice_semi")
                means.append(statistics.fmean(ours[v] - theirs[v] for v in ours))
            centre, low, high = (100 * v for v in seed_interval(means))
            paired = f"{centre:+.2f}" if len(means) < 2 else f"{centre:+.2f} [{low:+.2f}, {high:+.2f}]"
        lines.append(
            f"| {arm} | {len(own)} | {statistics.fmean(dice):.3f} | {statistics.fmean(below):.1f} | "
            f"{statistics.fmean(ef):.2f} | {statistics.fmean(cycles):.2f} | {minutes:.1f} | {paired} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=sorted(REFERENCE), required=True)
    parser.add_argument("--out", default=".cache/site_study")
    parser.add_argument("--arms", nargs="+", help="a subset of the study's arms (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=400, help="training iterations (randomisation study)")
    parser.add_argument("--adapt-iterations", type=int, default=300, help="adapt.yaml's and fine-tuning's")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    study_dir = out / args.study
    results_file = study_dir / "results.json"
    rows = json.loads(results_file.read_text()) if results_file.is_file() else []
    arms = args.arms or list(STUDIES[args.study])
    if not args.table_only:
        data = prepare_data(out, ["echonet_test", "shifted_test"] + STUDY_DATA[args.study])
        done = {(row["arm"], row["seed"]) for row in rows}
        for seed in args.seeds:
            for arm in arms:
                once = STUDIES[args.study][arm].get("once", False)
                if (arm, seed) in done or (once and seed != args.seeds[0]):
                    continue  # done, or an arm run once (no training, or a design choice measured on one seed)
                run = study_dir / "runs" / f"{arm}_seed{seed}"
                shutil.rmtree(run, ignore_errors=True)  # interrupted earlier: start over
                minutes = RUNNERS[args.study](arm, seed, run, data, args)
                ckpt_dir = ARM_WEIGHTS.get(arm, lambda run: run / "models")(run)
                scored = STUDIES[args.study][arm].get("sites", ("shifted", "echonet"))
                sites = {site: evaluate(ckpt_dir, data[TEST_DATA[site]], run / f"eval_{site}") for site in scored}
                rows.append({"arm": arm, "seed": seed, "minutes": minutes, "iterations": args.iterations,
                             "sites": sites})  # fmt: skip
                write_json_atomic(results_file, rows)
    for site in TEST_SITES:
        scored = [row for row in rows if site in row["sites"]]
        if scored:
            print(f"\n### {args.study}: test videos of the {site} site\n")
            print(arm_table(scored, site, REFERENCE[args.study]))


def adaptation_runs(arm: str, seed: int, run: Path, data: dict[str, Path], args) -> float:
    """Train one adaptation arm from the shipped weights (see ``ADAPTATION``); returns its minutes (0: no training)."""
    spec = ADAPTATION[arm]
    if spec.get("configs") is None:
        return 0.0
    overrides = {"seed": seed, "init_weights": shipped_weights(str(BUNDLE_ROOT)), **spec.get("overrides", {})}
    labelled, unlabelled = spec.get("labelled"), spec.get("unlabelled")
    overrides["dataset_dir"] = str(data[labelled]) if labelled else ""  # empty: the built-in simulation
    if unlabelled:
        name, count = unlabelled
        pool = data[name].parent / "videos"  # a folder of the site's videos, as a clinic has them
        overrides["unlabelled_dir"] = str(
            pool if count is None else subset(data[name], "training", count, run.parent / f"{name}_{count}.json")
        )
        overrides["adapt_iterations"] = spec.get("iterations", args.adapt_iterations)
        configs = [str(CONFIGS / "train.yaml"), str(CONFIGS / "adapt.yaml")]
        tick = time.perf_counter()
        run_workflow(configs, {"ckpt_dir": str(run / "models"), "output_dir": str(run / "train_log"),
                               "batch_size": args.batch_size, "resume": False, **overrides})  # fmt: skip
        return (time.perf_counter() - tick) / 60
    return train_run(run, [str(CONFIGS / "train.yaml")], {**overrides, "learning_rate": 0.0003},
                     spec.get("iterations", args.adapt_iterations), 20, args.batch_size)  # fmt: skip


# the adaptation arms: labelled = a datalist for the supervised part (None: adapt.yaml's built-in simulation);
# unlabelled = (data set, how many of its videos; None: the whole folder); sites = test sets scored
ADAPTATION = {
    "shipped": {"configs": None, "once": True, "sites": ("shifted", "echonet", "shifted_val")},
    "adapt 50": {"configs": "adapt", "unlabelled": ("shifted_unlabelled", 50), "sites": ("shifted",)},
    "adapt 200": {"configs": "adapt", "unlabelled": ("shifted_unlabelled", None), "sites": ("shifted", "shifted_val")},
    "fine-tune 20": {"configs": "train", "labelled": "shifted_labelled", "sites": ("shifted",)},
    "20 labelled + 200 unlabelled": {"configs": "adapt", "labelled": "shifted_labelled",
                                     "unlabelled": ("shifted_unlabelled", None), "sites": ("shifted",)},
    "adapt 200 own site": {"configs": "adapt", "unlabelled": ("echonet_unlabelled", None), "once": True,
                           "sites": ("echonet",)},
    # what each guard of adapt.yaml is worth (seed 0, decided on the validation videos, not the test videos)
    "adapt 200, plain mean teacher": {
        "configs": "adapt", "unlabelled": ("shifted_unlabelled", None), "once": True, "sites": ("shifted_val",),
        "overrides": {"mean_teacher#teacher_key": None, "mean_teacher#one_region": False, "labelled_share": 0.0},
    },
    "adapt 200, no labelled share": {"configs": "adapt", "unlabelled": ("shifted_unlabelled", None),
                                     "once": True, "sites": ("shifted_val",), "overrides": {"labelled_share": 0.0}},
    "adapt 200, no one-LV prior": {"configs": "adapt", "unlabelled": ("shifted_unlabelled", None),
                                   "once": True, "sites": ("shifted_val",),
                                   "overrides": {"mean_teacher#one_region": False}},
    "adapt 200, 600 iterations": {"configs": "adapt", "unlabelled": ("shifted_unlabelled", None),
                                  "once": True, "sites": ("shifted_val",), "iterations": 600},
}  # fmt: skip
STUDIES["adaptation"] = ADAPTATION
STUDY_DATA = {
    "randomisation": ["echonet_train"],
    "adaptation": ["shifted_unlabelled", "shifted_labelled", "echonet_unlabelled", "shifted_val_test"],
}
RUNNERS = {"randomisation": randomisation_runs, "adaptation": adaptation_runs}
ARM_WEIGHTS: dict = {"shipped": lambda run: BUNDLE_ROOT / "models"}


if __name__ == "__main__":
    main()
