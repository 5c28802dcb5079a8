"""Test helpers for tests that run the project itself: a copy in a temporary git repository,
its params edited by dotted key, and commands run with this environment's tools first on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = ["dvc.yaml", "params.yaml", "stages", "src", "pyproject.toml", ".dvcignore", ".gitignore",
          "metrics/tune/README.md"]  # fmt: skip


def with_changes(raw: dict, **changes) -> dict:
    """``raw`` with each dotted key (``"train.momentum"``) set to its value, in place."""
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return raw


def set_params(repo: Path, **changes) -> None:
    """Edit ``repo/params.yaml`` (comments kept); a new copy of the project's when there is none."""
    path = repo / "params.yaml"
    source = path if path.exists() else ROOT / "params.yaml"
    yaml = YAML()  # round-trip, YAML 1.2: as DVC reads and writes the file
    raw = with_changes(yaml.load(source.read_text()), **changes)
    with path.open("w") as fh:
        yaml.dump(raw, fh)


def env_for(repo: Path) -> dict:
    """The environment for commands in ``repo``: this environment's tools first, analytics off.
    (Stage scripts import the ``src/`` next to them, so no PYTHONPATH is needed.)"""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def sh(
    repo: Path, *args: str, check: bool = True, timeout: int = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    res = subprocess.run(
        list(args), cwd=repo, env={**env_for(repo), **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    if check and res.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
    return res


def make_repo(repo: Path, files: dict[str, str] | None = None, **changes) -> Path:
    """Copy the project into ``repo``, add ``files`` (path: text), apply the params ``changes``,
    init git and DVC, commit."""
    repo.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, repo / name)
    for path, text in (files or {}).items():
        (repo / path).write_text(text)
    set_params(repo, **changes)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "config", "user.email", "ci@example.com")
    sh(repo, "git", "config", "user.name", "CI")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "config", "core.analytics", "false")
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the chart templates
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "project")
    return repo


def check_verdicts(repo: Path, dataset: str, alpha: float = 0.05) -> None:
    """The pipeline's verdicts follow from its runs: each comparison's raw p-value is SciPy's
    paired t-test on the per-seed test accuracies in the eval records, and its verdict is what
    its Holm-adjusted p-values imply (better/worse, else equivalent, else inconclusive)."""
    import json

    import numpy as np
    from scipy.stats import ttest_rel

    comparison = json.loads((repo / "metrics/comparison.json").read_text())
    summary = json.loads((repo / "metrics/summary.json").read_text())
    cand = comparison["candidate"]

    def accuracies(act: str) -> list[float]:
        seeds = comparison["aggregates"][act][dataset]["seeds"]
        return [json.loads((repo / f"metrics/eval/{act}_{dataset}_s{s}.json").read_text())["test_accuracy"]
                for s in seeds]  # fmt: skip

    for baseline, c in comparison["comparisons"][dataset].items():
        diffs = np.subtract(accuracies(cand), accuracies(baseline))
        if np.ptp(diffs) > 0:
            assert c["p_value"] == pytest_approx(
                ttest_rel(accuracies(cand), accuracies(baseline)).pvalue
            )
        if c["p_holm"] is not None and c["p_holm"] < alpha:
            expected = "better" if c["mean_diff"] > 0 else "worse"
        elif c["p_tost_holm"] is not None and c["p_tost_holm"] < alpha:
            expected = "equivalent"
        else:
            expected = "inconclusive"
        assert c["verdict"] == summary[dataset][baseline]["verdict"] == expected, (baseline, c)


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=1e-9)
