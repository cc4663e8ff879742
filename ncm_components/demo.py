"""The main job (``make demo``): a team's path through an EchoNet-Dynamic release, on a simulated one.

1. ``python -m ncm_components.simulation --layout echonet``: a simulated EchoNet-Dynamic release (MJPEG AVIs,
   ``FileList.csv``, ``VolumeTracings.csv`` with ED/ES tracings), unless one exists in the work folder;
2. ``python -m ncm_components.data.echonet``: the release's own converter to NIfTI videos and a datalist;
3. ``bundle/configs/train.yaml`` through ``monai.bundle.run``: NCM-Net small from the ED/ES labels only;
4. ``evaluate.yaml`` on the release's TEST videos (whole videos, scored on the traced frames, in pixels);
5. ``inference.yaml`` on the TEST videos' AVIs as the release ships them: masks, areas, ED/ES, EF and pictures;
6. one summary line with Dice and EF error, and where the pictures are.

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

from .data import echonet
from .data.datalist import load_datalist, write_datalist
from .simulation import synthetic

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
        f"HD95 {figure('hd95_semi')} {unit} | temporal inconsistency {figure('inconsistency_rate', 100)} % | "
        f"EF error: MAE {figure('ef_mae')}, bias {figure('ef_bias')} points | {minutes:.1f} min"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", default=".cache/demo", help="data, checkpoints and results of the demo")
    parser.add_argument("--videos", type=int, default=60, help="videos of the simulated release (80/10/10 %%)")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (12 iterations each)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    work = Path(args.work_dir)
    release, data = work / "EchoNet-Dynamic", work / "echonet"
    for folder in ("models", "eval", "predictions"):
        shutil.rmtree(work / folder, ignore_errors=True)  # train from scratch, never resume an older demo
    if not (release / "FileList.csv").is_file():
        print(f"demo: writing a simulated EchoNet-Dynamic release of {args.videos} videos to {release}")
        synthetic.main(["--layout", "echonet", "--out", str(release), "--num-videos", str(args.videos), "--overwrite"])
    report = echonet.convert(release, data, overwrite=True)
    print(report.summary())
    if report.exit_code:
        raise SystemExit(report.exit_code)
    overrides = {
        "dataset_dir": str(data),
        "ckpt_dir": str(work / "models"),
        "output_dir": str(work / "eval"),
        "train#trainer#max_epochs": args.epochs,
        "val_interval": min(5, args.epochs),
    }
    if args.device:
        overrides["device"] = f"$torch.device('{args.device}')"
    logging_file = str(CONFIGS / "logging.conf")
    print(f"demo: training NCM-Net small for {args.epochs} epochs on the release's TRAIN videos (ED/ES labels only)")
    run(config_file=str(CONFIGS / "train.yaml"), logging_file=logging_file, **overrides)
    print("demo: evaluating the release's TEST videos (whole videos, scored on the traced frames)")
    run(config_file=[str(CONFIGS / "train.yaml"), str(CONFIGS / "evaluate.yaml")], logging_file=logging_file,
        **overrides)  # fmt: skip
    test_videos = [
        {"image": release / "Videos" / f"{item['case']}.avi"} for item in load_datalist(data / "datalist.json", "test")
    ]
    write_datalist(work / "test_avis.json", {"test": test_videos})
    print(f"demo: segmenting the {len(test_videos)} TEST AVIs as the release ships them")
    run(
        config_file=str(CONFIGS / "inference.yaml"),
        logging_file=logging_file,
        dataset_dir=str(work / "test_avis.json"),
        ckpt_dir=str(work / "models"),
        output_dir=str(work / "predictions"),
        overlay_format="gif",
    )

    summary = json.loads((work / "eval" / "summary.json").read_text())
    logging.shutdown()
    print(f"demo: {summary['videos']} test videos; per-frame scores in {work / 'eval' / 'metrics.csv'}; pictures "
          f"(overlays, area curves with ED/ES) in {work / 'predictions'}")  # fmt: skip
    print(summary_line(summary, (time.perf_counter() - start) / 60))


if __name__ == "__main__":
    main()
