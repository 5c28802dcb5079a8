"""Aggregation and the comparison file, on run records written here (no training)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from actbench import params as params_lib
from actbench import results, stats
from actbench.errors import ActbenchError
from actbench.runs import CURVES, runs_of

from .project import ROOT, with_changes

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

SEEDS = [0, 1, 2, 3, 4]
ACCURACY = {"tanhrelu": [0.95, 0.96, 0.94, 0.955, 0.945], "relu": [0.93, 0.935, 0.925, 0.94, 0.92],
            "elu": [0.951, 0.958, 0.941, 0.956, 0.944]}  # fmt: skip


def _params(**changes):
    raw = with_changes(params_lib.read_yaml(ROOT / "params.yaml"), datasets=["digits"], baselines=["relu", "elu"],
                       seeds=SEEDS, **changes)  # fmt: skip
    return params_lib.parse(raw)


def _write_runs(root: Path, params, precision=lambda spec: "float32", epochs=8):
    for spec in runs_of(params.activation, params.baselines, params.datasets, params.seeds):
        acc = ACCURACY[spec.activation][spec.seed]
        for path, record in (
            (spec.train_record, {"train_images": 1293, "epochs": epochs, "batch_size": 32, "width": 8,
                                 "best_val_accuracy": acc, "schedule": {"warmup_epochs": 1},
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
    assert comparison["family"]["interval_level"] == pytest.approx(1 - 0.05 / 2)
    for baseline in ("relu", "elu"):
        c = comparison["comparisons"]["digits"][baseline]
        assert c["verdict"] in {stats.BETTER, stats.WORSE, stats.EQUIVALENT, stats.INCONCLUSIVE}
        assert (
            c["p_holm"] is not None and c["ci_level"] == pytest.approx(0.975) and len(c["ci"]) == 2
        )
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


def test_late_epoch_spread_is_na_when_the_window_reaches_an_annealed_learning_rate(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(tmp_path, params)  # cosine to ~0 at the end: the last epochs are annealed
    aggregate = results.compare(params, results.group_runs(params))["aggregates"]["tanhrelu"][
        "digits"
    ]
    assert (
        aggregate["late_epoch_spread"]["n"] == 0 and aggregate["late_epoch_spread"]["mean"] is None
    )
    assert aggregate["test_accuracy"]["std"] == pytest.approx(np.std(ACCURACY["tanhrelu"], ddof=1))


def test_runs_of_different_precision_are_refused_with_the_runs_and_the_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params()
    _write_runs(
        tmp_path,
        params,
        precision=lambda s: "mixed_bfloat16" if s.role == "candidate" else "float32",
    )
    with pytest.raises(ActbenchError) as err:
        results.group_runs(params)
    msg = str(err.value)
    assert "cannot pair runs trained differently on digits" in msg and "\n" not in msg
    assert "mixed_bfloat16" in msg and "float32" in msg and "dvc repro -f -s train" in msg
