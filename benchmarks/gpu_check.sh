#!/usr/bin/env bash
# GPU check (a few minutes on one CUDA card): NCM-Net AMP training iterations/s and inference frames/s at 112 and
# 256 px with peak GPU memory, against MONAI UNet in the same run. Needs torch with CUDA and monai importable.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
