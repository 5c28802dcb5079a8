"""Reliability: same seed same numbers, a killed run resumes to the very same result (also when
killed between writing a checkpoint's weights and its epoch), a stale checkpoint is never
resumed, and a diverged run leaves nothing behind."""

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

from .project import env_for, make_repo, set_params, sh

pytestmark = pytest.mark.e2e
RUN = "tanhrelu_digits_s0"
ARGS = ("--activation", "tanhrelu", "--dataset", "digits", "--seed", "0")
STAGE = "train_candidate@tanhrelu-digits-0"
EVALUATE = "evaluate_candidate@tanhrelu-digits-0"
BASE = {"datasets": ["digits"], "baselines": ["relu"], "seeds": [0, 1, 2], "profiles.quick.epochs": 2,
        "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64, "train.deterministic": True}  # fmt: skip


def stage(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, f"stages/{script}", *args, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A committed DVC project on digits with the data already prepared."""
    repo = make_repo(tmp_path_factory.mktemp("reliable"), **BASE)
    sh(repo, "dvc", "repro", "select")  # preprocess, the (off) tune records, the selections
    (repo / "params.base.yaml").write_text((repo / "params.yaml").read_text())
    return repo


@pytest.fixture
def repo(project) -> Path:
    """The project with its params reset and no run outputs."""
    shutil.copy(project / "params.base.yaml", project / "params.yaml")
    for leftover in ("models", "metrics/train", "metrics/eval", "dvclive", "checkpoints", "plots"):
        shutil.rmtree(project / leftover, ignore_errors=True)
    return project


def outcome(repo: Path, run: str = RUN) -> tuple:
    train = json.loads((repo / "metrics/train" / f"{run}.json").read_text())
    ev = json.loads((repo / "metrics/eval" / f"{run}.json").read_text())
    curves = (repo / "dvclive" / run / "plots/metrics/val_loss.tsv").read_text().splitlines()
    return (train["train_loss"], train["val_loss"], ev["test_loss"], ev["test_accuracy"], ev["per_class"],
            [line.split("\t")[-1] for line in curves[1:]])  # fmt: skip


def test_same_seed_same_numbers_bit_for_bit_and_other_seeds_differ(repo):
    results = []
    for seed in ("0", "0", "1"):
        args = [*ARGS[:-1], seed]
        assert stage(repo, "train.py", *args).returncode == 0
        assert stage(repo, "evaluate.py", *args).returncode == 0
        results.append(outcome(repo, f"tanhrelu_digits_s{seed}"))
    assert results[0] == results[1]  # exact equality, not approximate
    assert results[0][:3] != results[2][:3]


def test_nan_loss_fails_and_leaves_nothing(repo):
    set_params(repo, **{"profiles.quick.learning_rate": 1e30, "train.warmup_epochs": 0})
    res = stage(repo, "train.py", *ARGS)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{RUN} diverged" in res.stderr and "learning_rate = 1e+30" in res.stderr
    for path in ("models", "metrics/train", "dvclive", f"checkpoints/{RUN}"):
        assert not (repo / path).exists() or not any((repo / path).iterdir()), path


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


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(repo):
    set_params(repo, **{"profiles.quick.epochs": 6, "seeds": [0], "profiles.quick.min_seeds": 1})
    sh(repo, "dvc", "repro", "--single-item", STAGE, EVALUATE)
    uninterrupted = outcome(repo)
    for leftover in ("models", "metrics/train", "metrics/eval", "dvclive"):
        shutil.rmtree(repo / leftover)
    _kill_after_epoch(repo, 2)
    res = sh(
        repo, "dvc", "repro", "--force", "--single-item", STAGE
    )  # trains: resumes the checkpoint
    sh(repo, "dvc", "repro", "--force", "--single-item", EVALUATE)
    assert f"{RUN}: resuming from the checkpoint after epoch" in res.stdout
    train = json.loads((repo / "metrics/train" / f"{RUN}.json").read_text())
    assert train["resumed_from_epoch"] >= 2 and train["epochs"] == 6
    # Data order and augmentation restart at (seed, epoch): the resumed run is the same run.
    assert outcome(repo) == uninterrupted
    assert not (repo / "checkpoints" / RUN).exists()  # cleared after success


def test_a_checkpoint_of_other_params_or_other_code_is_never_resumed(repo):
    set_params(repo, **{"profiles.quick.epochs": 6, "seeds": [0], "profiles.quick.min_seeds": 1})
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
    set_params(repo, **{"profiles.quick.epochs": 3, "seeds": [0], "profiles.quick.min_seeds": 1})
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
