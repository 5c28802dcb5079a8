"""End to end: the user stories, driving DVC itself in a temporary git repository.

Every test reads the shared pipeline (tests/conftest.py: digits, the default activations, three
seeds, tuning on, results committed) or works on its own copy of it (``workspace``), so each
runs alone: ``pytest tests/test_e2e_dvc.py::<name>``.
"""

import csv
import io
import json
import subprocess
import sys
import time

import pytest

from .project import check_verdicts, env_for, set_params, sh

pytestmark = pytest.mark.e2e
ACTIVATIONS = ["tanhrelu", "relu", "elu", "swish"]
ONE_SEED = ["-S", "seeds=[0]", "-S", "profiles.quick.min_seeds=1"]


def ran(res) -> set[str]:
    return {
        line.split("'")[1] for line in res.stdout.splitlines() if line.startswith("Running stage")
    }


def runs_of(stages: set[str]) -> set[str]:
    return {s for s in stages if s.startswith(("tune", "train", "evaluate"))}


def test_repro_ran_every_stage_and_wrote_every_output(pipeline):
    log = (pipeline.parent / "repro.log").read_text()
    for stage in ("validate", "download@digits", "preprocess@digits", "tune@relu-digits-0.5", "gather",
                  "select@elu-digits", "train@tanhrelu-digits-2", "evaluate@swish-digits-1", "compare", "plot"):  # fmt: skip
        assert f"Running stage '{stage}'" in log, stage
    for run_name in ("relu_digits_s0", "tanhrelu_digits_s2"):
        assert (pipeline / "models" / f"{run_name}.keras").is_file()
        train = json.loads((pipeline / "metrics/train" / f"{run_name}.json").read_text())
        assert train["epochs"] == 1 and train["profile"] == "quick"
        assert train["seed"] == int(run_name[-1])
        assert train["device"]["precision"] == "float32"
        ev = json.loads((pipeline / "metrics/eval" / f"{run_name}.json").read_text())
        assert 0.0 <= ev["test_accuracy"] <= 1.0 and set(ev["per_class"]) == {
            str(d) for d in range(10)
        }
        rows = (pipeline / "metrics/eval" / f"{run_name}.confusion.csv").read_text().splitlines()
        assert rows[0] == "actual,predicted" and len(rows) == 1 + ev["test_images"]
    summary = json.loads((pipeline / "metrics/summary.json").read_text())
    comparison = json.loads((pipeline / "metrics/comparison.json").read_text())
    assert summary["candidate"] == "tanhrelu" and set(summary["digits"]) >= {"relu", "elu", "swish"}
    check_verdicts(pipeline, "digits")
    board = comparison["leaderboard"]["per_dataset"]["digits"]
    assert {r["activation"] for r in board} == set(ACTIVATIONS)
    assert [r["mean"] for r in board] == sorted((r["mean"] for r in board), reverse=True)
    for name in ("curves_digits", "comparison_digits", "activations", "diagnostics", "leaderboard"):
        assert (pipeline / "plots/figures" / f"{name}.png").stat().st_size > 10_000
    report = (pipeline / "report.md").read_text()
    assert "tanhrelu" in report and "outperforms" not in report and "two-sided" in report
    assert "## Leaderboard" in report and "![plots/figures/leaderboard.png]" in report


def test_the_committed_pipeline_is_up_to_date(pipeline):
    assert "Data and pipelines are up to date." in sh(pipeline, "dvc", "status").stdout


