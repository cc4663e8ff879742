"""A small real-echo check: Dice and HD95 of a checkpoint on CAMUS ED/ES frames with expert LV masks.

The CAMUS 2019 sample patients (apical 2- and 4-chamber views, ED and ES frames, expert masks) are converted with the
package's own converter into a temporary folder and every labelled frame is segmented on its own (T = 1: the
network's spatial and cross-scale correlation, no temporal neighbours), resized to ``--image-size`` as the bundle
does, the prediction brought back to the frame's own size. Scores are MONAI's Dice and HD95 in mm, without and with
the bundle's LV clean-up (``keep_lv_component``: MONAI's ``KeepLargestConnectedComponent`` then ``FillHoles`` on the
LV, here within the frame).

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
from monai.transforms import Compose, FillHoles, KeepLargestConnectedComponent

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


def keep_lv_component(mask: np.ndarray) -> np.ndarray:
    """(X, Y) class mask -> the LV's largest connected component with its holes filled, as evaluate.yaml does."""
    cleanup = Compose(
        [KeepLargestConnectedComponent(applied_labels=[1], is_onehot=False), FillHoles(applied_labels=[1])]
    )
    return np.asarray(cleanup(torch.as_tensor(mask)[None]))[0].astype(np.uint8)


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
                reference = label.numpy()[0][..., t : t + 1]
                scores = [per_frame_scores(mask[..., None], reference, 2, spacing)
                          for mask in (pred, keep_lv_component(pred))]  # fmt: skip
                phase = "ED" if t == item["ed_frame"] else "ES"
                rows.append((item["case"], phase, *(float(s[k][0, 0]) for s in scores for k in ("dice", "hd95"))))
    print("| case | phase | Dice | HD95 (mm) | Dice, LV clean-up | HD95, LV clean-up |\n|---|---|---|---|---|---|")
    for case, phase, dice, hd95, dice_lcc, hd95_lcc in rows:
        print(f"| {case} | {phase} | {dice:.3f} | {hd95:.1f} | {dice_lcc:.3f} | {hd95_lcc:.1f} |")
    for label, column in (("", 2), (" with the LV clean-up", 4)):
        dice = [row[column] for row in rows]
        hd95 = statistics.fmean(row[column + 1] for row in rows)
        print(f"\nmean Dice{label} {statistics.fmean(dice):.3f} (min {min(dice):.3f}), HD95 {hd95:.2f} mm over "
              f"{len(rows)} real CAMUS frames")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
