"""The Docker image's Python, TensorFlow, Keras and DVC agree with pyproject.toml and the locks."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, flags=re.M))


def test_dockerfile_python_matches_pyproject():
    base = re.search(r"^FROM\s+python:(\d+\.\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base, "the Dockerfile must build FROM a python:X.Y tag"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={base.group(1)}"


def test_gpu_lock_pins_the_same_versions_as_the_cpu_lock():
    cpu, gpu = pins("dev.lock"), pins("gpu.lock")
    assert gpu["tensorflow"] == cpu["tensorflow-cpu"]
    for name in ("keras", "dvc", "dvclive", "numpy", "scikit-learn", "scipy"):
        assert gpu[name] == cpu[name], name


def test_pyproject_extras_pin_the_locked_tensorflow():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    cpu, gpu = pins("dev.lock"), pins("gpu.lock")
    assert extras["cpu"] == [f"tensorflow-cpu=={cpu['tensorflow-cpu']}"]
    assert extras["gpu"] == [f"tensorflow[and-cuda]=={gpu['tensorflow']}"]


def test_dockerfile_installs_the_gpu_lock_with_hashes():
    text = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/gpu.lock" in text
    assert "safe.directory" in text and "TF_FORCE_GPU_ALLOW_GROWTH=true" in text
    assert re.search(r"^USER\s+(?!root|0\b)", text, re.M)
    assert re.search(r"^WORKDIR /workspace$", text, re.M)
