"""Run the benchmark's stale train and evaluate stages on a Ray cluster; DVC's run-cache carries
the results back.

    python -m actbench.cluster run                        # a local Ray instance on this machine
    python -m actbench.cluster run --address HOST:6379    # an existing cluster (or RAY_ADDRESS)
    python -m actbench.cluster run --remote shared        # no shared file system: a DVC remote

1. Here, ``dvc repro`` runs the download, ingest and preprocess stages: they are cheap.
2. Every train and evaluate stage that ``dvc status`` reports stale, and that DVC's run-cache
   cannot already restore, becomes a Ray task; an evaluate task waits for its train task. A task
   asks for one GPU where the cluster has GPUs (Ray sets ``CUDA_VISIBLE_DEVICES`` per task), else
   ``--cpus-per-task`` CPUs. A task whose worker dies is retried (``--retries``); it resumes from
   its last epoch when ``ACTBENCH_CHECKPOINTS`` points at shared storage.
3. A task clones the repository at this commit into a folder of its own, writes this workspace's
   ``params.yaml`` and ``dvc.lock`` into it, and runs ``dvc repro <stage>`` there. Its outputs and
   its run-cache entry reach this machine through the DVC cache directory, which every node must
   see (the default: this repository's cache), or through ``--remote`` (``dvc repro --pull``, then
   ``dvc push --run-cache``).
4. Finally ``dvc repro`` here restores every train and evaluate stage from the run-cache and runs
   compare and plot: the workspace and ``dvc.lock`` end exactly as after a local ``dvc repro``.

It prints one progress line, then ``cluster: N stages ran on Ray workers, M restored from the
run-cache, F failed``, and exits non-zero if any stage failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from actbench.errors import ActbenchError

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be killed when the Ray worker dies, so a retried run never races its
    orphaned first attempt (the stage under `dvc repro` dies with DVC: stages/_src.py). Ray's
    subreaper option is not used: it reaps the children DVC waits for, losing their status."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to produce one stage, in a clean clone of its own."""

    stage: str  # e.g. train@baseline-relu-digits-0
    repo: str  # a path or URL every node can clone
    commit: str
    params: str  # params.yaml of the driver's workspace
    lock: str  # dvc.lock of the driver's workspace (the prepared data's hashes)
    cache_dir: str | None  # the shared DVC cache, or None with a remote
    remote: tuple[str, str] | None  # (name, url) of the DVC remote, or None
    workdir: str | None  # where task folders go; a temporary folder of the node by default


class StageFailed(Exception):
    """A stage failed for good (bad input, NaN): its one-line reason; Ray does not retry it."""


def _one_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for prefix in ("actbench:", "ERROR:"):
        found = [ln for ln in lines if ln.startswith(prefix)]
        if found:
            return found[0]
    return lines[-1] if lines else "no output"


