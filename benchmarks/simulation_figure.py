"""Figure of the simulation for the docs: ED and ES frames of several generated videos with their LV contours (the
anatomy, and the simulated sonographer's tracing), one cardiac cycle of one video, and ED frames of the held-out
``shifted`` site.

    python benchmarks/simulation_figure.py --out docs/figures/simulation_examples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ncm_components.simulation.synthetic import generate_echo  # noqa: E402
from ncm_components.visualize import display_frame  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/figures/simulation_examples.png")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 9, 16, 18, 21])
    args = parser.parse_args(argv)
    echoes = [generate_echo(seed) for seed in args.seeds]
    columns = len(echoes)
    figure, axes = plt.subplots(4, columns, figsize=(2.3 * columns, 9.6))
    for column, echo in enumerate(echoes):
        for row, (phase, frame) in enumerate((("ED", echo.ed_frame), ("ES", echo.es_frame))):
            axis = axes[row, column]
            axis.imshow(display_frame(echo.video, frame), cmap="gray", vmin=0, vmax=255)
            axis.contour(display_frame(echo.lv_masks, frame), levels=[0.5], colors="lime", linewidths=0.8)
            traced = (display_frame(echo.lv_annotations, frame) == 1).astype(np.uint8)
            axis.contour(traced, levels=[0.5], colors="orange", linewidths=0.8, linestyles="--")
            axis.set_title(f"{echo.view} {phase}, EF {echo.ef_requested:.0f} %, q {echo.quality:.2f}", fontsize=7)
            axis.axis("off")
    cycle = echoes[0]
    frames = np.linspace(cycle.ed_frame, cycle.video.shape[-1] - 1, columns).astype(int)
    for column, frame in enumerate(frames):
        axes[2, column].imshow(display_frame(cycle.video, frame), cmap="gray", vmin=0, vmax=255)
        axes[2, column].set_title(f"seed {cycle.seed}, frame {frame}", fontsize=7)
        axes[2, column].axis("off")
    for column, seed in enumerate(args.seeds):
        shifted = generate_echo(seed, preset="shifted")
        axes[3, column].imshow(display_frame(shifted.video, shifted.ed_frame), cmap="gray", vmin=0, vmax=255)
        axes[3, column].set_title(f"shifted site: {shifted.view} ED, {shifted.fps:.0f} fps", fontsize=7)
        axes[3, column].axis("off")
    figure.suptitle(
        "Simulated apical echo (EchoNet-matched site): ED/ES with the LV of the anatomy (green) and as traced (orange,"
        " dashed), rows 1-2; one cycle of one video (row 3); the held-out shifted site (row 4)",
        fontsize=9,
    )
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
