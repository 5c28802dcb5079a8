"""What the Ray driver (actbench.cluster) takes from DVC, on a two-stage DVC project of its own,
without Ray: the stages' own log of what ran and how it ended (``DVC_STAGE``), ``dvc cache dir``,
a clone's local config, and a ``dvc.lock`` entry made in a clone and merged here (the documented
``schema: '2.0'``, checked against DVC 3.67.1): a DVC that changes any of these fails here."""

import subprocess
import sys
from pathlib import Path

import pytest

from actbench import cluster
from actbench.errors import ActbenchError

from .project import env_for, sh

pytestmark = [pytest.mark.e2e, pytest.mark.portable]  # dvc in temporary git repositories; no Keras
SRC = Path(__file__).resolve().parents[1] / "src"

STAGE = f"""
import os, signal, sys
sys.path.insert(0, {str(SRC)!r})
from actbench.cli import run_stage
from actbench.errors import ActbenchError


def main():
    how = sys.argv[1]
    if how == "user":
        raise ActbenchError("a bad param")
    if how == "bug":
        raise RuntimeError("boom")
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "usage":
        sys.exit(2)
    os.makedirs("out", exist_ok=True)
    src = sys.argv[2] if len(sys.argv) > 2 else None
    text = (open(src).read() if src else "") + how
    open(os.path.join("out", how + ".txt"), "w").write(text)


run_stage(main)
"""

DVC_YAML = """
stages:
  first:
    cmd: python stage.py first
    deps: [stage.py]
    outs: [out/first.txt]
  second:
    cmd: python stage.py second out/first.txt
    deps: [stage.py, out/first.txt]
    outs: [out/second.txt]
  fails:
    foreach: [user, bug, killed, usage]
    do:
      cmd: python stage.py ${item}
      deps: [stage.py]
      outs:
        - out/${item}.txt
  unready:
    cmd: python stage.py unready
    deps: [missing.txt]
    outs: [out/unready.txt]
"""


@pytest.fixture
def project(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "stage.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "config", "user.email", "ci@example.com")
    sh(repo, "git", "config", "user.name", "CI")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "project")
    return repo


def _repro(repo: Path, log_folder: Path, *stages: str) -> tuple[subprocess.CompletedProcess, dict]:
    env, log = cluster._logged_env(log_folder, env_for(repo))
    res = subprocess.run([sys.executable, "-m", "dvc", "repro", "--single-item", *stages], cwd=repo,
                         env=env, capture_output=True, text=True)  # fmt: skip
    return res, cluster._commands_run(log)


def test_each_stage_logs_its_dvc_stage_name_and_exit_status(project, tmp_path):
    for name, logged in (("ran", {"first": 0}), ("up-to-date", {})):
        (tmp_path / name).mkdir()
        res, ran = _repro(project, tmp_path / name, "first")
        assert res.returncode == 0 and ran == logged
    expected = {
        "user": (cluster.StageFailed, "fails@user: actbench: stage.py: error: a bad param"),
        "bug": (cluster.StageFailed, "fails@bug: crashed (exit status 1): RuntimeError: boom"),
        "killed": (cluster.StageLost, "fails@killed: killed by a signal"),
        "usage": (cluster.StageFailed, "fails@usage: ERROR: failed to reproduce"),
    }
    for how, (kind, said) in expected.items():
        stage = f"fails@{how}"
        (tmp_path / how).mkdir()
        res, ran = _repro(project, tmp_path / how, stage)
        assert res.returncode != 0
        assert ran == {stage: {"user": 2, "bug": 1, "killed": None, "usage": 2}[how]}
        failure = cluster._failure(stage, ran, res)
        assert type(failure) is kind and str(failure).startswith(said), str(failure)
    (tmp_path / "unready").mkdir()
    res, ran = _repro(project, tmp_path / "unready", "unready")
    failure = cluster._failure("unready", ran, res)
    assert ran == {} and str(failure).startswith(
        "unready: `dvc repro` failed before the command ran"
    )


def test_a_lock_entry_made_in_a_clone_merges_into_the_workspace_lock(
    project, tmp_path, monkeypatch
):
    """As a task does: a clone on the workspace's cache (``dvc cache dir`` there, ``dvc cache dir
    --local`` in the clone) reproduces ``second``; its entry, merged here, checks out and
    commits, and the workspace is up to date, as after a plain ``dvc repro``."""
    sh(project, "dvc", "repro", "first")
    monkeypatch.chdir(project)
    cache = cluster._cache_dir()
    assert cache == str((project / ".dvc" / "cache").resolve())
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))
    (clone / "dvc.lock").write_text((project / "dvc.lock").read_text())

    def in_clone(*args: str, check: bool = True):
        return sh(clone, *args, check=check)

    cluster._configure(in_clone, cache, None)
    assert sh(clone, sys.executable, "-m", "dvc", "cache", "dir").stdout.strip() == cache
    sh(clone, "dvc", "checkout", "out/first.txt")
    sh(clone, "dvc", "repro", "--single-item", "second")
    entry = cluster._lock_entry((clone / "dvc.lock").read_text(), "second")
    assert {out["path"] for out in entry["outs"]} == {"out/second.txt"}

    lock = (project / "dvc.lock").read_text()
    (project / "dvc.lock").write_text(cluster._lock_with(lock, {"second": entry}))
    sh(project, "dvc", "checkout", "--force", "second")
    sh(project, "dvc", "commit", "--force", "second")
    assert (project / "out/second.txt").read_text() == "firstsecond"
    status = sh(project, "dvc", "status", "first", "second").stdout
    assert "Data and pipelines are up to date." in status, status


def test_a_lock_of_another_schema_is_refused_in_one_line():
    entry = {"cmd": "true"}
    assert "stages:\n  a:\n    cmd: 'true'" in cluster._lock_with("", {"a": entry})
    for text in ("schema: '3.0'\nstages: {}\n", "stages: {}\n", "- a list\n"):
        with pytest.raises(ActbenchError, match=r"dvc.lock has schema .* not '2.0'") as err:
            cluster._lock_with(text, {"a": entry})
        assert "\n" not in str(err.value)
