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

from .project import ROOT, env_for, set_params, sh, with_changes


def _points(per_seed: dict[float, list[float]], val_images: int = 144) -> list[dict]:
    return [{"lr_multiplier": m, "per_seed": {str(100 + i): v for i, v in enumerate(vs)},
             "mean": float(np.mean(vs)), "val_images": val_images} for m, vs in per_seed.items()]  # fmt: skip


def test_the_best_wins_unless_within_noise_then_the_default_or_the_lower_rate():
    # Pooled SD over the points (ddof 1 per point): the differences [0.01, -0.01] give sd 0.01414
    # at every point; one SE of a difference of two 2-seed means = 0.01414 * sqrt(2 / 2) = 0.01414.
    clear = tuning.choose(_points({0.5: [0.80, 0.82], 1.0: [0.85, 0.87], 2.0: [0.90, 0.92]}))
    assert clear["chosen"] == 2.0 and clear["runner_up"] == 1.0 and clear["edge"] == "high"
    assert clear["noise"] == pytest.approx(0.0141421, rel=1e-5)
    near = tuning.choose(_points({0.5: [0.89, 0.91], 1.0: [0.895, 0.915], 2.0: [0.90, 0.92]}))
    assert (
        near["within_noise"] == [0.5, 1.0, 2.0] and near["chosen"] == 1.0 and near["edge"] is None
    )
    lower = tuning.choose(_points({1.0: [0.80, 0.82], 2.0: [0.90, 0.92], 4.0: [0.905, 0.925]}))
    assert lower["within_noise"] == [2.0, 4.0] and lower["chosen"] == 2.0  # the lower of the tied
    assert lower["runner_up"] == 4.0
    # One seed: the binomial SE of a validation accuracy, sqrt(2 p (1 - p) / N), p = the best.
    one = tuning.choose(_points({1.0: [0.90], 2.0: [0.93]}, val_images=1000))
    assert one["noise"] == pytest.approx(np.sqrt(2 * 0.93 * 0.07 / 1000)) and one["chosen"] == 2.0
    assert tuning.choose([])["chosen"] == 1.0  # tuning off
    assert tuning.selection("relu", "digits", 2.0, 0.2) == {
        "activation": "relu", "dataset": "digits", "lr_multiplier": 2.0, "learning_rate": 0.4}  # fmt: skip


def test_the_next_point_beyond_an_edge_keeps_the_grids_spacing():
    assert tuning.beyond([0.5, 1.0, 2.0], "high") == 4.0
    assert tuning.beyond([0.5, 1.0, 2.0], "low") == 0.25
    assert tuning.beyond([0.25, 0.5, 1.0, 2.0, 4.0], "high") == 8.0


