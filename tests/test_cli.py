"""`python -m actbench`: help, the activation list and the health check."""

import subprocess
import sys

import pytest

from .project import ROOT

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "actbench", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_help_lists_the_commands():
    res = run("--help")
    assert res.returncode == 0 and "doctor" in res.stdout and "activations" in res.stdout


def test_activations_lists_every_module_and_alias():
    res = run("activations")
    assert res.returncode == 0
    lines = [ln for ln in res.stdout.splitlines() if not ln.startswith(" ")]
    assert [ln.split()[0] for ln in lines] == [
        "elu", "gelu", "leaky_relu", "mish", "pau", "prelu", "relu", "selu", "swish", "swish_beta", "tanhrelu",
    ]  # fmt: skip
    assert "(also: silu)" in next(ln for ln in lines if ln.startswith("swish "))
    assert next(ln for ln in lines if ln.startswith("prelu")).split()[1] == "layer"
    block = res.stdout.split("\ntanhrelu", 1)[1]  # tanhrelu's line and its indented prior art
    assert "known as: Tanh Linear Unit (TLU)" in block and "activations_plus" in block


def test_doctor_reports_backend_precision_and_replicas():
    res = run("doctor")
    assert res.returncode == 0, res.stderr[-2000:]
    report = {
        line[:24].strip(): line[25:] for line in res.stdout.splitlines()
    }  # "{key:24} {value}"
    from actbench.training import device

    # What this machine resolves `auto` to (float32 and 1 replica on a CPU, bfloat16 on a GPU).
    assert report["backend"] == device.backend()
    assert report["mixed_precision (auto)"] == device.resolve_precision("auto")
    assert report["replicas (auto)"] == str(device.distribution("auto").replicas)
    assert report["deterministic (auto)"] == str(device.resolve_deterministic("auto"))
