"""End-to-end inference speed and memory through ``bundle/configs/inference.yaml`` on the CPU.

Two cases: a 200-frame 112 x 112 video (EchoNet size) and a 20-frame 256 x 256 sequence (CAMUS size), written as
NIfTI. Each run is a fresh process (so its peak resident memory is its own) that builds the inference workflow and
times ``run()``: reading, resizing, the sliding-window inferer, inverting, writing the mask, CSV, overlay and figure.
A forward hook times the network alone, giving the share of time spent outside it. Medians of ``--repeats`` runs.

    python benchmarks/inference_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {"200 frames, 112 x 112": (112, 200, 50.0), "20 frames, 256 x 256": (256, 20, 25.0)}


def worker(video: str, weights: str, out: str, threads: int) -> dict:
    """One measured inference run in this process; returns seconds, network seconds and peak RSS (MiB)."""
    import torch
    from monai.bundle import ConfigWorkflow

    torch.set_num_threads(threads)
    overrides = {"dataset_dir": video, "ckpt_path": weights, "output_dir": out, "overwrite": True}
    config = str(REPO / "bundle" / "configs" / "inference.yaml")
    workflow = ConfigWorkflow(config_file=config, workflow_type="infer", **overrides)
    workflow.initialize()
    network = workflow.parser.get_parsed_content("network")
    spent = []
    network.register_forward_pre_hook(lambda module, args: spent.append(-time.perf_counter()))
    network.register_forward_hook(lambda module, args, output: spent.append(time.perf_counter()))
    tick = time.perf_counter()
    workflow.run()
    total = time.perf_counter() - tick
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": total, "network_seconds": sum(spent), "peak_mib": peak_mib}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("VIDEO", "WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, threads=args.threads)))
        return

    import torch

    from ncm_components.networks import ncmnet_small
    from ncm_components.simulation.synthetic import generate_echo
    from ncm_components.transforms import write_volume

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        weights = folder / "model.pt"
        torch.save(ncmnet_small().state_dict(), weights)  # speed does not depend on the weights' values
        print("| case | seconds (median) | frames/s end to end | share outside the network | peak memory (MiB) |")
        print("|---|---|---|---|---|")
        for name, (size, frames, fps) in CASES.items():
            echo = generate_echo(7, size=size, fps=fps, heart_rate=70.0, num_frames=frames)
            video = folder / f"video_{size}.nii.gz"
            write_volume(video, echo.video, echo.spacing, echo.fps)
            runs = []
            for repeat in range(args.repeats):
                command = [sys.executable, __file__, "--threads", str(args.threads), "--worker"]
                command += [str(video), str(weights), str(folder / f"out_{size}_{repeat}")]
                result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
                runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            seconds = statistics.median(r["seconds"] for r in runs)
            outside = statistics.median(1 - r["network_seconds"] / r["seconds"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            print(f"| {name} | {seconds:.2f} | {frames / seconds:.0f} | {outside * 100:.0f} % | {peak:.0f} |")


if __name__ == "__main__":
    main()
