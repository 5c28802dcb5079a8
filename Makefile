# The two commands the README promises, plus a few helpers. Each target (re)uses .venv,
# created from the exact pins in requirements/dev.lock; it is rebuilt when the lock changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/dev.lock

.PHONY: setup repro test lint benchmark timing lock clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The main job: the whole benchmark on the default (quick) profile.
repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The test suite, lint included; .ci/run calls exactly this.
test: setup lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint --failure-threshold warning Dockerfile

# Activation and training-step speed, side by side; writes metrics/benchmark.json (~10 min on 2 cores).
benchmark: setup
	$(BIN)/python tools/benchmark.py

# The quick profile's wall time on synthetic data of the real sizes; writes metrics/quick_profile_timing.json.
timing: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/time_quick_profile.py

# Re-pin every dependency (needs uv: pip install uv). Commit both lock files together.
lock:
	uv pip compile pyproject.toml --extra cpu --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements/dev.lock
	uv pip compile pyproject.toml --extra gpu --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements/gpu.lock

clean-venv:
	rm -rf $(VENV)
