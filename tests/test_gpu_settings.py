"""The settings `auto` picks on GPUs, run on the CPU split into two devices: bfloat16 mixed
precision with XLA on one GPU, and with data parallelism over two (MirroredStrategy on
TensorFlow, which Keras runs without XLA; keras.distribution.DataParallel with XLA on JAX)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from .project import env_for, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.portable]
ARGS = ("--activation", "tanhrelu", "--dataset", "digits", "--seed", "0")
TF = keras.config.backend() == "tensorflow"
SETTINGS = {  # what auto resolves to on one GPU, and on two
    "one_gpu": {
        "train.mixed_precision": "bfloat16",
        "train.jit_compile": True,
        "train.distribute": "off",
    },
    "two_gpus": {
        "train.mixed_precision": "bfloat16",
        "train.jit_compile": "auto",
        "train.distribute": "mirrored",
    },
}
EXPECTED = {
    "one_gpu": {"replicas": 1, "xla": True, "distribution": "one device"},
    "two_gpus": {
        "replicas": 2,
        "xla": not TF,
        "distribution": "MirroredStrategy" if TF else "DataParallel",
    },
}


def copy_of(pipeline: Path, dest: Path, **changes) -> Path:
    """The shared pipeline (prepared data, selected rates) with its params changed."""
    repo = shutil.copytree(pipeline, dest, symlinks=True)
    set_params(repo, **changes)
    return repo


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def trained(request, pipeline, tmp_path_factory) -> tuple[str, Path]:
    repo = copy_of(pipeline, tmp_path_factory.mktemp(request.param) / "repo", **{"profiles.quick.epochs": 2,
                   "profiles.quick.width": 4, **SETTINGS[request.param]})  # fmt: skip
    env = {**env_for(repo), "ACTBENCH_CPU_DEVICES": "2"}
    for script in ("train.py", "evaluate.py"):
        res = subprocess.run(
            [sys.executable, f"stages/{script}", *ARGS],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return request.param, repo


def test_training_used_bfloat16_and_the_expected_xla_and_replicas(trained):
    setting, repo = trained
    record = json.loads((repo / "metrics/train/tanhrelu_digits_s0.json").read_text())
    assert record["device"]["precision"] == "mixed_bfloat16"
    assert {k: record["device"][k] for k in EXPECTED[setting]} == EXPECTED[setting]
    assert all(np.isfinite(record[k]) for k in ("train_loss", "val_loss"))
    # It learned: 10 balanced classes give 10% by chance (and a loss of ln 10 = 2.30).
    assert record["val_accuracy"] >= 0.3 and record["train_loss"] < 2.0


def test_evaluation_is_finite_and_its_diagnostics_ran_in_float32(trained):
    _, repo = trained
    ev = json.loads((repo / "metrics/eval/tanhrelu_digits_s0.json").read_text())
    assert np.isfinite(ev["test_loss"]) and 0.0 <= ev["test_accuracy"] <= 1.0
    assert ev["device"]["precision"] == "mixed_bfloat16"
    assert ev["diagnostics"]["dtype"] == "float32"
    assert all(
        np.isfinite(v["mean_abs_derivative"]) for v in ev["diagnostics"]["per_layer"].values()
    )


def test_the_model_reloads_in_a_fresh_interpreter_with_float32_logits(trained):
    _, repo = trained
    code = ("import actbench, numpy as np; m = actbench.load_model('models/tanhrelu_digits_s0.keras'); "
            "x = np.load('data/prepared/digits.npz')['x_test'][:8]; y = m.predict(x, verbose=0); "
            "print(m.get_layer(index=2).get_layer('logits').compute_dtype, y.dtype, np.isfinite(y).all())")  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env_for(repo), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == ["float32", "float32", "True"]


def test_xla_with_data_parallelism_on_tensorflow_is_refused_in_one_line(pipeline, tmp_path):
    if not TF:
        pytest.skip("a TensorFlow-only limit")
    repo = copy_of(
        pipeline, tmp_path / "repo", **{**SETTINGS["two_gpus"], "train.jit_compile": True}
    )
    res = subprocess.run([sys.executable, "stages/train.py", *ARGS], cwd=repo,
                         env={**env_for(repo), "ACTBENCH_CPU_DEVICES": "2"}, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr[-2000:]
    assert "train.jit_compile = True is not valid with data parallelism on TensorFlow" in res.stderr
