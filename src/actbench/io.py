"""Small I/O helpers shared by the stages: atomic, durable writes and file digests.

Every file a stage hands to DVC is written under a temporary name in a staging directory
outside every tracked folder (``.dvc/tmp/actbench``), flushed to disk, and renamed into place
only on success. A killed or failed stage never leaves a half-written output for DVC to cache,
nor a temporary file in a folder another stage reads; leftovers of killed processes are removed
when the next stage starts.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STAGING = Path(".dvc") / "tmp" / "actbench"  # relative to the repository root (a stage's cwd)


def staging_dir(near: Path) -> Path:
    """Where temporary files for ``near`` go: the repository's staging folder when there is
    one (same file system, so the final rename is atomic), else next to ``near``."""
    if STAGING.parent.is_dir():
        STAGING.mkdir(exist_ok=True)
        return STAGING
    near.parent.mkdir(parents=True, exist_ok=True)
    return near.parent


def clean_staging() -> None:
    """Remove what killed processes left in the staging folder (names start with their pid)."""
    if not STAGING.is_dir():
        return
    for entry in STAGING.iterdir():
        pid = entry.name.split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        with file.open("rb+") as fh:
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(
    path: str | Path, suffix: str = "", directory: bool = False, sibling: bool = False
) -> Iterator[Path]:
    """Yield a temporary path for ``path`` (a file, or a folder when ``directory``); on success
    flush it to disk and rename it onto ``path``; on failure remove it. ``sibling`` keeps the
    temporary next to ``path`` (for folders no other stage reads, possibly on other storage)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent if sibling else staging_dir(path)
    prefix = f"{os.getpid()}.{path.name}." if staging == STAGING else f".{path.name}."
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=staging))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix or path.suffix, dir=staging)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        _fsync_tree(tmp)
        mode = 0o777 if directory else 0o666
        os.chmod(tmp, mode & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        if directory and path.exists():
            shutil.rmtree(path)
        try:
            os.replace(tmp, path)
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
            shutil.move(tmp, path)  # staging on another file system (a symlinked output): copy
        _fsync_dir(path.parent)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def all_or_nothing(*outputs: str | Path) -> Iterator[None]:
    """A stage's outputs appear together or not at all: on an error, remove those written."""
    try:
        yield
    except BaseException:
        for output in map(Path, outputs):
            if output.is_dir() and not output.is_symlink():
                shutil.rmtree(output, ignore_errors=True)
            else:
                output.unlink(missing_ok=True)
        raise


def ensure_writable(*directories: str | Path) -> None:
    """Create ``directories`` and prove each is writable, before any long work starts."""
    from actbench.errors import ActbenchError

    for directory in map(Path, directories):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=f"{os.getpid()}.write-test-", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise ActbenchError(
                f"cannot write to {directory} ({err.strerror or err}); "
                "fix its permissions or remove what blocks it"
            ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically and durably."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    with Path(path).open() as fh:
        return json.load(fh)


def digests(path: str | Path, *algorithms: str) -> dict[str, str]:
    """Hex digests of a file in one pass, e.g. ``digests(p, "md5", "sha256")``."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}
