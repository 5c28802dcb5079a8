"""GPU check: what the full profile costs on one GPU, and what it reaches, in under 9 minutes.

    tools/device_check.sh                        # on the GPU machine: installs .gpu/, runs this
    python tools/gpu_check.py --budget-s 480     # the same, where Keras is installed
    python tools/gpu_check.py --smoke            # every phase at tiny sizes on a CPU (CI)

Runs on whichever Keras backend is installed: TensorFlow, or JAX (KERAS_BACKEND=jax). Outside
--smoke, a missing data source or a backend without a GPU is an error (one line, exit 2).
The phases, in the order of what matters most, each timed and printed, the JSON (--out)
rewritten when a phase starts, before each of its models or runs, and when it ends:

1. ``matmul_peak``: the device's dense matmul throughput in the training precision (bfloat16
   on a GPU), the MFU denominator (``actbench.benchmark.matmul_peak``).
2. ``throughput``: training images/s of the full-profile model (ResNet-18 width 64, batch
   512, the recipe's precision and XLA) for relu, tanhrelu, elu and swish. Steps run through
   each model's own compiled ``fit`` with no host sync between them, timed per epoch of a
   repeated batch; the median of interleaved rounds. Per activation: the step time as a ratio
   to ReLU's, MFU, the compile time, and the device memory of its compiled train step with its
   ratio to ReLU's (``MEMORY_NOTE``: per activation, whatever else the process holds).
3. ``data``: CIFAR-10 as an image folder (``--data``: a folder, or the 60,000-image JPEG
   archive ``.gpu/cifar10-jpeg-full.tar.gz``) through the ingest and preprocess stages'
   functions, into a temporary working directory, in a second process started before phase 1.
4. ``recipe_relu``, ``recipe_tanhrelu``: the library's own run life (``loop.train``, then
   ``evaluation.evaluate``: what the DVC train and evaluate stages call) with ``profile: full``
   and its params, seed 0. The epoch count is the profile's (40) if phase 2's throughput and
   compile times let both runs finish in the budget, else the most that does, stated in the
   JSON. Test accuracy, per-epoch curves, wall and compile time, images/s inside the loop.
5. ``throughput_learnable``: phase 2 for every learnable plug-in, in rounds with relu again.
6. ``recipe_elu``, ``recipe_swish``: with the same epoch count, each while it fits.

The deadline. ``--budget-s`` counts from the process's start, and the process ends within it
whatever runs (``Budget``); the last ``margin`` of it (15 s, at most a fifth) is kept free of
planned work. (1) A phase, and each model or run in it, starts only if its estimated seconds,
compiling included, fit before that margin: estimated from what ran so far, or before anything
ran from a conservative default (``Sizes.matmul_s``, ``Sizes.first_model_s``); else it is
skipped, with the reason. (2) At the margin, SIGALRM stops the model or run in flight
(re-armed for every one, and raised again every second while it runs on). (3) A signal cannot
interrupt a native call (an XLA compile), so a watchdog process kills the check 1 s before the
budget's end, after marking the phase in flight stopped in the JSON. Since the JSON is written
when a phase starts and before each of its models or runs, a kill loses at most the one in
flight. tools/device_check.sh sets its outer ``timeout`` from the same budget (that script says
how). Exit status: 0 when every phase ran or was skipped for time, 1 when one failed or was
stopped, 137 when the watchdog killed the check, 2 for an error before the first phase (a
message of one line).

``--precision`` overrides the recipe's ``mixed_precision`` (``auto``: bfloat16 on a GPU,
float32 on a CPU), e.g. ``--smoke --precision bfloat16`` for a CPU dry run of the GPU's
precision. The CPU workaround: with JAX 0.11.2 on a CPU, bfloat16 training diverges at once
(NaN loss in the first epoch: the recipe phases fail) through the fusions of XLA's CPU backend
(YNNPACK); ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` (empty: none of them) avoids
it, and JAX 0.10.2 does not need it. The flag is for CPUs only: XLA's GPU backend ignores it,
and a GPU run is set no such flag (whether bfloat16 trains there, its recipe phases show).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

STARTED = time.monotonic()  # the budget counts from here: the process's start, near enough
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from actbench.errors import ActbenchError  # noqa: E402  (light: no Keras)

ARCHIVE = ROOT / ".gpu" / "cifar10-jpeg-full.tar.gz"  # make gpu-bundle puts it there
SHARED_FOLDER = ROOT.parent / "shared" / "data" / "cifar10-jpeg"  # 12,000 images, this machine only
DATASET = "cifar10_jpeg"  # the folder dataset's key in data.folders (a built-in name cannot be one)
IMAGE_SIZE = (32, 32)
MEASURED = ("relu", "tanhrelu", "elu", "swish")  # phase 2; the learnable plug-ins: phase 5
RECIPE = ("relu", "tanhrelu", "elu", "swish")  # trained in this order while time remains
PAIRED = 2  # the first RECIPE runs share one epoch count, sized so that both fit
SEED = 0
MARGIN_S = 15.0  # the budget's end kept free of planned work (at most a fifth of the budget)
KILL_LEAD_S = 1.0  # the watchdog ends the process this long before the budget's end
# How a recipe run's seconds are estimated from phase 2 (later runs: from the first run's):
SAFETY = 1.15  # x every estimate
VAL_SPEEDUP = 3.0  # inference images/s per training images/s (forward only: ~1/3 of the FLOPs)
EPOCH_FIXED_S = 1.0  # per epoch: the checkpoint (weights and optimizer slots, fsynced), host work
RUN_COMPILES = 1.6  # a run's compiling / phase 2's: train step, validation, evaluation
RUN_FIXED_S = 20.0  # per run: model build, the saved model, the evaluate stage's diagnostics
MIN_RECIPE_EPOCHS = 5  # phase 2 leaves time for the first runs to train at least this long


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What ``--smoke`` shrinks; ``None`` keeps the full profile's value."""

    width: int | None
    batch_size: int | None
    epochs: int | None  # the recipe's epoch cap
    steps: int  # optimizer steps per timed throughput epoch
    rounds: int  # interleaved throughput rounds
    warmup: int  # throughput epochs before the rounds (the first compiles)
    matmul_n: int
    products: int  # matmuls per timed call
    per_class: tuple[int, int] | None  # (train, test) images per class taken from the folder
    recipe: tuple[str, ...]
    # Conservative estimates (s) before anything was measured: the matmul phase (its compiles
    # included), and the first throughput model (build, the first compiles, warm-up, memory).
    matmul_s: float
    first_model_s: float


