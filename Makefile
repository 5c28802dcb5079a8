# The two commands the README promises, plus a few helpers. Each environment is created from the
# exact pins of its lock file, and recreated from scratch when the lock changes, so it matches the
# lock exactly (tools/check_venv.py verifies that). Nothing is installed unpinned or upgraded online.
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
LOCK     := requirements/dev.lock
JAX_VENV := .venv-jax
JAX_LOCK := requirements/jax.lock
PIP      := -m pip install --quiet --disable-pip-version-check --no-deps

.PHONY: setup setup-jax repro test test-lane1 test-lane2 test-fast test-tf test-jax test-pipeline test-rest lint benchmark timing gpu-check gpu-bundle gpu-replica device-check-dry-run cluster lock clean-venv python-version
.PHONY: docker-check docker-check-ci docker-image-ci

python-version:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v[:2] == (3, 11) else f"actbench needs Python 3.11 (its lock files pin wheels for 3.11); $(PYTHON) is {v[0]}.{v[1]}.{v[2]}: run make PYTHON=/path/to/python3.11")'

setup: $(VENV)/.installed
setup-jax: $(JAX_VENV)/.installed

# $(1): environment folder, $(2): lock file
define make-venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python $(PIP) --require-hashes -r $(2)
	$(1)/bin/python $(PIP) --no-build-isolation -e .
	$(1)/bin/python tools/check_venv.py $(2)
	touch $(1)/.installed
endef

$(VENV)/.installed: $(LOCK) pyproject.toml | python-version
	$(call make-venv,$(VENV),$(LOCK))

$(JAX_VENV)/.installed: $(JAX_LOCK) pyproject.toml | python-version
	$(call make-venv,$(JAX_VENV),$(JAX_LOCK))

# The main job: the whole benchmark on the default (quick) profile.
repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The test suite, lint included; .ci/run calls exactly this: every test on TensorFlow and the
# backend-portable ones (a whole `dvc repro` among them) on Keras + JAX without TensorFlow, in two
# lanes side by side (most of the time is processes starting and DVC, not arithmetic), which share
# one shared pipeline per backend (ACTBENCH_TEST_PIPELINE, a fresh folder removed at the end):
# lane 1 builds it and runs the tests that read it, those of LANE2_PIPELINE aside; lane 2 runs the
# JAX suite, every other TensorFlow test, then LANE2_PIPELINE's (by then lane 1 has built the
# pipeline; if not, they wait for it). Each prints its slowest tests and its wall time.
LANE2_PIPELINE := tests/test_tuning.py
test: lint setup setup-jax
	@shared=$$(mktemp -d); \
	ACTBENCH_TEST_PIPELINE=$$shared $(MAKE) --no-print-directory -j2 --output-sync=target test-lane1 test-lane2; \
	status=$$?; rm -rf $$shared; exit $$status

test-lane1: setup
	@$(call timed,test-lane1,$(BIN)/python -m pytest -q -m pipeline --ignore=$(LANE2_PIPELINE) --durations=20)

test-lane2: test-rest
	@$(call timed,test-lane2,$(BIN)/python -m pytest -q -m pipeline $(LANE2_PIPELINE) --durations=10)

# The inner loop: in-process tests on TensorFlow, no DVC project (docs/development.md).
test-fast: setup
	@$(call timed,test-fast,$(BIN)/python -m pytest -q -m "not e2e" --durations=10)

test-tf: setup
	@$(call timed,test-tf,$(BIN)/python -m pytest -q --durations=20)

test-jax: setup-jax
	@$(call timed,test-jax,KERAS_BACKEND=jax PATH="$(CURDIR)/$(JAX_VENV)/bin:$$PATH" $(JAX_VENV)/bin/python -m pytest -q -m portable --durations=10)

test-pipeline: setup
	@$(call timed,test-pipeline,$(BIN)/python -m pytest -q -m pipeline --durations=20)

test-rest: test-jax setup
	@$(call timed,test-rest,$(BIN)/python -m pytest -q -m "not pipeline" --durations=20)

# $(1): the tier's name, $(2): its command, run with this environment's tools first on PATH
define timed
start=$$(date +%s); PATH="$(CURDIR)/$(BIN):$$PATH" $(2); status=$$?; \
echo "make $(1): $$(( $$(date +%s) - start )) s"; exit $$status
endef

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

# A short GPU check (throughput, MFU, memory, the full recipe); runs on whichever backend is
# installed, on a GPU only (--smoke: tiny sizes on a CPU). README, "GPU check".
gpu-check: setup
	$(BIN)/python tools/gpu_check.py

