"""The main job on the built-in data (``make demo``).

Generates a small synthetic echo dataset (cached under ``.cache/demo_data``), loads one held-out video through the
same MONAI transforms that training and inference use, cuts its ED->ES clip and segments it with NCM-Net small
(randomly initialised until the bundle's training workflow lands), printing shapes, ground-truth clinical figures
and CPU speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from monai.transforms import Compose, Resized, ScaleIntensityd

from .data.datalist import load_datalist
from .data.synthetic import generate_dataset
from .networks import ncmnet_small
from .transforms import LoadVideod, SampleClipd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=".cache/demo_data")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    datalist = Path(args.data_dir) / "datalist.json"
    if not datalist.is_file():
        generate_dataset(args.data_dir, num_train=8, num_val=2, num_test=2, size=112, seed=0)
        print(f"demo: generated 12 synthetic videos in {args.data_dir}")
    item = load_datalist(datalist, "test")[0]
    keys = ["image", "label", "label_full"]
    pipeline = Compose(
        [
            LoadVideod(keys, num_classes=2),
            SampleClipd(keys, num_frames=args.frames, mode="uniform"),
            ScaleIntensityd("image"),
            Resized(keys, spatial_size=(112, 112, -1), mode=("bilinear", "nearest", "nearest")),
        ]
    )
    data = pipeline(item)
    clip = data["image"].as_tensor().unsqueeze(0)  # 1 x 1 x H x W x T
    print(f"demo: video {Path(item['image']).name}: {data['image'].meta['num_frames']} frames, ED {item['ed_frame']},")
    print(f"      ES {item['es_frame']}, ground-truth EF {item['ef_masks']:.1f} % (EDV {item['edv']:.0f} mL)")
    print(f"demo: clip ED->ES {tuple(clip.shape)} (B, C, H, W, T), frames {data['clip_frames'].tolist()}")

    net = ncmnet_small().eval()
    times = []
    with torch.inference_mode():
        logits = net(clip)
        for _ in range(5):
            tick = time.perf_counter()
            net(clip)
            times.append(time.perf_counter() - tick)
    fps = clip.shape[-1] / statistics.median(times)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    print(f"demo: NCM-Net small ({params:.2f} M parameters) -> logits {tuple(logits.shape)} (B, K, H, W, T)")
    print(f"demo: {fps:.0f} frames/s on {args.threads} CPU threads (median of 5), untrained weights")
    print(f"demo: done in {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
