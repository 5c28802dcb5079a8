"""End to end: the user stories, driving DVC itself in a temporary git repository.

The project is copied into a fresh git repo, committed, and run on `digits` with a tiny budget
(one baseline, three seeds, one epoch). The tests run in file order and share that repository,
as a user's session would.
"""

import csv
import io
import json
import subprocess
import time
from pathlib import Path

import pytest

from .project import env_for, make_repo, set_params, sh

pytestmark = pytest.mark.e2e
TINY = {"profiles.quick.epochs": 1, "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64}


def ran(res) -> set[str]:
    return {
        line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")
    }


def cached(res) -> set[str]:
    return {
        line.split("'")[1] for line in res.stdout.splitlines() if "is cached - skipping run" in line
    }


def fresh_workspace(repo: Path) -> None:
    """The workspace as committed, as after `git clone` and `dvc pull`."""
    sh(repo, "git", "checkout", "-q", "--", ".")
    sh(repo, "git", "clean", "-qfd", "src")
    sh(repo, "dvc", "checkout", "-q", "--force")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("project"), datasets=["digits"], baselines=["relu"],
                     seeds=[0, 1, 2], **TINY)  # fmt: skip


def test_1_repro_runs_every_stage_and_writes_all_outputs(repo):
    res = sh(repo, "dvc", "repro")
    assert {"download@digits", "preprocess@digits", "train@baseline-relu-digits-0",
            "train_candidate@candidate-tanhrelu-digits-2", "evaluate@baseline-relu-digits-1",
            "evaluate_candidate@candidate-tanhrelu-digits-0", "compare", "plot"} <= ran(res)  # fmt: skip
    for run_name, role in [("relu_digits_s0", "baseline"), ("tanhrelu_digits_s2", "candidate")]:
        assert (repo / "models" / role / f"{run_name}.keras").is_file()
        train = json.loads((repo / "metrics/train" / role / f"{run_name}.json").read_text())
        assert (
            train["epochs"] == 1
            and train["profile"] == "quick"
            and train["seed"] == int(run_name[-1])
        )
        assert (
            train["device"]["precision"] == "float32" and train["device"]["backend"] == "tensorflow"
        )
        ev = json.loads((repo / "metrics/eval" / role / f"{run_name}.json").read_text())
        assert 0.0 <= ev["test_accuracy"] <= 1.0 and set(ev["per_class"]) == {
            str(d) for d in range(10)
        }
        rows = (repo / "metrics/eval" / role / f"{run_name}.confusion.csv").read_text().splitlines()
        assert rows[0] == "actual,predicted" and len(rows) == 1 + ev["test_images"]
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert summary["candidate"] == "tanhrelu"
    assert summary["digits"]["relu"]["verdict"] in {"better", "worse", "equivalent", "inconclusive"}
    for name in ("curves_digits", "comparison_digits", "activations", "diagnostics"):
        assert (repo / "plots/figures" / f"{name}.png").stat().st_size > 10_000
    report = (repo / "report.md").read_text()
    assert "tanhrelu" in report and "outperforms" not in report and "two-sided" in report
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first results")


def test_2_second_repro_is_a_no_op(repo):
    res = sh(repo, "dvc", "repro")
    assert "Data and pipelines are up to date." in res.stdout and not ran(res)


def test_3_exp_show_has_few_metric_columns(repo):
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    metrics = shown[0]["data"]["metrics"]  # the workspace
    assert list(metrics) == ["metrics/summary.json"]
    header = next(csv.reader(io.StringIO(sh(repo, "dvc", "exp", "show", "--csv").stdout)))
    leaves = [c for c in header if c == "candidate" or c.startswith("digits.")]
    assert len(leaves) == 1 + 3 + 4 * 1 <= 20, leaves  # candidate; accuracy and CI; 4 per baseline


def test_4_exp_run_reruns_only_the_candidate_and_metrics_diff_is_short(repo):
    res = sh(repo, "dvc", "exp", "run", "-S", "activation=elu")
    candidate = {
        f"{s}@candidate-elu-digits-{i}"
        for s in ("train_candidate", "evaluate_candidate")
        for i in range(3)
    }
    assert ran(res) == candidate | {"compare", "plot"}
    diff = sh(repo, "dvc", "metrics", "diff").stdout
    assert 3 < len(diff.splitlines()) <= 30, diff
    assert "digits.accuracy" in diff


def test_5_the_same_experiment_again_is_restored_from_the_run_cache(repo):
    fresh_workspace(repo)
    res = sh(repo, "dvc", "exp", "run", "-S", "activation=elu")
    assert not any(s.startswith(("train", "evaluate")) for s in ran(res)), res.stdout
    assert {f"{s}@candidate-elu-digits-{i}" for s in ("train_candidate", "evaluate_candidate")
            for i in range(3)} <= cached(res)  # fmt: skip


def test_6_a_param_dvc_writes_as_off_passes_validation(repo):
    fresh_workspace(repo)
    res = sh(
        repo,
        "dvc",
        "exp",
        "run",
        "-S",
        "train.mixed_precision=off",
        "train_candidate@candidate-tanhrelu-digits-0",
    )
    assert "train_candidate@candidate-tanhrelu-digits-0" in ran(res)
    assert "mixed_precision: off" in (repo / "params.yaml").read_text()