def run_job(job: Job, tracker=None, upstream=None) -> dict:
    """The body of a Ray task: produce ``job.stage`` in a fresh clone and publish it.

    ``upstream`` is the train task's result for an evaluate task: Ray starts this task only once
    it exists, and fails it with the train task's error if that failed."""
    start = time.time()
    if tracker is not None:
        import ray

        ray.get(tracker.start.remote(job.stage))
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    folder = Path(tempfile.mkdtemp(prefix="actbench-task-", dir=job.workdir))

    def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True,
                             preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # fmt: skip
        if check and res.returncode != 0:
            raise StageFailed(f"{job.stage}: {_one_line(res.stdout + res.stderr)}")
        return res

    try:
        sh("git", "clone", "--quiet", "--no-checkout", job.repo, ".")
        sh("git", "checkout", "--quiet", job.commit)
        (folder / "params.yaml").write_text(job.params)
        (folder / "dvc.lock").write_text(job.lock)
        dvc = (sys.executable, "-m", "dvc")
        if job.cache_dir:
            sh(*dvc, "cache", "dir", "--local", job.cache_dir)
        if job.remote:
            sh(*dvc, "remote", "add", "--local", "--force", "--default", *job.remote)
        res = sh(*dvc, "repro", *(["--pull"] if job.remote else []), job.stage)
        outcome = "ran" if f"Running stage '{job.stage}'" in res.stdout else "restored"
        if job.remote:
            sh(*dvc, "push", "--run-cache", job.stage)
        return {"stage": job.stage, "outcome": outcome, "seconds": round(time.time() - start, 1)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def _sh(*args: str, quiet: bool = False) -> subprocess.CompletedProcess:
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        raise ActbenchError(f"`{' '.join(args)}` failed: {_one_line(res.stdout + res.stderr)}")
    if not quiet and res.stdout.strip():
        print(res.stdout.rstrip(), flush=True)
    return res


def _plan() -> tuple[list[str], dict[str, str]]:
    """(the stale train and evaluate stages, {evaluate stage: its train stage}).

    Stale is what `dvc status` reports, plus the evaluate stage of every stale train stage (its
    model will change). Whether DVC's run-cache can restore a stage is left to the task, which
    reports it: predicting it here would use the hashes of the old ``dvc.lock``."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        work = [
            s.addressing
            for s in repo.index.stages
            if s.addressing.startswith(("train", "evaluate"))
        ]
        stale = set(repo.status(targets=work))
    depends = {n: n.replace("evaluate", "train", 1) for n in work if n.startswith("evaluate")}
    stale |= {ev for ev, tr in depends.items() if tr in stale}
    return [n for n in work if n in stale], depends


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def run(args: argparse.Namespace) -> int:
    import ray

    if not Path("dvc.yaml").is_file():
        raise ActbenchError("no dvc.yaml here; run from the repository root")
    # Refuse bad params before anything runs, with this workspace's own code (its plug-ins).
    check = "import sys; sys.path.insert(0, 'src'); from actbench import params; params.load('params.yaml')"
    res = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    if res.returncode != 0:
        raise ActbenchError(_one_line(res.stderr).split("ActbenchError: ", 1)[-1])
    dirty = _sh(
        "git", "status", "--porcelain", "--", "src", "stages", "dvc.yaml", quiet=True
    ).stdout.strip()
    if dirty:
        raise ActbenchError("src/, stages/ or dvc.yaml have uncommitted changes; workers check out the "
                            "commit, so commit them first")  # fmt: skip
    commit = _sh("git", "rev-parse", "HEAD", quiet=True).stdout.strip()
    dvc = (sys.executable, "-m", "dvc")
    remote = None
    if args.remote:
        url = _sh(*dvc, "config", f"remote.{args.remote}.url", quiet=True).stdout.strip()
        remote = (args.remote, url)
    cache_dir = None if remote else _sh(*dvc, "cache", "dir", quiet=True).stdout.strip()

    print("cluster: preparing the data here (download, ingest, preprocess)", flush=True)
    from dvc.repo import Repo

    with Repo(".") as repo:
        prep = [
            s.addressing
            for s in repo.index.stages
            if s.addressing.startswith(("download", "ingest", "preprocess"))
        ]
    _sh(*dvc, "repro", *prep, quiet=True)
    if remote:
        _sh(*dvc, "push", "--run-cache", *prep, quiet=True)
    to_run, depends = _plan()
    print(f"cluster: {len(to_run)} stale train and evaluate stages for Ray workers", flush=True)

    os.environ.update(RAY_ENV)
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:  # a private instance here, even if `ray start` runs on this machine
        ray.init(
            address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False
        )
    gpus = ray.cluster_resources().get("GPU", 0)
    resources = {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": args.cpus_per_task}
    task = ray.remote(max_retries=args.retries, retry_exceptions=False)(run_job).options(
        **resources
    )
    tracker = _tracker_class().remote()
    repo_url = args.repo or str(Path.cwd())
    lock = Path("dvc.lock").read_text() if Path("dvc.lock").is_file() else ""
    params_text = Path("params.yaml").read_text()
    refs = {}
    for name in sorted(to_run, key=lambda n: not n.startswith("train")):  # trains first
        job = Job(name, repo_url, commit, params_text, lock, cache_dir, remote, args.workdir)
        refs[name] = task.remote(job, tracker, refs.get(depends.get(name)))

    done, failed = {}, {}
    pending = {ref: name for name, ref in refs.items()}
    start, last = time.time(), ""
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            name = pending.pop(ref)
            try:
                done[name] = ray.get(ref)
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if isinstance(err.cause, StageFailed) else None
                failed[name] = str(cause) if cause else _one_line(str(err))
            except ray.exceptions.RayError as err:  # retries exhausted, node lost, ...
                failed[name] = f"{name}: {type(err).__name__}: {_one_line(str(err))}"
        started = ray.get(tracker.snapshot.remote())
        running = sum(1 for n in pending.values() if n in started)
        finished = len(done) + len(failed)
        eta = _eta((time.time() - start) / finished * len(pending)) if finished and pending else "-"
        line = f"cluster: {finished}/{len(refs)} done, {running} running, {len(failed)} failed, ETA {eta}"
        if line != last:
            print(
                f"\r{line}" if sys.stdout.isatty() else line,
                end="" if sys.stdout.isatty() else "\n",
                flush=True,
            )
            last = line
    if sys.stdout.isatty() and refs:
        print()
    ray.shutdown()

    ran = sum(1 for r in done.values() if r["outcome"] == "ran")
    restored = sum(1 for r in done.values() if r["outcome"] == "restored")
    pull = ["--pull"] if remote else []
    if failed:
        for name, line in sorted(failed.items()):  # an evaluate names the train it waited for
            shown = line if line.startswith(name) else f"{name}: {line}"
            print(f"actbench: cluster: error: {shown}", file=sys.stderr)
        if done:  # bring what finished into this workspace and dvc.lock
            try:
                _sh(*dvc, "repro", *pull, *done, quiet=True)
            except ActbenchError as err:
                print(f"actbench: cluster: error: {err}", file=sys.stderr)
        print(
            f"cluster: {ran} stages ran on Ray workers, {restored} restored from the run-cache, {len(failed)} failed"
        )
        print("cluster: fix the cause, then rerun `python -m actbench.cluster run`: only the failed stages "
              "run again (the others are in the run-cache)", file=sys.stderr)  # fmt: skip
        return 1
    final = _sh(*dvc, "repro", *pull, quiet=True).stdout
    executed = [ln.split("'")[1] for ln in final.splitlines() if ln.startswith("Running stage")]
    print(f"cluster: final `dvc repro` here ran {', '.join(executed) or 'nothing'}")
    local = [n for n in executed if n.startswith(("train", "evaluate"))]
    if local:
        print(f"cluster: warning: {', '.join(local)} ran here, not on Ray: the run-cache did not have them",
              file=sys.stderr)  # fmt: skip
    print(
        f"cluster: {ran} stages ran on Ray workers, {restored} restored from the run-cache, 0 failed"
    )
    return 0


def _tracker_class():
    """A Ray actor counting the attempts each stage has started, so that the driver can tell
    running tasks from queued ones (and a retried task is still one stage)."""
    import ray

    @ray.remote(num_cpus=0)
    class Tracker:
        def __init__(self):
            self.started: dict[str, int] = {}

        def start(self, stage: str) -> int:
            self.started[stage] = self.started.get(stage, 0) + 1
            return self.started[stage]

        def snapshot(self) -> dict[str, int]:
            return dict(self.started)

    return Tracker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actbench.cluster", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "run", help="run the stale train and evaluate stages on Ray, then `dvc repro`"
    )
    p.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS"),
        help="an existing Ray cluster (default: RAY_ADDRESS, else a local instance)",
    )
    p.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of the local instance (default: all)"
    )
    p.add_argument(
        "--cpus-per-task",
        type=float,
        default=1,
        help="CPUs a task asks for where the cluster has no GPUs",
    )
    p.add_argument("--retries", type=int, default=2, help="retries of a task whose worker died")
    p.add_argument(
        "--remote",
        default=None,
        help="a DVC remote of this repository, for clusters without a shared file system",
    )
    p.add_argument(
        "--repo",
        default=None,
        help="where workers clone the repository from (default: this folder)",
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="where workers make their task folders (default: their temp folder)",
    )
    args = parser.parse_args(argv)
    try:
        import ray  # noqa: F401
    except ImportError:
        print(
            "actbench: cluster: error: Ray is not installed; install the `cluster` extra (it is in requirements/dev.lock)",
            file=sys.stderr,
        )
        return 2
    try:
        return run(args)
    except ActbenchError as err:
        print(f"actbench: cluster: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