def test_exp_show_has_few_metric_columns(pipeline):
    shown = json.loads(sh(pipeline, "dvc", "exp", "show", "--json").stdout)
    assert list(shown[0]["data"]["metrics"]) == ["metrics/summary.json"]  # the workspace
    header = next(csv.reader(io.StringIO(sh(pipeline, "dvc", "exp", "show", "--csv").stdout)))
    leaves = [c for c in header if c == "candidate" or c.startswith("digits.")]
    assert len(leaves) == 1 + 3 + 4 * 3 <= 20, leaves  # candidate; accuracy and CI; 4 per baseline
    table = sh(pipeline, sys.executable, "-m", "actbench", "exp", env={"COLUMNS": "120"}).stdout
    assert max(len(line) for line in table.splitlines()) <= 120, table
    assert "workspace" in table and "tanhrelu" in table and "vs swish" in table, table


def test_plots_show_draws_the_overlay_and_few_charts(pipeline):
    out = json.loads(sh(pipeline, "dvc", "plots", "show", "--json").stdout)
    charts = out.get("data", out)
    assert 3 <= len(charts) <= 12, list(charts)
    overlay = charts["plots/curves/digits.csv"][0]["content"]
    drawn = {(d["activation"], d["role"]) for d in overlay["data"]["values"]}
    assert drawn == {
        ("relu", "baseline"),
        ("elu", "baseline"),
        ("swish", "baseline"),
        ("tanhrelu", "candidate"),
    }
    assert "plots/confusion/digits.csv" in charts


def test_choosing_another_candidate_trains_nothing_and_plots_diff_overlays_both(workspace):
    from .test_refused_params import snapshot

    before, _ = snapshot(workspace)
    res = sh(workspace, "dvc", "exp", "run", "-S", "activation=elu")
    assert ran(res) == {"validate", "compare", "plot"}, ran(res)
    after, _ = snapshot(workspace)
    changed = {path for path in before if before[path] != after.get(path)}
    assert changed and all(p.startswith(("metrics/summary", "metrics/comparison", "plots/", "report.md", "dvc.lock"))
                           for p in changed), changed  # fmt: skip
    assert json.loads((workspace / "metrics/summary.json").read_text())["candidate"] == "elu"
    diff = sh(workspace, "dvc", "metrics", "diff").stdout
    assert 3 < len(diff.splitlines()) <= 30 and "digits.accuracy" in diff, diff
    sh(workspace, "git", "add", "-A")
    sh(workspace, "git", "commit", "-qm", "elu as candidate")
    out = json.loads(sh(workspace, "dvc", "plots", "diff", "HEAD~1", "HEAD", "--json").stdout)
    values = out.get("data", out)["plots/curves/digits.csv"][0]["content"]["data"]["values"]
    assert {(d["rev"], d["activation"], d["role"]) for d in values} >= {
        ("HEAD~1", "tanhrelu", "candidate"),
        ("HEAD", "elu", "candidate"),
        ("HEAD", "tanhrelu", "baseline"),
    }


def test_a_new_activation_is_one_file_and_only_its_runs_train(pipeline, workspace):
    """One plug-in file and one command: its tune, train and evaluate stages run, every other
    run comes from the cache; files left by older layouts (a role folder) are never read."""
    plugin = workspace / "src/actbench/activations/softsign.py"
    plugin.write_text('"""Softsign: x / (1 + |x|)."""\n\nimport keras\n\n\n'
                      "def softsign(x):\n    return keras.activations.softsign(x)\n")  # fmt: skip
    sh(workspace, "git", "add", str(plugin))
    sh(workspace, "git", "commit", "-qm", "softsign")
    stray = workspace / "metrics/eval/candidate/tanhrelu_digits_s0.json"
    stray.parent.mkdir()
    stray.write_text(json.dumps({"test_accuracy": 0.0, "role": "candidate"}))
    res = sh(workspace, "dvc", "exp", "run", "-S", "activation=softsign",  # one seed: cheaper
             "-S", f"activations=[{','.join(ACTIVATIONS)},softsign]", *ONE_SEED)  # fmt: skip
    new = {f"tune@softsign-digits-{m}" for m in ("0.5", "1", "2")} | {
        f"{s}@softsign-digits-0" for s in ("train", "evaluate")}  # fmt: skip
    assert runs_of(ran(res)) == new, ran(res)
    assert ran(res) == new | {"validate", "gather", "select@softsign-digits", "compare", "plot"}, (
        ran(res)
    )
    comparison = json.loads((workspace / "metrics/comparison.json").read_text())
    assert len(comparison["leaderboard"]["per_dataset"]["digits"]) == 5
    before = json.loads((pipeline / "metrics/comparison.json").read_text())
    old, new = (
        c["aggregates"]["tanhrelu"]["digits"]["test_accuracy"] for c in (before, comparison)
    )
    assert new["per_seed"]["0"] == old["per_seed"]["0"]