def test_7_plots_show_draws_the_overlay_and_few_charts(repo):
    fresh_workspace(repo)
    out = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)
    charts = out.get("data", out)
    assert 3 <= len(charts) <= 12, list(charts)
    overlay = charts["plots/curves/digits.csv"][0]["content"]
    activations = {d["activation"] for d in overlay["data"]["values"]}
    assert activations == {"relu", "tanhrelu (candidate)"}
    assert "plots/confusion/digits.csv" in charts


def test_8_plots_diff_overlays_two_candidates(repo):
    fresh_workspace(repo)
    sh(repo, "dvc", "exp", "run", "-S", "activation=elu")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "elu as candidate")
    out = json.loads(sh(repo, "dvc", "plots", "diff", "HEAD~1", "HEAD", "--json").stdout)
    charts = out.get("data", out)
    values = charts["plots/curves/digits.csv"][0]["content"]["data"]["values"]
    assert {(d["rev"], d["activation"]) for d in values} >= {
        ("HEAD~1", "tanhrelu (candidate)"),
        ("HEAD", "elu (candidate)"),
    }
    sh(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    fresh_workspace(repo)


def test_9_a_new_activation_is_one_file_and_retrains_only_itself(repo):
    plugin = repo / "src/actbench/activations/softsign.py"
    plugin.write_text(
        '"""Softsign: x / (1 + |x|)."""\n\nimport keras\n\n\ndef softsign(x):\n    return keras.activations.softsign(x)\n'
    )
    sh(repo, "git", "add", str(plugin))
    sh(repo, "git", "commit", "-qm", "softsign")
    res = sh(repo, "dvc", "exp", "run", "-S", "activation=softsign")
    expected = {
        f"{s}@candidate-softsign-digits-{i}"
        for s in ("train_candidate", "evaluate_candidate")
        for i in range(3)
    }
    assert ran(res) == expected | {"compare", "plot"}, ran(res)
    sh(
        repo, "git", "reset", "-q", "--hard", "HEAD~1"
    )  # back to the committed results, without softsign
    fresh_workspace(repo)


def test_10_editing_a_parser_leaves_training_up_to_date(repo):
    fresh_workspace(repo)
    parser = repo / "src/actbench/data/formats.py"
    parser.write_text(parser.read_text() + "\n# an edit to a parser\n")
    res = sh(repo, "dvc", "repro")
    # preprocess reruns and gives the same arrays; plot reads its sidecar, which records the code
    assert ran(res) <= {"preprocess@digits", "plot"}, ran(res)
    assert not any(s.startswith(("train", "evaluate", "compare")) for s in ran(res))
    fresh_workspace(repo)


def test_11_queued_experiments_run_their_own_src_in_parallel(repo):
    fresh_workspace(repo)
    results = repo / "src/actbench/results.py"
    original = results.read_text()
    results.write_text(original.replace('out: dict[str, object] = {"candidate": comparison["candidate"]}',
                                        'out: dict[str, object] = {"candidate": comparison["candidate"], "edited": 1}'))  # fmt: skip
    assert results.read_text() != original
    one_seed = ["-S", "seeds=[0]", "-S", "profiles.quick.min_seeds=1"]
    sh(repo, "dvc", "exp", "run", "--queue", "-S", "activation=relu,gelu", *one_seed)
    results.write_text(original)  # the workspace (and the installed package) no longer has the edit
    # The queue's workers are forked from `dvc queue start` and keep its stdout open until they
    # exit, so its output goes to a file rather than a pipe this test would wait on.
    with (repo.parent / "queue-start.log").open("w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env_for(repo),
                       stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, timeout=120)  # fmt: skip
    deadline = time.time() + 600
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    else:
        sh(repo, "dvc", "queue", "stop", "--kill", check=False)
    sh(repo, "dvc", "queue", "stop", check=False)  # no idle worker outlives the test
    logs = "\n".join(sh(repo, "dvc", "queue", "logs", line.split()[0], check=False).stdout[-2000:]
                     for line in status.splitlines()[1:] if line.split())  # fmt: skip
    assert status.count("Success") >= 2, f"{status}\n{logs}"
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    summaries = [r["data"]["metrics"]["metrics/summary.json"]["data"] for commit in shown
                 for e in (commit.get("experiments") or []) for r in e["revs"]
                 if r.get("data") and "metrics/summary.json" in (r["data"].get("metrics") or {})]  # fmt: skip
    by_candidate = {s["candidate"]: s for s in summaries}
    assert {"relu", "gelu"} <= set(by_candidate)
    assert by_candidate["gelu"].get("edited") == 1  # the queued workspace's own src/ ran
    assert by_candidate["relu"].get("edited") == 1


def test_12_bad_param_fails_with_one_line(repo):
    fresh_workspace(repo)
    set_params(repo, **{"profiles.quick.epochs": 0})
    res = sh(repo, "dvc", "repro", check=False)
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "actbench:" in ln]
    assert (
        lines
        and "params.yaml: profiles.quick.epochs = 0 is not valid; expected a positive integer"
        in lines[0]
    )
    assert "Traceback" not in res.stdout + res.stderr
    sh(repo, "git", "checkout", "-q", "--", "params.yaml")


def test_13_remote_push_pull_restores_everything_in_a_fresh_clone(repo, tmp_path):
    fresh_workspace(repo)
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
