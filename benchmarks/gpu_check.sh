#!/usr/bin/env bash
# GPU check (about 10 minutes on one H100, 6-7 with --no-compile, 4 with --no-compile --amp-iters 300): AMP
# stability on the realistic simulation (bf16, fp16, fp32), the bundle's training pipeline against the network alone,
# and NCM-Net against MONAI UNet in frames/s, eager and compiled. Needs torch with CUDA; gpu_env.sh supplies MONAI,
# pytorch-ignite and nibabel from wheels in .whl/ when the machine lacks them.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash benchmarks/gpu_env.sh "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
