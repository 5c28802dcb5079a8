"""What every artifact records about what produced it: versions, the code, the machine.

Kept apart from ``runs`` (a run's identity and paths): recording one more version here changes
what the stages write, not which runs exist.
"""

from __future__ import annotations

import hashlib
import os
import platform
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent  # src/actbench
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
