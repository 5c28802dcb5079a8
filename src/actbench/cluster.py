"""Run the benchmark's training stages (tune, train, evaluate) on a Ray cluster.

    python -m actbench.cluster run                        # a local Ray instance on this machine
    python -m actbench.cluster run --address HOST:6379    # an existing cluster (or RAY_ADDRESS)
    python -m actbench.cluster run --remote shared        # no shared file system: a DVC remote
    ACTBENCH_CHECKPOINTS=/shared/ckpt python -m actbench.cluster run   # retried runs resume

The driver (this process) walks the pipeline in the order of dvc.yaml:

1. Here: ``dvc repro`` of validate, download, ingest and preprocess (cheap, and they may need the network).
2. Ray wave 1: every stale tune stage (one point of the learning-rate grid each).
3. Here: the gather stage, from the points wave 1 made.
4. Ray wave 2: every stale select stage (it may train points beyond an edge of the grid).
5. Ray wave 3: every stale train stage, and every evaluate stage that is stale or whose train
   stage is (the runner-up ones included); an evaluate task starts once its train task has
   finished.
6. Here: the outputs of every task are checked out, then ``dvc repro`` runs compare and plot.
   ``dvc.lock`` and the workspace end as after a local ``dvc repro``; a second run finds nothing.

A task asks for one GPU where the cluster has GPUs (Ray sets ``CUDA_VISIBLE_DEVICES``), else
``--cpus-per-task`` CPUs. It clones the repository at this commit into a folder of its own,
writes this workspace's ``params.yaml`` and ``dvc.lock`` there, and then:

* **Gets exactly its stage's inputs**, the deps other stages write (the prepared arrays, its
  learning-rate selection, its model), by the hashes in that ``dvc.lock`` (an evaluate task's
  model by the lock entry its train task returned): ``dvc checkout`` from the DVC cache every
  node sees (this repository's cache by default: put it on shared storage with ``dvc cache dir``),
  or ``dvc pull`` from ``--remote``. An input that is in neither fails the task with one line
  naming it; nothing upstream runs in its place.
* **Runs ``dvc repro --single-item <stage>``**: that stage only, never the stages above it. DVC
  restores it from the run-cache if it can, else runs its command. With ``--remote`` it adds
  ``--pull``, then ``dvc push --run-cache <stage>`` publishes the outputs and run-cache entries.
* **Returns the stage's new ``dvc.lock`` entry.** The driver merges the entries into its own
  ``dvc.lock``, checks the outputs out from the cache (or pulls them), and ``dvc commit``s them
  (which writes their ``.gitignore`` lines and rewrites the entries, as ``dvc repro`` does). An
  output it cannot get is an error, never a reason to rerun the stage here: the driver itself
  runs only validate, download, ingest, preprocess, gather, compare and plot. (Restoring the
  tasks' stages with ``dvc repro`` here, from the run-cache, would train here whenever a restore
  failed.) DVC has no command that writes a given ``dvc.lock`` entry, so the merge edits the
  file in its documented format (``schema: '2.0'``,
  https://dvc.org/doc/user-guide/project-structure/dvcyaml-files#dvclock-file), checked against
  DVC 3.67.1; a lock of another schema is refused in one line (tests/test_cluster_dvc.py).

**Ran or restored, and how a stage ended, without reading DVC's console.** Every stage script
reports itself (``actbench.cli.run_stage``): with ``ACTBENCH_STAGE_LOG`` set, it appends its name
(``DVC_STAGE``, which DVC documents and sets for a stage's command) to that file as it starts, and
its exit status as it ends. A task and the driver's own ``dvc repro`` calls set it. A stage with
a line in the log ran; one without was restored from the run-cache. (A new run-cache entry is no
proof of a run: a deterministic rerun finds the entry it would write already there.) The status
is the stage's own, which ``dvc repro`` does not pass on (it exits 255 for any failure). A stage
script exits with 2 for a user error (bad params, bad data, a NaN loss), with its one line on
stderr: the task fails for good and that line is reported. A stage killed by a signal (the OOM
killer) logs its start only, and is retried like a task whose worker died (``--retries``), as
is one interrupted (130); any other status is a bug, reported with the last line of its
traceback and not retried. A retried train run resumes from its last epoch
when ``ACTBENCH_CHECKPOINTS`` points at shared storage (the driver passes it to every task),
else it starts over; its record says which (``resumed_from_epoch`` in ``metrics/train/<run>.json``).

It prints one progress line per wave, then ``cluster: N stages ran on Ray workers, M restored
from the run-cache, F failed``, and exits non-zero if any stage failed. Rerunning the same
command then runs only what failed: everything else is up to date or in the run-cache.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from actbench.cli import STAGE_LOG
from actbench.errors import ActbenchError

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
PR_SET_PDEATHSIG = 1
USER_ERROR = 2  # a stage's exit status for a problem the user fixes (actbench.cli.run_stage)
PASSED_ON = ("ACTBENCH_CHECKPOINTS",)  # the driver's settings every task gets
PREPARE = ("validate", "download", "ingest", "preprocess")  # run here, before any task
DRIVER_STAGES = (*PREPARE, "gather", "compare", "plot")  # every stage the driver may run itself
DVC = (sys.executable, "-m", "dvc")


def _die_with_parent() -> None:
    """In a child process: be killed when its parent dies, so that a killed task (or a killed
    DVC) leaves no training behind to race its retry. Ray's subreaper option is not used: it
    reaps the children DVC waits for, losing their status."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# What a `dvc repro` ran, and how each command ended: the stages' own log
