"""The Docker image, statically: versions agree with pyproject.toml and the locks, the base is
pinned, the README's CPU `--user` line (also in docs/docker.md) is the one `make docker-check`
runs, and the comparison that check makes. The image itself is built and run for real by
`make docker-check` (tools/docker_check.sh; CI runs it after `make test`), which runs that line
as a UID with no passwd entry."""

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, flags=re.M))


def image_env() -> dict[str, str]:
    """The ENV instruction of the Dockerfile, as a mapping."""
    block = re.search(r"^ENV (.*?)(?:\n\n|\n(?=[A-Z#]))", DOCKERFILE, re.M | re.S).group(1)
    return dict(item.split("=", 1) for item in shlex.split(block.replace("\\\n", " ")))


def test_dockerfile_python_matches_pyproject_and_the_base_is_pinned_by_digest():
    base = re.search(
        r"^ARG BASE_IMAGE=python:(\d+\.\d+)-slim-bookworm@sha256:([0-9a-f]{64})$", DOCKERFILE, re.M
    )
    assert base, "BASE_IMAGE must default to python:X.Y-slim-bookworm@sha256:<digest>"
    assert re.findall(r"^FROM .*", DOCKERFILE, re.M) == ["FROM ${BASE_IMAGE}"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={base.group(1)}"


def test_gpu_lock_pins_the_same_versions_as_the_cpu_lock():
    cpu, gpu = pins("dev.lock"), pins("gpu.lock")
    assert gpu["tensorflow"] == cpu["tensorflow-cpu"]
    for name in ("keras", "dvc", "dvclive", "numpy", "scikit-learn", "scipy", "ray", "setuptools"):
        assert gpu[name] == cpu[name], name


def test_pyproject_extras_pin_the_locked_versions():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    cpu, gpu, jax = pins("dev.lock"), pins("gpu.lock"), pins("jax.lock")
    assert extras["cpu"] == [f"tensorflow-cpu=={cpu['tensorflow-cpu']}"]
    assert extras["gpu"] == [f"tensorflow[and-cuda]=={gpu['tensorflow']}"]
    assert (
        extras["jax"] == [f"jax=={jax['jax']}"]
        and "tensorflow" not in jax
        and "tensorflow-cpu" not in jax
    )
    assert extras["cluster"] == [f"ray=={cpu['ray']}"]


def test_dockerfile_installs_exactly_the_gpu_lock_and_runs_the_mounted_code():
    assert re.search(r"^ARG LOCK=requirements/gpu\.lock$", DOCKERFILE, re.M)
    assert "COPY ${LOCK} ${LOCK}" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps --require-hashes -r ${LOCK}" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in DOCKERFILE
    assert "safe.directory" in DOCKERFILE
    env = image_env()
    assert env["PYTHONPATH"] == "/workspace/src" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    # DVC asks getpass.getuser(): a --user UID has no passwd entry, so USER/LOGNAME must be set.
    assert env["USER"] and env["LOGNAME"] and env["GIT_AUTHOR_NAME"] and env["GIT_COMMITTER_NAME"]
    assert re.search(r"^USER\s+(?!root|0\b)", DOCKERFILE, re.M)
    assert re.search(r"^WORKDIR /workspace$", DOCKERFILE, re.M)
    assert 'CMD ["python", "-m", "actbench", "doctor"]' in DOCKERFILE


def test_the_image_adds_no_certificates_of_this_machine():
    """Only the stand-in base (tools/docker_base.sh) trusts this machine's CA certificates."""
    assert not re.search(r"ca-certificates|\.crt|\.pem|PIP_CERT|SSL_CERT", DOCKERFILE, re.I)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.crt" in ignored and "**/*.pem" in ignored


def test_the_readme_has_the_cpu_user_line_that_make_docker_check_runs():
    """make docker-check runs the README's line (tools/docker_check.sh reads README.md); the
    Docker page (docs/docker.md) shows the same line."""
    check = (ROOT / "tools" / "docker_check.sh").read_text()
    pattern = re.search(r"grep -E '(\^docker run [^']+)'", check).group(1)
    readme = (ROOT / "README.md").read_text().splitlines()
    lines = [line for line in readme if re.match(pattern, line)]
    assert lines, f"README.md has no line matching {pattern}"
    words = shlex.split(lines[0], comments=True)
    assert "--gpus" not in words and words[words.index("--user") + 1] == "$(id -u):$(id -g)"
    assert words[words.index("actbench") + 1 :][:3] == ["dvc", "exp", "run"]
    docker_page = (ROOT / "docs" / "docker.md").read_text().splitlines()
    assert lines[0].split("  #")[0] in [line.split("  #")[0] for line in docker_page]


def test_docker_compare_accepts_equal_metrics_and_names_the_first_difference(tmp_path):
    summary = {"candidate": "tanhrelu", "digits": {"accuracy": 0.97, "relu": {"verdict": "x"}}}
    comparison = {"aggregates": {"relu": {"digits": {"test_accuracy": {"per_seed": {"0": 0.96}}}}}}
    for side in ("host", "container"):
        (tmp_path / side / "metrics").mkdir(parents=True)
        (tmp_path / side / "metrics" / "summary.json").write_text(json.dumps(summary))
        (tmp_path / side / "metrics" / "comparison.json").write_text(json.dumps(comparison))
    tool = [sys.executable, str(ROOT / "tools" / "docker_compare.py"), "host", "container"]
    same = subprocess.run(tool, cwd=tmp_path, capture_output=True, text=True)
    assert same.returncode == 0 and "metrics equal" in same.stdout, same.stdout + same.stderr
    comparison["aggregates"]["relu"]["digits"]["test_accuracy"]["per_seed"]["0"] = 0.9601
    (tmp_path / "container" / "metrics" / "comparison.json").write_text(json.dumps(comparison))
    differ = subprocess.run(tool, cwd=tmp_path, capture_output=True, text=True)
    assert differ.returncode == 1 and "relu/digits/test_accuracy/per_seed/0" in differ.stdout
    loose = subprocess.run([*tool, "--atol", "0.001"], cwd=tmp_path, capture_output=True, text=True)
    assert loose.returncode == 0


def test_the_docker_scripts_parse():
    for script in ("docker_base.sh", "docker_check.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "tools" / script)], check=True)
