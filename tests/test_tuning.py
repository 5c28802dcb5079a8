"""Learning-rate tuning: the selection rule, its params, a test split it never reads, and the
tune and select stages under DVC (rates per activation, the report and plots, and a new
candidate that tunes alone)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actbench import params as params_lib
from actbench import tuning
from actbench.errors import ActbenchError

from .project import ROOT, make_repo, set_params, sh, with_changes

TINY = {"datasets": ["digits"], "baselines": ["relu"], "seeds": [0, 1], "profiles.quick.min_seeds": 2,
        "profiles.quick.epochs": 1,
        "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64, "profiles.quick.width": 4,
        "profiles.quick.tuning.enabled": True, "profiles.quick.tuning.lr_multipliers": [1, 2],
        "profiles.quick.tuning.seeds": [100]}  # fmt: skip


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
        ({"activation": "elu"}, "activation = 'elu' is also in baselines"),
    ],
)
def test_bad_tuning_params_fail_with_one_line(changes, message):
    raw = with_changes(params_lib.read_yaml(ROOT / "params.yaml"), **changes)
    with pytest.raises(ActbenchError) as err:
        params_lib.parse(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def _tune(repo: Path) -> dict:
    res = subprocess.run([sys.executable, "stages/tune.py", "--activation", "relu", "--dataset", "digits"],
                         cwd=repo, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    record = json.loads((repo / "metrics/tune/relu_digits.json").read_text())
    return {k: record[k] for k in ("points", "enabled", "activation", "dataset")}


@pytest.mark.e2e
def test_tuning_never_reads_the_test_split(tmp_path):
    """Permuting the test labels and images changes nothing the tune stage writes (a score that
    read the test split would change)."""
    repo = make_repo(tmp_path / "repo", **TINY)
    sh(repo, "dvc", "repro", "preprocess@digits")
    first = _tune(repo)
    assert [p["lr_multiplier"] for p in first["points"]] == [1.0, 2.0] and first["enabled"]
    npz = repo / "data/prepared/digits.npz"
    with np.load(npz) as arrays:
        data = dict(arrays)
    order = np.random.default_rng(0).permutation(len(data["y_test"]))
    data["y_test"] = (data["y_test"] + 1 + order % 9) % 10  # every test label changes
    data["x_test"] = data["x_test"][order]
    npz.unlink()
    np.savez(npz, **data)
    shutil.rmtree(repo / "checkpoints", ignore_errors=True)
    assert _tune(repo) == first


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("tuned"), **TINY)
    res = sh(repo, "dvc", "repro")
    (repo / "repro.log").write_text(res.stdout)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tuned")
    return repo


@pytest.mark.e2e
def test_tuning_on_gives_every_activation_its_rate_in_the_runs_report_and_plots(tuned):
    log = (tuned / "repro.log").read_text()
    assert (
        "Running stage 'tune@relu-digits'" in log
        and "Running stage 'tune_candidate@tanhrelu-digits'" in log
    )
    assert "Running stage 'select'" in log
    comparison = json.loads((tuned / "metrics/comparison.json").read_text())
    effect = comparison["tuning"]["digits"]
    for act in ("relu", "tanhrelu"):
        scores = json.loads((tuned / f"metrics/tune/{act}_digits.json").read_text())
        chosen = json.loads((tuned / f"metrics/selected/{act}_digits.json").read_text())[
            "lr_multiplier"
        ]
        assert chosen == tuning.select(scores) == effect["selected_multiplier"][act]
        assert all(len(p["per_seed"]) == 1 and 0 <= p["mean"] <= 1 for p in scores["points"])
        train = json.loads((tuned / f"metrics/train/{act}_digits_s0.json").read_text())
        assert train["schedule"]["lr_multiplier"] == chosen
        assert train["schedule"]["peak"] == pytest.approx(0.2 * chosen * 64 / 128)
    assert comparison["learning_rate_protocol"]["protocol"] == "tuned"
    report = (tuned / "report.md").read_text()
    assert (
        "## Learning rates" in report
        and "Kendall's tau" in report
        and "learning-rate protocol: **tuned**" in report
    )
    assert (tuned / "plots/figures/tuning.png").stat().st_size > 10_000
    rows = (tuned / "plots/tuning/digits.csv").read_text().splitlines()
    assert rows[0] == "lr_multiplier,activation,val_accuracy,selected" and len(rows) == 1 + 2 * 2
    charts = json.loads(sh(tuned, "dvc", "plots", "show", "--json").stdout)
    assert "plots/tuning/digits.csv" in charts.get("data", charts)


@pytest.mark.e2e
def test_a_new_candidate_tunes_only_itself(tuned):
    res = sh(tuned, "dvc", "exp", "run", "-S", "activation=gelu")
    ran = {ln.split("'")[1] for ln in res.stdout.splitlines() if ln.startswith("Running stage")}
    trained = {s for s in ran if s.startswith(("tune", "train", "evaluate"))}
    assert trained == {"tune_candidate@gelu-digits"} | {
        f"{s}@gelu-digits-{i}" for s in ("train_candidate", "evaluate_candidate") for i in TINY["seeds"]}  # fmt: skip
    set_params(tuned, activation="tanhrelu")
