# Set-up and everyday commands. `make demo` runs the main job, `make test` the test suite; both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
CODE_DIRS := $(wildcard ncm_components bundle tests benchmarks)

.PHONY: setup demo test lint format bench bench-accuracy clean monailabel-check

setup: $(INSTALLED)

$(INSTALLED): requirements.txt setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m ncm_components.demo

test: $(INSTALLED)
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(PY) -m black --check --diff $(CODE_DIRS)
	$(PY) -m isort --check-only --diff $(CODE_DIRS)
	$(PY) -m flake8 $(CODE_DIRS)

format: $(INSTALLED)
	$(PY) -m black $(CODE_DIRS)
	$(PY) -m isort $(CODE_DIRS)

bench: $(INSTALLED)
	$(PY) benchmarks/network_speed.py --threads 2 --repeats 7
	$(PY) benchmarks/network_speed.py --threads 2 --repeats 9 --sizes 112 --no-memory --compile
	$(PY) benchmarks/inference_speed.py --threads 2 --repeats 3

# Long (about 10 min per NCM-Net run, 4-6 per UNet on 2 CPU cores): the models of docs/benchmarks.md trained alike,
# scored on whole test videos; runs already in .cache/accuracy/results.json are kept.
bench-accuracy: $(INSTALLED)
	$(PY) benchmarks/accuracy.py --out .cache/accuracy --iterations 400 --seeds 0 1 2 --models "NCM-Net small" \
		"UNet 2D per frame (EchoNet)" "UNet 3D on the clip (SimLVSeg-3D)" "small w/o NCM"

# Optional: a real MONAI Label 0.8.5 server on 127.0.0.1 serving the exported bundle over HTTP (/info/, /infer/,
# a bad request), its label checked against the video's geometry and the bundle's own inference. Its own venv, pinned
# (tests/monailabel_requirements.txt) so that pip resolves at once and keeps the CPU torch: about 4 minutes the first
# time, 1 minute after. Weights: bundle/models/model.pt.
ML_VENV ?= .venv-monailabel
monailabel-check: $(INSTALLED)
	test -x $(ML_VENV)/bin/python || $(PYTHON) -m venv $(ML_VENV)
	test -f $(ML_VENV)/.installed || ( $(ML_VENV)/bin/python -m pip install -q -r tests/monailabel_requirements.txt \
		&& $(ML_VENV)/bin/python -m pip install -q --no-deps monailabel==0.8.5 pydicom-seg==0.4.1 \
		&& touch $(ML_VENV)/.installed )
	$(PY) -m ncm_components.bundle_tools export --checkpoint bundle/models/model.pt --out .cache/monailabel \
		--no-wheel --overwrite
	$(ML_VENV)/bin/python tests/monailabel_check.py .cache/monailabel/ncm_echo_lv_segmentation .cache/monailabel/work

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