# What tools/device_check.sh needs on a GPU machine without network, in the git-ignored .gpu/
# (~25 MB): the nine wheels its image lacks, checked against requirements/jax.lock's hashes,
# and the CIFAR-10 JPEG archive (CIFAR10_ARCHIVE=path), checked by its SHA-256. Needs PyPI.
gpu-bundle: setup
	PYTHON=$(BIN)/python tools/device_check.sh --bundle

# A CPU replica of the GPU machine's Python (Python 3.12, JAX 0.11.2 and numpy 2.5.2 as there,
# no Keras), from requirements/gpu-replica.lock. JAX 0.11 needs Python 3.12, and the project's
# locks are for 3.11: so this lock, not jax.lock. PYTHON312: a Python 3.12 to build it with.
GPU_REPLICA      := .venv-gpu-replica
GPU_REPLICA_LOCK := requirements/gpu-replica.lock
PYTHON312        ?= python3.12
gpu-replica: $(GPU_REPLICA)/.installed
$(GPU_REPLICA)/.installed: $(GPU_REPLICA_LOCK)
	$(PYTHON312) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12) and f"the GPU replica needs Python 3.12; $(PYTHON312) is {sys.version.split()[0]}: make PYTHON312=/path/to/python3.12")'
	rm -rf $(GPU_REPLICA)
	$(PYTHON312) -m venv $(GPU_REPLICA)
	$(GPU_REPLICA)/bin/python $(PIP) --require-hashes -r $(GPU_REPLICA_LOCK)
	$(GPU_REPLICA)/bin/python tools/check_venv.py $(GPU_REPLICA_LOCK)
	touch $@

# tools/device_check.sh on this CPU at --smoke sizes, as the GPU machine runs it: GPU_PYTHON, a
# Python with JAX and no Keras (default: the replica's), with the wheels of .gpu/. ARGS go to
# gpu_check.py; bfloat16 as on a GPU: ARGS='--precision bfloat16' with, on JAX 0.11's CPU backend,
# XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (tools/gpu_check.py says why).
GPU_PYTHON ?= $(GPU_REPLICA)/bin/python
device-check-dry-run: gpu-bundle $(if $(filter $(GPU_REPLICA)/%,$(GPU_PYTHON)),gpu-replica) $(if $(filter $(JAX_VENV)/%,$(GPU_PYTHON)),setup-jax)
	OUT=$${TMPDIR:-/tmp}/device_check PYTHON=$(GPU_PYTHON) tools/device_check.sh --smoke $(ARGS)

# The stale tune, train and evaluate stages on a Ray cluster (local by default; RAY_ADDRESS or ARGS=--address ...).
cluster: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m actbench.cluster run $(ARGS)

# The Docker image built and run for real, on the CPU (root, docker.io and debootstrap; see
# tools/docker_check.sh): doctor, the README's --user line as a UID with no passwd entry, metrics
# equal to a host run's. docker-check-ci, which CI runs after make test, is the same checks on the
# same Dockerfile built with the CPU lock, and fewer, shorter runs (README, "GPU, JAX and Docker").
DOCKER_LOCK ?= requirements/gpu.lock
DOCKER_CHECK_ARGS ?=
DOCKER_CHECK_CI_ARGS := -S 'activations=[tanhrelu,relu]' -S profiles.quick.epochs=2 -S profiles.quick.min_steps=0 -S 'seeds=[0]' -S profiles.quick.min_seeds=1
docker-check: setup
	DOCKER_LOCK="$(DOCKER_LOCK)" DOCKER_CHECK_ARGS="$(DOCKER_CHECK_ARGS)" bash tools/docker_check.sh

docker-check-ci: setup
	DOCKER_LOCK=requirements/dev.lock DOCKER_CHECK_ARGS="$(DOCKER_CHECK_CI_ARGS)" bash tools/docker_check.sh

# docker-check-ci's images only, into the engine's cache (no .venv needed): .ci/run builds them
# beside make test, so that docker-check-ci finds them built.
docker-image-ci:
	DOCKER_LOCK=requirements/dev.lock bash tools/docker_check.sh --build-only

# Re-pin every dependency (needs uv: pip install uv). Commit the lock files together.
UV_COMPILE := uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes
lock:
	$(UV_COMPILE) --extra cpu --extra dev --extra cluster -o requirements/dev.lock
	$(UV_COMPILE) --extra jax --extra dev -o requirements/jax.lock
	$(UV_COMPILE) --extra gpu --extra cluster -o requirements/gpu.lock
	uv pip compile $(GPU_REPLICA_LOCK:.lock=.in) --python-version 3.12 --python-platform x86_64-manylinux_2_28 --generate-hashes -o $(GPU_REPLICA_LOCK)

clean-venv:
	rm -rf $(VENV) $(JAX_VENV)
