"""Faults injected one at a time: kills, bad params, broken files, unwritable outputs, reruns.

Each refused case must exit non-zero with one `actbench: ... error:` line, no traceback, and
leave no model or metrics for DVC to cache.
"""

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

RUN = "tanhrelu_digits_s0"
ARGS = ("--role", "candidate", "--activation", "tanhrelu", "--dataset", "digits", "--seed", "0")


def stage(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, f"stages/{script}", *args, check=False)


BASE = {
    "datasets": ["digits"],
    "baselines": ["relu"],
    "seeds": [0, 1, 2],
    "profiles.quick.epochs": 2,
    "profiles.quick.batch_size": 64,
    "profiles.quick.train_size": {},
}


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


def outputs_of(repo: Path) -> list[Path]:
    paths = [repo / "models/candidate" / f"{RUN}.keras", repo / "metrics/train/candidate" / f"{RUN}.json",
             repo / "metrics/eval/candidate" / f"{RUN}.json", repo / "dvclive/candidate" / RUN]  # fmt: skip
    return [p for p in paths if p.exists()]


def assert_refused(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("actbench:")]
    assert len(lines) == 1, res.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in res.stderr


def test_same_seed_same_numbers_bit_for_bit_and_other_seeds_differ(repo):
    set_params(repo, **{"train.deterministic": True})
    results = []
    for seed in ("0", "0", "1"):
        args = [*ARGS[:-1], seed]
        assert stage(repo, "train.py", *args).returncode == 0
        assert stage(repo, "evaluate.py", *args).returncode == 0
        run = f"tanhrelu_digits_s{seed}"
        train = json.loads((repo / "metrics/train/candidate" / f"{run}.json").read_text())
        ev = json.loads((repo / "metrics/eval/candidate" / f"{run}.json").read_text())
        results.append(
            (
                train["train_loss"],
                train["val_loss"],
                ev["test_loss"],
                ev["test_accuracy"],
                ev["per_class"],
            )
        )
    assert results[0] == results[1]  # exact equality, not approximate
    assert results[0][:3] != results[2][:3]


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        (
            {"train.learnig_rate": 0.1},
            ["unknown key 'learnig_rate' in train", "did you mean 'learning_rate'"],
        ),
        (
            {"profiles.quick.epochs": "ten"},
            ["profiles.quick.epochs = 'ten' is not valid", "an integer"],
        ),
        (
            {"profiles.quick.batch_size": 0},
            ["profiles.quick.batch_size = 0 is not valid", "positive integer"],
        ),
        ({"activation": "tanh_relu"}, ["activation = 'tanh_relu' is not valid", "tanhrelu"]),
        ({"datasets": ["mnist"]}, ["datasets[0] = 'mnist' is not valid", "digits"]),
        ({"seeds": []}, ["seeds = [] is not valid", "non-empty"]),
    ],
)
def test_bad_params_are_refused_with_one_line_and_no_outputs(repo, changes, fragments):
    set_params(repo, **changes)
    assert_refused(stage(repo, "train.py", *ARGS), *fragments)
    assert outputs_of(repo) == []


def test_nan_loss_fails_and_leaves_nothing(repo):
    set_params(repo, **{"train.learning_rate": 1e30, "train.warmup_epochs": 0})
    assert_refused(stage(repo, "train.py", *ARGS), f"{RUN} diverged", "learning_rate = 1e+30")
    assert outputs_of(repo) == []
    assert not (repo / "checkpoints/candidate" / RUN).exists()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_missing_or_corrupt_prepared_data(repo, damage):
    data = repo / "data/prepared/digits.npz"
    backup = data.read_bytes()
    try:
        data.unlink()
        if damage == "corrupt":
            data.write_bytes(backup[: len(backup) // 3])
        assert_refused(stage(repo, "train.py", *ARGS), "digits.npz", "dvc repro")
        assert outputs_of(repo) == []
    finally:
        data.write_bytes(backup)


def test_corrupt_model_at_evaluate(repo):
    model = repo / "models/candidate" / f"{RUN}.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"PK\x03\x04 this is not a keras archive")
    assert_refused(stage(repo, "evaluate.py", *ARGS), f"{RUN}.keras cannot be loaded")
    assert not (repo / "metrics/eval/candidate" / f"{RUN}.json").exists()
    assert not (repo / "plots/confusion/candidate" / f"{RUN}.csv").exists()


def test_unwritable_run_directory(repo):
    (repo / "models").mkdir()
    (repo / "models/candidate").write_text("a file where the run directory should be")
    assert_refused(stage(repo, "train.py", *ARGS), "cannot write to models/candidate")
    assert not (repo / "metrics/train/candidate" / f"{RUN}.json").exists()


def _kill_after_first_epoch(repo: Path) -> None:
    """Start the candidate's train stage under `dvc repro`, SIGKILL it once epoch 1 is backed up."""
    meta = repo / "checkpoints/candidate" / RUN / "state" / "training_metadata.json"
    proc = subprocess.Popen(["dvc", "repro", "train_candidate@tanhrelu-digits-0"], cwd=repo, env=env_for(repo),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        if meta.exists() and json.loads(meta.read_text() or "{}").get("epoch", 0) >= 1:
            break
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (repo / "metrics/train/candidate" / f"{RUN}.json").exists()


def test_killed_run_resumes_and_changed_params_start_fresh(repo):
    epochs = 25  # long enough to be killed mid-run
    set_params(
        repo, **{"profiles.quick.epochs": epochs, "seeds": [0], "profiles.quick.min_seeds": 1}
    )
    # A stale checkpoint from other params is never resumed.
    _kill_after_first_epoch(repo)
    set_params(repo, **{"train.label_smoothing": 0.05})
    res = sh(repo, "dvc", "repro", "train_candidate@tanhrelu-digits-0")
    assert "resuming" not in res.stdout
    train = json.loads((repo / "metrics/train/candidate" / f"{RUN}.json").read_text())
    assert train["resumed_from_epoch"] is None and train["epochs"] == epochs
    # Same params: a killed run continues from its checkpoint, with every epoch in its history.
    shutil.rmtree(repo / "metrics")
    set_params(repo, **{"train.label_smoothing": 0.1})
    _kill_after_first_epoch(repo)
    res = sh(repo, "dvc", "repro", "train_candidate@tanhrelu-digits-0")
    assert f"{RUN}: resuming from the checkpoint after epoch" in res.stdout
    train = json.loads((repo / "metrics/train/candidate" / f"{RUN}.json").read_text())
    assert train["resumed_from_epoch"] >= 1
    assert train["epochs"] == epochs
    curve = (
        (repo / "dvclive/candidate" / RUN / "plots/metrics/val/accuracy.tsv")
        .read_text()
        .splitlines()
    )
    assert len(curve) == 1 + epochs  # header + one row per epoch: dvclive resumed its step
    assert not (repo / "checkpoints/candidate" / RUN).exists()  # cleared after success