# ---------------------------------------------------------------------------------------------


def _logged_env(folder: Path, env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """``env`` with ``ACTBENCH_STAGE_LOG`` pointing at a new log in ``folder``, and the log."""
    log = folder / "stages.jsonl"
    return {**env, STAGE_LOG: str(log)}, log


def _commands_run(log: Path) -> dict[str, int | None]:
    """{stage: exit status of its command} for every stage whose command ran; None for one that
    started and never ended (killed by a signal)."""
    if not log.is_file():
        return {}
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.strip())
    return {entry["stage"]: entry["status"] for entry in lines}


def _one_line(output: str) -> str:
    """The line that says why: a stage's own ``actbench: ...`` line, else DVC's ``ERROR:``."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for prefix in ("actbench:", "ERROR:"):
        found = [ln for ln in lines if ln.startswith(prefix)]
        if found:
            return found[0]
    return lines[-1] if lines else "no output"


# ---------------------------------------------------------------------------------------------
# dvc.lock entries: what a task hands back
# ---------------------------------------------------------------------------------------------


LOCK_SCHEMA = "2.0"  # dvc.lock's documented format since DVC 2.0; checked against DVC 3.67.1


def _lock_data(text: str, yaml) -> dict:
    """A ``dvc.lock`` ``text`` as data (an empty one as no stages); another schema is refused."""
    data = (yaml.load(text) if text.strip() else None) or {"schema": LOCK_SCHEMA, "stages": {}}
    if not isinstance(data, dict) or str(data.get("schema")) != LOCK_SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else None
        raise ActbenchError(
            f"dvc.lock has schema {schema!r}, not {LOCK_SCHEMA!r}, the one actbench.cluster "
            "merges (checked against DVC 3.67.1); run `dvc repro` without the cluster"
        )
    data.setdefault("stages", {})
    return data


def _lock_entry(text: str, stage: str) -> dict:
    from ruamel.yaml import YAML

    return _lock_data(text, YAML(typ="safe", pure=True))["stages"][stage]


def _lock_with(text: str, entries: dict[str, dict]) -> str:
    """The ``dvc.lock`` ``text`` with these stages' entries replaced or added (``dvc commit``
    rewrites them afterwards, in DVC's own words)."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: the other entries stay as DVC wrote them
    data = _lock_data(text, yaml)
    data["stages"].update(entries)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# A task: one stage on a Ray worker
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to produce one stage, in a clean clone of its own."""

    stage: str  # e.g. train@relu-digits-0
    repo: str  # a path or URL every node can clone
    commit: str
    params: str  # params.yaml of the driver's workspace
    lock: str  # dvc.lock of the driver's workspace: the hashes of the stage's inputs
    inputs: tuple[str, ...]  # the stage's deps that other stages write
    cache_dir: str | None  # the shared DVC cache, or None with a remote
    remote: tuple[str, str] | None  # (name, url) of the DVC remote, or None
    workdir: str | None  # where task folders go; a temporary folder of the node by default
    env: dict[str, str] = field(default_factory=dict)  # the driver's PASSED_ON settings


class StageFailed(Exception):
    """A stage failed for good (bad input, NaN, a bug): its one-line reason; never retried."""


class StageLost(Exception):
    """A stage's process was killed by a signal (out of memory, ...); Ray retries the task."""


