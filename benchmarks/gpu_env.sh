#!/usr/bin/env bash
# Run a command from the repository root with the project's packages importable on a GPU machine that has torch with
# CUDA but lacks MONAI, pytorch-ignite or nibabel: they are installed from the wheels in .whl/ into /tmp/site
# (docs/benchmarks.md, "One GPU", says how to fetch them). For example, the accuracy benchmark, four runs at a time:
#   bash benchmarks/gpu_env.sh python3 benchmarks/accuracy.py --out .cache/long --iterations 1200 --jobs 4
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ -d .whl ] && ! "$PYTHON" -c "import monai, ignite, nibabel" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$@"
