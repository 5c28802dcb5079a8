"""End to end: the user stories, driving DVC itself in a temporary git repository.

The project is copied into a fresh git repo, committed, and run on `digits` with a tiny budget
(the default activations, three seeds, one epoch). The tests run in file order and share that
repository, as a user's session would.
"""

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .project import check_verdicts, env_for, make_repo, set_params, sh

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


SWAP = ["-S", "activation=elu", "-S", "baselines=[relu,swish,tanhrelu]"]  # as the README says
DEFAULT = ["-S", "activation=tanhrelu", "-S", "baselines=[relu,elu,swish]"]


def runs_of(stages: set[str]) -> set[str]:
    return {s for s in stages if s.startswith(("tune", "train", "evaluate"))}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(
        tmp_path_factory.mktemp("project"), datasets=["digits"], seeds=[0, 1, 2], **TINY
    )


def test_1_repro_runs_every_stage_and_writes_all_outputs(repo):
    res = sh(repo, "dvc", "repro")
    assert {"download@digits", "preprocess@digits", "tune@relu-digits", "tune_candidate@tanhrelu-digits",
            "select", "train@relu-digits-0", "train_candidate@tanhrelu-digits-2", "evaluate@swish-digits-1",
            "evaluate_candidate@tanhrelu-digits-0", "compare", "plot"} <= ran(res)  # fmt: skip
    for run_name in ("relu_digits_s0", "tanhrelu_digits_s2"):
        assert (repo / "models" / f"{run_name}.keras").is_file()
        train = json.loads((repo / "metrics/train" / f"{run_name}.json").read_text())
        assert (
            train["epochs"] == 1
            and train["profile"] == "quick"
            and train["seed"] == int(run_name[-1])
        )
        assert (
            train["device"]["precision"] == "float32" and train["device"]["backend"] == "tensorflow"
        )
        assert train["schedule"]["lr_multiplier"] == 1  # tuning is off on the quick profile
        ev = json.loads((repo / "metrics/eval" / f"{run_name}.json").read_text())
        assert 0.0 <= ev["test_accuracy"] <= 1.0 and set(ev["per_class"]) == {
            str(d) for d in range(10)
        }
        rows = (repo / "metrics/eval" / f"{run_name}.confusion.csv").read_text().splitlines()
        assert rows[0] == "actual,predicted" and len(rows) == 1 + ev["test_images"]
    summary = json.loads((repo / "metrics/summary.json").read_text())
    comparison = json.loads((repo / "metrics/comparison.json").read_text())
    assert summary["candidate"] == "tanhrelu" and set(summary["digits"]) >= {"relu", "elu", "swish"}
    check_verdicts(repo, "digits")
    board = comparison["leaderboard"]["per_dataset"]["digits"]
    assert {r["activation"] for r in board} == {"relu", "elu", "swish", "tanhrelu"}
    assert [r["mean"] for r in board] == sorted((r["mean"] for r in board), reverse=True)
    for name in ("curves_digits", "comparison_digits", "activations", "diagnostics", "leaderboard"):
        assert (repo / "plots/figures" / f"{name}.png").stat().st_size > 10_000
    report = (repo / "report.md").read_text()
    assert "tanhrelu" in report and "outperforms" not in report and "two-sided" in report
    assert "## Leaderboard" in report and "![plots/figures/leaderboard.png]" in report
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first results")


def test_1b_outputs_under_the_old_role_paths_are_never_read(repo):
    """Runs made before runs lost their role (models/candidate/..., metrics/eval/baseline/...) are
    retrained once under the new paths; the old files are left alone and never read."""
    before = json.loads((repo / "metrics/summary.json").read_text())
    for role in ("candidate", "baseline"):
        act = "tanhrelu" if role == "candidate" else "relu"
        for folder in ("metrics/train", "metrics/eval"):
            old = repo / folder / role / f"{act}_digits_s0.json"
            old.parent.mkdir(parents=True)
            old.write_text(
                json.dumps({"test_accuracy": 0.0, "best_val_accuracy": 0.0, "role": role})
            )
    res = sh(repo, "dvc", "repro")
    assert ran(res) <= {"select", "compare", "plot"}, ran(
        res
    )  # their folders changed: nothing else
    assert json.loads((repo / "metrics/summary.json").read_text()) == before
    for role in ("candidate", "baseline"):
        for folder in ("metrics/train", "metrics/eval"):
            shutil.rmtree(repo / folder / role)
    sh(repo, "dvc", "repro")


def test_2_second_repro_is_a_no_op(repo):
    res = sh(repo, "dvc", "repro")
    assert "Data and pipelines are up to date." in res.stdout and not ran(res)