def run_job(job: Job, tracker=None, *upstream: dict) -> dict:
    """The body of a Ray task: produce ``job.stage`` in a fresh clone and hand back its
    ``dvc.lock`` entry: ``{"stage", "outcome": "ran" | "restored", "seconds", "lock"}``.

    ``upstream`` are the results of the tasks whose outputs this stage reads (an evaluate task's
    train task): Ray starts this task only once they exist, and fails it with their error if
    one failed."""
    start = time.time()
    if tracker is not None:
        tracker.start.remote(job.stage)  # no wait: Ray would lend this task's CPU meanwhile
    bindir = str(Path(sys.executable).parent)
    base = {
        **os.environ,
        **job.env,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    task = Path(tempfile.mkdtemp(prefix="actbench-task-", dir=job.workdir))
    folder = task / "repo"
    env, log = _logged_env(task, base)

    def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(args, cwd=folder if folder.is_dir() else task, env=env,
                             capture_output=True, text=True,
                             preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # fmt: skip
        if check and res.returncode != 0:
            raise StageFailed(f"{job.stage}: {_one_line(res.stdout + res.stderr)}")
        return res

    try:
        sh("git", "clone", "--quiet", "--no-checkout", job.repo, str(folder))
        sh("git", "checkout", "--quiet", job.commit)
        (folder / "params.yaml").write_text(job.params)
        (folder / "dvc.lock").write_text(
            _lock_with(job.lock, {r["stage"]: r["lock"] for r in upstream})
        )
        _configure(sh, job.cache_dir, job.remote)
        _get_inputs(job, folder, sh)
        res = sh(*DVC, "repro", "--single-item", *(["--pull"] if job.remote else []), job.stage,
                 check=False)  # fmt: skip
        ran = _commands_run(log)
        if res.returncode != 0:
            raise _failure(job.stage, ran, res)
        if job.remote:
            sh(*DVC, "push", "--run-cache", job.stage)
        return {
            "stage": job.stage,
            "outcome": "ran" if job.stage in ran else "restored",
            "seconds": round(time.time() - start, 1),
            "lock": _lock_entry((folder / "dvc.lock").read_text(), job.stage),
        }
    finally:
        shutil.rmtree(task, ignore_errors=True)


def _configure(sh, cache_dir: str | None, remote: tuple[str, str] | None) -> None:
    """The clone's local DVC config (``dvc cache dir --local``, ``dvc remote add --local``): the
    shared cache, or the remote as its default."""
    if cache_dir:
        sh(*DVC, "cache", "dir", "--local", cache_dir)
    if remote:
        sh(*DVC, "remote", "add", "--local", "--default", "--force", *remote)


def _get_inputs(job: Job, folder: Path, sh) -> None:
    """Check out (or pull) exactly the stage's inputs; fail in one line if one is missing."""
    if not job.inputs:
        return
    get = ("pull", "--force") if job.remote else ("checkout", "--force")
    res = sh(*DVC, *get, *job.inputs, check=False)
    missing = [path for path in job.inputs if not (folder / path).exists()]
    if missing:
        where = f"DVC remote {job.remote[0]!r}" if job.remote else f"the DVC cache {job.cache_dir}"
        fix = "dvc push" if job.remote else "dvc commit"
        raise StageFailed(
            f"{job.stage}: its input {', '.join(missing)} is not in {where}, so nothing ran; "
            f"`{fix} {' '.join(missing)}` in the workspace that made it, then rerun"
        )
    if res.returncode != 0:
        raise StageFailed(f"{job.stage}: {_one_line(res.stdout + res.stderr)}")


def _failure(stage: str, ran: dict[str, int | None], res: subprocess.CompletedProcess) -> Exception:
    """What a failed ``dvc repro`` of ``stage`` means, from its command's log (``ran``)."""
    line = _one_line(res.stdout + res.stderr)
    if stage not in ran:
        return StageFailed(f"{stage}: `dvc repro` failed before the command ran: {line}")
    status = ran[stage]
    if status is None:  # started, never ended: SIGKILL (the OOM killer), SIGTERM
        return StageLost(f"{stage}: killed by a signal")
    if status == USER_ERROR:  # the stage's own one line
        return StageFailed(f"{stage}: {line}")
    if status > 128:  # 130: interrupted
        return StageLost(f"{stage}: killed by signal {status - 128}")
    said = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("ERROR:")]
    return StageFailed(f"{stage}: crashed (exit status {status}): {(said or [line])[-1].strip()}")


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(args, capture_output=True, text=True)
    if check and res.returncode != 0:
        shown = " ".join(("dvc", *args[len(DVC) :]) if args[: len(DVC)] == DVC else args)
        raise ActbenchError(f"`{shown}` failed: {_one_line(res.stdout + res.stderr)}")
    return res


def _repro_here(*args: str) -> list[str]:
    """``dvc repro ARGS`` in this workspace; the stages whose command ran (not those restored
    or up to date). A stage that fails raises its one line."""
    with tempfile.TemporaryDirectory(prefix="actbench-cluster-") as tmp:
        env, log = _logged_env(Path(tmp), dict(os.environ))
        res = subprocess.run([*DVC, "repro", *args], env=env, capture_output=True, text=True)
        ran = _commands_run(log)
    if res.returncode != 0:
        failed = [stage for stage, status in ran.items() if status != 0]  # None: killed
        line = _one_line(res.stdout + res.stderr)
        raise ActbenchError(f"{failed[0] if failed else '`dvc repro`'}: {line}")
    return list(ran)


def _cache_dir() -> str:
    """This workspace's DVC cache directory, absolute (``dvc cache dir`` prints it)."""
    return str(Path(_sh(*DVC, "cache", "dir").stdout.strip()).resolve())


def _check_params() -> None:
    """Refuse bad params before anything runs, with this workspace's own code (its plug-ins)."""
    check = (
        "import sys; sys.path.insert(0, 'src')\n"
        "from actbench import params\nfrom actbench.errors import ActbenchError\n"
        "try:\n    params.load('params.yaml')\n"
        f"except ActbenchError as err:\n    print(err, file=sys.stderr); sys.exit({USER_ERROR})\n"
    )
    res = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    if res.returncode == USER_ERROR:
        raise ActbenchError(res.stderr.strip())
    if res.returncode != 0:
        raise ActbenchError(f"cannot check params.yaml: {_one_line(res.stderr)}")


@dataclass
class Plan:
    """One wave: the stages for Ray, and for each the stages of the same wave it waits for."""

    stages: list[str]
    inputs: dict[str, tuple[str, ...]]
    waits_for: dict[str, list[str]]


def _plan(prefixes: tuple[str, ...], follow: bool = False) -> Plan:
    """The stale stages whose names start with ``prefixes``. With ``follow``, a stage that reads
    the outputs of a stale one is stale too (an evaluate stage of a stale train stage).

    ``dvc.repo.Repo`` is the object DVC's own commands run on (``dvc status`` is
    ``Repo.status``); DVC documents no other Python API for a pipeline's stages. Used here:
    ``index.stages`` (``addressing``, ``deps``/``outs`` with ``def_path``), ``status`` and
    ``config``, checked against DVC 3.67.1; tests/test_cluster.py fails when they change."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        stages = list(repo.index.stages)
        wanted = [s for s in stages if s.addressing.startswith(prefixes)]
        stale = set(repo.status(targets=[s.addressing for s in wanted])) if wanted else set()
    made_by = {PurePosixPath(out.def_path): s.addressing for s in stages for out in s.outs}
    inputs, producers = {}, {}
    for s in wanted:
        found = {}
        for dep in s.deps:
            path = PurePosixPath(dep.def_path)
            owner = next((made_by[p] for p in (path, *path.parents) if p in made_by), None)
            if owner is not None and owner != s.addressing:
                found[dep.def_path] = owner
        inputs[s.addressing] = tuple(found)
        producers[s.addressing] = set(found.values())
    names = [s.addressing for s in wanted]
    if follow:
        for name in names:  # dvc.yaml order: a train stage comes before its evaluate stage
            if producers[name] & stale:
                stale.add(name)
    to_run = [n for n in names if n in stale]
    waits = {n: sorted(producers[n] & set(to_run)) for n in to_run}
    return Plan(to_run, {n: inputs[n] for n in to_run}, waits)


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Cluster:
    """The Ray side of the driver: started when the first wave has work."""

    def __init__(self, args: argparse.Namespace, job: dict):
        self.args, self.job = args, job
        self.task = self.tracker = None

    def start(self) -> None:
        import ray

        os.environ.update(RAY_ENV)
        if self.args.address:
            ray.init(address=self.args.address, log_to_driver=False)
        else:  # a private instance here, even if `ray start` runs on this machine
            ray.init(address="local", num_cpus=self.args.num_cpus, include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
        gpus = ray.cluster_resources().get("GPU", 0)
        resources = (
            {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": self.args.cpus_per_task}
        )
        remote = ray.remote(max_retries=self.args.retries, retry_exceptions=[StageLost])
        self.task = remote(run_job).options(**resources)
        self.tracker = _tracker_class().remote()

    def stop(self) -> None:
        if self.task is not None:
            import ray

            ray.shutdown()

    def wave(self, plan: Plan) -> tuple[dict[str, dict], dict[str, str]]:
        """Run ``plan`` on Ray: ({stage: result} of those done, {stage: one line} of those failed)."""
        if not plan.stages:
            return {}, {}
        if self.task is None:
            self.start()
        import ray

        lock = Path("dvc.lock").read_text() if Path("dvc.lock").is_file() else ""
        refs: dict[str, object] = {}
        while len(refs) < len(plan.stages):  # each after the stages it waits for
            for name in plan.stages:
                if name not in refs and all(w in refs for w in plan.waits_for[name]):
                    job = Job(name, lock=lock, inputs=plan.inputs[name], **self.job)
                    refs[name] = self.task.remote(
                        job, self.tracker, *(refs[w] for w in plan.waits_for[name])
                    )
        done, failed = {}, {}
        pending = {ref: name for name, ref in refs.items()}
        start, last, tty = time.time(), "", sys.stdout.isatty()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                name = pending.pop(ref)
                try:
                    done[name] = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the task's own exception
                    cause = err.cause if isinstance(err.cause, StageFailed | StageLost) else None
                    failed[name] = str(cause) if cause else _one_line(str(err))
                except ray.exceptions.RayError as err:  # retries exhausted, node lost, ...
                    failed[name] = f"{name}: {type(err).__name__}: {_one_line(str(err))}"
            started = ray.get(self.tracker.snapshot.remote())
            running = sum(1 for n in pending.values() if n in started)
            finished = len(done) + len(failed)
            eta = (
                _eta((time.time() - start) / finished * len(pending))
                if finished and pending
                else "-"
            )
            line = f"cluster: {finished}/{len(refs)} done, {running} running, {len(failed)} failed, ETA {eta}"
            if line != last:
                print(f"\r{line}" if tty else line, end="" if tty else "\n", flush=True)
                last = line
        if tty:
            print()
        return done, failed


def _bring_here(done: dict[str, dict], remote: tuple[str, str] | None) -> None:
    """Put the tasks' outputs into this workspace and their entries into ``dvc.lock``."""
    if not done:
        return
    lock = Path("dvc.lock").read_text() if Path("dvc.lock").is_file() else ""
    Path("dvc.lock").write_text(_lock_with(lock, {n: r["lock"] for n, r in done.items()}))
    _sh(*DVC, "pull" if remote else "checkout", "--force", *done, check=False)
    missing = [out["path"] for r in done.values() for out in r["lock"].get("outs", [])
               if not Path(out["path"]).exists()]  # fmt: skip
    if missing:
        where = f"DVC remote {remote[0]!r}" if remote else "the DVC cache"
        raise ActbenchError(f"{', '.join(missing)} made on Ray workers are not in {where}")
    _sh(*DVC, "commit", "--force", *done)  # as `dvc repro` would: .gitignore lines, the lock


def run(args: argparse.Namespace) -> int:
    if not Path("dvc.yaml").is_file():
        raise ActbenchError("no dvc.yaml here; run from the repository root")
    _check_params()
    dirty = _sh("git", "status", "--porcelain", "--", "src", "stages", "dvc.yaml").stdout.strip()
    if dirty:
        raise ActbenchError("src/, stages/ or dvc.yaml have uncommitted changes; workers check out the "
                            "commit, so commit them first")  # fmt: skip
    commit = _sh("git", "rev-parse", "HEAD").stdout.strip()
    from dvc.repo import Repo

    with Repo(".") as repo:
        prep = [s.addressing for s in repo.index.stages if s.addressing.startswith(PREPARE)]
        remote = None
        if args.remote:
            conf = repo.config["remote"].get(args.remote)
            if conf is None:
                raise ActbenchError(f"no DVC remote {args.remote!r} here (see `dvc remote list`)")
            remote = (args.remote, str(conf["url"]))  # DVC resolves a relative path
    cache_dir = None if remote else _cache_dir()
    env = {k: str(Path(os.environ[k]).resolve()) for k in PASSED_ON if os.environ.get(k)}
    job = dict(repo=args.repo or str(Path.cwd()), commit=commit, params=Path("params.yaml").read_text(),
               cache_dir=cache_dir, remote=remote, workdir=args.workdir, env=env)  # fmt: skip
    unpushed = []  # what this driver made; with --remote, pushed before a wave needs it

    def wave(plan: Plan) -> tuple[dict[str, dict], dict[str, str]]:
        if remote and unpushed and plan.stages:
            _sh(*DVC, "push", "--run-cache", *unpushed)
            unpushed.clear()
        results, failed = cluster.wave(plan)
        _bring_here(results, remote)
        return results, failed

    print(
        "cluster: checking the params and preparing the data here (validate, download, ingest, preprocess)",
        flush=True,
    )
    if prep:
        _repro_here(*prep)
        unpushed += prep
    cluster = Cluster(args, job)
    try:
        tune = _plan(("tune",))
        print(f"cluster: {len(tune.stages)} stale tune stages for Ray workers", flush=True)
        done, failed = wave(tune)
        if not failed:
            ran = _repro_here("--single-item", "gather")
            shown = "ran here" if ran else "is up to date (or restored)"
            print(f"cluster: gather {shown}", flush=True)
            unpushed.append("gather")
            select = _plan(("select",))  # a select stage may train points beyond the grid
            print(f"cluster: {len(select.stages)} stale select stages for Ray workers", flush=True)
            results, failed = wave(select)
            done |= results
        if not failed:
            work = _plan(("train", "evaluate"), follow=True)
            print(f"cluster: {len(work.stages)} stale train and evaluate stages for Ray workers",
                  flush=True)  # fmt: skip
            results, failed = wave(work)
            done |= results
    finally:
        cluster.stop()

    ran = sum(1 for r in done.values() if r["outcome"] == "ran")
    summary = (f"cluster: {ran} stages ran on Ray workers, {len(done) - ran} restored from the "
               f"run-cache, {len(failed)} failed")  # fmt: skip
    if failed:
        for name, line in sorted(failed.items()):  # an evaluate names the train it waited for
            shown = line if line.startswith(name) else f"{name}: {line}"
            print(f"actbench: cluster: error: {shown}", file=sys.stderr)
        print(summary)
        print("cluster: fix the cause, then rerun `python -m actbench.cluster run`: only the failed stages "
              "run again (the others are in the run-cache)", file=sys.stderr)  # fmt: skip
        return 1
    with Repo(".") as repo:
        stale = list(repo.status())
    trained = [name for name in stale if not name.startswith(DRIVER_STAGES)]
    if trained:  # never train here: that is what the cluster is for
        raise ActbenchError(f"{', '.join(trained)} still stale after the Ray waves; nothing was "
                            "trained here; rerun `python -m actbench.cluster run`")  # fmt: skip
    ran_here = _repro_here()
    print(f"cluster: final `dvc repro` here ran {', '.join(ran_here) or 'nothing'}")
    print(summary)
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
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m actbench.cluster", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "run", help="run the stale tune, train and evaluate stages on Ray, then `dvc repro`"
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
    p.add_argument(
        "--retries", type=int, default=2, help="retries of a task whose worker or process died"
    )
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