def test_editing_a_parser_leaves_training_up_to_date(workspace):
    parser = workspace / "src/actbench/data/formats.py"
    parser.write_text(parser.read_text() + "\n# an edit to a parser\n")
    res = sh(workspace, "dvc", "repro")
    # preprocess reruns and gives the same arrays; plot reads its sidecar, which records the code
    assert ran(res) <= {"preprocess@digits", "plot"}, ran(res)


def test_queued_experiments_run_their_own_src_in_parallel(workspace):
    results = workspace / "src/actbench/results.py"
    original = results.read_text()
    edited = original.replace('out: dict[str, object] = {"candidate": comparison["candidate"]}',
                              'out: dict[str, object] = {"candidate": comparison["candidate"], "edited": 1}')  # fmt: skip
    assert edited != original
    results.write_text(edited)
    sh(workspace, "dvc", "exp", "run", "--queue", "-S", "activation=relu,swish")
    results.write_text(original)  # the workspace (and the installed package) no longer has the edit
    # The queue's workers are forked from `dvc queue start` and keep its stdout open until they
    # exit, so its output goes to a file rather than a pipe this test would wait on.
    with (workspace.parent / "queue-start.log").open("w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=workspace, env=env_for(workspace),
                       stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, timeout=120)  # fmt: skip
    deadline = time.time() + 600
    while time.time() < deadline:
        status = sh(workspace, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    else:
        sh(workspace, "dvc", "queue", "stop", "--kill", check=False)
    sh(workspace, "dvc", "queue", "stop", check=False)  # no idle worker outlives the test
    logs = "\n".join(sh(workspace, "dvc", "queue", "logs", line.split()[0], check=False).stdout[-2000:]
                     for line in status.splitlines()[1:] if line.split())  # fmt: skip
    assert status.count("Success") >= 2, f"{status}\n{logs}"
    shown = json.loads(sh(workspace, "dvc", "exp", "show", "--json").stdout)
    summaries = [r["data"]["metrics"]["metrics/summary.json"]["data"] for commit in shown
                 for e in (commit.get("experiments") or []) for r in e["revs"]
                 if r.get("data") and "metrics/summary.json" in (r["data"].get("metrics") or {})]  # fmt: skip
    by_candidate = {s["candidate"]: s for s in summaries}
    assert {"relu", "swish"} <= set(by_candidate)
    assert by_candidate["relu"].get("edited") == 1  # the queued workspace's own src/ ran
    assert by_candidate["swish"].get("edited") == 1


def test_remote_push_pull_restores_everything_in_a_fresh_clone(workspace, tmp_path):
    sh(workspace, "dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    sh(workspace, "git", "commit", "-qam", "remote")
    sh(workspace, "dvc", "push")
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(workspace), str(clone))
    sh(clone, "dvc", "pull")
    assert (clone / "models/tanhrelu_digits_s0.keras").is_file()
    assert (clone / "data/prepared/digits.npz").is_file()
    assert "Data and pipelines are up to date." in sh(clone, "dvc", "repro").stdout


def test_an_edited_param_reruns_only_the_stages_that_read_it(workspace):
    set_params(workspace, **{"plot.smoothing": 0.5})
    assert ran(sh(workspace, "dvc", "repro")) == {"validate", "plot"}
