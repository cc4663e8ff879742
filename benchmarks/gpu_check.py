"""GPU check of NCM-Net: AMP stability, data pipeline, throughput with compile.

Three parts, each printed as a markdown table with the card's name and followed by its duration:

1. ``amp``: NCM-Net small trained with the bundle's loss (``NCMNetLoss``: sparse Dice + CE on ED/ES, deep supervision,
   cross-frame boundary term) on clips of the realistic simulation, ``--amp-iters`` iterations each in bf16
   autocast, fp16 autocast with loss scaling, and fp32, from the same initial weights and the same batches. Reports
   non-finite losses and the mean loss of the last 10 % of iterations against fp32's.
2. ``pipeline``: the whole training loop of ``bundle/configs/train.yaml`` (data loading, random transforms, the mean
   teacher, checkpoints; its default workers) in iterations/s, against the network-and-loss step alone and against
   that step plus the mean teacher, at the same batch size on the same card.
3. ``throughput``: inference frames/s (best of ``--inference-batches``) and training iterations/s of NCM-Net small
   (NCM over whole windows, its default on a GPU, and one neighbour at a time, its CPU way) and of MONAI UNet
   applied frame by frame at 112 px in bf16, eager; then NCM-Net small and the UNet with ``torch.compile``
   (``mode="reduce-overhead"``: CUDA graphs) at their best eager batch.

On one H100 (NCM over whole windows) data took 35 s, ``amp`` 77 s at ``--amp-iters 300`` (341 s at 1,000 with the
neighbour loop), ``pipeline`` 54 s, ``throughput`` 46 s eager and about 3 minutes more with the compiled rows.
``--no-compile`` leaves those out where less than about 12 minutes of GPU time are at hand.

    bash benchmarks/gpu_check.sh                    # all parts
    bash benchmarks/gpu_check.sh --no-compile       # without the compiled rows
    python benchmarks/gpu_check.py --parts amp      # one part
    python benchmarks/gpu_check.py --device cpu --quick   # a smoke test of the script itself, no GPU
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from monai.utils import CommonKeys as Keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import build_model  # noqa: E402

from ncm_components.handlers import MeanTeacher  # noqa: E402
from ncm_components.losses import NCMNetLoss  # noqa: E402
from ncm_components.networks import ncmnet_small  # noqa: E402
from ncm_components.simulation.synthetic import generate_dataset  # noqa: E402
from ncm_components.transforms import load_video  # noqa: E402
from ncm_components.transforms.labels import IGNORE_INDEX  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "bundle" / "configs"
UNET = "UNet 2D per frame (EchoNet)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: torch.device) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class ClipSampler:
    """Random training clips (ED or ES labelled, the rest 255) from videos held on the device: the data of the
    ``amp`` and step-only measurements, with no loader in the way."""

    def __init__(self, datalist: Path, size: int, frames: int, device: torch.device) -> None:
        items = json.loads(datalist.read_text())["training"]
        root = datalist.parent
        self.videos, self.labels, self.frames = [], [], frames
        for item in items:
            video = load_video(root / item["image"]).as_tensor()[0]
            label = load_video(root / item["label"], dtype=np.uint8).as_tensor()[0].long()
            video = torch.nn.functional.interpolate(video.permute(2, 0, 1)[None], size=(size, size), mode="bilinear")
            label = torch.nn.functional.interpolate(label.permute(2, 0, 1)[None].float(), size=(size, size))
            self.videos.append((video[0].permute(1, 2, 0) / 255.0).to(device))
            self.labels.append(label[0].permute(1, 2, 0).long().to(device))
        self.generator = torch.Generator().manual_seed(0)

    def batch(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        clips, labels = [], []
        for _ in range(batch):
            i = int(torch.randint(len(self.videos), (1,), generator=self.generator))
            video, label = self.videos[i], self.labels[i]
            annotated = [t for t in range(label.shape[-1]) if (label[..., t] != IGNORE_INDEX).any()]
            anchor = annotated[int(torch.randint(len(annotated), (1,), generator=self.generator))]
            start = max(0, min(anchor - int(torch.randint(self.frames, (1,), generator=self.generator)),
                               video.shape[-1] - self.frames))  # fmt: skip
            clips.append(video[..., start : start + self.frames])
            labels.append(label[..., start : start + self.frames])
        return torch.stack(clips)[:, None], torch.stack(labels)[:, None]


def train_steps(model, sampler, iterations, batch, device, dtype=None, scaler=None, compiled=False, teacher=False):
    """Losses of ``iterations`` AdamW steps of the bundle's loss; ``dtype`` = autocast dtype (None: fp32). With
    ``teacher``, each step also runs the bundle's mean teacher (its forward, agreement loss and EMA update) as
    ``train.yaml`` does."""
    model.train()
    net = torch.compile(model, mode="reduce-overhead") if compiled else model
    loss_fn = NCMNetLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    mean_teacher = MeanTeacher(model) if teacher else None
    engine = SimpleNamespace(state=SimpleNamespace(iteration=0, output=None))  # what the handler reads of a trainer
    losses = []
    for _ in range(iterations):
        clip, label = sampler.batch(batch)
        optimizer.zero_grad(set_to_none=True)
        engine.state.iteration += 1
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            prediction = net(clip)
            loss = loss_fn(prediction, label)
            if mean_teacher is not None:
                engine.state.output = {Keys.IMAGE: clip, Keys.LABEL: label, Keys.PRED: prediction, Keys.LOSS: loss}
                mean_teacher.add_unlabelled_loss(engine)
                loss = engine.state.output[Keys.LOSS]
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if mean_teacher is not None:
            mean_teacher.update_teacher(engine)
        losses.append(float(loss.detach()))
    return losses


def part_amp(sampler, args, device, card) -> None:
    print(f"\n### AMP stability: NCM-Net small, {args.amp_iters} iterations, batch {args.batch} x {args.frames} frames")
    print(f"card: {card}\n")
    print("| precision | non-finite losses | mean loss, last 10 % | vs fp32 | seconds |")
    print("|---|---|---|---|---|")
    torch.manual_seed(0)
    initial = ncmnet_small().state_dict()
    results = {}
    for name, dtype, scaled in (("fp32", None, False), ("bf16 autocast", torch.bfloat16, False),
                                ("fp16 autocast + GradScaler", torch.float16, True)):  # fmt: skip
        if device.type == "cpu" and dtype is torch.float16:
            continue  # no fp16 loss scaling on the CPU
        model = ncmnet_small().to(device)
        model.load_state_dict(initial)
        sampler.generator.manual_seed(1)
        scaler = torch.amp.GradScaler(device.type) if scaled else None
        start = time.perf_counter()
        losses = train_steps(model, sampler, args.amp_iters, args.batch, device, dtype, scaler)
        seconds = time.perf_counter() - start
        finite = [x for x in losses if math.isfinite(x)]
        tail = statistics.fmean(finite[-max(1, len(finite) // 10) :]) if finite else math.nan
        results[name] = tail
        ratio = tail / results["fp32"] if "fp32" in results else math.nan
        print(f"| {name} | {len(losses) - len(finite)} | {tail:.4f} | {ratio:.3f} | {seconds:.0f} |")


def step_rate(model, sampler, args, device, dtype, compiled=False, teacher=False) -> float:
    """Training iterations/s of the network and loss (with ``teacher``, also the mean teacher), clips already on the
    device: no loader in the way."""
    train_steps(model, sampler, 5, args.batch, device, dtype, compiled=compiled, teacher=teacher)  # warm-up, compile
    start = time.perf_counter()
    train_steps(model, sampler, args.rate_iters, args.batch, device, dtype, compiled=compiled, teacher=teacher)
    synchronize(device)
    return args.rate_iters / (time.perf_counter() - start)


def part_pipeline(data_dir, sampler, args, device, card) -> None:
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow

    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    network_only = step_rate(ncmnet_small().to(device), sampler, args, device, dtype)
    with_teacher = step_rate(ncmnet_small().to(device), sampler, args, device, dtype, teacher=True)
    iterations_per_epoch = args.num_train // args.batch
    epochs = max(2, math.ceil(args.pipeline_iters / iterations_per_epoch))
    with tempfile.TemporaryDirectory() as run:
        overrides = {
            "dataset_dir": str(data_dir),
            "ckpt_dir": f"{run}/models",
            "output_dir": f"{run}/eval",
            "batch_size": args.batch,
            "clip_frames": args.frames,
            "train#trainer#max_epochs": epochs,
            "val_interval": epochs + 1,
            "resume": False,
        }
        workflow = ConfigWorkflow(
            config_file=str(CONFIGS / "train.yaml"),
            logging_file=str(CONFIGS / "logging.conf"),
            workflow_type="train",
            **overrides,
        )
        workflow.initialize()
        trainer = workflow.parser.get_parsed_content("train#trainer")
        workers = workflow.parser.get_parsed_content("num_workers")
        marks = {}
        trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: marks.setdefault(e.state.epoch, time.perf_counter()))
        workflow.run()
        synchronize(device)
        end = time.perf_counter()
        workflow.finalize()
    # from the start of epoch 2: workers, caches and cudnn autotuning are warm
    pipeline = (epochs - 1) * iterations_per_epoch / (end - marks[2])
    print(f"\n### Training pipeline: bundle train.yaml, batch {args.batch} x {args.frames} frames, {workers} workers")
    print(f"card: {card}\n")
    print("| loop | iterations/s | share of network-only | share of network + mean teacher |")
    print("|---|---|---|---|")
    print(f"| network + loss alone (clips on the device) | {network_only:.1f} | 1.00 | |")
    print(f"| network + loss + mean teacher (clips on the device) | {with_teacher:.1f} | "
          f"{with_teacher / network_only:.2f} | 1.00 |")  # fmt: skip
    print(f"| whole train.yaml loop (epochs 2-{epochs}) | {pipeline:.1f} | {pipeline / network_only:.2f} | "
          f"{pipeline / with_teacher:.2f} |")  # fmt: skip


def ncmnet_per_neighbour() -> torch.nn.Module:
    """NCM-Net small computing NCM's windows one neighbour at a time, as it does on the CPU."""
    model = ncmnet_small()
    for block in model.ncm.values():
        block.whole_window = False
    return model


