"""Test helpers: the official-format writers, and checksums that trust the fake files."""

from __future__ import annotations

from pathlib import Path

from actbench import datasets
from actbench.synthetic import cifar_tarball, idx_gz, make_mirror, md5

__all__ = ["cifar_tarball", "idx_gz", "make_mirror", "md5", "trust_mirror"]


def trust_mirror(monkeypatch, root: Path) -> None:
    """Point the published checksums at the fake files (the real ones cannot match them)."""
    for name, source in list(datasets.SOURCES.items()):
        files = tuple(datasets.RemoteFile(f.name, md5(root / f.name)) for f in source.files)
        monkeypatch.setitem(datasets.SOURCES, name, datasets.Source(files, source.urls))
