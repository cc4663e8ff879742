"""Accuracy benchmark: NCM-Net, its ablations and two UNet baselines, trained alike on the same sparse labels.

Every model is trained by ``bundle/configs/train.yaml`` with the same data, augmentation, iterations, batch and seed
(only ``network_def`` and the boundary-loss weight differ) and scored by ``evaluate.yaml`` on whole held-out videos
with ground truth on every frame, in fp32 on whatever device the bundle picks (``--amp`` for mixed precision). Results
go to ``--out`` (``results.json``, one evaluation folder per run) and a markdown table is printed. ``--jobs N`` trains
N runs at a time, each in its own process with its log in ``out/logs/``: a small network leaves most of a GPU idle.

    python benchmarks/accuracy.py --out .cache/accuracy --iterations 400 --seeds 0 1 2
    python benchmarks/accuracy.py --dataset-dir data/camus --image-size 256   # a real datalist instead
    bash benchmarks/gpu_env.sh python3 benchmarks/accuracy.py --iterations 1200 --jobs 4   # 4 runs at once, one GPU
    python benchmarks/accuracy.py --out .cache/accuracy --perturb dropout --strength 0.8   # robustness of trained runs
    python benchmarks/accuracy.py --out .cache/accuracy --reevaluate   # score trained runs by a changed evaluate.yaml
    python benchmarks/accuracy.py --out .cache/accuracy --table-only --paired "NCM-Net small"   # paired by video
    python benchmarks/accuracy.py --out .cache/accuracy --table-only --paired "NCM-Net small" --by quality
    python benchmarks/accuracy.py --out .cache/accuracy --table-only --paired "NCM-Net small" --clinical  # EF, ED/ES
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from monai.bundle import ConfigWorkflow
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import BENCHMARK_MODELS, build_model  # noqa: E402

from ncm_components.simulation.synthetic import generate_dataset  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "bundle" / "configs"
LOGGING = str(CONFIGS / "logging.conf")
REPORTED = ("dice_semi", "dice_full", "hd95_full", "inconsistency_rate", "ef_mae", "ef_bias", "ed_error", "es_error")


def cpu_frames_per_second(model: torch.nn.Module, size: int, frames: int = 10, repeats: int = 5) -> float:
    """Median frames/s of eval-mode forward passes on a (1, 1, size, size, frames) clip."""
    model.eval()
    clip = torch.rand(1, 1, size, size, frames)
    times = []
    with torch.inference_mode():
        model(clip)
        for _ in range(repeats):
            tick = time.perf_counter()
            model(clip)
            times.append(time.perf_counter() - tick)
    return frames / statistics.median(times)


def snapshot_configs(out: Path) -> Path:
    """Copy the bundle's configs into ``out/configs`` once: runs of one benchmark use the same configs even when the
    checkout changes while it runs (the copy of the first start is kept for later resumptions)."""
    target = out / "configs"
    if not target.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(CONFIGS, target)
    return target


def evaluation_version(configs: Path) -> str:
    """Short hash of ``configs/evaluate.yaml``: a result row records the evaluation that scored it."""
    return hashlib.sha1((configs / "evaluate.yaml").read_bytes()).hexdigest()[:10]


def adopt_current_evaluation(configs: Path) -> str:
    """Copy the checkout's ``evaluate.yaml`` into a benchmark's config snapshot (training configs stay as they were
    when its runs were trained) and return its :func:`evaluation_version`."""
    shutil.copyfile(CONFIGS / "evaluate.yaml", configs / "evaluate.yaml")
    return evaluation_version(configs)


def run_slug(name: str) -> str:
    return name.lower().replace(" ", "_").replace("/", "").replace("(", "").replace(")", "")


def run_dir(out: Path, name: str, seed: int) -> Path:
    """The folder of one model's run with one seed (its ``models/`` and ``eval/``)."""
    return out / "runs" / f"{run_slug(name)}_seed{seed}"