def test_the_expected_best_of_k_runs_is_dodge_et_als_formula():
    scores = [0.7, 0.9, 0.8]
    curve = tuning.expected_best(scores)
    # k = 1: the mean; k = N large: the max; k = 2 by enumeration of the 9 ordered pairs
    pairs = [max(a, b) for a in scores for b in scores]
    assert curve[0] == pytest.approx(np.mean(scores)) and curve[1] == pytest.approx(np.mean(pairs))
    assert tuning.expected_best(scores * 20)[-1] == pytest.approx(0.9, abs=1e-9)  # 1 - (2/3)^60
    assert all(a <= b for a, b in zip(curve, curve[1:], strict=False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"profiles.quick.tuning.seeds": [0, 100]}, "seeds disjoint from `seeds` (both hold [0])"),
        ({"tuning.lr_multipliers": [0.5, 2]}, "1 among them (the default)"),
        ({"tuning.lr_multipliers": [1, 1, 2]}, "distinct positive multiples"),
        ({"profiles.quick.tuning.seeds": []}, "a non-empty list of distinct non-negative integers"),
        ({"profiles.quick.tuning.max_extensions": -1}, "max_extensions = -1 is not valid"),
        ({"tuning.runner_up_seeds": [7]}, "distinct seeds of `seeds`"),
        ({"tuning.runner_up_seeds": [0]}, "[] unless tuning.lr_multipliers has two points or more"),
    ],
)
def test_bad_tuning_params_fail_with_one_line(changes, message):
    raw = with_changes(params_lib.read_yaml(ROOT / "params.yaml"), **changes)
    with pytest.raises(ActbenchError) as err:
        params_lib.parse(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


POINT = "metrics/tune/relu_digits_x2.json"


def _scores(repo: Path) -> dict:
    record = json.loads((repo / POINT).read_text())
    return {k: record[k] for k in ("per_seed", "val_curves", "mean", "lr_multiplier", "activation")}


def _tune(repo: Path) -> dict:
    """relu's x2 tune stage run again in ``repo``: its scores."""
    res = subprocess.run([sys.executable, "stages/tune.py", "--activation", "relu", "--dataset", "digits",
                          "--lr-multiplier", "2", "--out", POINT], cwd=repo, env=env_for(repo),
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return _scores(repo)


def ran(res) -> set[str]:
    return {ln.split("'")[1] for ln in res.stdout.splitlines() if ln.startswith("Running stage")}


@pytest.mark.e2e
def test_tuning_never_reads_the_test_split(pipeline, workspace):
    """Permuting the test labels and images changes nothing a tune stage writes (a score that
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
def test_tuning_gives_every_activation_its_rate_in_the_runs_report_and_plots(pipeline):
    log = (pipeline.parent / "repro.log").read_text()
    assert "Running stage 'tune@relu-digits-0.5'" in log and "Running stage 'gather'" in log
    comparison = json.loads((pipeline / "metrics/comparison.json").read_text())
    effect = comparison["tuning"]["digits"]
    for act in ("relu", "elu", "swish", "tanhrelu"):
        record = json.loads((pipeline / f"metrics/tuned/{act}_digits.json").read_text())
        grid = [p for p in record["points"] if not p.get("extension")]
        assert [p["lr_multiplier"] for p in grid] == [0.5, 1.0, 2.0]
        assert (
            record["chosen"]
            == tuning.choose(record["points"])["chosen"]
            == effect["selected_multiplier"][act]
        )
        # An extension exactly when the grid's choice was at its edge (max_extensions: 1).
        edge = tuning.choose(grid)["edge"]
        assert record["extended"] == ([tuning.beyond([0.5, 1.0, 2.0], edge)] if edge else [])
        chosen = json.loads((pipeline / f"metrics/selected/{act}_digits.json").read_text())
        assert chosen["lr_multiplier"] == record["chosen"]
        train = json.loads((pipeline / f"metrics/train/{act}_digits_s0.json").read_text())
        assert train["schedule"]["lr_multiplier"] == chosen["lr_multiplier"]
        assert train["schedule"]["peak"] == pytest.approx(0.2 * chosen["lr_multiplier"] * 64 / 128)
        runs = [v for p in record["points"] for v in p["per_seed"].values()]
        assert record["budget"]["runs"] == len(runs) == len(record["points"])  # one tuning seed
        assert record["budget"]["expected_best"] == pytest.approx(tuning.expected_best(runs))
    assert comparison["learning_rate_protocol"]["protocol"] == "tuned"
    report = (pipeline / "report.md").read_text()
    assert (
        "## Learning rates" in report and "Kendall's tau" in report and "| tuning runs |" in report
    )
    assert "learning-rate protocol: **tuned**" in report
    for figure in ("tuning", "tuning_budget"):
        assert (pipeline / f"plots/figures/{figure}.png").stat().st_size > 10_000
    rows = (pipeline / "plots/tuning/digits.csv").read_text().splitlines()
    assert rows[0] == "lr_multiplier,activation,role,val_accuracy,selected"
    charts = json.loads(sh(pipeline, "dvc", "plots", "show", "--json").stdout)
    assert "plots/tuning/digits.csv" in charts.get("data", charts)


@pytest.mark.e2e
def test_widening_the_grid_trains_only_the_new_points(workspace):
    set_params(workspace, **{"tuning.lr_multipliers": [0.5, 1, 2, 4]})
    res = sh(workspace, "dvc", "repro", "gather")
    assert ran(res) == {"validate", "gather"} | {
        f"tune@{a}-digits-4" for a in ("tanhrelu", "relu", "elu", "swish")
    }


@pytest.mark.e2e
def test_a_choice_at_an_edge_gets_the_next_point_trained_for_that_activation_alone(
    pipeline, workspace
):
    """relu's x2 point made the best: its select stage, alone, trains x4 and chooses from both."""
    point = workspace / "metrics/tune/relu_digits_x2.json"
    record = json.loads(point.read_text())
    record["per_seed"] = {seed: 0.999 for seed in record["per_seed"]}
    record["mean"] = 0.999
    point.write_text(json.dumps(record))
    sh(workspace, "dvc", "repro", "--single-item", "gather")
    res = sh(
        workspace,
        "dvc",
        "repro",
        "--single-item",
        *(f"select@{a}-digits" for a in ("tanhrelu", "relu", "elu", "swish")),
    )
    assert ran(res) == {"select@relu-digits"}, ran(res)  # the others' grid files did not change
    assert "relu on digits: x2 is at the high edge; trying x4" in res.stdout
    tuned = json.loads((workspace / "metrics/tuned/relu_digits.json").read_text())
    assert tuned["extended"] == [4.0] and [p["lr_multiplier"] for p in tuned["points"]] == [
        0.5,
        1.0,
        2.0,
        4.0,
    ]
    assert tuned["points"][-1]["extension"] and len(tuned["points"][-1]["per_seed"]) == 1
    assert tuned["chosen"] == (2.0 if tuned["points"][-1]["mean"] < 0.999 - tuned["noise"] else 4.0)
    assert tuned["still_at_edge"] == (
        "high" if tuned["chosen"] == 4.0 else None
    )  # cap: 1 extension
    for act in ("tanhrelu", "elu", "swish"):
        path = f"metrics/tuned/{act}_digits.json"
        assert (workspace / path).read_bytes() == (pipeline / path).read_bytes()


@pytest.mark.e2e
def test_the_runner_up_runs_train_at_the_runner_up_rate_and_reach_the_report(workspace):
    """One seed keeps it short: the runs and the report section are there; the verdicts' tests
    on them are checked in tests/test_results.py."""
    res = sh(
        workspace,
        "dvc",
        "exp",
        "run",
        "-S",
        "activations=[tanhrelu,relu]",
        "-S",
        "tuning.runner_up_seeds=[0]",
    )
    assert {s for s in ran(res) if "runner_up" in s} == {
        f"{s}_runner_up@{a}-digits-0" for s in ("train", "evaluate") for a in ("tanhrelu", "relu")}  # fmt: skip
    assert not any(
        s.startswith(("tune@", "train@", "evaluate@")) for s in ran(res)
    )  # the rest: cached
    for act in ("tanhrelu", "relu"):
        train = json.loads(
            (workspace / f"metrics/train/{act}_digits_s0_runner_up.json").read_text()
        )
        tuned = json.loads((workspace / f"metrics/tuned/{act}_digits.json").read_text())
        assert train["schedule"]["lr_multiplier"] == tuned["runner_up"] != tuned["chosen"]
        assert (workspace / f"metrics/eval/{act}_digits_s0_runner_up.json").is_file()
    comparison = json.loads((workspace / "metrics/comparison.json").read_text())
    assert comparison["runner_up"]["comparisons"]["digits"]["relu"]["verdict"] == "not enough seeds"
    assert "### The verdicts at the runner-up rates" in (workspace / "report.md").read_text()
