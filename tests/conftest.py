"""Shared test set-up: quiet TensorFlow, the repository root importable for stages/, and the
shared pipeline that the end-to-end tests read or copy."""

import fcntl
import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------------------------
# The shared pipeline: one small DVC project trained once per test session
# ---------------------------------------------------------------------------------------------

# The README's offline Quick start command, which the shared pipeline runs as written.
QUICKSTART_DIGITS = "dvc exp run -S 'datasets=[digits]'"
# digits, the default activations, 3 seeds (a paired test), tuning on; one short epoch per run.
SHARED_PARAMS = {
    "datasets": ["digits"],
    "seeds": [0, 1, 2],
    "profiles.quick.epochs": 1,
    "profiles.quick.min_steps": 0,
    "profiles.quick.batch_size": 64,
    "tuning.lr_multipliers": [0.5, 1, 2],
    "profiles.quick.tuning.seeds": [100],
    "profiles.quick.tuning.max_extensions": 1,
}
# On JAX (make test-jax) every stage process compiles its model with XLA, several times slower
# than TensorFlow's eager start on a CPU: the JAX repro trains two activations, tuning off (3
# seeds: the least a paired test takes).
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    SHARED_PARAMS |= {"activations": ["tanhrelu", "relu"], "tuning.lr_multipliers": []}


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The project trained once with ``SHARED_PARAMS`` by the Quick start's command, results
    committed.
    Read it only: a test that changes anything takes a ``workspace``. With
    ``ACTBENCH_TEST_PIPELINE=<folder>`` it is built in ``<folder>/<backend>`` once and reused by
    later sessions, and by sessions running at the same time (the first builds it, the others
    wait for it): ``make test``'s two lanes share one that way; for the inner loop, delete the
    folder after changing the code."""
    kept = os.environ.get("ACTBENCH_TEST_PIPELINE")
    if not kept:
        return _build(tmp_path_factory.mktemp("pipeline"))
    base = Path(kept) / BACKEND
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the session dies
        if (base / "repro.log").is_file():
            return base / "repo"
        return _build(base)


def _build(base: Path) -> Path:
    from tests.project import make_repo, sh

    repo = base / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    make_repo(repo, **SHARED_PARAMS)
    log = sh(repo, *shlex.split(QUICKSTART_DIGITS)).stdout
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "results")
    (base / "repro.log").write_text(log)  # last: a folder with a log holds a whole pipeline
    return repo


@pytest.fixture
def workspace(pipeline, tmp_path):
    """A private copy of the shared pipeline (git history, DVC cache and outputs included)."""
    return shutil.copytree(pipeline, tmp_path / "repo", symlinks=True)


def pytest_collection_modifyitems(items):
    """Mark every test that reads the shared pipeline (directly or through ``workspace``), so
    ``make test`` can run them in one lane and the rest in another (``-m pipeline``)."""
    for item in items:
        if "pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pipeline)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pipeline: reads the shared pipeline or a copy of it (tests/conftest.py sets it)"
    )
