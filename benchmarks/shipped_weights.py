"""The shipped weights' recipe, end to end: a simulated EchoNet-Dynamic release, its converter, ``train.yaml`` with
its defaults, and the scores the model card reports.

The seed (0) and the selection rule (``model.pt`` is the checkpoint with the best validation Dice, ``train.yaml``'s
own rule, validated every 4 of 24 epochs) are fixed before anything is scored; one run, no other.

    python benchmarks/shipped_weights.py --out .cache/shipped_weights      # ~20 min on a 2-core CPU
    cp .cache/shipped_weights/run/models/model.pt bundle/models/model.pt  # then update large_files.yml's sha256

Scores (printed as JSON): the release's 25 TEST videos (converted, px), 40 NIfTI videos of the same simulation
(data seed 7, mm, every frame labelled) and of the held-out ``shifted`` site (data seed 8).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import CONFIGS, train_run  # noqa: E402
from site_study import evaluate  # noqa: E402

from ncm_components.data import echonet  # noqa: E402
from ncm_components.simulation.synthetic import generate_dataset, generate_release  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".cache/shipped_weights")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", default=str(CONFIGS.parent / "models"), help="weights to score beside the new")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    release, data = out / "EchoNet-Dynamic", out / "echonet"
    if not (data / "datalist.json").is_file():
        generate_release(release, "echonet", 250, seed=0, workers=2)
        print(echonet.convert(release, data, overwrite=True).summary())
    run = out / "run"
    if not (run / "models" / "model.pt").is_file():
        overrides = {"dataset_dir": str(data), "seed": 0, "val_interval": 4}
        minutes = train_run(run, [str(CONFIGS / "train.yaml")], overrides, 1200, 200, 4)
        (out / "minutes.txt").write_text(f"{minutes:.1f}\n")
    test_sets = {"release TEST (px)": data / "datalist.json"}
    for name, preset, seed in (("simulation, 40 videos", "echonet", 7), ("shifted site, 40 videos", "shifted", 8)):
        folder = out / f"data_{preset}_{seed}"
        if not (folder / "datalist.json").is_file():
            generate_dataset(folder, 0, 0, 40, seed=seed, workers=2, preset=preset)
        test_sets[name] = folder / "datalist.json"
    scores = {}
    for weights, ckpt_dir in (("new", run / "models"), ("bundle's current", Path(args.compare))):
        for index, (name, datalist) in enumerate(test_sets.items()):
            result = evaluate(ckpt_dir, datalist, out / f"eval_{weights.split()[0]}_{index}")
            scores[f"{weights}: {name}"] = result["summary"]
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
