# actbench on a GPU: the same pipeline, `dvc repro` unchanged, with CUDA TensorFlow.
#   docker build -t actbench .
#   docker run --rm --gpus all actbench                      # health check (python -m actbench doctor)
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD":/workspace actbench dvc repro
# Python matches pyproject.toml (3.11); TensorFlow, Keras, DVC and Ray come from requirements/gpu.lock,
# which pins the same versions as requirements/dev.lock (tests/test_docker.py checks both).
# The base image is pinned by the digest of its multi-arch index (docker-library/repo-info,
# repos/python/remote/3.11-slim-bookworm.md, build of 2026-09-19, Python 3.11.16). BASE_IMAGE is
# overridden only where Docker Hub is unreachable: `make docker-check` builds on a stand-in made
# from Debian's packages (tools/docker_base.sh).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
FROM ${BASE_IMAGE}

# USER/LOGNAME: DVC asks getpass.getuser(), which fails for a --user UID with no passwd entry.
# GIT_*: `dvc exp run` commits experiments and needs an identity (override with -e).
# PYTHONPATH: the mounted repository's src/ runs, not the copy baked below (the stages also put
# their own src/ first, so what DVC hashed is what runs).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=2 \
    DVC_NO_ANALYTICS=1 \
    HOME=/tmp \
    USER=actbench \
    LOGNAME=actbench \
    GIT_AUTHOR_NAME=actbench \
    GIT_AUTHOR_EMAIL=actbench@localhost \
    GIT_COMMITTER_NAME=actbench \
    GIT_COMMITTER_EMAIL=actbench@localhost \
    PYTHONPATH=/workspace/src

# git for DVC; safe.directory so a repository mounted from the host (another owner) works.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system safe.directory '*' \
    && useradd --create-home --uid 1000 actbench
# DL3008 (pin apt versions) is ignored: Debian replaces point versions with security updates, so an
# exact pin breaks the build within weeks; the image digest above pins the release and its packages.

WORKDIR /opt/actbench
# Dependencies first, in their own layer: a code change does not reinstall them. --no-deps with
# hashes: exactly the lock, setuptools included, so the project install needs no build isolation.
# LOCK is requirements/gpu.lock (CUDA TensorFlow); --build-arg LOCK=requirements/dev.lock builds the
# same image with CPU TensorFlow (the same versions otherwise).
ARG LOCK=requirements/gpu.lock
COPY ${LOCK} ${LOCK}
RUN pip install --no-cache-dir --no-deps --require-hashes -r ${LOCK}
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

USER 1000:1000
WORKDIR /workspace
CMD ["python", "-m", "actbench", "doctor"]
