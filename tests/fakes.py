"""Test helpers: the official-format writers, and checksums that trust the fake files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tools.synthetic import cifar_tarball, idx_gz, make_mirror, md5, sha256

from actbench.data import catalog

__all__ = ["cifar_tarball", "idx_gz", "make_mirror", "md5", "sha256", "trust_mirror"]


def trust_mirror(monkeypatch, root: Path) -> None:
    """Point the published checksums at the fake files (the real ones cannot match them)."""
    for name, builtin in list(catalog.BUILTIN.items()):
        files = tuple(
            catalog.RemoteFile(
                f.name, (root / f.name).stat().st_size, md5(root / f.name), sha256(root / f.name)
            )
            for f in builtin.files
        )
        monkeypatch.setitem(catalog.BUILTIN, name, dataclasses.replace(builtin, files=files))
