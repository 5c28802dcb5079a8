"""Aggregation and the comparison file, on run records written here (no training)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from actbench import params as params_lib
from actbench import results, stats, tuning
from actbench.curves import CURVES
from actbench.errors import ActbenchError
from actbench.runs import RunSpec, runs_of, tuning_record

from .project import ROOT, with_changes

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

SEEDS = [0, 1, 2, 3, 4]
ACCURACY = {"tanhrelu": [0.95, 0.96, 0.94, 0.955, 0.945], "relu": [0.93, 0.935, 0.925, 0.94, 0.92],
            "elu": [0.951, 0.958, 0.941, 0.956, 0.944]}  # fmt: skip


def _params(**changes):
    raw = with_changes(params_lib.read_yaml(ROOT / "params.yaml"), datasets=["digits"], activations=["tanhrelu", "relu", "elu"],
                       seeds=SEEDS, **changes)  # fmt: skip
    return params_lib.parse(raw)


def _write_runs(root: Path, params, precision=lambda spec: "float32", epochs=8):
    for spec in runs_of(params.activations, params.datasets, params.seeds):
        acc = ACCURACY[spec.activation][spec.seed]
        for path, record in (
            (spec.train_record, {"train_images": 1293, "epochs": epochs, "batch_size": 32, "width": 8,
                                 "best_val_accuracy": acc, "schedule": {"warmup_epochs": 1, "lr_multiplier": 1.0},
                                 "device": {"precision": precision(spec), "device_kind": "CPU: test"}}),
            (spec.eval_record, {"test_accuracy": acc, "test_f1_macro": acc - 0.01, "test_images": 360,
                                "diagnostics": {"never_active_fraction": 0.01, "mean_abs_derivative": 0.5}}),
        ):  # fmt: skip
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(json.dumps(record))
        for curve in CURVES:
            path = root / spec.curves / "plots" / "metrics" / f"{curve}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as fh:
                writer = csv.writer(fh, delimiter="\t")
                writer.writerow(["timestamp", "step", curve])
                lr = 0.05 * np.cos(np.linspace(0, np.pi / 2, epochs))
                values = lr if curve == "learning_rate" else np.linspace(0.5, acc, epochs)
                writer.writerows([0, e, v] for e, v in enumerate(values))


def test_comparison_has_every_field_a_verdict_needs_for_every_dataset_and_baseline(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(tmp_path, params)
    comparison = results.compare(params, results.group_runs(params))
    assert (
        comparison["family"]["comparisons"] == 2
        and comparison["family"]["sidedness"] == "two-sided"
    )
    # Holm's own levels: relu's t-test is step 1 of 2 (0.05/2), elu's step 2 (0.05); elu's TOST is
    # step 1 of the TOST family (0.025, so its equivalence interval is at 1 - 2 x 0.025).
    levels = {
        b: (c["ci_level"], c["ci_equivalence_level"])
        for b, c in comparison["comparisons"]["digits"].items()
    }
    assert levels == {"relu": pytest.approx((0.975, 0.9)), "elu": pytest.approx((0.95, 0.95))}
    for baseline in ("relu", "elu"):
        c = comparison["comparisons"]["digits"][baseline]
        assert c["p_holm"] is not None and len(c["ci"]) == len(c["ci_equivalence"]) == 2
        assert c["min_detectable_diff"] > 0 and c["n"] == 5 and c["p_permutation"] is None  # n < 6
    assert (
        comparison["comparisons"]["digits"]["relu"]["verdict"] == stats.BETTER
    )  # +2 points on every seed
    assert (
        comparison["comparisons"]["digits"]["elu"]["verdict"] == stats.EQUIVALENT
    )  # within 2 points
    summary = results.summary(comparison)
    # p: scipy.stats.ttest_rel(tanhrelu, relu).pvalue = 0.000864, times 2 (Holm, the smaller of 2)
    assert summary["digits"]["relu"] == {
        "accuracy": 0.93,
        "diff": 0.02,
        "p_holm": 0.0017,
        "verdict": "better",
    }
    assert results.best_baseline(comparison, "digits") == "elu"


def test_the_leaderboard_ranks_every_activation_with_its_interval_and_tests_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(tmp_path, params)
    board = results.compare(params, results.group_runs(params))["leaderboard"]
    rows = board["per_dataset"]["digits"]
    # means: tanhrelu 0.950, elu 0.950 (0.951+0.958+0.941+0.956+0.944 = 4.750), relu 0.930
    assert [r["activation"] for r in rows][2] == "relu" and [r["rank"] for r in rows] == [
        1.5,
        1.5,
        3.0,
    ]
    relu = rows[2]
    # scipy.stats.t.interval(0.95, 4, loc=0.93, scale=scipy.stats.sem(ACCURACY["relu"]))
    assert relu["ci95"] == pytest.approx([0.9201838, 0.9398162], abs=1e-6) and relu["n"] == 5
    assert board["tested"] is False
    # relu is 1.5-2.5 points below both others on every seed: separated (scipy.stats.ttest_rel,
    # one-sided p = 0.0004 and 0.0002, under Holm's 0.05/6); tanhrelu and elu are not.
    assert {r["activation"]: r["rank_set"] for r in rows} == {
        "tanhrelu": [1, 2], "elu": [1, 2], "relu": [3, 3]}  # fmt: skip
    assert board["overall"]["ranks"]["relu"] == {"rank": 3.0, "low": 3, "high": 3}
    assert stats.ranks([0.3, 0.9, 0.3]) == [2.5, 1.0, 2.5]


def _write_tuning(root: Path, means: dict[str, dict[float, float]]):
    """Select-stage records: the rule applied to one-seed points (the binomial noise of 1,000
    validation images, about 1 point, so 0.95 and 0.94 are tied and 0.97 beats 0.85)."""
    for act, by_m in means.items():
        points = [{"lr_multiplier": m, "mean": v, "per_seed": {"100": v}, "val_images": 1000,
                   "seconds": {"100": 10.0}} for m, v in by_m.items()]  # fmt: skip
        rule = tuning.choose(points)
        record = {"activation": act, "dataset": "digits", "points": points, "extended": [],
                  "still_at_edge": rule["edge"], **rule,
                  "budget": {"runs": len(points), "seconds": 10.0 * len(points), "device_kind": "CPU: test",
                             "expected_best": tuning.expected_best([p["mean"] for p in points])}}  # fmt: skip
        (root / tuning_record(act, "digits")).parent.mkdir(parents=True, exist_ok=True)
        (root / tuning_record(act, "digits")).write_text(json.dumps(record))


def test_the_tuning_effect_compares_rankings_by_kendall_tau(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params(**{"tuning.lr_multipliers": [0.5, 1, 2]})
    # at x1: tanhrelu > elu > relu; at the selected rates: relu (x2) > tanhrelu (x1, tied with
    # x2) > elu (x1, tied with x0.5)
    _write_tuning(tmp_path, {"tanhrelu": {0.5: 0.90, 1.0: 0.95, 2.0: 0.94},
                             "relu": {0.5: 0.80, 1.0: 0.85, 2.0: 0.97},
                             "elu": {0.5: 0.93, 1.0: 0.93, 2.0: 0.91}})  # fmt: skip
    effect = results.tuning_effect(params)["digits"]
    assert effect["selected_multiplier"] == {"relu": 2.0, "elu": 1.0, "tanhrelu": 1.0}
    assert effect["still_at_edge"] == {"relu": "high", "elu": None, "tanhrelu": None}
    assert effect["budget"]["relu"]["runs"] == 3 and effect["budget"]["relu"]["seconds"] == 30.0
    assert effect["rank_shared"] == ["tanhrelu", "elu", "relu"]
    assert effect["rank_tuned"] == ["relu", "tanhrelu", "elu"]
    # scipy.stats.kendalltau([0.85, 0.93, 0.95], [0.97, 0.93, 0.95]) (relu, elu, tanhrelu)
    assert effect["kendall_tau"] == pytest.approx(-1 / 3) and effect["n"] == 3
    assert effect["kendall_p"] == pytest.approx(1.0)
    assert results.tuning_effect(_params()) is None  # tuning off: nothing to compare


def test_runs_of_different_precision_are_refused_with_the_runs_and_the_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(
        tmp_path,
        params,
        precision=lambda s: "mixed_bfloat16" if s.activation == "tanhrelu" else "float32",
    )
    with pytest.raises(ActbenchError) as err:
        results.group_runs(params)
    msg = str(err.value)
    assert "cannot pair runs trained differently on digits" in msg and "\n" not in msg
    assert "mixed_bfloat16" in msg and "float32" in msg and "dvc repro -f -s train" in msg


def test_the_report_states_the_protocol_ranks_everything_and_never_prints_na_percent(
    tmp_path, monkeypatch
):
    from actbench import report

    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(tmp_path, params)
    for seed in SEEDS:  # a diagnostic that could not be computed for relu
        record = tmp_path / f"metrics/eval/relu_digits_s{seed}.json"
        data = json.loads(record.read_text())
        data["diagnostics"]["never_active_fraction"] = float("nan")
        record.write_text(json.dumps(data))
    comparison = results.compare(params, results.group_runs(params))
    text = report.render(params=params, comparison=comparison, sizes={"digits": {"train": 1293, "val": 144, "test": 360}},
                         versions={"keras": "3"}, figures={"leaderboard": ["plots/figures/leaderboard.png"]})  # fmt: skip
    assert "n/a%" not in text and "| n/a |" in text  # relu's never-active units: missing, said so
    assert "learning-rate protocol: **shared**, one learning rate for every activation" in text
    board = text.split("## Leaderboard", 1)[1].split("## Learning rates", 1)[0]
    assert "it is not a test" in board and "![plots/figures/leaderboard.png]" in board
    assert board.index("**tanhrelu** (candidate)") < board.index("| relu |")  # relu ranks last
    assert "| 3 | 3 | relu | 93.00 ± 0.79 | [92.02, 93.98] | 5 |" in board  # std (ddof=1) 0.0079
    assert (
        "**97.50%: [+1.22, +2.78]**" in text
    )  # relu's deciding interval: scipy t.interval(0.975, 4)
    for symbol in ("**d_z**", "**alpha_H**", "**TOST p (Holm)**", "*Rank set*"):
        assert symbol in text, symbol
    assert "On **digits**, tanhrelu shows higher test accuracy than relu" in text


def test_the_seeds_plan_names_new_seeds_and_the_command_that_runs_them():
    from actbench import report

    params = _params(**{"profiles.quick.tuning.seeds": [5, 100]})  # seeds: 0-4
    assert report.new_seeds(params, 3) == [6, 7, 8]  # neither the benchmark's nor tuning's
    need = stats.seeds_needed(3, 0.01, 0.02, 0.05 / 2)
    comparison = {"comparisons": {"digits": {
        "relu": {"verdict": stats.INCONCLUSIVE, "sd_diff": 0.01, "seeds_needed": need},
        "elu": {"verdict": stats.BETTER, "sd_diff": 0.01, "seeds_needed": None}}}}  # fmt: skip
    text = "\n".join(report.seeds_plan(params, comparison, margin=2.0))
    seeds = ",".join(map(str, report.new_seeds(params, need["seeds"])))
    assert f"| digits | relu | 1.00 | {need['seeds']} |" in text and "| elu |" not in text
    assert f"dvc exp run -S 'seeds=[{seeds}]'" in text and "optional stopping" in text


def test_the_verdicts_at_the_runner_up_rates_are_the_same_tests_on_those_runs(
    tmp_path, monkeypatch
):
    from scipy.stats import ttest_rel

    monkeypatch.chdir(tmp_path)
    params = _params(
        **{"tuning.lr_multipliers": [0.5, 1, 2], "tuning.runner_up_seeds": [0, 1, 2, 3]}
    )
    second = {
        "tanhrelu": [0.91, 0.93, 0.92, 0.94],
        "relu": [0.90, 0.90, 0.915, 0.925],
        "elu": [0.93, 0.92, 0.94, 0.935],
    }
    for act, values in second.items():
        for seed, acc in enumerate(values):
            spec = RunSpec(act, "digits", seed, variant="runner_up")
            for path, record in ((spec.eval_record, {"test_accuracy": acc}),
                                 (spec.train_record, {"schedule": {"lr_multiplier": 0.5}})):  # fmt: skip
                (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / path).write_text(json.dumps(record))
    out = results.runner_up_verdicts(params)
    assert out["seeds"] == [0, 1, 2, 3] and out["multipliers"]["digits"]["relu"] == 0.5
    for baseline in ("relu", "elu"):
        c = out["comparisons"]["digits"][baseline]
        assert c["n"] == 4 and c["p_value"] == pytest.approx(
            ttest_rel(second["tanhrelu"], second[baseline]).pvalue
        )
    assert results.runner_up_verdicts(_params()) is None  # no runner-up seeds: nothing to compare
