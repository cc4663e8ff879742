"""Test-time knockouts: which of NCM-Net's mechanisms does a trained network use?

An ablation trains a network without a mechanism; a knockout takes a network trained with it and scores it again
with the mechanism switched off, nothing retrained. A mechanism the trained network leans on costs Dice when knocked
out; one it learned to ignore costs nothing. Each knockout is an exact architectural edit, a smaller ``network_def``
with the trained weights carried over:

- ``temporal``: NCM's space-time neighbourhood cut to the query's own frame (``temporal_radius=0``; the trained
  spatial and same-frame biases kept). Equal to masking the other frames out of the softmax.
- ``cross_scale``: NCM's cross-scale branch removed (``context_window=0``); the output projection keeps the
  space-time branch's weights, as if the cross-scale branch gave zeros.
- ``ncm``: the NCM blocks removed (``use_ncm=False``): every skip passes unchanged.
- ``uma``: UMA removed (``use_uma=False``): the decoded features go to the head unrefined.

Every knocked-out run is scored by the benchmark snapshot's ``evaluate.yaml`` into ``runs/<run>/knockout_<name>/``
and its row goes to ``out/results_knockouts.json``; the table gives each knockout's Dice next to the intact run's
(from ``results.json``), paired by video.

    python benchmarks/knockouts.py --out .cache/traced --models "NCM-Net small" --seeds 0 1
    python benchmarks/knockouts.py --out .cache/traced --table-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import _per_video, evaluate_trained, evaluation_version, run_dir, snapshot_configs  # noqa: E402
from models import BENCHMARK_MODELS  # noqa: E402

__all__ = ["KNOCKOUTS", "knock_out"]

KNOCKOUTS = {
    "temporal": "NCM sees its own frame only",
    "cross_scale": "NCM without its cross-scale branch",
    "ncm": "NCM blocks removed",
    "uma": "UMA removed",
}


def knock_out(network_def: dict, state: dict[str, torch.Tensor], knockout: str) -> tuple[dict, dict]:
    """The ``network_def`` and state dict of a trained NCMNet with one mechanism switched off.

    Args:
        network_def: the trained network's bundle config (an ``NCMNet``/``ncmnet_small`` target).
        state: its trained state dict (not changed).
        knockout: a key of :data:`KNOCKOUTS`.

    Returns:
        (network_def, state) of the knocked-out network: ``state`` loads strictly into ``network_def``'s network.
    """
    if knockout not in KNOCKOUTS:
        raise ValueError(f"knockout must be one of {sorted(KNOCKOUTS)}, got {knockout!r}.")
    flag = {"ncm": "use_ncm", "uma": "use_uma"}.get(knockout)
    if flag is not None and network_def.get(flag) is False:
        raise ValueError(f"network_def has {flag}=False already: nothing to knock out.")
    state = dict(state)
    if knockout == "temporal":
        for key in [k for k in state if k.endswith(".temporal_bias")]:
            centre = state[key].shape[1] // 2
            state[key] = state[key][:, centre : centre + 1].clone()
        return {**network_def, "temporal_radius": 0}, state
    if knockout == "cross_scale":
        for key in [k for k in state if ".context_to_kv." in k or k.endswith(".context_bias")]:
            del state[key]
        for key in [k for k in state if k.startswith("ncm.") and k.endswith(".project.0.weight")]:
            state[key] = state[key][:, : state[key].shape[1] // 2].clone()  # [space-time | cross-scale] inputs
        return {**network_def, "context_window": 0}, state
    prefix = f"{knockout}."
    return {**network_def, flag: False}, {k: v for k, v in state.items() if not k.startswith(prefix)}


def evaluate_knockout(name: str, seed: int, knockout: str, data_dir: Path, args) -> dict:
    """Score run (``name``, ``seed``) with ``knockout`` applied; the knocked-out weights and their evaluation go to
    ``runs/<run>/knockout_<knockout>/`` (``models/model.pt``, ``eval/``)."""
    trained = run_dir(args.out, name, seed)
    weights = trained / "models" / "model.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: the run's trained weights are missing (a knockout needs them).")
    network_def, state = knock_out(
        BENCHMARK_MODELS[name]["network_def"], torch.load(weights, map_location="cpu", weights_only=True), knockout
    )
    folder = trained / f"knockout_{knockout}"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "models" / "model.pt")
    summary = evaluate_trained(name, seed, folder, data_dir, "eval", args, network_def=network_def)
    summary.update(knockout=knockout)
    return summary


def knockout_table(rows: list[dict], knocked: list[dict], out: Path) -> str:
    """Markdown table: each knockout's Dice next to the intact run's (``rows``, from ``results.json``), and the
    knocked-out minus the intact run by video (Dice points; in brackets the videos where the intact run is better)."""
    lines = [
        "| model | seed | knockout | Dice ED/ES intact -> knocked out | all frames | change ED/ES | all frames |",
        "|" + "---|" * 7,
    ]
    for row in knocked:
        whole = next(r for r in rows if (r["model"], r["seed"]) == (row["model"], row["seed"]))
        intact = run_dir(out, row["model"], row["seed"])
        ours = _per_video(intact)
        theirs = _per_video(intact / f"knockout_{row['knockout']}")
        cells = []
        for key in ("dice_semi", "dice_full"):
            change = [theirs[video][key] - ours[video][key] for video in ours]
            worse = sum(c < 0 for c in change)
            cells.append(f"{100 * statistics.fmean(change):+.2f} ({worse}/{len(change)})")
        lines.append(
            f"| {row['model']} | {row['seed']} | {KNOCKOUTS[row['knockout']]} | "
            f"{whole['dice_semi']:.3f} -> {row['dice_semi']:.3f} | "
            f"{whole['dice_full']:.3f} -> {row['dice_full']:.3f} | {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/accuracy"))
    parser.add_argument("--dataset-dir", type=Path, default=None, help="the benchmark's dataset (default: out/data)")
    parser.add_argument("--models", nargs="+", default=["NCM-Net small"], choices=list(BENCHMARK_MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--knockouts", nargs="+", default=list(KNOCKOUTS), choices=list(KNOCKOUTS))
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true", help="print the table of the knockouts so far")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data_dir = args.dataset_dir or args.out / "data"
    rows = json.loads((args.out / "results.json").read_text())
    knocked_file = args.out / "results_knockouts.json"
    knocked = json.loads(knocked_file.read_text()) if knocked_file.is_file() else []
    if not args.table_only:
        args.configs = snapshot_configs(args.out)
        version = evaluation_version(args.configs)
        for name in args.models:
            for seed in args.seeds:
                for knockout in args.knockouts:
                    done = [k for k in knocked if (k["model"], k["seed"], k["knockout"]) == (name, seed, knockout)]
                    if any(k.get("evaluated_with") == version for k in done):
                        continue
                    knocked = [k for k in knocked if k not in done] + [
                        evaluate_knockout(name, seed, knockout, data_dir, args)
                    ]
                    knocked_file.write_text(json.dumps(knocked, indent=1))
    print(knockout_table(rows, knocked, args.out))


if __name__ == "__main__":
    main()