GPU = Sizes(None, None, None, steps=40, rounds=5, warmup=2, matmul_n=8192, products=8,
            per_class=None, recipe=RECIPE, matmul_s=30.0, first_model_s=180.0)  # fmt: skip
SMOKE = Sizes(4, 32, 2, steps=3, rounds=2, warmup=2, matmul_n=512, products=4,
              per_class=(40, 10), recipe=RECIPE[:PAIRED], matmul_s=5.0, first_model_s=20.0)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The deadline and the report
# ---------------------------------------------------------------------------------------------


class Skip(Exception):
    """A phase (or a model, or a run) that will not run, and why."""


class Deadline(BaseException):  # not an Exception: no library handler may swallow it
    """The --budget-s deadline's margin was reached while a model or a run was in flight."""


class Budget:
    """``seconds`` from ``start`` (monotonic; default now); the module docstring's deadline.

    ``stop_at``: the end less the margin, when planned work must be done and SIGALRM stops a
    ``unit``; ``kill_at``: when the ``watch`` process ends this one.
    """

    def __init__(self, seconds: float, start: float | None = None):
        self.seconds, self.start = seconds, time.monotonic() if start is None else start
        self.end = self.start + seconds
        self.margin = min(MARGIN_S, seconds / 5)
        self.stop_at = self.end - self.margin  # planned work done; SIGALRM
        self.kill_at = self.end - min(KILL_LEAD_S, self.margin / 2)  # the watchdog
        self.doing: str | None = None  # the unit in flight

    def left(self) -> float:
        """Seconds until the end of the budget (negative after it)."""
        return self.end - time.monotonic()

    def require(self, seconds: float, what: str) -> None:
        """Skip ``what`` unless its estimated ``seconds`` fit before the margin."""
        if seconds > self.stop_at - time.monotonic():
            raise Skip(
                f"{what} needs about {seconds:.0f} s; {max(self.left(), 0):.0f} s of the "
                f"{self.seconds:.0f} s budget are left, {self.margin:.0f} s of them kept free"
            )

    def _passed(self, signum, frame) -> None:
        if self.doing is not None:  # never outside a unit (its clean-up)
            raise Deadline(
                f"the {self.seconds:.0f} s budget (--budget-s) ran out during {self.doing}"
            )

    @contextlib.contextmanager
    def unit(self, what: str, need_s: float) -> Iterator[None]:
        """Run one unit of work (a model, a run) if its estimated ``need_s`` fit (else Skip);
        SIGALRM raises Deadline in it at ``stop_at``, and every second after until it ends."""
        self.require(need_s, what)
        previous = signal.signal(signal.SIGALRM, self._passed)
        self.doing = what
        signal.setitimer(signal.ITIMER_REAL, max(self.stop_at - time.monotonic(), 0.001), 1.0)
        try:
            yield
        finally:
            self.doing = None
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def watch(self, report: Path, workdir: Path | None = None) -> Callable[[], None]:
        """Start the watchdog process (``watchdog``) for this process, its JSON at ``report``;
        the function that ends the watchdog (the check ended in time)."""
        args = {"parent": os.getpid(), "start": self.start, "kill_at": self.kill_at,
                "seconds": self.seconds, "report": str(report),
                "workdir": workdir and str(workdir)}  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, __file__, WATCHDOG, json.dumps(args)], stdin=subprocess.PIPE
        )

        def stop() -> None:
            child.stdin.close()  # its end-of-file: stop watching
            child.wait()

        return stop


WATCHDOG = "--watchdog"  # the hidden first argument of the watchdog process