def run_one(name: str, seed: int, data_dir: Path, run_dir: Path, args) -> dict:
    """Train and evaluate one model with one seed; returns the evaluation summary plus timing."""
    spec = BENCHMARK_MODELS[name]
    iterations_per_epoch = max(1, args.num_train // args.batch_size)
    epochs = max(1, math.ceil(args.iterations / iterations_per_epoch))
    overrides = {
        "dataset_dir": str(data_dir),
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / "eval"),
        "network_def": spec["network_def"],
        "loss#boundary_weight": spec["boundary_weight"],
        "seed": seed,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "train#trainer#max_epochs": epochs,
        "val_interval": max(1, epochs // 4),
        "resume": False,
        "amp": args.amp,  # fp32 unless asked: rows of a CPU and of a GPU compare
        **loader_overrides(args.jobs),
        **spec.get("train_overrides", {}),
    }
    shutil.rmtree(run_dir, ignore_errors=True)  # a run interrupted earlier starts again from scratch
    tick = time.perf_counter()
    train, evaluate = str(args.configs / "train.yaml"), str(args.configs / "evaluate.yaml")
    run_workflow([train], overrides)
    run_workflow([train, evaluate], overrides)
    summary = json.loads((run_dir / "eval" / "summary.json").read_text())
    summary.update(model=name, seed=seed, epochs=epochs, iterations=epochs * iterations_per_epoch)
    summary["minutes"] = (time.perf_counter() - tick) / 60
    summary["evaluated_with"] = evaluation_version(args.configs)
    return summary


def loader_overrides(jobs: int) -> dict:
    """On a GPU the bundle gives its loader all cores but one; runs sharing the machine share them out."""
    if jobs <= 1 or not torch.cuda.is_available():
        return {}
    return {"num_workers": max(1, ((os.cpu_count() or 2) - 1) // jobs)}


def run_logged(task, name: str, seed: int, data_dir: Path, run_dir: Path, args) -> dict:
    """``task`` (:func:`run_one` or :func:`reevaluate_one`) in a process of its own (``--jobs``), its output in
    ``out/logs/<run>.txt``."""
    torch.set_num_threads(args.threads)
    log = Path(args.out) / "logs" / f"{run_dir.name}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        os.dup2(stream.fileno(), 1)  # the bundle's logging and progress bars write to the descriptors themselves
        os.dup2(stream.fileno(), 2)
        return task(name, seed, data_dir, run_dir, args)


def fresh_process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` spawned processes, each replaced after one task: the logging that :func:`run_logged` binds
    to a run's log file never outlives that run into the next one (a reused process logged to a closed file)."""
    context = multiprocessing.get_context("spawn")  # no fork of the parent's thread pools
    return ProcessPoolExecutor(jobs, mp_context=context, max_tasks_per_child=1)


def run_all(pending: list[tuple[str, int]], data_dir: Path, args, task=run_one):
    """Yield the summary of ``task`` (:func:`run_one` by default) for every (model, seed) as it ends: one after
    another, or ``args.jobs`` at a time."""
    if args.jobs <= 1:
        for name, seed in pending:
            yield task(name, seed, data_dir, run_dir(Path(args.out), name, seed), args)
        return
    with fresh_process_pool(args.jobs) as pool:
        jobs = [
            pool.submit(run_logged, task, name, seed, data_dir, run_dir(Path(args.out), name, seed), args)
            for name, seed in pending
        ]
        for job in as_completed(jobs):
            yield job.result()


def run_workflow(configs: list[str], overrides: dict) -> None:
    """Run one MONAI bundle workflow (training, or training configs merged with evaluate.yaml) to its end."""
    workflow = ConfigWorkflow(config_file=configs, logging_file=LOGGING, workflow_type="train", **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def train_run(run: Path, configs: list[str], overrides: dict, iterations: int, train_items: int, batch: int) -> float:
    """Train one run into ``run/models`` for ``iterations`` (rounded up to whole epochs of ``train_items`` videos,
    validated four times), from scratch or as ``overrides`` say; returns its minutes."""
    epochs = math.ceil(iterations / max(1, train_items // batch))
    overrides = {
        "ckpt_dir": str(run / "models"),
        "output_dir": str(run / "train_log"),
        "batch_size": batch,
        "train#trainer#max_epochs": epochs,
        "val_interval": max(1, epochs // 4),
        "resume": False,
        **overrides,
    }
    tick = time.perf_counter()
    run_workflow(configs, overrides)
    return (time.perf_counter() - tick) / 60


# test-time perturbations for robustness: the transform applied to every test video at a fixed strength
PERTURBATIONS = {
    "speckle": "ncm_components.transforms.RandSpeckleNoised",
    "dropout": "ncm_components.transforms.RandSectorDropoutd",
}


def evaluate_trained(
    name: str, seed: int, run_dir: Path, data_dir: Path, output: str, args, extra=(), network_def: dict | None = None
) -> dict:
    """Score the trained model of a run by the snapshot's ``evaluate.yaml`` into ``run_dir/output``, with the
    ``extra`` transforms after loading; returns the summary with the evaluation's version. ``network_def`` replaces
    the model's own (a network edited after training, as ``knockouts.py`` does)."""
    overrides = {
        "dataset_dir": str(data_dir),
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / output),
        "network_def": network_def or BENCHMARK_MODELS[name]["network_def"],
        "seed": seed,
        "image_size": args.image_size,
        "eval_extra_transforms": list(extra),
        "overwrite": True,  # a re-evaluation replaces the earlier one's results
    }
    run_workflow([str(args.configs / "train.yaml"), str(args.configs / "evaluate.yaml")], overrides)
    summary = json.loads((run_dir / output / "summary.json").read_text())
    summary.update(model=name, seed=seed, evaluated_with=evaluation_version(args.configs))
    return summary


def evaluate_perturbed(name: str, seed: int, run_dir: Path, data_dir: Path, kind: str, strength: float, args) -> dict:
    """Evaluate a trained run again with test-time ``kind`` ("speckle" or "dropout") of ``strength`` on every video."""
    perturbation = {"_target_": PERTURBATIONS[kind], "keys": "image", "prob": 1.0, "strength": [strength] * 2}
    summary = evaluate_trained(name, seed, run_dir, data_dir, f"eval_{kind}{strength}", args, [perturbation])
    summary.update(perturbation=kind, strength=strength)
    return summary


def reevaluate_one(name: str, seed: int, data_dir: Path, run_dir: Path, args) -> dict:
    """Score a trained run again by the snapshot's (changed) ``evaluate.yaml``: the new evaluation goes to
    ``eval_new/`` and replaces ``eval/`` only when complete; the replaced one is kept as ``eval_previous/``."""
    fresh, current, previous = (run_dir / folder for folder in ("eval_new", "eval", "eval_previous"))
    shutil.rmtree(fresh, ignore_errors=True)  # an evaluation interrupted earlier starts again
    summary = evaluate_trained(name, seed, run_dir, data_dir, fresh.name, args)
    shutil.rmtree(previous, ignore_errors=True)
    if current.is_dir():
        current.rename(previous)
    fresh.rename(current)
    return summary


def reevaluate(rows: list[dict], data_dir: Path, results_file: Path, args) -> None:
    """Bring the snapshot's ``evaluate.yaml`` up to the checkout's and re-score every selected row evaluated by
    another version; training fields (minutes, speed, device) stay, the replaced rows go to
    ``results_previous.json``. Interrupted, it resumes with the rows not yet re-scored."""
    version = adopt_current_evaluation(args.configs)
    selected = [row for row in rows if row["model"] in args.models and row["seed"] in args.seeds]
    stale = sorted(
        ((row["model"], row["seed"]) for row in selected if row.get("evaluated_with") != version),
        key=lambda run: (args.models.index(run[0]), run[1]),  # in the order of --models
    )
    previous_file = results_file.with_name("results_previous.json")
    previous = json.loads(previous_file.read_text()) if previous_file.is_file() else []
    for summary in run_all(stale, data_dir, args, task=reevaluate_one):
        index = next(
            i for i, row in enumerate(rows) if (row["model"], row["seed"]) == (summary["model"], summary["seed"])
        )
        previous.append(rows[index])
        previous_file.write_text(json.dumps(previous, indent=1))
        rows[index] = {**rows[index], **summary}
        results_file.write_text(json.dumps(rows, indent=1))
        print(f"accuracy: {summary['model']} seed {summary['seed']} re-scored: Dice ED/ES {summary['dice_semi']:.3f}, "
              f"all frames {summary['dice_full']:.3f}")  # fmt: skip


def table(rows: list[dict]) -> str:
    """Markdown table: mean (± SD over seeds) per model."""
    columns = ["model", "params (M)", "CPU frames/s", "seeds", "Dice ED/ES", "Dice all frames", "HD95"]
    columns += ["inconsistent frames", "mean abs d", "EF MAE", "EF bias", "ED / ES error (frames)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name in dict.fromkeys(row["model"] for row in rows):
        runs = [row for row in rows if row["model"] == name]

        def cell(key, scale=1.0, digits=3):
            values = [row[key] * scale for row in runs if row.get(key) is not None]
            if not values:
                return "n/a"
            mean = statistics.fmean(values)
            spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
            return f"{mean:.{digits}f}{spread}"

        lines.append(
            f"| {name} | {runs[0]['params_m']:.2f} | {runs[0]['cpu_fps']:.0f} | {len(runs)} | {cell('dice_semi')} | "
            f"{cell('dice_full')} | {cell('hd95_full', digits=2)} | {cell('inconsistency_rate', 100, 1)} % | "
            f"{cell('mean_abs_d', digits=4)} | "
            f"{cell('ef_mae', digits=2)} | {cell('ef_bias', digits=2)} | {cell('ed_error', digits=2)} / "
            f"{cell('es_error', digits=2)} |"
        )
    return "\n".join(lines)


def paired_table(rows: list[dict], out: Path, reference: str, groups: dict[str, str] | None = None) -> str:
    """Markdown table: ``reference`` minus every other model, same seed, video by video (``eval/videos.csv``), in
    Dice points, with the number of videos where ``reference`` is better; then the mean over seeds with its 95 %
    interval, each seed's mean difference taken as one sample (what retraining moves is the noise to beat).

    ``groups`` (video file name -> group, e.g. from :func:`video_groups`) splits every row by group, seeds pooled.
    """
    if groups is None:
        lines = [
            "| against | seed | ED/ES | all frames | ED/ES, mean over seeds [95 % CI] | all frames, mean [95 % CI] |",
            "|" + "---|" * 6,
        ]
    else:
        lines = [
            f"| against | seeds | videos | ED/ES | all frames | {reference}: Dice ED/ES / all frames |",
            "|" + "---|" * 6,
        ]
    for name in dict.fromkeys(row["model"] for row in rows if row["model"] != reference):
        seeds = shared_seeds(rows, reference, name)
        if not seeds:
            continue
        differences = {seed: paired_differences(out, reference, name, seed) for seed in seeds}
        if groups is None:
            keys = ("dice_semi", "dice_full")
            cells = {key: " / ".join(_paired_cell([d[key] for d in differences[s].values()]) for s in seeds)
                     for key in keys}  # fmt: skip
            spans = {key: _seed_interval([seed_mean(differences[s], key) for s in seeds]) for key in keys}
            lines.append(f"| {name} | {' / '.join(map(str, seeds))} | {cells['dice_semi']} | {cells['dice_full']} | "
                         f"{spans['dice_semi']} | {spans['dice_full']} |")  # fmt: skip
            continue
        for group in dict.fromkeys(groups.values()):  # in the order video_groups gives
            videos = [video for video, member in groups.items() if member == group]
            pooled = [differences[s][video] for s in seeds for video in videos if video in differences[s]]
            if pooled:
                cells = {key: _paired_cell([d[key] for d in pooled]) for key in ("dice_semi", "dice_full")}
                ours = [_per_video(run_dir(out, reference, s))[video] for s in seeds for video in videos]
                dice = " / ".join(f"{statistics.fmean(d[key] for d in ours):.3f}" for key in ("dice_semi", "dice_full"))
                lines.append(f"| {name} | {' / '.join(map(str, seeds))} | {group} ({len(videos)}) | "
                             f"{cells['dice_semi']} | {cells['dice_full']} | {dice} |")  # fmt: skip
    return "\n".join(lines)


CLINICAL_ERRORS = {  # per-video error of a clinical figure, from a row of eval/videos.csv (lower is better)
    "EF abs. error": lambda row: abs(float(row["ef_pred"]) - float(row["ef_ref"])),
    "EF error": lambda row: float(row["ef_pred"]) - float(row["ef_ref"]),
    "ED frame error": lambda row: float(row["ed_error"]),
    "ES frame error": lambda row: float(row["es_error"]),
    "inconsistent frames (%)": lambda row: 100 * float(row["inconsistency_rate"]),
}


def paired_clinical_table(rows: list[dict], out: Path, reference: str) -> str:
    """Markdown table: every other model minus ``reference``, same seed and video, for each clinical error of
    :data:`CLINICAL_ERRORS` (positive: ``reference`` has the smaller error, except for the signed EF error), as the
    mean over seeds of each seed's mean paired difference with its 95 % interval over seeds."""
    lines = ["| other minus " + reference + " | seeds | " + " | ".join(CLINICAL_ERRORS) + " |",
             "|" + "---|" * (2 + len(CLINICAL_ERRORS))]  # fmt: skip
    for name in dict.fromkeys(row["model"] for row in rows if row["model"] != reference):
        seeds = shared_seeds(rows, reference, name)
        if not seeds:
            continue
        cells = []
        for error in CLINICAL_ERRORS.values():
            seed_means = []
            for seed in seeds:
                ours, theirs = (_video_rows(run_dir(out, model, seed)) for model in (reference, name))
                paired = [error(theirs[video]) - error(ours[video]) for video in ours if video in theirs]
                paired = [value for value in paired if math.isfinite(value)]
                seed_means.append(statistics.fmean(paired))
            centre, low, high = seed_interval(seed_means)
            cells.append(f"{centre:+.2f} [{low:+.2f}, {high:+.2f}]")
        lines.append(f"| {name} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _video_rows(run: Path) -> dict[str, dict[str, str]]:
    with open(run / "eval" / "videos.csv") as f:
        return {row["video"]: row for row in csv.DictReader(f)}


def _paired_cell(differences: list[float]) -> str:
    """Mean difference in Dice points, and how many are positive, e.g. ``+0.21 (26/50)``."""
    return f"{100 * statistics.fmean(differences):+.2f} ({sum(d > 0 for d in differences)}/{len(differences)})"


def shared_seeds(rows: list[dict], reference: str, other: str) -> list[int]:
    """The seeds both models were trained with, in order."""
    return sorted(
        {r["seed"] for r in rows if r["model"] == other} & {r["seed"] for r in rows if r["model"] == reference}
    )


def seed_mean(differences: dict[str, dict[str, float]], key: str) -> float:
    """Mean over the test videos of one seed's :func:`paired_differences` of ``key``."""
    return statistics.fmean(d[key] for d in differences.values())


def seed_interval(seed_means: list[float]) -> tuple[float, float, float]:
    """Mean of per-seed mean differences and its 95 % Student-t interval (each seed one sample): (mean, low, high),
    in the unit of ``seed_means``; one seed gives a zero-width interval."""
    centre = statistics.fmean(seed_means)
    if len(seed_means) < 2:
        return centre, centre, centre
    half = stats.t.ppf(0.975, len(seed_means) - 1) * statistics.stdev(seed_means) / math.sqrt(len(seed_means))
    return centre, centre - half, centre + half


def _seed_interval(seed_means: list[float]) -> str:
    """:func:`seed_interval` in Dice points, e.g. ``+0.12 [-0.40, +0.64]``; one seed gives the mean alone."""
    centre, low, high = (100 * value for value in seed_interval(seed_means))
    return f"{centre:+.2f}" if len(seed_means) < 2 else f"{centre:+.2f} [{low:+.2f}, {high:+.2f}]"


def paired_differences(out: Path, reference: str, other: str, seed: int) -> dict[str, dict[str, float]]:
    """``reference`` minus ``other`` per test video of one seed: Dice ED/ES and all-frame Dice, by video name."""
    ours, theirs = (_per_video(run_dir(out, model, seed)) for model in (reference, other))
    return {video: {key: ours[video][key] - theirs[video][key] for key in ours[video]} for video in ours}


@functools.lru_cache(maxsize=None)
def _per_video(run: Path) -> dict[str, dict[str, float]]:
    """Dice ED/ES and all-frame Dice of every test video of a run, by video file name (read once per run)."""
    with open(run / "eval" / "videos.csv") as f:
        return {row["video"]: {k: float(row[k]) for k in ("dice_semi", "dice_full")} for row in csv.DictReader(f)}


def video_groups(datalist: Path, field: str, bins: int = 3) -> dict[str, str]:
    """Test video file name -> group by a datalist field: its value for text fields (``view``), its quantile bin
    (``bins`` of equal counts, labelled with their value range) for numeric ones (``quality``, ``ef``); ordered by
    group (text values sorted, bins from low to high)."""
    items = json.loads(Path(datalist).read_text())["test"]
    missing = [item.get("image") for item in items if field not in item]
    if missing:
        raise ValueError(f"{datalist}: test items have no {field!r} field (first: {missing[0]}).")
    values = {Path(item["image"]).name: item[field] for item in items}
    if not all(isinstance(v, (int, float)) for v in values.values()):
        return {video: str(values[video]) for video in sorted(values, key=lambda video: str(values[video]))}
    ordered = sorted(values, key=values.get)
    groups, bins = {}, max(1, min(bins, len(ordered)))
    for b in range(bins):
        members = ordered[b * len(ordered) // bins : (b + 1) * len(ordered) // bins]
        label = f"{field} {values[members[0]]:g}-{values[members[-1]]:g}"
        groups.update(dict.fromkeys(members, label))
    return groups


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".cache/accuracy")
    parser.add_argument("--dataset-dir", default=None, help="a converted dataset (default: a fixed synthetic set)")
    standard = [name for name, spec in BENCHMARK_MODELS.items() if not spec.get("experiment")]
    parser.add_argument("--models", nargs="+", default=standard, choices=list(BENCHMARK_MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-test", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process (on one GPU)")
    parser.add_argument("--amp", action="store_true", help="train with the bundle's mixed precision (GPU)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results so far")
    parser.add_argument("--paired", metavar="MODEL", help="with --table-only: MODEL minus each other model, by video")
    parser.add_argument("--clinical", action="store_true", help="with --paired: EF and ED/ES errors, not Dice")
    parser.add_argument("--by", metavar="FIELD", help="with --paired: split by a test-datalist field (quality, view)")
    parser.add_argument("--perturb", choices=sorted(PERTURBATIONS), help="re-evaluate trained runs under this")
    parser.add_argument("--strength", type=float, default=0.8, help="strength of --perturb")
    parser.add_argument(
        "--reevaluate", action="store_true", help="score trained runs again by the checkout's evaluate.yaml"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data_dir = Path(args.dataset_dir) if args.dataset_dir else out / "data"
    results_file = out / "results.json"
    rows = json.loads(results_file.read_text()) if results_file.is_file() else []
    if args.table_only:
        groups = video_groups(data_dir / "datalist.json", args.by) if args.by else None
        if args.paired and args.clinical:
            print(paired_clinical_table(rows, out, args.paired))
        else:
            print(paired_table(rows, out, args.paired, groups) if args.paired else table(rows))
        return
    args.configs = snapshot_configs(out)
    if args.reevaluate:
        reevaluate(rows, data_dir, results_file, args)
        print(table(rows))
        return
    if args.perturb is not None:
        noisy_file = out / f"results_{args.perturb}{args.strength}.json"
        noisy = json.loads(noisy_file.read_text()) if noisy_file.is_file() else []
        version = evaluation_version(args.configs)
        for row in rows:
            if row["model"] in args.models and row["seed"] in args.seeds:
                same = [n for n in noisy if (n["model"], n["seed"]) == (row["model"], row["seed"])]
                if any(n.get("evaluated_with") == version for n in same):
                    continue
                noisy = [n for n in noisy if n not in same]  # scored by an earlier evaluation: replaced
                trained = run_dir(out, row["model"], row["seed"])
                noisy.append(
                    evaluate_perturbed(row["model"], row["seed"], trained, data_dir, args.perturb, args.strength, args)
                )
                noisy[-1].update(params_m=row["params_m"], cpu_fps=row["cpu_fps"])
                noisy_file.write_text(json.dumps(noisy, indent=1))
        print(table(noisy))
        return
    if not args.dataset_dir and not (data_dir / "datalist.json").is_file():
        generate_dataset(
            data_dir, num_train=args.num_train, num_val=20, num_test=args.num_test, size=112, seed=2024, workers=2
        )
    done = {(row["model"], row["seed"]) for row in rows}
    pending = [(name, seed) for seed in args.seeds for name in args.models if (name, seed) not in done]
    for row in run_all(pending, data_dir, args):
        model = build_model(row["model"])
        row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
        row["cpu_fps"] = cpu_frames_per_second(model, args.image_size)
        row["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        rows.append(row)
        out.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(rows, indent=1))
        print(f"accuracy: {row['model']} seed {row['seed']}: Dice all frames {row['dice_full']:.3f} "
              f"({row['minutes']:.1f} min)")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main()
