"""The whole pipeline on Keras + JAX without TensorFlow (run by `make test-jax`)."""

import json

import keras
import pytest

from .project import check_verdicts, make_repo, sh

pytestmark = [pytest.mark.e2e, pytest.mark.portable,
              pytest.mark.skipif(keras.config.backend() != "jax", reason="the JAX environment runs this (make test-jax)")]  # fmt: skip


def test_dvc_repro_on_digits_runs_on_jax_without_tensorflow(tmp_path):
    import importlib.util

    assert importlib.util.find_spec("tensorflow") is None
    repo = make_repo(tmp_path / "repo", datasets=["digits"], baselines=["relu"], seeds=[0, 1, 2],
                     **{"profiles.quick.epochs": 2, "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64})  # fmt: skip
    res = sh(repo, "dvc", "repro")
    assert "Running stage 'plot'" in res.stdout
    for run in ("relu_digits_s0", "tanhrelu_digits_s2"):
        train = json.loads((repo / "metrics/train" / f"{run}.json").read_text())
        assert train["device"]["backend"] == "jax" and train["device"]["xla"] is True
        assert "tensorflow" not in train["versions"] and "jax" in train["versions"]
        losses = (
            (repo / "dvclive" / run / "plots/metrics/train_loss.tsv").read_text().splitlines()[1:]
        )
        assert float(losses[-1].split("\t")[-1]) < float(losses[0].split("\t")[-1])  # it learns
    check_verdicts(repo, "digits")
    assert (repo / "report.md").is_file() and (repo / "plots/figures/activations.png").is_file()
