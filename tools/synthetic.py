"""Synthetic files in the exact official formats, for tests and for timing on real shapes.

* CIFAR-10 python: a tar.gz with ``cifar-10-batches-py/data_batch_{1..5}`` and ``test_batch``,
  each a pickled dict with ``b"data"`` (N, 3072) uint8 in CHW order and ``b"labels"``.
* (Fashion-)MNIST IDX: gzip of a big-endian header (0, 0, 0x08, ndim, dims...) and the bytes.

Pixel values are random: speed does not depend on them, accuracy does (so never report one).
The pickles use protocol 2, as the official Python 2 files do.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from actbench.data import catalog


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trusted(builtin: catalog.Builtin, root: Path) -> catalog.Builtin:
    """``builtin`` with the size and checksums of the synthetic files in ``root`` in place of the
    published ones, which they cannot match. Hashed here with hashlib, not with the code under test."""
    files = tuple(
        catalog.RemoteFile(
            f.name, (root / f.name).stat().st_size, md5(root / f.name), sha256(root / f.name)
        )
        for f in builtin.files
    )
    return dataclasses.replace(builtin, files=files)


def cifar_tarball(path: Path, train: list[tuple], test: tuple, skip: str | None = None) -> None:
    """``train``: five (x NHWC uint8, y) batches; ``test``: one; ``skip``: a member to leave out."""
    members = {f"data_batch_{i + 1}": b for i, b in enumerate(train)} | {"test_batch": test}
    with tarfile.open(path, "w:gz") as tar:
        for name, (x, y) in members.items():
            if name == skip:
                continue
            chw = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # NHWC -> N x (C*H*W)
            blob = pickle.dumps({b"data": chw, b"labels": [int(v) for v in y]}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def idx_gz(path: Path, array: np.ndarray, claim: int | None = None) -> None:
    """Write ``array`` (uint8) as gzipped IDX; ``claim`` overrides the item count in the header."""
    dims = list(array.shape)
    if claim is not None:
        dims[0] = claim
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *dims)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_mirror(
    root: Path, rng: np.random.Generator, per_batch: int = 20, fm_train: int = 60, fm_test: int = 20
) -> dict:
    """A mirror directory with both official datasets; returns the arrays written."""
    root.mkdir(parents=True, exist_ok=True)
    train = [
        (rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8), np.arange(per_batch) % 10)
        for _ in range(5)
    ]
    test = (rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8), np.arange(per_batch) % 10)
    cifar_tarball(root / "cifar-10-python.tar.gz", train, test)
    fm = {
        "train": (
            rng.integers(0, 256, (fm_train, 28, 28), dtype=np.uint8),
            np.arange(fm_train) % 10,
        ),
        "t10k": (rng.integers(0, 256, (fm_test, 28, 28), dtype=np.uint8), np.arange(fm_test) % 10),
    }
    for prefix, (x, y) in fm.items():
        idx_gz(root / f"{prefix}-images-idx3-ubyte.gz", x)
        idx_gz(root / f"{prefix}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    return {
        "cifar10": (
            np.concatenate([b[0] for b in train]),
            np.concatenate([b[1] for b in train]),
            *test,
        ),
        "fashion_mnist": (
            fm["train"][0][..., None],
            fm["train"][1],
            fm["t10k"][0][..., None],
            fm["t10k"][1],
        ),
    }
