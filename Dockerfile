# actbench on a GPU: the same pipeline, `dvc repro` unchanged, with CUDA TensorFlow.
#   docker build -t actbench .
#   docker run --rm --gpus all actbench                      # health check (actbench.doctor)
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD":/workspace actbench dvc repro
# Python matches pyproject.toml (3.11); TensorFlow, Keras and DVC come from requirements/gpu.lock,
# which pins the same versions as requirements/dev.lock (tests/test_docker.py checks both).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=2 \
    DVC_NO_ANALYTICS=1 \
    HOME=/tmp

# git for DVC; safe.directory so a repository mounted from the host (another owner) works.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system safe.directory '*' \
    && useradd --create-home --uid 1000 actbench
# DL3008 (pin apt versions) is ignored: Debian replaces point versions with security updates, so an
# exact pin breaks the build within weeks; the python:3.11-slim-bookworm tag pins the release.

WORKDIR /opt/actbench
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements/gpu.lock requirements/gpu.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/gpu.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps .

USER 1000:1000
WORKDIR /workspace
CMD ["python", "-m", "actbench.doctor"]
