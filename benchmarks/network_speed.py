"""Network cost on the CPU: parameters, FLOPs per frame, frames/s and peak memory, NCM-Net against MONAI baselines.

Every model runs on the same 10-frame clip. Timings alternate between models (round-robin) so that the machine's
speed drift hits all of them alike; each figure is the median of ``--repeats`` rounds after warm-up. Peak memory is
the growth of the peak resident set during one forward pass in a fresh process (activations and workspace, not
weights; Linux only).

``--compile`` adds ``torch.compile`` copies of NCM-Net small and the UNet baseline to the same round-robin (Inductor
generates fused C++ loops on the CPU; it needs a C++ compiler). Their first call, the compilation, is timed apart and
printed; their FLOPs are the eager model's and their peak memory is not measured.

    python benchmarks/network_speed.py --threads 2 --repeats 7
    python benchmarks/network_speed.py --threads 2 --repeats 9 --sizes 112 --no-memory --compile
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from monai.networks.nets import BasicUNet
from torch.utils.flop_counter import FlopCounterMode

from ncm_components.networks import NCMNet, ncmnet_small
from ncm_components.networks.nets import FrameWise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import build_model  # noqa: E402

MODELS = {
    "NCMNet default": lambda: NCMNet(),
    "NCMNet default w/o NCM+UMA": lambda: NCMNet(use_ncm=False, use_uma=False),
    "NCMNet small": lambda: ncmnet_small(),
    "NCMNet small w/o NCM": lambda: ncmnet_small(use_ncm=False),
    "NCMNet small w/o UMA": lambda: ncmnet_small(use_uma=False),
    "NCMNet small, NCM within each frame": lambda: ncmnet_small(temporal_radius=0),
    "NCMNet small w/o NCM+UMA": lambda: ncmnet_small(use_ncm=False, use_uma=False),
    "NCMNet small, 16-channel head": lambda: ncmnet_small(head_channels=16),
    "NCMNet small, residual decoder": lambda: ncmnet_small(decoder_convs=2),
    "MONAI UNet (per frame)": lambda: build_model("UNet 2D per frame (EchoNet)"),
    "MONAI BasicUNet (per frame)": lambda: FrameWise(BasicUNet(spatial_dims=2, in_channels=1, out_channels=2)),
}
BASELINE = "MONAI UNet (per frame)"
COMPILED = ("NCMNet small", BASELINE)
"""Models that ``--compile`` adds as ``"<name> (torch.compile)"``, sharing the eager model's weights."""
COMPILED_SUFFIX = " (torch.compile)"


def flops_per_frame(model: torch.nn.Module, size: int, frames: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.randn(1, 1, size, size, frames))
    return counter.get_total_flops() / frames


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_memory_mib(name: str, size: int, frames: int) -> float:
    """Peak resident-set growth (MiB) of one forward pass, in a fresh process (Linux: clear_refs resets the peak)."""
    code = (
        "import sys, torch; sys.path.insert(0, 'benchmarks'); import network_speed as b; torch.set_num_threads(2);"
        f"print(b._forward_peak_mib(b.MODELS[{name!r}]().eval(), {size}, {frames}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _forward_peak_mib(model: torch.nn.Module, size: int, frames: int) -> float:
    clip = torch.randn(1, 1, size, size, frames)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM, the peak resident set, to the current one
    with torch.inference_mode():
        model(clip)
    return (_status_kib("VmHWM") - before) / 1024


def frames_per_second(
    models: dict, size: int, frames: int, repeats: int, first_call_s: dict | None = None
) -> dict[str, float]:
    """Median frames/s of each model on one ``(1, 1, size, size, frames)`` clip, models timed round-robin.

    ``first_call_s``, when given, receives the seconds of each model's first call (the compilation, for a compiled
    model)."""
    clip = torch.randn(1, 1, size, size, frames)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for name, model in models.items():  # warm-up
            start = time.perf_counter()
            model(clip)
            if first_call_s is not None:
                first_call_s[name] = time.perf_counter() - start
            model(clip)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(clip)
                times[name].append(time.perf_counter() - start)
    return {name: frames / statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 256])
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--compile", action="store_true", help=f"also time torch.compile copies of {COMPILED}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {name: build().eval() for name, build in MODELS.items()}
    if args.compile:
        models.update({name + COMPILED_SUFFIX: torch.compile(models[name]) for name in COMPILED})
    results = {}
    for size in args.sizes:
        first_call_s: dict[str, float] = {}
        fps = frames_per_second(models, size, args.frames, args.repeats, first_call_s)
        for name, model in models.items():
            eager_name = name.removesuffix(COMPILED_SUFFIX)
            compiled = name != eager_name
            if compiled:  # the eager model came first in ``models``: same weights, same FLOPs
                gflops = results[(eager_name, size)]["gflops_per_frame"]
            else:
                gflops = flops_per_frame(model, size, args.frames) / 1e9
            results[(name, size)] = {
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "gflops_per_frame": gflops,
                "fps": fps[name],
                "ratio_to_unet": fps[BASELINE] / fps[name],
                "peak_mem_MiB": None if args.no_memory or compiled else peak_memory_mib(name, size, args.frames),
                "first_call_s": first_call_s[name],
            }
    print(f"torch {torch.__version__}, {args.threads} threads, {args.frames}-frame clip, median of {args.repeats}")
    print("| model | size | params (M) | GFLOP/frame | frames/s | time vs UNet | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for (name, size), r in results.items():
        mem = "-" if r["peak_mem_MiB"] is None else f"{r['peak_mem_MiB']:.0f}"
        print(
            f"| {name} | {size} | {r['params_M']:.2f} | {r['gflops_per_frame']:.3f} | {r['fps']:.1f} | "
            f"{r['ratio_to_unet']:.2f}x | {mem} |"
        )
    for size in args.sizes:
        for variant in ("default", "small"):
            full, ablated = results[(f"NCMNet {variant}", size)], results[(f"NCMNet {variant} w/o NCM+UMA", size)]
            print(f"NCM+UMA cost, {variant} at {size}: {ablated['fps'] / full['fps']:.2f}x the time without them")
        for name in COMPILED if args.compile else ():
            eager, compiled = results[(name, size)], results[(name + COMPILED_SUFFIX, size)]
            print(
                f"torch.compile, {name} at {size}: {compiled['fps'] / eager['fps']:.2f}x the eager frames/s, "
                f"first call {compiled['first_call_s']:.0f} s (eager {eager['first_call_s']:.2f} s)"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{n}@{s}": r for (n, s), r in results.items()}, f, indent=2)


if __name__ == "__main__":
    main()
