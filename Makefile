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
	$(PY) benchmarks/inference_speed.py --threads 2 --repeats 3

# Long (about 30 min per seed on 2 CPU cores): every benchmark model trained alike, scored on whole test videos.
bench-accuracy: $(INSTALLED)
	$(PY) benchmarks/accuracy.py --out .cache/accuracy --iterations 300 --seeds 0

# Optional: MONAI Label's real BundleInferTask on the exported bundle, in its own venv (monailabel brings its own torch).
ML_VENV ?= .venv-monailabel
monailabel-check: $(INSTALLED)
	test -x $(ML_VENV)/bin/python || $(PYTHON) -m venv $(ML_VENV)
	$(ML_VENV)/bin/python -m pip install -q monailabel==0.8.5 nibabel SimpleITK opencv-python-headless pydicom \
		scikit-image scipy matplotlib pillow PyYAML fire
	mkdir -p .cache
	$(ML_VENV)/bin/python -m pip install -q --no-deps -e .
	$(PY) -c "import torch; from ncm_components.networks import ncmnet_small; torch.manual_seed(0); \
		torch.save(ncmnet_small().state_dict(), '.cache/monailabel_weights.pt')"
	$(PY) -m ncm_components.bundle_tools export --checkpoint .cache/monailabel_weights.pt --out .cache/monailabel \
		--no-wheel --overwrite --weights-note "random weights, for the MONAI Label check only"
	$(ML_VENV)/bin/python tests/monailabel_check.py .cache/monailabel/ncm_echo_lv_segmentation

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
