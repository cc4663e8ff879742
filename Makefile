# Set-up and everyday commands. `make demo` runs the main job, `make test` the test suite; both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
CODE_DIRS := $(wildcard ncm_components bundle tests benchmarks)

.PHONY: setup demo test lint format bench clean

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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
