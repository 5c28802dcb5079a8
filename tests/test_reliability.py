"""Reliability: same seed same numbers, a killed run resumes to the very same result, a stale
checkpoint is never resumed, and a diverged run leaves nothing behind."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .project import env_for, make_repo, set_params, sh

pytestmark = pytest.mark.e2e
RUN = "tanhrelu_digits_s0"
ARGS = ("--role", "candidate", "--activation", "tanhrelu", "--dataset", "digits", "--seed", "0")
STAGE = "train_candidate@candidate-tanhrelu-digits-0"
BASE = {"datasets": ["digits"], "baselines": ["relu"], "seeds": [0, 1, 2], "profiles.quick.epochs": 2,
        "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64, "train.deterministic": True}  # fmt: skip


def stage(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, f"stages/{script}", *args, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A committed DVC project on digits with the data already prepared."""
    repo = make_repo(tmp_path_factory.mktemp("reliable"), **BASE)
    sh(repo, "dvc", "repro", "preprocess@digits")
    (repo / "params.base.yaml").write_text((repo / "params.yaml").read_text())
    return repo


@pytest.fixture
def repo(project) -> Path:
    """The project with its params reset and no run outputs."""
    shutil.copy(project / "params.base.yaml", project / "params.yaml")
    for leftover in ("models", "metrics", "dvclive", "checkpoints", "plots"):
        shutil.rmtree(project / leftover, ignore_errors=True)
    return project


def outcome(repo: Path, run: str = RUN) -> tuple:
    train = json.loads((repo / "metrics/train/candidate" / f"{run}.json").read_text())
    ev = json.loads((repo / "metrics/eval/candidate" / f"{run}.json").read_text())
    curves = (
        (repo / "dvclive/candidate" / run / "plots/metrics/val_loss.tsv").read_text().splitlines()
    )
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
    for path in (
        "models/candidate",
        "metrics/train/candidate",
        "dvclive/candidate",
        f"checkpoints/candidate/{RUN}",
    ):
        assert not (repo / path).exists() or not any((repo / path).iterdir()), path


def _kill_after_epoch(repo: Path, epoch: int) -> None:
    """Start the candidate's train stage under `dvc repro`; SIGKILL it once `epoch` is backed up."""
    meta = repo / "checkpoints/candidate" / RUN / "state" / "training_metadata.json"
    proc = subprocess.Popen(["dvc", "repro", "--force", "--single-item", STAGE], cwd=repo, env=env_for(repo), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if json.loads(meta.read_text() or "{}").get("epoch", 0) >= epoch:
                break
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (repo / "metrics/train/candidate" / f"{RUN}.json").exists()


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(repo):
    set_params(repo, **{"profiles.quick.epochs": 6, "seeds": [0], "profiles.quick.min_seeds": 1})
    sh(repo, "dvc", "repro", STAGE, "evaluate_candidate@candidate-tanhrelu-digits-0")
    uninterrupted = outcome(repo)
    for leftover in ("models", "metrics", "dvclive"):
        shutil.rmtree(repo / leftover)
    _kill_after_epoch(repo, 2)
    res = sh(
        repo, "dvc", "repro", "--force", "--single-item", STAGE
    )  # trains: resumes the checkpoint
    sh(
        repo,
        "dvc",
        "repro",
        "--force",
        "--single-item",
        "evaluate_candidate@candidate-tanhrelu-digits-0",
    )
    assert f"{RUN}: resuming from the checkpoint after epoch" in res.stdout
    train = json.loads((repo / "metrics/train/candidate" / f"{RUN}.json").read_text())
    assert train["resumed_from_epoch"] >= 2 and train["epochs"] == 6
    # Data order and augmentation restart at (seed, epoch): the resumed run is the same run.
    assert outcome(repo) == uninterrupted
    assert not (repo / "checkpoints/candidate" / RUN).exists()  # cleared after success


def test_a_checkpoint_of_other_params_or_other_code_is_never_resumed(repo):
    set_params(repo, **{"profiles.quick.epochs": 6, "seeds": [0], "profiles.quick.min_seeds": 1})
    _kill_after_epoch(repo, 1)
    set_params(repo, **{"train.label_smoothing": 0.05})
    res = sh(repo, "dvc", "repro", "--force", "--single-item", STAGE)
    assert "resuming" not in res.stdout
    record = json.loads((repo / "metrics/train/candidate" / f"{RUN}.json").read_text())
    assert record["resumed_from_epoch"] is None
    shutil.rmtree(repo / "metrics")
    _kill_after_epoch(repo, 1)
    loop = repo / "src/actbench/training/loop.py"
    original = loop.read_text()
    loop.write_text(original + "\n# a code change\n")
    try:
        res = sh(repo, "dvc", "repro", "--force", "--single-item", STAGE)
    finally:
        loop.write_text(original)
    assert "resuming" not in res.stdout
