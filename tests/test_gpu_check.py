"""tools/gpu_check.py on the CPU: the matmul peak against an independent timing, every phase at
tiny sizes (--smoke, the real train loop included), the deadline (skip, alarm, watchdog) and
report logic, per-activation step memory, and the one-line errors outside --smoke. The same
code runs on a GPU (tools/device_check.sh)."""

import contextlib
import functools
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

from actbench import activations

from .project import ROOT

pytestmark = pytest.mark.portable
SHARED = ROOT.parent / "shared" / "data" / "cifar10-jpeg"
TOOL = ROOT / "tools" / "gpu_check.py"
PHASES = [
    "setup",
    "matmul_peak",
    "throughput",
    "data",
    "recipe_relu",
    "recipe_tanhrelu",
    "throughput_learnable",
]  # fmt: skip  (--smoke's, in order)
jax_only = pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="the JAX environment runs this (make test-jax): the device command's backend",
)


@functools.cache
def _tool():
    """tools/gpu_check.py as a module (it imports nothing heavy at the top)."""
    spec = importlib.util.spec_from_file_location("gpu_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _folder(root):
    """A small CIFAR-like folder: real CIFAR-10 JPEGs where ../shared has them, else flat colours."""
    for split, n in (("train", 30), ("test", 10)):
        for k, cls in enumerate(("airplane", "cat", "ship")):
            (root / split / cls).mkdir(parents=True)
            src = sorted((SHARED / split / cls).glob("*.jpg"))[:n] if SHARED.is_dir() else []
            for i in range(n):
                if src:
                    shutil.copy(src[i], root / split / cls / src[i].name)
                else:
                    Image.new("RGB", (32, 32), (80 * k, 40, 200 - 60 * k)).save(
                        root / split / cls / f"{i}.png"
                    )
    return root


def _independent_matmul_seconds(n: int, rounds: int = 5) -> float:
    """Median seconds of one (n, n) float32 product, compiled and timed here, apart from the
    benchmark module: the operands are arguments and the result is waited for."""
    import keras

    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    if keras.config.backend() == "jax":
        import jax
        import jax.numpy as jnp

        mm, a, b = jax.jit(jnp.matmul), jnp.asarray(a), jnp.asarray(b)
        done = jax.block_until_ready
    else:
        import tensorflow as tf

        mm = tf.function(tf.linalg.matmul, jit_compile=True)
        a, b, done = tf.constant(a), tf.constant(b), lambda t: t.numpy()
    for _ in range(2):
        done(mm(a, b))
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        done(mm(a, b))
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def test_matmul_peak_is_within_2x_of_an_independent_timing():
    from actbench import benchmark

    n = 1024  # 1M elements: a product XLA would fold at compile time if it could
    peak = benchmark.matmul_peak(n=n, rounds=5, dtype="float32")
    independent = 2.0 * n**3 / _independent_matmul_seconds(n)
    assert independent / 2 <= peak <= 2 * independent, (peak / 1e12, independent / 1e12)


def test_plan_epochs_takes_the_cap_when_it_fits_and_the_most_that_fit_otherwise():
    tool = _tool()
    costs = [{"overhead_s": 30.0, "epoch_s": 2.0}, {"overhead_s": 40.0, "epoch_s": 3.0}]
    assert tool.plan_epochs(1000.0, costs, cap=40) == 40  # 70 + 40 * 5 = 270 s
    assert tool.plan_epochs(170.0, costs, cap=40) == 20  # (170 - 70) / 5
    assert tool.plan_epochs(60.0, costs, cap=40) == 0
    assert tool.run_seconds(20, costs[1]) == 100.0


def test_report_is_written_after_every_phase_and_says_why_a_phase_did_not_run(tmp_path):
    tool = _tool()
    path = tmp_path / "report.json"
    budget = tool.Budget(3600.0)
    report = tool.Report(path, {"tool": "test"}, budget)
    with report.phase("first") as entry:
        entry["value"] = 1
    with report.phase("second"):
        written = json.loads(path.read_text())["phases"]
        assert written["first"]["status"] == "done" and written["second"]["status"] == "running"
        with budget.unit("the second phase", 7200.0):
            pass
    with report.phase("third"):
        raise ValueError("broken")
    short = tool.Budget(0.2)
    with report.phase("fourth"), short.unit("a sleep", 0.0):
        time.sleep(5)
    phases = json.loads(path.read_text())["phases"]
    assert [p["status"] for p in phases.values()] == ["done", "skipped", "failed", "stopped"]
    assert "7200 s" in phases["second"]["reason"] and "budget" in phases["second"]["reason"]
    assert phases["third"]["reason"] == "ValueError: broken"
    assert "--budget-s" in phases["fourth"]["reason"] and phases["fourth"]["seconds"] < 5
    assert all("seconds" in p for p in phases.values())


def test_the_alarm_fires_again_when_swallowed_and_a_late_unit_does_not_start(tmp_path):
    tool = _tool()
    budget = tool.Budget(0.5)
    report = tool.Report(tmp_path / "report.json", {"tool": "test"}, budget)
    reached = []
    with report.phase("swallowing"), budget.unit("a unit", 0.0):
        with contextlib.suppress(tool.Deadline):  # as a library's `except BaseException` would
            time.sleep(30)
        time.sleep(30)  # the alarm, raised again a second later, ends this
        reached.append("after")
    with report.phase("late"), budget.unit("a late unit", 0.0):
        reached.append("late")
    phases = json.loads((tmp_path / "report.json").read_text())["phases"]
    assert not reached
    assert (
        phases["swallowing"]["status"] == "stopped" and "a unit" in phases["swallowing"]["reason"]
    )
    assert phases["late"]["status"] == "skipped" and "budget" in phases["late"]["reason"]


WATCHED = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("gpu_check", {tool!r})
tool = sys.modules["gpu_check"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
budget = tool.Budget(3.0)
report = tool.Report(Path({out!r}), {{"tool": "test"}}, budget)
budget.watch(report.path)
with report.phase("first") as entry:
    entry["value"] = 1
with report.phase("native"), report.unit("a native call", 0.0):
    sum(range(10**12))  # one C call: no signal handler runs until it returns (~an hour)
print("not reached")
"""


def test_the_watchdog_ends_a_native_call_that_outlives_the_budget_and_writes_the_json(tmp_path):
    out = tmp_path / "report.json"
    script = WATCHED.format(tool=str(TOOL), out=str(out))
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    assert "the watchdog killed the check" in res.stdout and "not reached" not in res.stdout
    result = json.loads(out.read_text())
    assert result["phases"]["first"] == {"status": "done", "value": 1, "seconds": 0.0}
    native = result["phases"]["native"]
    assert native["status"] == "stopped" and "a native call" in native["reason"]
    assert "watchdog" in native["reason"] and result["stopped"] == native["reason"]
    assert native["seconds"] >= 0 and not {"started_s", "in_flight"} & set(native)


SLACK_S = 5.0  # the deadline test's allowance: interpreter start-up and exit, the last write


@pytest.mark.parametrize("budget_s", [10, 30])
def test_smoke_ends_within_a_tiny_budget_with_every_phase_that_ran_accounted_for(
    tmp_path, budget_s
):
    """The one timing assertion of this file: the wall time of the whole process, against the
    budget (which counts from the process's start) plus SLACK_S."""
    out, data = tmp_path / "gpu_check.json", _folder(tmp_path / "c10")
    start = time.monotonic()
    res = subprocess.run([sys.executable, str(TOOL), "--smoke", "--budget-s", str(budget_s), "--out", str(out), "--data", str(data)],
                         cwd=ROOT, capture_output=True, text=True, timeout=budget_s + 120)  # fmt: skip
    wall = time.monotonic() - start
    print(f"--budget-s {budget_s}: {wall:.1f} s of wall time")  # pytest -s shows it
    assert wall <= budget_s + SLACK_S, (wall, res.stdout[-3000:])
    assert res.returncode in (0, 1, -signal.SIGKILL), res.stdout[-3000:] + res.stderr[-3000:]
    result = json.loads(out.read_text())
    phases = result["phases"]
    assert list(phases) == PHASES[: len(phases)], phases
    for name, entry in phases.items():
        assert entry["status"] in ("done", "skipped", "stopped"), (name, entry)
        assert entry["status"] == "done" or entry["reason"], (name, entry)
    assert result["seconds"] <= budget_s
    if budget_s < _tool().SMOKE.first_model_s:  # the first model's default estimate cannot fit
        assert (
            phases["throughput"]["status"] == "skipped"
            and "budget" in phases["throughput"]["reason"]
        )


@jax_only
def test_step_memory_is_per_activation_whatever_the_process_built_before(tmp_path):
    """relu's step memory is the same measured first in a process and after tanhrelu's model
    was built and warmed up (both alive); tanhrelu's is larger, so a process-wide peak could not
    give both."""
    tool = _tool()
    params = tool.check_params(tool.SMOKE, str(_folder(tmp_path / "c10")))
    alone = tool.Throughput(tool.SMOKE, params, None)
    alone.add("relu")
    after = tool.Throughput(tool.SMOKE, params, None)
    after.add("tanhrelu")
    after.add("relu")
    relu, tanhrelu = alone.warm["relu"]["memory"], after.warm["tanhrelu"]["memory"]
    assert relu["total"] > relu["arguments"] > 0
    assert after.warm["relu"]["memory"] == relu
    assert tanhrelu["total"] > relu["total"] and tanhrelu["arguments"] == relu["arguments"]
    assert after.warm_entry("tanhrelu")["step_memory_ratio_to_relu"] > 1.0


@jax_only
def test_smoke_runs_every_phase_and_the_real_train_loop(tmp_path):
    out = tmp_path / "gpu_check.json"
    res = subprocess.run([sys.executable, str(TOOL), "--smoke", "--out", str(out), "--data", str(_folder(tmp_path / "c10"))],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    result = json.loads(out.read_text())
    phases = result["phases"]
    learnable = [n for n in activations.modules() if activations.is_learnable(n)]
    assert list(phases) == PHASES[: 7 if learnable else 6]
    assert all(p["status"] == "done" and p["seconds"] >= 0 for p in phases.values()), phases
    assert result["matmul_peak"]["tflops"] > 0
    sections = [result["throughput"], *([result["throughput_learnable"]] if learnable else [])]
    assert set(sections[0]["activations"]) == {"relu", "tanhrelu"}
    assert len(sections[-1]["activations"]) == 2  # relu again, and one learnable plug-in
    for section in sections:
        assert section["activations"]["relu"]["step_time_ratio_to_relu"] == 1.0
        assert set(section["warmup"]) <= set(section["activations"])  # relu: warmed up once
        assert section["process_peak_bytes_in_use"] is None  # a GPU's only
        for entry in section["activations"].values():
            assert entry["images_per_s"] > 0 and entry["mfu"] > 0 and entry["compile_s"] >= 0
            memory = entry["step_memory_bytes"]  # XLA's plan of the step; TensorFlow: none
            assert (
                memory["total"] > memory["arguments"] > 0 and entry["step_memory_ratio_to_relu"] > 0
                if result["backend"] == "jax"
                else memory is None
            )
    assert result["data"]["counts"]["test"]["total"] == 30  # 3 classes x 10 test images
    recipe = result["recipe"]
    assert recipe["epochs"] == 2 and recipe["epochs_reason"]
    for run in recipe["runs"].values():
        assert run["epochs"] == 2 and len(run["val_accuracy_per_epoch"]) == 2
        assert 0 <= run["test_accuracy"] <= 1 and run["test_images"] == 30
        assert run["images_per_s_in_loop"] > 0 and run["seconds"]["compile"] >= 0
        assert run["device"]["backend"] == result["backend"]
    assert "recipe_relu done" in res.stdout and "wrote" in res.stdout


def test_outside_smoke_a_missing_data_source_is_one_line_and_exit_2(tmp_path):
    res = subprocess.run([sys.executable, str(TOOL), "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "no CIFAR-10 images at" in res.stderr
    assert not (tmp_path / "o.json").exists()


def test_outside_smoke_a_backend_without_a_gpu_is_one_line_and_exit_2(tmp_path):
    res = subprocess.run([sys.executable, str(TOOL), "--data", str(_folder(tmp_path / "c10")), "--out", str(tmp_path / "o.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("actbench: gpu_check.py: error: ")
    assert "sees no GPU" in res.stderr and "Traceback" not in res.stderr


# What the GPU machine has without the bundle (requirements/gpu-replica.lock mirrors it), by the
# module a package installs where the two names differ.
MODULE_OF = {"scikit-learn": "sklearn", "pillow": "PIL", "python-dateutil": "dateutil"}
# Imported only where the device check never goes: the TensorFlow backend; dvclive (curves.py
# writes the same files without it) and the scmrepo it brings.
NOT_ON_THE_DEVICE_PATH = {"tensorflow", "dvclive", "scmrepo"}


def test_every_module_the_device_check_can_import_is_on_the_gpu_machine_or_in_its_bundle():
    """tools/device_check.sh runs tools/gpu_check.py on a machine with what gpu-replica.lock pins
    plus the bundle's wheels (MODULES in device_check.sh): every third-party module that
    gpu_check.py, or an actbench module it reaches, imports must be one of them (a new import,
    pydantic in params.py for one, would otherwise end the one GPU run at its first line)."""
    import re

    from tools.stage_deps import _imports, closure

    lock = (ROOT / "requirements" / "gpu-replica.lock").read_text()
    machine = {
        MODULE_OF.get(n, n.replace("-", "_")) for n in re.findall(r"^([a-z0-9_.-]+)==", lock, re.M)
    }
    script = (ROOT / "tools" / "device_check.sh").read_text()
    bundle = {
        m.split(".")[0] for m in re.search(r'^MODULES="([^"]+)"', script, re.M).group(1).split()
    }
    assert {"keras", "pydantic", "pydantic_core"} <= bundle
    imported = {m.split(".")[0]: path.name for path in closure(TOOL) for m in _imports(path)}
    third_party = {
        m: where for m, where in imported.items()
        if m not in sys.stdlib_module_names and m not in ("actbench", "_src", "__future__")
    }  # fmt: skip
    missing = set(third_party) - machine - bundle - NOT_ON_THE_DEVICE_PATH
    assert not missing, {m: third_party[m] for m in missing}
