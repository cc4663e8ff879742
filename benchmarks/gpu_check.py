"""GPU check of NCM-Net: AMP training iterations/s and inference frames/s at 112 and 256 px, with peak GPU memory.

Runs in a few minutes on one CUDA card and prints the card's name with every figure. Inputs are random clips (the
speed of these networks does not depend on the pixel values); training uses the bundle's loss (``NCMNetLoss``: sparse
Dice + CE on the ED/ES frames of each clip for the final and coarse outputs, plus the cross-frame boundary term) with
AdamW under bf16 autocast. Each inference figure is the median of
``--repeats`` timed passes after warm-up, for the batch size (in clips of ``--frames`` frames) that gave the most
frames/s among those tried; MONAI UNet applied frame by frame is measured in the same run as the baseline.

    bash benchmarks/gpu_check.sh            # or: python benchmarks/gpu_check.py --train-iters 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import build_model  # noqa: E402

from ncm_components.losses import NCMNetLoss  # noqa: E402
from ncm_components.networks import NCMNet, ncmnet_small  # noqa: E402
from ncm_components.transforms.labels import IGNORE_INDEX  # noqa: E402

MODELS = {
    "NCMNet default": lambda: NCMNet(),
    "NCMNet small": lambda: ncmnet_small(),
    "MONAI UNet (per frame)": lambda: build_model("UNet 2D per frame (EchoNet)"),
}
BATCHES = {112: (16, 64, 128), 256: (4, 16, 32)}


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference(model, size: int, frames: int, repeats: int) -> tuple[float, int, float]:
    """Best (frames/s, batch, peak GiB) over the batch sizes tried."""
    best = (0.0, 0, 0.0)
    for batch in BATCHES[size]:
        clip = torch.randn(batch, 1, size, size, frames, device="cuda")
        torch.cuda.reset_peak_memory_stats()
        try:
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                for _ in range(3):
                    model(clip)
                seconds = timed(lambda: model(clip), repeats)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            continue
        fps = batch * frames / seconds
        if fps > best[0]:
            best = (fps, batch, torch.cuda.max_memory_allocated() / 2**30)
    return best


def training(model, size: int, frames: int, batch: int, iterations: int) -> tuple[float, float]:
    """(iterations/s, peak GiB) of AMP training with deep supervision."""
    model.train()
    loss_fn = NCMNetLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    clip = torch.randn(batch, 1, size, size, frames, device="cuda")
    label = (torch.rand(batch, 1, size, size, frames, device="cuda") > 0.5).long()
    label[..., 1:-1] = IGNORE_INDEX  # ED and ES annotated, as in training

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(model(clip), label)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    torch.cuda.reset_peak_memory_stats()
    seconds = timed(step, iterations)
    model.eval()
    return 1.0 / seconds, torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-iters", type=int, default=50)
    parser.add_argument("--train-batch", type=int, default=16, help="clips per training batch at 112 px")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name()
    print(f"card: {card}; torch {torch.__version__}; {args.frames}-frame clips; bf16 autocast")
    print("| model | size | best batch (clips) | inference frames/s | vs UNet | peak GiB |")
    print("|---|---|---|---|---|---|")
    models = {name: build().cuda().eval() for name, build in MODELS.items()}
    for size in (112, 256):
        results = {name: inference(m, size, args.frames, args.repeats) for name, m in models.items()}
        unet_fps = results["MONAI UNet (per frame)"][0]
        for name, (fps, batch, peak) in results.items():
            print(f"| {name} | {size} | {batch} | {fps:.0f} | {fps / unet_fps:.2f}x | {peak:.1f} |")
    batch = f"batch {args.train_batch} x {args.frames} frames"
    print(f"\n| model | training at 112 px, {batch} | iterations/s | peak GiB |")
    print("|---|---|---|---|")
    for name in ("NCMNet default", "NCMNet small"):
        its, peak = training(models[name], 112, args.frames, args.train_batch, args.train_iters)
        print(f"| {name} | {args.train_iters} AMP iterations | {its:.1f} | {peak:.1f} |")
    print(f"card: {card}")


if __name__ == "__main__":
    main()
