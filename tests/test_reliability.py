"""Reliability: same seed same numbers, a killed run resumes to the very same result (killed
between writing a checkpoint's weights and its epoch, the hardest place), a stale checkpoint is
never resumed, and a diverged run leaves nothing behind. Each test works on its own copy of the
shared pipeline (tests/conftest.py), whose data, selections and runs are in place."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .project import env_for, set_params, sh

pytestmark = pytest.mark.e2e
RUN = "tanhrelu_digits_s0"
ARGS = ("--activation", "tanhrelu", "--dataset", "digits", "--seed", "0")
STAGE = "train@tanhrelu-digits-0"
SHORT = {"seeds": [0], "profiles.quick.min_seeds": 1, "train.deterministic": True}


def stage(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, f"stages/{script}", *args, check=False)


@pytest.fixture
def repo(workspace) -> Path:
    """A copy of the shared pipeline without tanhrelu's seed-0 run."""
    for path in (f"models/{RUN}.keras", f"metrics/train/{RUN}.json", f"metrics/eval/{RUN}.json"):
        (workspace / path).unlink()
    shutil.rmtree(workspace / "dvclive" / RUN)
    return workspace


def outcome(repo: Path, run: str = RUN) -> tuple:
    train = json.loads((repo / "metrics/train" / f"{run}.json").read_text())
    ev = json.loads((repo / "metrics/eval" / f"{run}.json").read_text())
    curves = (repo / "dvclive" / run / "plots/metrics/val_loss.tsv").read_text().splitlines()
    return (train["train_loss"], train["val_loss"], ev["test_loss"], ev["test_accuracy"], ev["per_class"],
            [line.split("\t")[-1] for line in curves[1:]])  # fmt: skip


def test_same_seed_same_numbers_bit_for_bit_and_other_seeds_differ(pipeline, repo):
    """The run trained again outside DVC equals the one `dvc repro` trained, exactly."""
    assert stage(repo, "train.py", *ARGS).returncode == 0
    assert stage(repo, "evaluate.py", *ARGS).returncode == 0
    assert outcome(repo) == outcome(pipeline)  # exact equality, not approximate
    assert outcome(pipeline)[:3] != outcome(pipeline, "tanhrelu_digits_s1")[:3]


def test_nan_loss_fails_and_leaves_nothing(repo):
    set_params(repo, **{"profiles.quick.learning_rate": 1e30, "train.warmup_epochs": 0})
    res = stage(repo, "train.py", *ARGS)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{RUN} diverged" in res.stderr and "learning_rate = 1e+30" in res.stderr
    for path in (
        f"models/{RUN}.keras",
        f"metrics/train/{RUN}.json",
        f"dvclive/{RUN}",
        f"checkpoints/{RUN}",
    ):
        assert not (repo / path).exists(), path
    staging = repo / ".dvc/tmp/actbench"
    assert not staging.exists() or not any(staging.iterdir())


def _kill_after_epoch(repo: Path, epoch: int) -> None:
    """Start the candidate's train stage under `dvc repro`; SIGKILL it once `epoch` is checkpointed."""
    done = repo / "checkpoints" / RUN / f"epoch-{epoch:04d}" / "state.json"
    proc = subprocess.Popen(["dvc", "repro", "--force", "--single-item", STAGE], cwd=repo, env=env_for(repo), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not done.is_file():
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (repo / "metrics/train" / f"{RUN}.json").exists()


def test_a_checkpoint_of_other_params_or_other_code_is_never_resumed(repo):
    set_params(repo, **{"profiles.quick.epochs": 6, **SHORT})
    _kill_after_epoch(repo, 1)
    set_params(repo, **{"train.label_smoothing": 0.05})
    res = sh(repo, "dvc", "repro", "--force", "--single-item", STAGE)
    assert "resuming" not in res.stdout
    record = json.loads((repo / "metrics/train" / f"{RUN}.json").read_text())
    assert record["resumed_from_epoch"] is None
    shutil.rmtree(repo / "metrics/train")
    _kill_after_epoch(repo, 1)
    loop = repo / "src/actbench/training/loop.py"
    original = loop.read_text()
    loop.write_text(original + "\n# a code change\n")
    try:
        res = sh(repo, "dvc", "repro", "--force", "--single-item", STAGE)
    finally:
        loop.write_text(original)
    assert "resuming" not in res.stdout


# Run the train stage in this process, killed (os._exit) when it writes the epoch of its
# checkpoint number KILL_AT: after the checkpoint's weights are written, before its epoch is.
KILLED_TRAIN = """
import json, os, runpy, sys
kill_at, calls, dumps = int(os.environ["KILL_AT"]), [], json.dumps
def dumps_then_die(obj, *args, **kwargs):
    if isinstance(obj, dict) and "epoch" in obj and "train_loss" not in obj:
        calls.append(obj)
        if len(calls) == kill_at:
            os._exit(9)
    return dumps(obj, *args, **kwargs)
json.dumps = dumps_then_die
sys.argv = ["stages/train.py", *sys.argv[1:]]
sys.path.insert(0, "stages")
runpy.run_path("stages/train.py", run_name="__main__")
"""


def test_a_kill_between_a_checkpoints_weights_and_its_epoch_resumes_without_an_extra_epoch(repo):
    set_params(repo, **{"profiles.quick.epochs": 3, **SHORT})
    assert stage(repo, "train.py", *ARGS).returncode == 0
    uninterrupted = json.loads((repo / "metrics/train" / f"{RUN}.json").read_text())
    shutil.rmtree(repo / "metrics/train")
    killed = subprocess.run([sys.executable, "-c", KILLED_TRAIN, *ARGS], cwd=repo, capture_output=True, text=True,
                            env={**env_for(repo), "KILL_AT": "2"})  # fmt: skip
    assert killed.returncode == 9, killed.stderr[-2000:]
    res = stage(repo, "train.py", *ARGS)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (
        f"{RUN}: resuming from the checkpoint after epoch 1" in res.stdout
    )  # epoch 2 never completed
    assert not (repo / "checkpoints" / RUN).exists()  # cleared after success
    record = json.loads((repo / "metrics/train" / f"{RUN}.json").read_text())
    steps = record["steps_per_epoch"]
    assert record["optimizer_steps"] == 3 * steps and record["resumed_from_epoch"] == 1
    for key in (
        "train_loss",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    ):  # the same run, bit for bit
        assert record[key] == uninterrupted[key], key
    # The logged rate is the one the last epoch used (mean over its steps), not the next one's 0.
    s = record["schedule"]
    t = np.arange(2 * steps, 3 * steps)
    cosine = (
        0.5
        * s["peak"]
        * (1 + np.cos(np.pi * (t - s["warmup_steps"]) / (s["total_steps"] - s["warmup_steps"])))
    )
    assert (
        record["learning_rate"] == pytest.approx(cosine.mean(), rel=1e-5)
        and record["learning_rate"] > 0
    )