def watchdog(parent: int, start: float, kill_at: float, seconds: float, report: str, workdir):
    """The watchdog process. A thread of the check could not do this: a native call may hold
    the GIL. At ``kill_at`` (CLOCK_MONOTONIC, one clock for every process), unless its stdin
    reached its end first (the check ended, or died), it freezes the check (SIGSTOP: no more
    writes), marks the running phase of its JSON stopped, kills it (SIGKILL: exit status 137)
    and removes its working directory."""
    import select

    while (wait := kill_at - time.monotonic()) > 0:
        if select.select([sys.stdin], [], [], wait)[0]:
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(parent, signal.SIGSTOP)
    elapsed = time.monotonic() - start
    reason = (
        f"the {seconds:.0f} s budget (--budget-s) ran out and the alarm could not stop the "
        "work in flight (a native call, such as an XLA compile): the watchdog killed the check"
    )
    with contextlib.suppress(OSError, ValueError, KeyError):
        from actbench.io import read_json, write_json

        data = read_json(report)
        for entry in data["phases"].values():
            if entry["status"] == "running":
                since, unit = entry.pop("started_s", elapsed), entry.pop("in_flight", None)
                reason += f", during {unit}" if unit else ""
                entry.update(status="stopped", reason=reason, seconds=round(elapsed - since, 1))
        write_json(report, data | {"stopped": reason, "seconds": round(elapsed, 1)})
    with contextlib.suppress(ProcessLookupError):
        os.kill(parent, signal.SIGKILL)
    print(f"gpu_check: {reason}", flush=True)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Report:
    """The JSON at ``path``, rewritten whole (atomically) as the check goes."""

    def __init__(self, path: Path, data: dict, budget: Budget):
        self.path, self.data, self.budget = path, {**data, "phases": {}}, budget

    def write(self) -> None:
        from actbench.io import write_json

        write_json(self.path, _finite(self.data))

    @contextlib.contextmanager
    def unit(self, what: str, need_s: float) -> Iterator[None]:
        """``Budget.unit`` in the running phase, the JSON written first, naming it (in_flight)."""
        self.budget.require(need_s, what)
        entry = next(e for e in self.data["phases"].values() if e["status"] == "running")
        entry["in_flight"] = what
        self.write()
        try:
            with self.budget.unit(what, need_s):
                yield
        finally:
            del entry["in_flight"]

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[dict]:
        """Run one phase: its entry (status, seconds, reason) is recorded and the JSON written
        when it starts and whatever happens in it; a failure is reported, not raised, so the
        next phases run. Every phase's work checks the budget first (a unit, or a bounded wait)."""
        start = time.monotonic()
        entry = {"status": "running", "started_s": round(start - self.budget.start, 1)}
        self.data["phases"][name] = entry  # started_s: for the watchdog, while it runs
        self.write()
        print(f"gpu_check: {name} ...", flush=True)
        try:
            yield entry
            entry["status"] = "done"
        except Skip as why:
            entry.update(status="skipped", reason=str(why))
        except Deadline as why:
            entry.update(status="stopped", reason=str(why))
        except Exception as err:
            traceback.print_exc()
            entry.update(status="failed", reason=f"{type(err).__name__}: {err}".splitlines()[0])
        del entry["started_s"]
        entry["seconds"] = round(time.monotonic() - start, 1)
        self.write()
        why = f": {entry['reason']}" if "reason" in entry else ""
        print(f"gpu_check: {name} {entry['status']} in {entry['seconds']} s{why}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data (a second process: the ingest and preprocess stages' functions)
# ---------------------------------------------------------------------------------------------


def _unpack(archive: Path, dest: Path, per_class: tuple[int, int] | None) -> Path:
    """Extract ``archive`` into ``dest`` (only the first ``per_class`` images of each split's
    classes, in archive order, when given); the image folder's root (the one with train/)."""
    taken: dict[tuple[str, ...], int] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if per_class and member.isfile() and len(parts) >= 3:
                key = (parts[-3], parts[-2])  # (split, class)
                limit = per_class[1] if key[0] == "test" else per_class[0]
                if taken.get(key, 0) >= limit:
                    continue
                taken[key] = taken.get(key, 0) + 1
            tar.extract(member, dest, filter="data")
    found = [p.parent for p in dest.rglob("train") if p.is_dir()]
    if not found:
        raise ActbenchError(f"{archive} holds no train/ folder")
    return min(found, key=lambda p: len(p.parts))


def _subset(folder: Path, dest: Path, per_class: tuple[int, int]) -> Path:
    """A copy of the first ``per_class`` images (by name) of every class of ``folder``'s
    train/ and test/: a stratified subset, since every class gets the same count."""
    for split, n in zip(("train", "test"), per_class, strict=True):
        for cls in sorted(p for p in (folder / split).iterdir() if p.is_dir()):
            (dest / split / cls.name).mkdir(parents=True)
            for image in sorted(p for p in cls.iterdir() if p.is_file())[:n]:
                shutil.copy(image, dest / split / cls.name / image.name)
    return dest


def prepare_data(source: str, workdir: str, per_class, data_params: dict, result: str) -> None:
    """In ``workdir``: the images of ``source`` (a folder or a .tar.gz) -> the ingest stage's
    ``data/raw/<DATASET>/ingested.npz`` -> the preprocess stage's ``data/prepared/<DATASET>.npz``.
    Writes ``result`` (JSON): the split counts and the seconds of each step, or the error."""
    import ctypes

    from actbench.data import folders, prepared, raw, splits

    with contextlib.suppress(OSError, AttributeError):  # killed with the check (Linux)
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.chdir(workdir)
    seconds, last = {}, time.perf_counter()

    def lap(step: str) -> None:
        nonlocal last
        seconds[step], last = round(time.perf_counter() - last, 1), time.perf_counter()

    try:
        src = Path(source)
        if src.is_file():
            folder = _unpack(src, Path("images"), per_class)
        else:
            folder = _subset(src, Path("images"), per_class) if per_class else src
        lap("unpack")
        arrays = folders.read_folder(str(folder), IMAGE_SIZE, "rgb", Path.cwd(), skip_bad=False)
        raw_dir = Path("data/raw") / DATASET
        folders.save_ingested(raw_dir / "ingested.npz", arrays)
        lap("ingest")
        arrays = splits.prepare(raw.load_raw(DATASET, raw_dir), train_size=None, **data_params)
        prepared.save(prepared.path_of(DATASET), arrays)
        lap("preprocess")
        out = {"counts": splits.counts(arrays), "seconds": seconds}
    except Exception as err:  # reported by the data phase
        out = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
    Path(result).write_text(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Planning the recipe runs
# ---------------------------------------------------------------------------------------------


def run_seconds(epochs: int, cost: dict) -> float:
    """Estimated seconds of one recipe run of ``epochs`` epochs: ``cost`` holds its fixed part
    (``overhead_s``) and its seconds per epoch (``epoch_s``)."""
    return cost["overhead_s"] + epochs * cost["epoch_s"]


def plan_epochs(left_s: float, costs: list[dict], cap: int) -> int:
    """The most epochs, at most ``cap``, with which every run of ``costs`` fits in ``left_s``."""
    usable = left_s - sum(c["overhead_s"] for c in costs)
    per_epoch = sum(c["epoch_s"] for c in costs)
    return max(0, min(cap, math.floor(usable / per_epoch))) if per_epoch > 0 else cap


def estimated_cost(measured: dict, train_images: int, val_images: int) -> dict:
    """A recipe run's cost from the throughput phase's ``measured`` images/s and compile time."""
    ips = measured["images_per_s"]
    epoch = train_images / ips + val_images / (VAL_SPEEDUP * ips)
    return {
        "epoch_s": SAFETY * epoch + EPOCH_FIXED_S,
        "overhead_s": SAFETY * RUN_COMPILES * measured["compile_s"] + RUN_FIXED_S,
    }


def expected_split(sizes: Sizes, val_size: float) -> tuple[int, int]:
    """Training and validation images the data phase will make (CIFAR-10: 50,000 for training)."""
    images = sizes.per_class[0] * 10 if sizes.per_class else 50_000
    return round(images * (1 - val_size)), round(images * val_size)


def recipe_reserve(warm: dict, images_per_epoch: int, split: tuple[int, int]) -> float:
    """Seconds to keep for the first recipe runs at MIN_RECIPE_EPOCHS, from one warmed-up
    throughput model (``warm``: its first and later epoch seconds)."""
    measured = {"images_per_s": images_per_epoch / warm["epoch_s"],
                "compile_s": max(warm["first_s"] - warm["epoch_s"], 0.0)}  # fmt: skip
    return PAIRED * run_seconds(MIN_RECIPE_EPOCHS, estimated_cost(measured, *split))


def calibrated_cost(first: dict, measured: dict, reference: dict) -> dict:
    """A later run's cost from the first run's real one (``first``: its epoch and fixed
    seconds), scaled by the two activations' throughput and compile times (``measured`` vs
    ``reference``, phase 2)."""
    speed = reference["images_per_s"] / measured["images_per_s"]
    compile_ratio = measured["compile_s"] / max(reference["compile_s"], 1e-9)
    return {
        "epoch_s": SAFETY * first["epoch_s"] * speed,
        "overhead_s": SAFETY * first["overhead_s"] * max(compile_ratio, 1.0),
    }


# ---------------------------------------------------------------------------------------------
# The phases
# ---------------------------------------------------------------------------------------------


def _spec(activation: str):
    """The one place a run is named: the check's runs are seed SEED of DATASET."""
    from actbench.runs import RunSpec

    return RunSpec(activation, DATASET, SEED)


def _train_run(spec, params, started: float) -> dict:
    """The train stage's call, at the profile's own learning rate (multiplier 1: the tuning
    grid does not fit this check)."""
    from actbench import tuning
    from actbench.training import loop

    return loop.train(spec, params, started, {"lr_multiplier": 1.0, "protocol": tuning.SHARED})


def check_params(
    sizes: Sizes, folder: str, epochs: int | None = None, precision: str | None = None
):
    """The full profile's params for the check's folder dataset: flips on (as for CIFAR-10),
    ``sizes`` applied, ``epochs`` and ``precision`` (train.mixed_precision) when given;
    validated like params.yaml."""
    from actbench import params as params_lib

    raw = params_lib.read_yaml(ROOT / "params.yaml")
    full = raw["profiles"]["full"]
    for key, value in (("width", sizes.width), ("batch_size", sizes.batch_size),
                       ("epochs", epochs or sizes.epochs)):  # fmt: skip
        if value is not None:
            full[key] = value
    full["min_steps"] = 0  # the epoch count is this check's to set
    raw.update(profile="full", datasets=[DATASET], seeds=list(range(full["min_seeds"])))
    raw["data"]["folders"] = {DATASET: {"path": folder, "image_size": list(IMAGE_SIZE),
                                        "color": "rgb"}}  # fmt: skip
    raw["train"]["hflip"] = [*raw["train"]["hflip"], DATASET]
    if precision:
        raw["train"]["mixed_precision"] = precision
    return params_lib.parse(raw, source="params.yaml (profile full, gpu_check)")


def measured_activations(chosen: str | None, smoke: bool) -> tuple[list[str], list[str]]:
    """The throughput phases' activations: the study's (relu first: the reference), and the
    learnable plug-ins. ``--smoke``: relu and tanhrelu, and prelu (or the first learnable one):
    each costs a CPU one more compile."""
    from actbench import activations

    def learnable_(name: str) -> bool:
        try:
            return activations.is_learnable(name)
        except ValueError:  # a plug-in that binds nothing: the registry's error, at training
            return False

    names = activations.modules()
    learnable = [n for n in names if learnable_(n)]
    if chosen:
        picked = list(dict.fromkeys(n.strip() for n in chosen.split(",") if n.strip()))
        if "relu" not in picked or any(n not in names for n in picked):
            raise ActbenchError(
                f"--activations {chosen!r}: must include relu (the reference) and only "
                f"registered names ({', '.join(names)})"
            )
        ordered = ["relu", *(n for n in picked if n != "relu")]
        return [n for n in ordered if n not in learnable], [n for n in ordered if n in learnable]
    if smoke:
        return list(MEASURED[:PAIRED]), sorted(learnable, key=lambda n: n != "prelu")[:1]
    return [n for n in MEASURED if n in names], [n for n in learnable if n not in MEASURED]


def phase_matmul(report: Report, sizes: Sizes, precision: str) -> float:
    from actbench import benchmark

    dtype = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(precision, "float32")
    rounds = 3 if sizes is SMOKE else 10
    with report.unit("the matmul peak", sizes.matmul_s):
        peak = benchmark.matmul_peak(
            n=sizes.matmul_n, rounds=rounds, dtype=dtype, products=sizes.products
        )
    report.data["matmul_peak"] = {
        "tflops": round(peak / 1e12, 3), "n": sizes.matmul_n, "dtype": dtype,
        "products_per_call": sizes.products, "rounds": rounds,
        "method": "chained (n, n) products, operands as arguments, waited for on the device, median",
    }  # fmt: skip
    print(f"gpu_check: {sizes.matmul_n}^2 {dtype} matmul: {peak / 1e12:.2f} TFLOP/s", flush=True)
    return peak


class Throughput:
    """Compiled full-profile models, warmed up one by one, then timed together in interleaved
    rounds of one epoch each (the throughput phases)."""

    def __init__(self, sizes: Sizes, params, peak: float | None):
        import numpy as np

        from actbench import benchmark
        from actbench.training import device
        from actbench.training.pipeline import Batches, cutout_pixels, padding_pixels

        prof, t = params.active_profile, params.train
        self.sizes, self.peak, self.batch = sizes, peak, prof.batch_size
        # JAX dispatches fit's steps asynchronously; TensorFlow must run them in one call.
        self.spe = sizes.steps if device.backend() == "tensorflow" else 1
        self.params = params.model_copy(
            update={"train": t.model_copy(update={"steps_per_execution": self.spe})}
        )
        self.jit = device.resolve_jit(t.jit_compile)
        self.precision = device.resolve_precision(t.mixed_precision)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (self.batch, *IMAGE_SIZE, 3), dtype=np.uint8)  # (B, 32, 32, 3)
        labels = np.arange(self.batch) % 10
        # CIFAR-10's crops, flips and the profile's cutout and padding, as the recipe trains
        self.pad = padding_pixels(IMAGE_SIZE[0], t.crop_padding)
        self.cutout = cutout_pixels(IMAGE_SIZE[0], prof.cutout)
        self.reflect = prof.pad_mode == "reflect"
        draws = Batches(x, labels, 10, self.batch, 0, pad=self.pad, flip=True, cutout=self.cutout)[
            0
        ][0][1]  # (B, 5)
        self.one_batch = ((x, draws), np.eye(10, dtype="float32")[labels])
        self.data = benchmark.RepeatedBatch(self.one_batch, sizes.steps)
        self.models: dict = {}
        self.warm: dict[str, dict] = {}  # per model: seconds (add, epochs), step memory

    def describe(self) -> dict:
        return {
            "batch_size": self.batch, "width": self.params.active_profile.width,
            "precision": self.precision, "xla": self.jit, "steps_per_timed_epoch": self.sizes.steps,
            "steps_per_execution": self.spe, "rounds": self.sizes.rounds,
            "method": "each model's own fit over a repeated batch, one device wait per epoch; "
                      "median of interleaved rounds",
        }  # fmt: skip

    def need_s(self) -> float:
        """Estimated seconds to add one more model (``add``): the slowest so far (the first,
        with the process's first compiles), or the default before any; compiling included."""
        if not self.warm:
            return self.sizes.first_model_s
        return SAFETY * max(w["add_s"] for w in self.warm.values())

    def measure_s(self, names: list[str]) -> float:
        """Estimated seconds of ``measure(names)``: its rounds of one warm epoch per model."""
        return SAFETY * self.sizes.rounds * sum(self.warm[n]["epoch_s"] for n in names) + 1.0

    def add(self, name: str) -> None:
        """Build, compile and warm up the model of activation ``name``; its step's memory."""
        import keras
        import numpy as np

        from actbench import benchmark
        from actbench.training import loop

        start = time.perf_counter()
        keras.config.set_dtype_policy(self.precision)  # the recipe's (bfloat16 on a GPU)
        model, _ = loop.build_model((*IMAGE_SIZE, 3), 10, name, self.params.active_profile.width,
                                    pad=self.pad, flip=True, cutout=self.cutout, reflect=self.reflect)  # fmt: skip
        steps = self.sizes.steps
        loop.compile_model(
            model, self.params, loop.schedule(self.params, steps, 1), steps, self.jit
        )
        epochs = benchmark.fit_epochs(model, self.data, self.sizes.warmup)
        analysed = time.perf_counter()
        memory = benchmark.step_memory(model, self.one_batch)  # for every model: MEMORY_NOTE
        self.models[name], self.warm[name] = model, {
            "first_s": epochs[0], "epoch_s": float(np.median(epochs[1:] or epochs)),
            "memory_analysis_s": time.perf_counter() - analysed,
            "add_s": time.perf_counter() - start, "memory": memory,
        }  # fmt: skip
        print(f"gpu_check: {name}: first epoch {epochs[0]:.1f} s (compiles), added in "
              f"{self.warm[name]['add_s']:.1f} s", flush=True)  # fmt: skip

    def warm_entry(self, name: str) -> dict:
        """``name``'s warm-up, as reported before the timed rounds (partial results)."""
        w, ref = self.warm[name], self.warm.get("relu", {}).get("memory")
        return {
            "seconds_to_add": round(w["add_s"], 1), "first_epoch_s": round(w["first_s"], 2),
            "epoch_s": round(w["epoch_s"], 3),
            "images_per_s": round(self.batch * self.sizes.steps / w["epoch_s"], 1),
            "step_memory_bytes": w["memory"], "step_memory_ratio_to_relu": _ratio(w["memory"], ref),
            "memory_analysis_s": round(w["memory_analysis_s"], 2),
        }  # fmt: skip

    def measure(self, names: list[str]) -> tuple[dict, dict]:
        """Interleaved rounds of ``names`` (relu first); the report's entries, and per name what
        the recipe planning needs (images/s, compile seconds)."""
        import numpy as np

        from actbench import benchmark

        samples = benchmark.fit_throughput(
            {n: self.models[n] for n in names}, self.data, self.sizes.rounds
        )
        flops = benchmark.training_flops_per_image(self.models["relu"])
        medians = {n: float(np.median(v)) for n, v in samples.items()}
        entries, planning = {}, {}
        for name, seconds in medians.items():
            warm, ref_memory = self.warm[name], self.warm["relu"]["memory"]
            ips = self.batch * self.sizes.steps / seconds
            compile_s = max(warm["first_s"] - seconds, 0.0)
            planning[name] = {"images_per_s": ips, "compile_s": compile_s}
            entries[name] = {
                "images_per_s": round(ips, 1), "step_ms": round(1e3 * seconds / self.sizes.steps, 3),
                "step_time_ratio_to_relu": round(seconds / medians["relu"], 3),
                "spread": round((max(samples[name]) - min(samples[name])) / seconds, 3),
                "mfu": round(ips * flops / self.peak, 4) if self.peak else None,
                "compile_s": round(compile_s, 1), "step_memory_bytes": warm["memory"],
                "step_memory_ratio_to_relu": _ratio(warm["memory"], ref_memory),
            }  # fmt: skip
            memory = warm["memory"]
            total = f"{memory['total'] / 2**20:.1f} MiB" if memory else "n/a"
            mfu = f"{ips * flops / self.peak:.1%}" if self.peak else "n/a"
            print(
                f"gpu_check: {name:10} {ips:9.0f} images/s, {seconds / medians['relu']:.3f}x "
                f"relu's step, MFU {mfu}, step memory {total}",
                flush=True,
            )
        return {"training_gflop_per_image": round(flops / 1e9, 3), "activations": entries}, planning


MEMORY_NOTE = (
    "step_memory_bytes, per activation: XLA's buffer plan of that activation's compiled train "
    "step (JAX: jax.jit(model.train_step).lower(state, batch).compile().memory_analysis(), the "
    "program fit runs, normally found in JAX's compilation cache: memory_analysis_s in warmup "
    "says what it cost): arguments (weights, optimizer slots, "
    "the batch), temporaries (what the backward pass keeps, where activations differ) and "
    "outputs, and their total, the step's peak. A property of the compiled program, it does not "
    "depend on what else the process holds (tests/test_gpu_check.py checks that); "
    "step_memory_ratio_to_relu: totals. Null where the backend does not report it (TensorFlow). "
    "process_peak_bytes_in_use: the GPU allocator's peak for the whole process, every model of "
    "the check alive: not per activation"
)


def _ratio(memory: dict | None, reference: dict | None) -> float | None:
    """``memory``'s total over ``reference``'s (step_memory's dicts), where both are known."""
    return round(memory["total"] / reference["total"], 3) if memory and reference else None


def _process_peak() -> int | None:
    """The GPU's peak bytes in use by this process so far (JAX on a GPU), else None."""
    from actbench.training import device

    if device.backend() != "jax" or not device.gpus():
        return None
    import jax

    return (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")


def phase_throughput(
    report: Report, key: str, bench: Throughput, names: list[str], reserve_s
) -> dict:
    """Add and time ``names`` (relu first, always: the reference, without which the phase is
    skipped). Each model is a budget unit, started only if it fits with ``reserve_s()`` seconds
    to spare for what follows; the JSON is written after each (``report.data[key]``, its
    ``warmup``). Returns the planning numbers."""
    section = report.data[key] = {**bench.describe(), "memory_note": MEMORY_NOTE, "warmup": {}}
    added = []
    for name in names:
        if name in bench.models:
            continue
        reserve = reserve_s() if bench.models else 0.0
        what = f"the throughput model of {name}"
        what += f" ({reserve:.0f} s of it kept for the recipe runs)" if reserve else ""
        try:
            with report.unit(what, bench.need_s() + reserve):
                bench.add(name)
        except Skip as why:
            if "relu" not in bench.models:
                raise
            section.setdefault("skipped", {})[name] = str(why)
            print(f"gpu_check: throughput of {name} skipped: {why}", flush=True)
            continue
        section["warmup"][name] = bench.warm_entry(name)
        report.write()
        added.append(name)
    if not added:
        raise Skip(f"no activation fits: {section.get('skipped')}")
    timed = [n for n in names if n in bench.models]
    with report.unit(f"the timed rounds of {', '.join(timed)}", bench.measure_s(timed)):
        entries, planning = bench.measure(timed)
    section.update(entries, process_peak_bytes_in_use=_process_peak())
    return planning


def phase_data(report: Report, budget: Budget, proc, result: Path) -> dict:
    """Wait for the data process, at most until the budget's margin."""
    while proc.is_alive() and time.monotonic() < budget.stop_at:
        proc.join(timeout=min(1.0, max(budget.stop_at - time.monotonic(), 0.01)))
    if proc.is_alive():
        raise Skip("the data were not ready before the budget's margin")
    if not result.is_file():
        raise RuntimeError(f"the data process exited with status {proc.exitcode} and no result")
    out = json.loads(result.read_text())
    if "error" in out:
        raise ActbenchError(out["error"])
    report.data["data"] = out
    counts = out["counts"]
    print(
        f"gpu_check: data: train {counts['train']['total']}, val {counts['val']['total']}, "
        f"test {counts['test']['total']} images ({out['seconds']})",
        flush=True,
    )
    return counts


def phase_recipe(report, name, params, workdir: Path) -> dict:
    """One recipe run (train, then evaluate) in ``workdir``; what the plan learns from it.
    Stopped or failed, it leaves the curves of the epochs it finished in the JSON."""
    from actbench import curves, evaluation

    spec = _spec(name)
    with contextlib.chdir(workdir):
        started = time.time()
        try:
            train = _train_run(spec, params, started)
            evaluated = evaluation.evaluate(spec, params, time.time())
        except BaseException:
            with contextlib.suppress(Exception):
                done = curves.read_history(spec.curves)
                report.data["recipe"]["runs"][name] = {
                    "run": spec.name, "finished": False, "epochs": len(done["val_accuracy"]),
                    "val_accuracy_per_epoch": [round(v, 4) for v in done["val_accuracy"]],
                    "train_loss_per_epoch": [round(v, 4) for v in done["train_loss"]],
                }  # fmt: skip
            raise
        wall = time.time() - started
        history = curves.read_history(spec.curves)
    sec = train["seconds"]
    compile_s = max(sec["first_epoch"] - (sec["later_epoch_mean"] or 0.0), 0.0)
    entry = {
        "run": spec.name, "epochs": train["epochs"], "steps_per_epoch": train["steps_per_epoch"],
        "batch_size": train["batch_size"], "width": train["width"],
        "train_images": train["train_images"], "test_images": evaluated["test_images"],
        "learning_rate_peak": train["schedule"]["peak"], "device": train["device"],
        "test_accuracy": round(evaluated["test_accuracy"], 4),
        "test_loss": round(evaluated["test_loss"], 4),
        "best_val_accuracy": round(train["best_val_accuracy"], 4),
        "val_accuracy_per_epoch": [round(v, 4) for v in history["val_accuracy"]],
        "train_loss_per_epoch": [round(v, 4) for v in history["train_loss"]],
        "images_per_s_in_loop": train["images_per_second"],
        "seconds": {"wall": round(wall, 1), "train": sec["wall"], "fit": sec["fit"],
                    "evaluate": evaluated["seconds"]["wall"], "first_epoch": sec["first_epoch"],
                    "later_epoch_mean": sec["later_epoch_mean"], "compile": round(compile_s, 1)},
        "never_active_fraction": evaluated["diagnostics"]["never_active_fraction"],
    }  # fmt: skip
    report.data["recipe"]["runs"][name] = entry
    print(
        f"gpu_check: {spec.name}: test accuracy {entry['test_accuracy']:.4f} after "
        f"{entry['epochs']} epochs, {wall:.0f} s ({compile_s:.0f} s compiling), "
        f"{train['images_per_second']} images/s in the loop",
        flush=True,
    )
    epochs = entry["epochs"]  # a later epoch's seconds: validation and checkpoint included
    epoch_s = (sec["fit"] - sec["first_epoch"]) / (epochs - 1) if epochs > 1 else sec["fit"]
    return {"epoch_s": epoch_s, "overhead_s": max(wall - epochs * epoch_s, 0.0)}


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _default_data(smoke: bool) -> Path:
    if ARCHIVE.is_file() or not smoke:
        return ARCHIVE
    return SHARED_FOLDER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, on a CPU (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "metrics" / "gpu_check.json")
    parser.add_argument("--data", type=Path, help=f"CIFAR-10 images: a folder with train/ and "
                        f"test/, or a .tar.gz of one (default: {ARCHIVE.relative_to(ROOT)})")  # fmt: skip
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="hard deadline, seconds from the process's start")  # fmt: skip
    parser.add_argument("--precision", choices=("auto", "off", "bfloat16", "float16"),
                        help="train.mixed_precision (default: params.yaml's, auto)")  # fmt: skip
    parser.add_argument("--activations", help="comma-separated, relu included (default: "
                        "relu, tanhrelu, elu, swish and every learnable plug-in)")  # fmt: skip
    args = parser.parse_args()
    budget = Budget(args.budget_s, start=STARTED)
    workdir = Path(tempfile.mkdtemp(prefix="gpu_check."))
    stop_watching = budget.watch(args.out.resolve(), workdir)  # the process ends in the budget
    try:
        status = check(args, budget, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        stop_watching()
    # The JSON is written. A Deadline may have left JAX mid-call, and its teardown at exit then
    # crashes (seen: a segfault after a stopped model): end here instead.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def check(args, budget: Budget, workdir: Path) -> int:
    """The check, in ``workdir``: set-up, the phases, the last write; the exit status."""
    sizes = SMOKE if args.smoke else GPU
    source = (args.data or _default_data(args.smoke)).resolve()
    if not (source.is_dir() or source.name.endswith(".tar.gz") and source.is_file()):
        raise ActbenchError(
            f"no CIFAR-10 images at {source}: give --data a folder with train/ and test/ or a "
            ".tar.gz of one (`make gpu-bundle` puts the archive in .gpu/)"
        )
    names = measured_activations(args.activations, args.smoke)
    params = check_params(sizes, str(source), precision=args.precision)
    setup_start = time.monotonic()

    from actbench.training import device

    device.configure(params.train.deterministic)
    import keras  # noqa: F401  (the backend starts here)

    if not args.smoke and not device.gpus():
        raise ActbenchError(
            f"Keras on {device.backend()} sees no GPU ({device.device_kind()}); run this on a "
            "GPU machine, or pass --smoke for the CPU check"
        )
    from actbench.provenance import machine, versions

    precision = device.resolve_precision(params.train.mixed_precision)
    prof = params.active_profile
    report = Report(args.out.resolve(), {
        "tool": "tools/gpu_check.py", "smoke": args.smoke, "budget_s": args.budget_s,
        "backend": device.backend(), "device_kind": device.device_kind(),
        "precision": precision, "machine": machine(), "versions": versions(),
        "data_source": str(source),
    }, budget)  # fmt: skip
    report.data["phases"]["setup"] = {
        "status": "done",
        "seconds": round(time.monotonic() - setup_start, 1),
    }
    print(f"gpu_check: {report.data['backend']} on {report.data['device_kind']}, {precision}, "
          f"width {prof.width}, batch {prof.batch_size}, budget {args.budget_s:.0f} s", flush=True)  # fmt: skip
    report.write()

    os.environ["ACTBENCH_CHECKPOINTS"] = str(workdir / "checkpoints")  # never a real run's
    result = workdir / "data_result.json"
    d = params.data
    proc = multiprocessing.get_context("spawn").Process(
        target=prepare_data, name="gpu_check data", daemon=True,
        args=(str(source), str(workdir), sizes.per_class,
              {"val_size": d.val_size, "test_size": d.test_size, "split_seed": d.split_seed}, str(result)),
    )  # fmt: skip
    proc.start()
    try:
        _phases(report, budget, sizes, params, names, source, precision, proc, result, workdir)
    except Deadline as why:  # raised again outside a phase: the phases after it are not recorded
        report.data["stopped"] = str(why)
    finally:
        if proc.is_alive():
            proc.kill()
    report.data["seconds"] = round(budget.seconds - budget.left(), 1)
    report.write()
    phases = report.data["phases"]
    summary = ", ".join(f"{k} {v['status']}" for k, v in phases.items())
    print(f"gpu_check: wrote {args.out} after {report.data['seconds']} s: {summary}", flush=True)
    stopped = any(v["status"] in ("failed", "stopped") for v in phases.values())
    return 1 if stopped or "stopped" in report.data else 0


class Recipe:
    """The recipe runs. The first PAIRED share one epoch count, the most that lets all of them
    finish (estimated from the throughput phase); a later run goes ahead only while its
    estimate, from the first run's real cost, fits what is left. Each run is a budget unit."""

    def __init__(self, report: Report, budget: Budget, sizes: Sizes, params, source: Path,
                 workdir: Path):  # fmt: skip
        self.report, self.budget, self.sizes = report, budget, sizes
        self.source, self.workdir = source, workdir
        self.precision = params.train.mixed_precision  # --precision, if given
        self.cap = cap = sizes.epochs or params.active_profile.epochs
        self.plan = report.data["recipe"] = {
            "dataset": f"CIFAR-10 (JPEG re-encoding) from {source.name}: the image folder "
                       f"dataset {DATASET!r}", "seed": SEED, "epoch_cap": cap,
            "learning_rate": "the profile's (multiplier 1, shared: no tuning grid in this check)",
            "note": "images_per_s_in_loop: training images per second of a later epoch of "
                    "loop.train, its validation included; seconds.compile: the first epoch's "
                    "seconds minus a later one's",
            "runs": {},
        }  # fmt: skip
        self.first: dict | None = None  # the first run's real cost

    @staticmethod
    def _measured(planning: dict, name: str) -> dict:
        """``name``'s throughput numbers, or relu's where its throughput was skipped for time."""
        return planning.get(name, planning["relu"])

    def _size(self, planning: dict, counts: dict) -> dict[str, dict]:
        train, val = counts["train"]["total"], counts["val"]["total"]
        paired = list(self.sizes.recipe[:PAIRED])
        costs = {n: estimated_cost(self._measured(planning, n), train, val) for n in paired}
        if any(n not in planning for n in paired):
            self.plan["sized_with_relu_for"] = [n for n in paired if n not in planning]
        left = self.budget.stop_at - time.monotonic()
        epochs = plan_epochs(left, list(costs.values()), self.cap)
        self.plan["epochs"] = epochs
        self.plan["estimated_costs"] = {
            n: {k: round(v, 1) for k, v in c.items()} for n, c in costs.items()
        }
        self.plan["epochs_reason"] = (
            f"{epochs} epochs, the cap: the runs of {' and '.join(paired)} fit the {left:.0f} s left"
            if epochs == self.cap else
            f"{epochs} of {self.cap} epochs: the most with which the runs of {' and '.join(paired)} "
            f"fit the {left:.0f} s left, at the throughput phase's images/s and compile times"
        )  # fmt: skip
        print(f"gpu_check: recipe: {self.plan['epochs_reason']}", flush=True)
        return costs

    def run(self, name: str, planning: dict, counts: dict) -> None:
        if "relu" not in planning or not counts:
            raise Skip("no throughput or no data to size it (see the earlier phases)")
        if "epochs" not in self.plan:
            cost = self._size(planning, counts)[name]
            if self.plan["epochs"] < 1:
                raise Skip(f"not one epoch fits: {self.plan['epochs_reason']}")
        elif self.first is None:
            raise Skip("the first recipe run did not finish")
        else:
            measured = self._measured(planning, name)
            cost = calibrated_cost(
                self.first, measured, self._measured(planning, self.sizes.recipe[0])
            )
        epochs = self.plan["epochs"]
        params = check_params(self.sizes, str(self.source), epochs, self.precision)
        with self.report.unit(f"{name}'s run of {epochs} epochs", run_seconds(epochs, cost)):
            real = phase_recipe(self.report, name, params, self.workdir)
        self.first = self.first or real
        self.plan["runs"][name]["estimated_wall_s"] = round(run_seconds(epochs, cost), 1)


def _phases(report, budget, sizes, params, names, source, precision, proc, result, workdir) -> None:
    """matmul_peak, throughput (the study's activations), data, the first recipe runs,
    throughput_learnable, the later recipe runs: in the order of what matters most."""
    study, learnable = names
    peak = None
    with report.phase("matmul_peak"):
        peak = phase_matmul(report, sizes, precision)
    bench = Throughput(sizes, params, peak)
    split = expected_split(sizes, params.data.val_size)

    def keep_for_recipe() -> float:
        return recipe_reserve(bench.warm["relu"], bench.batch * sizes.steps, split)

    planning: dict = {}
    with report.phase("throughput"):
        planning.update(phase_throughput(report, "throughput", bench, study, keep_for_recipe))
    counts: dict = {}
    with report.phase("data"):
        counts.update(phase_data(report, budget, proc, result))
    recipe = Recipe(report, budget, sizes, params, source, workdir)
    for name in sizes.recipe[:PAIRED]:
        with report.phase(f"recipe_{name}"):
            recipe.run(name, planning, counts)
    if learnable:
        with report.phase("throughput_learnable"):
            more = phase_throughput(report, "throughput_learnable", bench, ["relu", *learnable],
                                    lambda: 0.0)  # fmt: skip
            planning = {**more, **planning}
    for name in sizes.recipe[PAIRED:]:
        with report.phase(f"recipe_{name}"):
            recipe.run(name, planning, counts)


if __name__ == "__main__" and sys.argv[1:2] == [WATCHDOG]:
    watchdog(**json.loads(sys.argv[2]))
elif __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from actbench.cli import run_stage

    run_stage(main)
