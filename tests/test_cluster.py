"""The benchmark's stages on Ray, with DVC's run-cache as the hand-off (python -m actbench.cluster).

On this machine with `digits`: a local Ray instance with the repository's cache shared; two
Ray nodes started as separate processes whose tasks work in separate clones and share only a
local-directory DVC remote; a worker killed mid-training; and a task that fails for good.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .project import env_for, make_repo, sh

ray = pytest.importorskip("ray", reason="Ray is in requirements/dev.lock (the `cluster` extra)")
pytestmark = pytest.mark.e2e
PARAMS = {"datasets": ["digits"], "baselines": ["relu"], "seeds": [0, 1], "profiles.quick.min_seeds": 1,
          "profiles.quick.epochs": 2, "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64,
          "train.deterministic": True}  # fmt: skip
RAY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
STAGES = 8  # (relu, tanhrelu) x seeds 0, 1 x (train, evaluate)


def evals(repo: Path) -> dict:
    return {str(p.relative_to(repo)): json.loads(p.read_text()) | {"seconds": None, "device": None}
            for p in sorted((repo / "metrics/eval").rglob("*.json"))}  # fmt: skip


def cluster(
    repo: Path, *args: str, env: dict | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actbench.cluster", "run", *args], cwd=repo,
                          env={**env_for(repo), **RAY, **(env or {})}, capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The same params run by a plain `dvc repro`: the numbers the cluster must reproduce."""
    repo = make_repo(tmp_path_factory.mktemp("plain"), **PARAMS)
    sh(repo, "dvc", "repro")
    return evals(repo)


def test_local_ray_shared_cache_trains_on_workers_and_matches_a_plain_repro(tmp_path, plain):
    repo = make_repo(tmp_path / "repo", **PARAMS)
    res = cluster(repo, "--num-cpus", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (
        f"cluster: {STAGES} stages ran on Ray workers, 0 restored from the run-cache, 0 failed"
        in res.stdout
    )
    assert "final `dvc repro` here ran compare, plot\n" in res.stdout  # no train or evaluate stage
    assert evals(repo) == plain  # bit for bit, with train.deterministic: true
    assert "Data and pipelines are up to date." in sh(repo, "dvc", "repro").stdout
    # A second run finds nothing stale.
    again = cluster(repo, "--num-cpus", "2")
    assert (
        "cluster: 0 stages ran on Ray workers, 0 restored from the run-cache, 0 failed"
        in again.stdout
    )


@pytest.fixture
def two_nodes(tmp_path):
    """A Ray head and a worker node, each a `ray start --block` process with 1 CPU."""
    port = 6390 + os.getpid() % 500
    env = {
        **os.environ,
        **RAY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    ray_bin = str(Path(sys.executable).parent / "ray")
    temp = Path("/tmp") / f"rt{os.getpid()}"  # Ray's sockets need a short path
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", f"--temp-dir={temp}a"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(8)
    worker = subprocess.Popen([ray_bin, "start", "--block", f"--address=127.0.0.1:{port}", "--num-cpus=1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(8)
    yield f"127.0.0.1:{port}"
    for proc in (worker, head):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(f"{temp}a", ignore_errors=True)


def test_two_nodes_without_a_shared_workspace_hand_off_through_a_dvc_remote(
    tmp_path, plain, two_nodes
):
    repo = make_repo(tmp_path / "repo", **PARAMS)
    sh(repo, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    sh(repo, "git", "commit", "-qam", "remote")
    res = cluster(repo, "--address", two_nodes, "--remote", "store", "--workdir", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (
        f"cluster: {STAGES} stages ran on Ray workers, 0 restored from the run-cache, 0 failed"
        in res.stdout
    )
    assert "final `dvc repro` here ran compare, plot\n" in res.stdout
    assert evals(repo) == plain


def _ray_worker_of(pid: int) -> int | None:
    """The `ray::run_job` process above ``pid`` (a stage's python, under `dvc repro`)."""
    while pid > 1:
        if "ray::run_job" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent
    return None


def test_a_worker_killed_mid_training_is_retried_and_counted_once(tmp_path):
    repo = make_repo(tmp_path / "repo", **{**PARAMS, "seeds": [0], "profiles.quick.epochs": 6})
    checkpoints = tmp_path / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-m", "actbench.cluster", "run", "--num-cpus", "2"], cwd=repo,
                            env={**env_for(repo), **RAY, "ACTBENCH_CHECKPOINTS": str(checkpoints)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline, killed = time.time() + 600, None
    while time.time() < deadline and killed is None and proc.poll() is None:
        if list(checkpoints.rglob("training_metadata.json")):  # a run has backed up an epoch
            for pid in subprocess.run(
                ["pgrep", "-f", "stages/train.py"], capture_output=True, text=True
            ).stdout.split():
                try:
                    killed = _ray_worker_of(int(pid))
                except (OSError, ValueError, IndexError):  # the process ended meanwhile
                    continue
                if killed:
                    os.kill(killed, signal.SIGKILL)  # the task's process, mid-training
                    break
        time.sleep(0.2)
    out, err = proc.communicate(timeout=900)
    assert killed, "no training task was seen"
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "cluster: 4 stages ran on Ray workers, 0 restored from the run-cache, 0 failed" in out


NAN_ACT = (
    '"""A test activation whose loss is NaN."""\n\n\ndef nan_act(x):\n    return x * float("nan")\n'
)


def test_a_task_that_fails_for_good_is_reported_and_the_others_finish(tmp_path):
    repo = make_repo(tmp_path / "repo", files={"src/actbench/activations/nan_act.py": NAN_ACT},
                     **{**PARAMS, "seeds": [0], "activation": "nan_act"})  # fmt: skip
    res = cluster(repo, "--num-cpus", "2")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("actbench: cluster: error:")]
    assert len(errors) == 2 and all("diverged: the loss became NaN" in ln for ln in errors), (
        res.stderr[-3000:]
    )
    assert (
        "cluster: 2 stages ran on Ray workers, 0 restored from the run-cache, 2 failed"
        in res.stdout
    )
    assert "rerun `python -m actbench.cluster run`" in res.stderr
    assert (repo / "metrics/eval/baseline/relu_digits_s0.json").is_file()  # the others finished
