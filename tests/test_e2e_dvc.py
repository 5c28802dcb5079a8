"""End to end: the eight user stories, driving DVC itself in a temporary git repository.

The project is copied into a fresh git repo, committed, and run on `digits` with a tiny budget
(one baseline, three seeds, one epoch). The tests run in file order and share that repository,
as a user's session would: repro, no-op repro, an experiment, a queue, a metrics diff, plots,
a bad param, and sharing through a DVC remote.
"""

import json
import time
from pathlib import Path

import pytest

from .project import make_repo, set_params, sh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(
        tmp_path_factory.mktemp("project"),
        datasets=["digits"],
        baselines=["relu"],
        seeds=[0, 1, 2],
        **{
            "profiles.quick.epochs": 1,
            "profiles.quick.batch_size": 64,
            "profiles.quick.train_size": {},
        },
    )


def test_1_repro_runs_every_stage_and_writes_all_outputs(repo):
    res = sh(repo, "dvc", "repro")
    for stage in ("download@digits", "preprocess@digits", "train@relu-digits-0", "train_candidate@tanhrelu-digits-2",
                  "evaluate@relu-digits-1", "evaluate_candidate@tanhrelu-digits-0", "compare", "plot"):  # fmt: skip
        assert f"Running stage '{stage}'" in res.stdout
    for run_name, role in [("relu_digits_s0", "baseline"), ("tanhrelu_digits_s2", "candidate")]:
        assert (repo / "models" / role / f"{run_name}.keras").is_file()
        train = json.loads((repo / "metrics/train" / role / f"{run_name}.json").read_text())
        assert (
            train["epochs"] == 1
            and train["profile"] == "quick"
            and train["seed"] == int(run_name[-1])
        )
        ev = json.loads((repo / "metrics/eval" / role / f"{run_name}.json").read_text())
        assert 0.0 <= ev["test_accuracy"] <= 1.0 and set(ev["per_class"]) == {
            str(d) for d in range(10)
        }
        rows = (repo / "plots/confusion" / role / f"{run_name}.csv").read_text().splitlines()
        assert rows[0] == "actual,predicted" and len(rows) == 1 + ev["test_images"]
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert summary["digits"]["n_seeds"] == 3 and summary["digits"]["best_baseline"] == "relu"
    assert summary["digits"]["verdict_vs_best"] in {"better", "worse", "no significant difference"}
    for name in (
        "curves_digits",
        "comparison_digits",
        "confusion_digits",
        "activations",
        "dying_units",
    ):
        assert (repo / "plots/figures" / f"{name}.png").stat().st_size > 10_000
    report = (repo / "report.md").read_text()
    assert "tanhrelu" in report and "outperforms" not in report
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first results")


def test_2_second_repro_is_a_no_op(repo):
    res = sh(repo, "dvc", "repro")
    assert "Data and pipelines are up to date." in res.stdout
    assert "Running stage" not in res.stdout


def test_3_exp_run_reruns_only_the_candidate(repo):
    res = sh(repo, "dvc", "exp", "run", "-S", "activation=elu")
    ran = {
        line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")
    }
    assert ran == {
        f"{s}@elu-digits-{i}" for s in ("train_candidate", "evaluate_candidate") for i in range(3)
    } | {
        "compare",
        "plot",
    }
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    exps = [e for commit in shown for e in (commit.get("experiments") or [])]
    metrics = [r["data"]["metrics"] for e in exps for r in e["revs"] if r.get("data")]
    assert any(
        m.get("metrics/summary.json", {}).get("data", {}).get("candidate") == "elu" for m in metrics
    )


def test_4_queued_experiments_both_run_in_parallel(repo):
    sh(repo, "dvc", "exp", "run", "--queue", "-S", "activation=relu,gelu", "-S", "seeds=[0]",
        "-S", "profiles.quick.min_seeds=1")  # fmt: skip
    sh(repo, "dvc", "queue", "start", "-j", "2")  # two workers: both experiments at once
    deadline = time.time() + 600
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert status.count("Success") >= 2, status
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    summaries = [
        r["data"]["metrics"]["metrics/summary.json"]["data"]
        for commit in shown
        for e in (commit.get("experiments") or [])
        for r in e["revs"]
        if r.get("data") and "metrics/summary.json" in (r["data"].get("metrics") or {})
    ]
    by_candidate = {s["candidate"]: s["digits"] for s in summaries}
    assert {"relu", "gelu"} <= set(by_candidate)
    # Each experiment has its own numbers: neither overwrote the other's files.
    assert by_candidate["relu"]["n_seeds"] == by_candidate["gelu"]["n_seeds"] == 1
    assert by_candidate["relu"]["test_accuracy"] != by_candidate["gelu"]["test_accuracy"]


def test_5_metrics_diff_shows_a_changed_hyperparameter(repo):
    sh(repo, "git", "checkout", "-q", "--", ".")  # the workspace as committed
    sh(repo, "dvc", "checkout", "-q")
    set_params(repo, **{"train.label_smoothing": 0.0})
    res = sh(repo, "dvc", "repro")
    assert "Running stage 'train@relu-digits-0'" in res.stdout
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "HEAD", "--json").stdout)
    changed = diff["metrics/train/baseline/relu_digits_s0.json"]
    assert changed["train_loss"]["diff"] != 0


def test_6_plots_show_renders_training_curves(repo):
    out = repo / "plots_html"
    sh(repo, "dvc", "plots", "show", "-o", str(out))
    html = (out / "index.html").read_text()
    assert "dvclive/baseline/relu_digits_s0/plots/metrics" in html
    assert "accuracy" in html


def test_7_bad_param_fails_with_one_line(repo):
    set_params(repo, **{"profiles.quick.epochs": 0})
    res = sh(repo, "dvc", "repro", check=False)
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "actbench:" in ln]
    assert (
        lines and "profiles.quick.epochs = 0 is not valid; expected a positive integer" in lines[0]
    )
    assert "Traceback" not in res.stdout + res.stderr
    sh(repo, "git", "checkout", "-q", "--", "params.yaml")


def test_8_remote_push_pull_restores_everything_in_a_fresh_clone(repo, tmp_path):
    sh(repo, "dvc", "checkout", "-q")
    sh(repo, "dvc", "repro")  # back to the committed results
    remote = tmp_path / "remote"
    sh(repo, "dvc", "remote", "add", "-d", "shared", str(remote))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "remote", "--allow-empty")
    sh(repo, "dvc", "push")
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, "dvc", "pull")
    assert (clone / "models/candidate/tanhrelu_digits_s0.keras").is_file()
    assert (clone / "data/prepared/digits.npz").is_file()
    res = sh(clone, "dvc", "repro")
    assert "Data and pipelines are up to date." in res.stdout
