"""The benchmark's stages on Ray, with DVC as the hand-off (python -m actbench.cluster).

On copies of the shared pipeline (tests/conftest.py) with some runs made stale: a local Ray
instance with the repository's cache shared; two Ray nodes started as separate processes whose
tasks work in separate clones and share only a local-directory DVC remote, one of them killed
mid-training (its run resumes); an evaluate task whose model was never pushed; and a task that
fails for good while the others are restored from the run-cache.
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

from .project import env_for, make_repo, set_params, sh

ray = pytest.importorskip("ray", reason="Ray is in requirements/dev.lock (the `cluster` extra)")
pytestmark = pytest.mark.e2e
# The two-node test's own small project: 3 epochs, so a worker killed after a run's first
# checkpoint is killed with 2 epochs to go.
PARAMS = {"datasets": ["digits"], "activations": ["tanhrelu", "relu"], "seeds": [0], "profiles.quick.min_seeds": 1,
          "profiles.quick.epochs": 3, "profiles.quick.min_steps": 0, "profiles.quick.batch_size": 64,
          "train.deterministic": True}  # fmt: skip
ONE_SEED = {"activations": ["tanhrelu", "relu"], "seeds": [0], "profiles.quick.min_seeds": 1}
RAY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def evals(repo: Path) -> dict:
    return {str(p.relative_to(repo)): json.loads(p.read_text()) | {"seconds": None, "device": None, "code": None}
            for p in sorted((repo / "metrics/eval").rglob("*.json"))}  # fmt: skip


def cluster(
    repo: Path, *args: str, env: dict | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actbench.cluster", "run", *args], cwd=repo,
                          env={**env_for(repo), **RAY, **(env or {})}, capture_output=True, text=True, timeout=timeout)  # fmt: skip


def copy_of(repo: Path, dest: Path, files: dict[str, str] | None = None, **changes) -> Path:
    """A copy of ``repo`` (its DVC cache and run-cache included) with ``files`` committed and
    its params changed."""
    shutil.copytree(repo, dest, symlinks=True)
    for path, text in (files or {}).items():
        (dest / path).write_text(text)
    set_params(dest, **changes)
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-qm", "change")
    return dest


def test_local_ray_shared_cache_trains_on_workers_and_matches_a_plain_repro(pipeline, tmp_path):
    """A comment added to tanhrelu's module makes its tune, select, train and evaluate stages
    stale (seed 0 only): they run on the workers and give exactly what the plain `dvc repro` of
    the pipeline gave."""
    module = "src/actbench/activations/tanhrelu.py"
    text = (pipeline / module).read_text() + "\n# an edit that changes no number\n"
    repo = copy_of(pipeline, tmp_path / "repo", files={module: text}, **ONE_SEED)
    res = cluster(repo, "--num-cpus", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (
        "cluster: 6 stages ran on Ray workers, 0 restored from the run-cache, 0 failed"
        in res.stdout
    )
    assert evals(repo) == evals(pipeline)  # bit for bit: deterministic kernels on a CPU
    assert "Data and pipelines are up to date." in sh(repo, "dvc", "repro").stdout
    # The lock changed (the module's new hash), and what compare and plot, run here, made of two
    # activations and one seed (the summary, the report, the figures). Every per-run output DVC
    # tracks in git is the same.
    changed = [line[3:] for line in sh(repo, "git", "status", "--porcelain").stdout.splitlines()]
    assert "dvc.lock" in changed and "metrics/summary.json" in changed, changed
    per_run = ("metrics/train/", "metrics/eval/", "metrics/tune/", "metrics/selected/",
               "metrics/tuned/", "dvclive/")  # fmt: skip
    assert not [path for path in changed if path.startswith(per_run)], changed
    assert (
        "cluster: 3 stale tune stages" in res.stdout
        and "cluster: 1 stale select stages" in res.stdout
    )


@pytest.fixture
def two_nodes():
    """A Ray head and a worker node, each a `ray start --block` process with 1 CPU (started
    without ACTBENCH_CHECKPOINTS: the driver passes it on)."""
    port = 6390 + os.getpid() % 500
    env = {
        **os.environ,
        **RAY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("ACTBENCH_CHECKPOINTS", None)
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


def _train_processes(root: Path) -> dict[int, str]:
    """{pid: run name} of every stages/train.py working under ``root`` (this test's only)."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not any(a.endswith("stages/train.py") for a in args):
                continue
            if not Path(os.readlink(proc / "cwd")).is_relative_to(root):
                continue
        except (OSError, ValueError):  # not ours to read, or ended meanwhile
            continue
        opt = {a: b for a, b in zip(args, args[1:], strict=False) if a.startswith("--")}
        found[int(proc.name)] = f"{opt['--activation']}_{opt['--dataset']}_s{opt['--seed']}"
    return found


def _ray_worker_of(pid: int) -> int | None:
    """The `ray::run_job` process above ``pid`` (a stage's python, under `dvc repro`)."""
    while pid > 1:
        if "ray::run_job" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent
    return None


def test_two_nodes_hand_off_through_a_dvc_remote_and_a_killed_worker_resumes_its_run(
    tmp_path, two_nodes
):
    """The nodes' tasks share no workspace and no cache, only a DVC remote, and checkpoints on
    shared storage (ACTBENCH_CHECKPOINTS). A worker killed mid-training is retried; its run
    resumes from its last epoch (docs/cluster.md), and evaluates exactly as the same run
    trained again, uninterrupted, by a plain `dvc repro`."""
    repo = make_repo(tmp_path / "repo", **PARAMS)
    sh(repo, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    sh(repo, "git", "commit", "-qam", "remote")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "actbench.cluster", "run", "--address", two_nodes,
                             "--remote", "store", "--workdir", str(tasks)], cwd=repo,
                            env={**env_for(repo), **RAY, "ACTBENCH_CHECKPOINTS": str(tmp_path / "checkpoints")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline, killed, run = time.time() + 600, None, None
    while time.time() < deadline and killed is None and proc.poll() is None:
        # A run has checkpointed its first epoch, where ACTBENCH_CHECKPOINTS says. (Not a walk of
        # the tasks' clones: they come and go while it walks.)
        try:
            states = list((tmp_path / "checkpoints").rglob("epoch-*/state.json"))
        except FileNotFoundError:  # an older epoch's folder removed mid-walk
            states = []
        for state in states:
            run = state.parents[1].name
            for pid, name in _train_processes(tmp_path.resolve()).items():
                task = _ray_worker_of(pid) if name == run else None
                if task:
                    os.kill(task, signal.SIGKILL)  # the task's process, mid-training
                    killed = task
                    break
            break
        time.sleep(0.1)
    out, err = proc.communicate(timeout=900)
    assert killed, "no checkpointed training task was seen"
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    record = json.loads((repo / "metrics/train" / f"{run}.json").read_text())
    assert record["resumed_from_epoch"] in (1, 2) and record["epochs"] == 3, record
    # The killed task ran once more and is counted once (2 tune, 2 train, 2 evaluate); nothing
    # trained here.
    assert "cluster: 6 stages ran on Ray workers, 0 restored from the run-cache, 0 failed" in out
    assert "final `dvc repro` here ran compare, plot\n" in out
    resumed = evals(repo)
    shutil.rmtree(repo / ".dvc/cache/runs")
    seed = run.rsplit("_s", 1)[1]
    sh(repo, "dvc", "repro", "--force", "--single-item", f"train@{run.split('_')[0]}-digits-{seed}",
       f"evaluate@{run.split('_')[0]}-digits-{seed}")  # fmt: skip
    assert evals(repo) == resumed


def test_with_a_remote_an_evaluate_task_whose_model_is_not_there_fails_in_one_line(
    pipeline, tmp_path
):
    """The pipeline trained its models but never pushed them; a new evaluate param makes every
    evaluate stage stale. Their tasks cannot get the models, and must not retrain them."""
    repo = copy_of(pipeline, tmp_path / "repo", **{"evaluate.diagnostic_images": 128, **ONE_SEED})
    sh(repo, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    sh(repo, "git", "commit", "-qam", "remote")
    trained = {p.name: p.read_bytes() for p in (repo / "metrics/train").glob("*.json")}
    res = cluster(repo, "--num-cpus", "2", "--remote", "store")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("actbench: cluster: error:")]
    assert len(errors) == 2, res.stderr[-3000:]
    for line in errors:  # `actbench: cluster: error: evaluate@relu-digits-0: its input models/...
        run = line.split("@", 1)[1].split(":", 1)[0].rsplit("-", 2)
        model = f"models/{run[0]}_{run[1]}_s{run[2]}.keras"
        assert f"its input {model} is not in DVC remote 'store'" in line, line
    assert "Traceback" not in res.stderr
    assert (
        "cluster: 0 stages ran on Ray workers, 0 restored from the run-cache, 2 failed"
        in res.stdout
    )
    assert {p.name: p.read_bytes() for p in (repo / "metrics/train").glob("*.json")} == trained


NAN_ACT = (
    '"""A test activation whose loss is NaN."""\n\n\ndef nan_act(x):\n    return x * float("nan")\n'
)


def test_a_task_that_fails_for_good_is_reported_and_the_others_are_restored(pipeline, tmp_path):
    """A new activation NaNs while it tunes; in the same wave, the tune records of tanhrelu and
    relu, missing from the workspace, come back from DVC's cache instead of training again."""
    repo = copy_of(pipeline, tmp_path / "repo", files={"src/actbench/activations/nan_act.py": NAN_ACT},
                   **{"activations": ["tanhrelu", "relu", "elu", "swish", "nan_act"]})  # fmt: skip
    for act in ("tanhrelu", "relu"):
        (repo / f"metrics/tune/{act}_digits_x1.json").unlink()
    res = cluster(repo, "--num-cpus", "2")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("actbench: cluster: error:")]
    assert len(errors) == 3 and all("tune@nan_act-digits-" in ln for ln in errors), res.stderr[
        -3000:
    ]
    assert (
        all("diverged: the loss became NaN" in ln for ln in errors)
        and "Traceback" not in res.stderr
    )
    assert "rerun `python -m actbench.cluster run`" in res.stderr
    assert (
        "cluster: 0 stages ran on Ray workers, 2 restored from the run-cache, 3 failed"
        in res.stdout
    )
    for act in ("tanhrelu", "relu"):
        assert (repo / f"metrics/tune/{act}_digits_x1.json").read_bytes() == (
            pipeline / f"metrics/tune/{act}_digits_x1.json").read_bytes()  # fmt: skip
