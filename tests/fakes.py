"""Test helpers: the official-format writers, and checksums that trust the fake files."""

from __future__ import annotations

from pathlib import Path

from tools.synthetic import cifar_tarball, idx_gz, make_mirror, md5, sha256, trusted

from actbench.data import catalog

__all__ = ["cifar_tarball", "idx_gz", "make_mirror", "md5", "sha256", "trust_mirror"]


def trust_mirror(monkeypatch, root: Path) -> None:
    """Point the published checksums at the fake files (the real ones cannot match them)."""
    for name, builtin in list(catalog.BUILTIN.items()):
        monkeypatch.setitem(catalog.BUILTIN, name, trusted(builtin, root))
