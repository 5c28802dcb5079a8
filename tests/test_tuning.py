"""Learning-rate tuning: the selection rule, its params, a test split it never reads, and the
tune and select stages under DVC (rates per activation, the report and plots, and a new
candidate that tunes alone)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actbench import params as params_lib
from actbench import tuning
from actbench.errors import ActbenchError

from .project import ROOT, env_for, sh, with_changes


def _record(means: dict[float, float], enabled: bool = True) -> dict:
    return {"activation": "relu", "dataset": "digits", "enabled": enabled, "base_learning_rate": 0.2,
            "points": [{"lr_multiplier": m, "mean": v} for m, v in means.items()]}  # fmt: skip


def test_the_best_mean_wins_ties_go_to_the_default_then_nearest_to_it():
    assert tuning.select(_record({0.5: 0.90, 1.0: 0.91, 2.0: 0.95})) == 2.0
    assert tuning.select(_record({0.5: 0.95, 1.0: 0.95, 2.0: 0.95})) == 1.0  # a tie: the default
    assert (
        tuning.select(_record({0.25: 0.95, 0.5: 0.95, 1.0: 0.90, 4.0: 0.95})) == 0.5
    )  # nearest to 1
    assert tuning.select(_record({0.5: 0.95, 2.0: 0.95, 1.0: 0.9})) == 0.5  # as near: the smaller
    assert tuning.select(_record({}, enabled=False)) == 1.0
    assert tuning.selection(_record({1.0: 0.9, 2.0: 0.95})) == {
        "activation": "relu", "dataset": "digits", "lr_multiplier": 2.0, "learning_rate": 0.4}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"profiles.quick.tuning.seeds": [0, 100]}, "seeds disjoint from `seeds` (both hold [0])"),
        ({"profiles.quick.tuning.lr_multipliers": [0.5, 2]}, "1 among them (the default)"),
        ({"profiles.quick.tuning.lr_multipliers": [1, 1, 2]}, "distinct positive multiples"),
        ({"profiles.quick.tuning.seeds": []}, "a non-empty list of distinct non-negative integers"),
    ],
)
def test_bad_tuning_params_fail_with_one_line(changes, message):
    raw = with_changes(params_lib.read_yaml(ROOT / "params.yaml"), **changes)
    with pytest.raises(ActbenchError) as err:
        params_lib.parse(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def _scores(repo: Path) -> dict:
    record = json.loads((repo / "metrics/tune/relu_digits.json").read_text())
    return {k: record[k] for k in ("points", "enabled", "activation", "dataset")}


def _tune(repo: Path) -> dict:
    """relu's tune stage run again in ``repo``: its scores."""
    res = subprocess.run([sys.executable, "stages/tune.py", "--activation", "relu", "--dataset", "digits"],
                         cwd=repo, env=env_for(repo), capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return _scores(repo)


@pytest.mark.e2e
def test_tuning_never_reads_the_test_split(pipeline, workspace):
    """Permuting the test labels and images changes nothing the tune stage writes (a score that
    read the test split would change)."""
    npz = workspace / "data/prepared/digits.npz"
    with np.load(npz) as arrays:
        data = dict(arrays)
    order = np.random.default_rng(0).permutation(len(data["y_test"]))
    data["y_test"] = (data["y_test"] + 1 + order % 9) % 10  # every test label changes
    data["x_test"] = data["x_test"][order]
    npz.unlink()
    np.savez(npz, **data)
    assert _tune(workspace) == _scores(pipeline)


@pytest.mark.e2e
def test_tuning_on_gives_every_activation_its_rate_in_the_runs_report_and_plots(pipeline):
    log = (pipeline.parent / "repro.log").read_text()
    assert "Running stage 'tune@relu-digits'" in log and "Running stage 'select'" in log
    comparison = json.loads((pipeline / "metrics/comparison.json").read_text())
    effect = comparison["tuning"]["digits"]
    for act in ("relu", "elu", "swish", "tanhrelu"):
        scores = json.loads((pipeline / f"metrics/tune/{act}_digits.json").read_text())
        assert [p["lr_multiplier"] for p in scores["points"]] == [0.5, 1.0, 2.0]
        chosen = json.loads((pipeline / f"metrics/selected/{act}_digits.json").read_text())
        assert (
            chosen["lr_multiplier"] == tuning.select(scores) == effect["selected_multiplier"][act]
        )
        assert all(len(p["per_seed"]) == 1 and 0 <= p["mean"] <= 1 for p in scores["points"])
        train = json.loads((pipeline / f"metrics/train/{act}_digits_s0.json").read_text())
        assert train["schedule"]["lr_multiplier"] == chosen["lr_multiplier"]
        assert train["schedule"]["peak"] == pytest.approx(0.2 * chosen["lr_multiplier"] * 64 / 128)
    assert comparison["learning_rate_protocol"]["protocol"] == "tuned"
    report = (pipeline / "report.md").read_text()
    assert "## Learning rates" in report and "Kendall's tau" in report
    assert "learning-rate protocol: **tuned**" in report
    assert (pipeline / "plots/figures/tuning.png").stat().st_size > 10_000
    rows = (pipeline / "plots/tuning/digits.csv").read_text().splitlines()
    assert rows[0] == "lr_multiplier,activation,role,val_accuracy,selected" and len(rows) == 1 + 4 * 3
    charts = json.loads(sh(pipeline, "dvc", "plots", "show", "--json").stdout)
    assert "plots/tuning/digits.csv" in charts.get("data", charts)