def test_3_exp_show_has_few_metric_columns(repo):
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    metrics = shown[0]["data"]["metrics"]  # the workspace
    assert list(metrics) == ["metrics/summary.json"]
    header = next(csv.reader(io.StringIO(sh(repo, "dvc", "exp", "show", "--csv").stdout)))
    leaves = [c for c in header if c == "candidate" or c.startswith("digits.")]
    assert len(leaves) == 1 + 3 + 4 * 3 <= 20, leaves  # candidate; accuracy and CI; 4 per baseline
    table = sh(repo, sys.executable, "-m", "actbench", "exp", env={"COLUMNS": "120"}).stdout
    assert max(len(line) for line in table.splitlines()) <= 120, table
    assert "workspace" in table and "tanhrelu" in table and "vs swish" in table, table


def test_4_making_a_baseline_the_candidate_trains_nothing(repo):
    res = sh(repo, "dvc", "exp", "run", *SWAP)
    assert not runs_of(ran(res)), ran(res)  # every tune, train and evaluate: from the run-cache
    assert ran(res) == {"select", "compare", "plot"}, ran(res)
    assert {f"{s}@elu-digits-{i}" for s in ("train_candidate", "evaluate_candidate") for i in range(3)} | {
        f"{s}@tanhrelu-digits-{i}" for s in ("train", "evaluate") for i in range(3)} <= cached(res)  # fmt: skip
    assert json.loads((repo / "metrics/summary.json").read_text())["candidate"] == "elu"
    diff = sh(repo, "dvc", "metrics", "diff").stdout
    assert 3 < len(diff.splitlines()) <= 30, diff
    assert "digits.accuracy" in diff


def test_5_the_candidate_back_and_a_candidate_in_the_baselines(repo):
    res = sh(repo, "dvc", "exp", "run", *DEFAULT)
    assert not runs_of(ran(res)), ran(res)
    assert json.loads((repo / "metrics/summary.json").read_text())["candidate"] == "tanhrelu"
    # A candidate that is also a baseline would be two stages with one output: DVC refuses
    # before anything runs, naming the output and both stages.
    refused = sh(repo, "dvc", "exp", "run", "-S", "activation=elu", check=False)
    assert refused.returncode != 0 and not ran(refused)
    assert "train_candidate@elu-digits" in refused.stderr + refused.stdout or "tune_candidate@elu-digits" in (
        refused.stderr + refused.stdout)  # fmt: skip
    fresh_workspace(repo)


def test_5b_adding_a_baseline_trains_only_its_runs(repo):
    fresh_workspace(repo)
    res = sh(repo, "dvc", "exp", "run", "-S", "baselines=[relu,elu,swish,gelu]")
    gelu = {"tune@gelu-digits"} | {
        f"{s}@gelu-digits-{i}" for s in ("train", "evaluate") for i in range(3)
    }
    assert runs_of(ran(res)) == gelu, ran(res)
    comparison = json.loads((repo / "metrics/comparison.json").read_text())
    assert len(comparison["leaderboard"]["per_dataset"]["digits"]) == 5
    fresh_workspace(repo)


def test_6_a_param_dvc_writes_as_off_passes_validation(repo):
    fresh_workspace(repo)
    res = sh(
        repo,
        "dvc",
        "exp",
        "run",
        "-S",
        "train.mixed_precision=off",
        "train_candidate@tanhrelu-digits-0",
    )
    assert "train_candidate@tanhrelu-digits-0" in ran(res)
    assert "mixed_precision: off" in (repo / "params.yaml").read_text()


def test_7_plots_show_draws_the_overlay_and_few_charts(repo):
    fresh_workspace(repo)
    out = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)
    charts = out.get("data", out)
    assert 3 <= len(charts) <= 12, list(charts)
    overlay = charts["plots/curves/digits.csv"][0]["content"]
    activations = {d["activation"] for d in overlay["data"]["values"]}
    assert activations == {"relu", "elu", "swish", "tanhrelu (candidate)"}
    assert "plots/confusion/digits.csv" in charts


def test_8_plots_diff_overlays_two_candidates(repo):
    fresh_workspace(repo)
    sh(repo, "dvc", "exp", "run", *SWAP)
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
    expected = {"tune_candidate@softsign-digits"} | {
        f"{s}@softsign-digits-{i}"
        for s in ("train_candidate", "evaluate_candidate")
        for i in range(3)
    }
    assert ran(res) == expected | {"select", "compare", "plot"}, ran(res)
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
    sh(repo, "dvc", "exp", "run", "--queue", "-S", "activation=gelu,mish", *one_seed)
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
    assert {"gelu", "mish"} <= set(by_candidate)
    assert by_candidate["gelu"].get("edited") == 1  # the queued workspace's own src/ ran
    assert by_candidate["mish"].get("edited") == 1


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
    assert (clone / "models/tanhrelu_digits_s0.keras").is_file()
    assert (clone / "data/prepared/digits.npz").is_file()
    res = sh(clone, "dvc", "repro")
    assert "Data and pipelines are up to date." in res.stdout
