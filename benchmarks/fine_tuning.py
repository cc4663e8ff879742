"""Fine-tuning benchmark: a team with few labelled videos, starting from the shipped weights or from scratch.

A simulated EchoNet-Dynamic release (its own seed, so none of its videos trained the shipped weights) goes through
the release's converter; ``train.yaml`` then trains on the first 20 and the first 100 of its TRAIN videos (ED/ES
labels only), once from ``--init_weights`` = the shipped weights and once from random weights, for the same number of
iterations, and ``evaluate.yaml`` scores each run on the release's TEST videos. The shipped weights without any
training are scored too. Prints a markdown table (Dice ED/ES, EF MAE and bias, minutes of training).

    python benchmarks/fine_tuning.py --out .cache/fine_tuning --videos 200 --iterations 300
    python benchmarks/fine_tuning.py --out .cache/fine_tuning --starts shipped@0.0003   # a lower learning rate

A start is ``shipped`` or ``scratch``, optionally with ``@LR`` (the learning rate; train.yaml's by default).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import CONFIGS, run_workflow, train_run  # noqa: E402

from ncm_components.data import echonet  # noqa: E402
from ncm_components.data.atomic import write_json_atomic  # noqa: E402
from ncm_components.data.datalist import SPLITS, load_datalist, write_datalist  # noqa: E402
from ncm_components.handlers.weight_files import shipped_weights  # noqa: E402
from ncm_components.simulation.synthetic import generate_release  # noqa: E402

BUNDLE_ROOT = CONFIGS.parent


def prepare_data(out: Path, videos: int, seed: int, labelled: list[int]) -> dict[int, Path]:
    """Release -> converter -> one datalist per training-set size (the first N TRAIN videos); returns {N: path}."""
    release, data = out / "EchoNet-Dynamic", out / "echonet"
    if not (data / "datalist.json").is_file():
        generate_release(release, "echonet", videos, seed=seed, workers=2)
        report = echonet.convert(release, data, overwrite=True)
        print(report.summary())
    full = {split: load_datalist(data / "datalist.json", split) for split in SPLITS}
    datalists = {}
    for count in labelled:
        if count > len(full["training"]):
            raise SystemExit(f"the release has {len(full['training'])} TRAIN videos, fewer than {count}")
        datalists[count] = data / f"datalist_{count}.json"
        metadata = json.loads((data / "datalist.json").read_text()).get("metadata")
        write_datalist(datalists[count], {**full, "training": full["training"][:count]}, metadata)
    return datalists


def evaluate(datalist: Path, ckpt_dir: Path, output_dir: Path) -> dict:
    overrides = {"dataset_dir": str(datalist), "ckpt_dir": str(ckpt_dir), "output_dir": str(output_dir),
                 "overwrite": True}  # fmt: skip
    run_workflow([str(CONFIGS / "train.yaml"), str(CONFIGS / "evaluate.yaml")], overrides)
    return json.loads((output_dir / "summary.json").read_text())


def train(datalist: Path, count: int, start: str, run: Path, iterations: int, batch_size: int) -> float:
    """Train one run for ``iterations`` (rounded up to whole epochs) from ``start``; returns its minutes."""
    weights, _, learning_rate = start.partition("@")
    overrides = {
        "dataset_dir": str(datalist),
        "init_weights": shipped_weights(str(BUNDLE_ROOT)) if weights == "shipped" else "",
        **({"learning_rate": float(learning_rate)} if learning_rate else {}),
    }
    return train_run(run, [str(CONFIGS / "train.yaml")], overrides, iterations, count, batch_size)


def table(rows: list[dict]) -> str:
    lines = [
        "| labelled videos | start | iterations | Dice ED/ES | EF MAE | EF bias | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['labelled']} | {row['start']} | {row['iterations']} | {row['dice_semi']:.3f} | "
            f"{row['ef_mae']:.2f} | {row['ef_bias']:+.2f} | {row['minutes']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".cache/fine_tuning")
    parser.add_argument("--videos", type=int, default=200, help="videos of the simulated release (80/10/10 %%)")
    parser.add_argument("--release-seed", type=int, default=1, help="not 0: the shipped weights' release")
    parser.add_argument("--labelled", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--starts", nargs="+", default=["shipped", "scratch"], help="shipped|scratch[@LR]")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    datalists = prepare_data(out, args.videos, args.release_seed, args.labelled)
    results_file = out / "results.json"
    rows = json.loads(results_file.read_text()) if results_file.is_file() else []
    done = {(row["labelled"], row["start"]) for row in rows}

    if (0, "shipped") not in done:
        summary = evaluate(datalists[args.labelled[0]], BUNDLE_ROOT / "models", out / "runs" / "shipped_only" / "eval")
        rows.append({**summary, "labelled": 0, "start": "shipped", "iterations": 0, "minutes": 0.0})
        write_json_atomic(results_file, rows)
    for count in args.labelled:
        for start in args.starts:
            if (count, start) in done:
                continue
            run = out / "runs" / f"{start.replace('@', '_lr')}_{count}"
            shutil.rmtree(run, ignore_errors=True)  # a run without a result row was interrupted: start it again
            minutes = train(datalists[count], count, start, run, args.iterations, args.batch_size)
            summary = evaluate(datalists[count], run / "models", run / "eval")
            rows.append({**summary, "labelled": count, "start": start, "iterations": args.iterations,
                         "minutes": minutes})  # fmt: skip
            write_json_atomic(results_file, rows)
    print(table(rows))


if __name__ == "__main__":
    main()
