"""The main job on the built-in data (``make demo``): train NCM-Net small from ED/ES labels, evaluate every frame.

1. ``bundle/configs/train.yaml`` through ``monai.bundle.run`` on synthetic videos (generated on first use) whose
   training labels carry only the ED and ES frames;
2. ``evaluate.yaml`` on held-out synthetic videos, whole videos through the sliding-window inferer, scored on the
   ED/ES frames and on all frames against the full ground truth;
3. one summary line with the figures the run reached.

Everything it writes goes under ``--work-dir`` (``.cache/demo``, ignored by git); every run trains from scratch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from pathlib import Path

import torch
from monai.bundle import run

CONFIGS = Path(__file__).resolve().parents[1] / "bundle" / "configs"


def summary_line(summary: dict, minutes: float) -> str:
    """The demo's last line, from an evaluation ``summary.json``."""

    def figure(key: str, scale: float = 1.0, digits: int = 1) -> str:
        value = summary.get(key)
        return (
            "n/a"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else f"{value * scale:.{digits}f}"
        )

    unit = summary.get("distance_unit", "px")
    return (
        f"demo: Dice ED/ES {figure('dice_semi', digits=2)} | Dice all frames {figure('dice_full', digits=2)} | "
        f"HD95 {figure('hd95_full')} {unit} | temporal inconsistency {figure('inconsistency_rate', 100)} % | "
        f"EF MAE {figure('ef_mae')} | {minutes:.1f} min"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", default=".cache/demo", help="data, checkpoints and results of the demo")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (12 iterations each)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    work = Path(args.work_dir)
    shutil.rmtree(work / "models", ignore_errors=True)  # train from scratch, never resume an older demo
    overrides = {
        "synthetic_dir": str(work / "data"),
        "ckpt_dir": str(work / "models"),
        "output_dir": str(work / "eval"),
        "synthetic#num_test": 16,
        "train#trainer#max_epochs": args.epochs,
        "val_interval": 5,
    }
    if args.device:
        overrides["device"] = f"$torch.device('{args.device}')"
    logging_file = str(CONFIGS / "logging.conf")
    print(f"demo: training NCM-Net small for {args.epochs} epochs on synthetic videos labelled on ED/ES only")
    run(config_file=str(CONFIGS / "train.yaml"), logging_file=logging_file, **overrides)
    print("demo: evaluating whole held-out videos against ground truth on every frame")
    run(
        config_file=[str(CONFIGS / "train.yaml"), str(CONFIGS / "evaluate.yaml")],
        logging_file=logging_file,
        **overrides,
    )

    summary = json.loads((work / "eval" / "summary.json").read_text())
    logging.shutdown()
    print(f"demo: {summary['videos']} test videos; per-frame scores in {work / 'eval' / 'metrics.csv'}")
    print(summary_line(summary, (time.perf_counter() - start) / 60))


if __name__ == "__main__":
    main()
