"""The whole pipeline on Keras + JAX without TensorFlow (run by `make test-jax`): in the JAX
environment the shared pipeline (tests/conftest.py) is trained by `dvc repro` on JAX."""

import importlib.util
import json
import math

import keras
import pytest

from .project import check_verdicts

pytestmark = [pytest.mark.e2e, pytest.mark.portable,
              pytest.mark.skipif(keras.config.backend() != "jax", reason="the JAX environment runs this (make test-jax)")]  # fmt: skip


def test_dvc_repro_on_digits_runs_on_jax_without_tensorflow(pipeline):
    assert importlib.util.find_spec("tensorflow") is None
    assert "Running stage 'plot'" in (pipeline.parent / "repro.log").read_text()
    for run in ("relu_digits_s0", "tanhrelu_digits_s2"):
        train = json.loads((pipeline / "metrics/train" / f"{run}.json").read_text())
        assert train["device"]["backend"] == "jax" and train["device"]["xla"] is True
        assert "tensorflow" not in train["versions"] and "jax" in train["versions"]
    losses = (
        (pipeline / "dvclive/tanhrelu_digits_s0/plots/metrics/train_loss.tsv")
        .read_text()
        .splitlines()
    )
    ev = json.loads((pipeline / "metrics/eval/tanhrelu_digits_s0.json").read_text())
    assert ev["test_accuracy"] > 0.3  # it learned: 10 balanced classes give 10% by chance
    assert float(losses[-1].split("\t")[-1]) < math.log(10)  # below chance's cross-entropy
    check_verdicts(pipeline, "digits")
    assert (pipeline / "report.md").is_file() and (
        pipeline / "plots/figures/activations.png"
    ).is_file()
