"""A small real-echo check: Dice and HD95 of a checkpoint on CAMUS ED/ES frames with expert LV masks.

The CAMUS 2019 sample patients (apical 2- and 4-chamber views, ED and ES frames, expert masks) are converted with the
package's own converter into a temporary folder and every labelled frame is segmented on its own (T = 1: the
network's spatial and cross-scale correlation, no temporal neighbours), resized to ``--image-size`` as the bundle
does, the prediction brought back to the frame's own size. Scores are MONAI's Dice and HD95 in mm.

    python benchmarks/camus_check.py --camus ../shared/data/camus_2019 --checkpoint bundle/models/model.pt
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import BENCHMARK_MODELS, build_model  # noqa: E402

from ncm_components.data import camus, load_datalist  # noqa: E402
from ncm_components.handlers import read_checkpoint  # noqa: E402
from ncm_components.metrics.segmentation import per_frame_scores  # noqa: E402
from ncm_components.transforms import load_video  # noqa: E402
from ncm_components.transforms.labels import annotated_frames  # noqa: E402


def segment_frame(network: torch.nn.Module, frame: torch.Tensor, size: int) -> np.ndarray:
    """(X, Y) grey levels -> (X, Y) LV mask: min-max scaled, resized to size x size, one-frame clip, resized back."""
    image = (frame - frame.min()) / (frame.max() - frame.min() + 1e-6)
    clip = F.interpolate(image[None, None], size=(size, size), mode="bilinear", align_corners=False)[..., None]
    with torch.no_grad():
        logits = network(clip)[..., 0]  # 1 x K x size x size
    logits = F.interpolate(logits, size=tuple(frame.shape), mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)[0].numpy().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camus", required=True, help="folder of CAMUS patientXXXX folders (2019 or 2023 release)")
    parser.add_argument("--checkpoint", required=True, help="model.pt to check")
    parser.add_argument("--model", default="NCM-Net small", choices=list(BENCHMARK_MODELS))
    parser.add_argument("--image-size", type=int, default=112)
    args = parser.parse_args(argv)
    network = build_model(args.model).eval()
    state = read_checkpoint(args.checkpoint, map_location="cpu")
    network.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        report = camus.convert(args.camus, folder)
        if report.exit_code:
            print(report.summary(), file=sys.stderr)
            return 1
        items = [
            item
            for split in ("training", "validation", "test")
            for item in load_datalist(Path(folder) / "datalist.json", split)
        ]
        for item in items:
            video = load_video(item["image"])
            label = load_video(item["label"], dtype=np.uint8)
            spacing = tuple(float(s) for s in video.meta["pixel_spacing"])
            for t in np.nonzero(np.asarray(annotated_frames(label)))[0]:
                pred = segment_frame(network, video[0, ..., t].as_tensor(), args.image_size)
                scores = per_frame_scores(pred[..., None], label.numpy()[0][..., t : t + 1], 2, spacing)
                phase = "ED" if t == item["ed_frame"] else "ES"
                rows.append((item["case"], phase, float(scores["dice"][0, 0]), float(scores["hd95"][0, 0])))
    print("| case | phase | Dice | HD95 (mm) |\n|---|---|---|---|")
    for case, phase, dice, hd95 in rows:
        print(f"| {case} | {phase} | {dice:.3f} | {hd95:.1f} |")
    dice = [row[2] for row in rows]
    print(f"\nmean Dice {statistics.fmean(dice):.3f} (min {min(dice):.3f}) over {len(rows)} real CAMUS frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
