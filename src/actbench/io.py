"""Small I/O helpers shared by the stages: atomic writes and provenance.

Every file a stage hands to DVC is written to a temporary name in the same directory and then
renamed, so a killed or failed stage never leaves a half-written output for DVC to cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_writable(*directories: str | Path) -> None:
    """Create ``directories`` and prove each is writable, before any long work starts."""
    from actbench.errors import ActbenchError

    for directory in map(Path, directories):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise ActbenchError(
                f"cannot write to {directory} ({err.strerror or err}); fix its permissions or remove what blocks it"
            ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    with Path(path).open() as fh:
        return json.load(fh)


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


def versions() -> dict[str, str]:
    """Versions of what produced an artifact; every output records them."""
    out = {"python": platform.python_version()}
    for dist in ("actbench", "tensorflow-cpu", "tensorflow", "keras", "numpy", "dvc", "dvclive"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
