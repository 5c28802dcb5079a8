"""The Docker image: versions agree with pyproject.toml and the locks, and the documented
`docker run --user "$(id -u):$(id -g)"` works for a UID without a passwd entry (simulated on the
host with the image's environment: no Docker engine runs where these tests run)."""

import pwd
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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
        r"^FROM\s+python:(\d+\.\d+)-slim-bookworm@sha256:([0-9a-f]{64})$", DOCKERFILE, re.M
    )
    assert base, "the Dockerfile must build FROM python:X.Y-slim-bookworm@sha256:<digest>"
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
    assert (
        "pip install --no-cache-dir --no-deps --require-hashes -r requirements/gpu.lock"
        in DOCKERFILE
    )
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in DOCKERFILE
    assert "safe.directory" in DOCKERFILE
    env = image_env()
    assert env["PYTHONPATH"] == "/workspace/src" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert re.search(r"^USER\s+(?!root|0\b)", DOCKERFILE, re.M)
    assert re.search(r"^WORKDIR /workspace$", DOCKERFILE, re.M)
    assert 'CMD ["python", "-m", "actbench", "doctor"]' in DOCKERFILE


# `--user "$(id -u):$(id -g)"` gives a UID with no passwd entry in the image. A user namespace
# simulates that here: inside, the process is UID 54321, which no passwd entry names.
AS_OTHER_USER = ["unshare", "--user", "--map-user=54321", "--map-group=54321"]
HAS_USERNS = subprocess.run([*AS_OTHER_USER, "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not HAS_USERNS, reason="no user namespaces here (unshare --user)")
def test_the_documented_docker_run_user_line_works_for_a_uid_without_a_passwd_entry(tmp_path):
    with pytest.raises(KeyError):
        pwd.getpwuid(54321)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text("x: 1\n")
    (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: python -c \"open('out.txt', 'w').write('done')\"\n"
                                   "    params: [x]\n    outs: [out.txt]\n")  # fmt: skip
    bindir = str(Path(sys.executable).parent)
    (tmp_path / "home").mkdir()
    base = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "DVC_NO_ANALYTICS": "1",
    }

    def run(*args, env):
        return subprocess.run(
            [*AS_OTHER_USER, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
        )

    author = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
    ):
        res = subprocess.run(cmd, cwd=repo, env={**base, **author}, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    # Without the image's ENV: DVC cannot find a user name for this UID.
    bare = run("dvc", "exp", "run", "-S", "x=2", env=base)
    assert bare.returncode != 0 and "uid not found" in bare.stderr + bare.stdout
    # With it (HOME aside, which the test keeps private), `dvc exp run` commits an experiment.
    env = {**base, **{k: v for k, v in image_env().items() if k != "HOME"}}
    res = run("dvc", "exp", "run", "-S", "x=2", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (repo / "out.txt").read_text() == "done"
    shown = run("dvc", "exp", "show", "--csv", env=env)
    assert shown.returncode == 0 and ",2," in shown.stdout.splitlines()[-1] + ","