def part_throughput(sampler, args, device, card) -> None:
    """Eager rows first (seconds each), compiled rows last (minutes of compilation each)."""
    dtype = torch.bfloat16 if device.type == "cuda" else None
    models = {
        "NCM-Net small": ncmnet_small,
        "NCM-Net small, NCM one neighbour at a time (the CPU's way)": ncmnet_per_neighbour,
        UNET: lambda: build_model(UNET),
    }
    print(f"\n### Throughput at {args.size} px, {args.frames}-frame clips, {'bf16' if dtype else 'fp32'}")
    print(f"card: {card}\n")
    print("| model | mode | inference frames/s (batch) | training iterations/s (batch "
          f"{args.batch}) |\n|---|---|---|---|")  # fmt: skip
    best_batch = {}
    for compiled in (False, True) if args.compile else (False,):
        for name, build in models.items():
            if compiled and name not in ("NCM-Net small", UNET):
                continue  # compiling takes minutes: the two networks compared by the 0.5x goal
            model = build().to(device).eval()
            runner = torch.compile(model, mode="reduce-overhead") if compiled else model
            rates = {}
            for batch in [best_batch[name]] if compiled else args.inference_batches:  # compiled: one shape
                clip = torch.randn(batch, 1, args.size, args.size, args.frames, device=device)
                with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32,
                                                            enabled=dtype is not None):  # fmt: skip
                    for _ in range(3):
                        runner(clip)
                    rates[batch] = batch * args.frames / timed(lambda: runner(clip), args.repeats, device)
            best_batch[name] = max(rates, key=rates.get)
            training = step_rate(build().to(device), sampler, args, device, dtype, compiled=compiled)
            mode = "torch.compile (CUDA graphs)" if compiled else "eager"
            print(f"| {name} | {mode} | {rates[best_batch[name]]:.0f} ({best_batch[name]}) | {training:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["amp", "pipeline", "throughput"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and counts: a smoke test of the script")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--num-train", type=int, default=48)
    parser.add_argument("--amp-iters", type=int, default=1000)
    parser.add_argument("--rate-iters", type=int, default=50)
    parser.add_argument("--pipeline-iters", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="skip the compiled rows of the throughput part (minutes of compilation each)")  # fmt: skip
    parser.add_argument("--inference-batches", type=int, nargs="+", default=[16, 64, 128])
    args = parser.parse_args()
    if args.quick:
        args.size, args.batch, args.num_train, args.amp_iters, args.rate_iters = 32, 2, 4, 6, 2
        args.pipeline_iters, args.repeats, args.inference_batches, args.frames = 4, 1, [1], 4
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (use --device cpu --quick to test the script)")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"card: {card}; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "synthetic"
        tick = time.perf_counter()
        generate_dataset(data_dir, num_train=args.num_train, num_val=2, num_test=0, size=args.size, workers=8)
        print(f"realistic simulation: {args.num_train} training videos in {time.perf_counter() - tick:.0f} s")
        sampler = ClipSampler(data_dir / "datalist.json", args.size, args.frames, device)
        parts = {"amp": part_amp, "pipeline": lambda *a: part_pipeline(data_dir, *a), "throughput": part_throughput}
        for name in args.parts:
            tick = time.perf_counter()
            parts[name](sampler, args, device, card)
            print(f"({name}: {time.perf_counter() - tick:.0f} s)")
    print(f"\ncard: {card}")


if __name__ == "__main__":
    main()
