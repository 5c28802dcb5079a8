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
    lines = res.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == [
        "elu",
        "gelu",
        "leaky_relu",
        "mish",
        "relu",
        "selu",
        "swish",
        "tanhrelu",
    ]
    assert "(also: silu)" in next(ln for ln in lines if ln.startswith("swish"))


def test_doctor_reports_backend_precision_and_replicas():
    res = run("doctor")
    assert res.returncode == 0, res.stderr[-2000:]
    report = {
        line[:24].strip(): line[25:] for line in res.stdout.splitlines()
    }  # "{key:24} {value}"
    assert report["backend"] in {"tensorflow", "jax"}
    assert report["mixed_precision (auto)"] == "float32" and report["replicas (auto)"] == "1"
