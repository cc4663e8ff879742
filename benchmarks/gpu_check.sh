#!/usr/bin/env bash
# GPU check (about 10 minutes on one H100, 6-7 with --no-compile, 4 with --no-compile --amp-iters 300): AMP
# stability on the realistic simulation (bf16, fp16, fp32), the bundle's training pipeline against the network alone,
# and NCM-Net against MONAI UNet in frames/s, eager and compiled. Needs torch with CUDA; MONAI, pytorch-ignite and
# nibabel come from wheels in .whl/ when the machine lacks them (docs/benchmarks.md, "One GPU", says how to fetch them).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ -d .whl ] && ! "$PYTHON" -c "import monai, ignite, nibabel" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
