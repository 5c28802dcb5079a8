"""One home for a run: its identity, every artifact path, its provenance and its history.

A run is one activation trained on one dataset with one seed, in a role: ``candidate`` (the
activation under study) or ``baseline``. Its name, ``<activation>_<dataset>_s<seed>``, names
every file it produces:

    models/<role>/<run>.keras                   the trained model (train)
    metrics/train/<role>/<run>.json             training record and provenance (train)
    dvclive/<role>/<run>/plots/metrics/*.tsv    per-epoch curves (train)
    checkpoints/<role>/<run>/                   in-progress state, not a DVC output (train)
    metrics/eval/<role>/<run>.json              test metrics and diagnostics (evaluate)
    metrics/eval/<role>/<run>.confusion.csv     actual,predicted pairs of the test set (evaluate)

Nothing here imports TensorFlow, Keras or NumPy at module level: aggregation reads JSON.
"""

from __future__ import annotations

import csv
import hashlib
import os
import platform
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from actbench.errors import ActbenchError

ROLES = ("baseline", "candidate")
CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate")  # per epoch
PACKAGE_ROOT = Path(__file__).resolve().parent  # src/actbench


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies one run."""

    activation: str
    dataset: str
    seed: int
    role: str  # "baseline" or "candidate"

    @property
    def name(self) -> str:
        return f"{self.activation}_{self.dataset}_s{self.seed}"

    @property
    def model(self) -> Path:
        return Path("models") / self.role / f"{self.name}.keras"

    @property
    def train_record(self) -> Path:
        return Path("metrics/train") / self.role / f"{self.name}.json"

    @property
    def curves(self) -> Path:
        return Path("dvclive") / self.role / self.name

    @property
    def checkpoint(self) -> Path:
        """In-progress state. ``ACTBENCH_CHECKPOINTS`` moves it (to shared storage, so that a run
        retried on another machine resumes); by default ``checkpoints/`` in the workspace."""
        return Path(os.environ.get("ACTBENCH_CHECKPOINTS") or "checkpoints") / self.role / self.name

    @property
    def curves_in_progress(self) -> Path:
        """dvclive logs here while training; the folder moves to ``curves`` at the end, so the
        declared output is written once, whole (and the stage stays run-cacheable)."""
        return self.checkpoint / "live"

    @property
    def eval_record(self) -> Path:
        return Path("metrics/eval") / self.role / f"{self.name}.json"

    @property
    def confusion(self) -> Path:
        return Path("metrics/eval") / self.role / f"{self.name}.confusion.csv"

    def identity(self) -> dict[str, object]:
        return {"run": self.name, "role": self.role, "activation": self.activation,
                "dataset": self.dataset, "seed": self.seed}  # fmt: skip


def from_command_line(description: str):
    """Parse ``--role --activation --dataset --seed [--params]`` and validate them with the params
    (train and evaluate share this); returns ``(params, spec)``. Loads nothing heavy."""
    import argparse

    from actbench import activations
    from actbench import params as params_lib

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    params.check_dataset(args.dataset)
    if args.activation not in activations.modules():
        raise ActbenchError(
            f"unknown activation {args.activation!r}; valid names: {', '.join(activations.modules())}"
        )
    return params, RunSpec(args.activation, args.dataset, args.seed, args.role)


def runs_of(
    activation: str, baselines: list[str], datasets: list[str], seeds: list[int]
) -> list[RunSpec]:
    """Every run the params define; the candidate's runs stand for its activation when it is
    also listed among the baselines."""
    out = [RunSpec(activation, d, s, "candidate") for d in datasets for s in seeds]
    for act in baselines:
        if act != activation:
            out += [RunSpec(act, d, s, "baseline") for d in datasets for s in seeds]
    return out


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------

DISTRIBUTIONS = ("actbench", "keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "numpy",
                 "scipy", "scikit-learn", "dvc", "dvclive")  # fmt: skip


@cache
def versions() -> dict[str, str]:
    """Versions of what produced an artifact."""
    out = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


@cache
def code_version() -> str:
    """A digest of the code that ran: every module of this package and every stage script.
    Checkpoints made by other code are never resumed."""
    digest = hashlib.sha256()
    stages = PACKAGE_ROOT.parents[1] / "stages"
    files = sorted(PACKAGE_ROOT.rglob("*.py")) + sorted(stages.glob("*.py"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def machine() -> dict[str, object]:
    """The CPU model and core count, recorded next to every timing."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "system": platform.platform()}


def provenance(profile: str) -> dict[str, object]:
    """What every output records about what produced it."""
    return {"profile": profile, "code": code_version(), "versions": versions()}


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


def read_history(curves_dir: Path) -> dict[str, list[float]]:
    """Per-epoch curves from a dvclive folder (``plots/metrics/<name>.tsv``), in step order."""
    out = {}
    for curve in CURVES:
        path = curves_dir / "plots" / "metrics" / f"{curve}.tsv"
        if not path.is_file():
            raise ActbenchError(f"{path} is missing; rerun the run's train stage (`dvc repro`)")
        with path.open(newline="") as fh:
            rows = sorted(csv.DictReader(fh, delimiter="\t"), key=lambda r: int(r["step"]))
        out[curve] = [float(r[curve]) for r in rows]
    return out
