"""Parsers of the official file formats, written with the standard library and NumPy.

* CIFAR-10 python: a tar.gz of pickled batches. They are unpickled by an unpickler that only
  admits the NumPy array types the official files use, so a crafted pickle cannot run code.
* IDX (Fashion-MNIST): a big-endian header of magic number and dimensions, then the bytes.
  Sizes are checked with Python integers before anything is allocated.

Every check failure is one ``ActbenchError`` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_MAX_BATCH_BYTES = 64 << 20  # an official batch is 31 MB once unpacked

# The globals an official (or NumPy-written) CIFAR-10 batch may name, and nothing else.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3 (as torch allows it)
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(tar: tarfile.TarFile, member: str, archive: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        info = tar.getmember(f"{CIFAR_DIR}/{member}")
        fh = tar.extractfile(info) if info.isfile() and info.size <= CIFAR_MAX_BATCH_BYTES else None
    except KeyError:
        raise ActbenchError(
            f"CIFAR-10 archive {archive} has no batch {CIFAR_DIR}/{member}"
        ) from None
    if fh is None:
        raise ActbenchError(
            f"CIFAR-10 archive {archive}: {CIFAR_DIR}/{member} is not a regular file of at most "
            f"{CIFAR_MAX_BATCH_BYTES >> 20} MB"
        )
    try:
        batch = _BatchUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except pickle.UnpicklingError as err:
        raise ActbenchError(
            f"CIFAR-10 batch {member} in {archive} is not safe to load: {err}"
        ) from None
    except Exception:
        raise ActbenchError(f"CIFAR-10 batch {member} in {archive} is not a valid batch") from None
    if (
        data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
        or labels.ndim != 1
        or len(labels) != len(data)
    ):
        raise ActbenchError(
            f"CIFAR-10 batch {member} has data {data.shape} and labels {labels.shape}; "
            "expected (N, 3072) and N labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ActbenchError(f"CIFAR-10 batch {member} has labels outside 0..9")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    return np.ascontiguousarray(images), labels


def read_cifar10(archive: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse ``cifar-10-python.tar.gz`` into uint8 NHWC train/test images and int64 labels."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            train = [_cifar_batch(tar, name, archive) for name in CIFAR_TRAIN]
            x_test, y_test = _cifar_batch(tar, CIFAR_TEST, archive)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ActbenchError(f"{archive} is not a readable tar.gz archive ({err})") from None
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test


IDX_DTYPES = {0x08: np.uint8}  # the only element type the (Fashion-)MNIST files use
IDX_MAX_BYTES = 1 << 30  # the largest official file unpacks to 47 MB


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file, checking the magic number and that the data fill the header."""
    try:
        with gzip.open(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4:
                raise ActbenchError(f"{path.name} is too short to be an IDX file")
            zero, dtype_code, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype_code not in IDX_DTYPES or ndim < 1:
                raise ActbenchError(f"{path.name} has a bad IDX magic number {head.hex()}")
            dims_raw = fh.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise ActbenchError(f"{path.name} is truncated inside its IDX header")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            expected = math.prod(dims)  # a Python int: cannot overflow
            if expected > IDX_MAX_BYTES:
                raise ActbenchError(
                    f"{path.name}: header claims dimensions {dims} ({expected} bytes), more than "
                    f"the {IDX_MAX_BYTES} an IDX file here may hold"
                )
            raw = fh.read(expected + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise ActbenchError(f"{path.name} is not a complete gzip file ({err})") from None
    if len(raw) != expected:
        raise ActbenchError(
            f"{path.name}: header says {dims[0]} items of shape {dims[1:]} ({expected} bytes), "
            f"file holds {'more than ' if len(raw) > expected else ''}"
            f"{min(len(raw), expected)} bytes"
        )
    return np.frombuffer(raw, dtype=IDX_DTYPES[dtype_code]).reshape(dims)


def read_fashion_mnist(raw_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for prefix in ("train", "t10k"):
        images = read_idx(raw_dir / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_labels(raw_dir / f"{prefix}-labels-idx1-ubyte.gz")
        if images.ndim != 3 or len(images) != len(labels):
            raise ActbenchError(
                f"Fashion-MNIST {prefix} files disagree: images {images.shape}, labels {labels.shape}"
            )
        out += [images[..., None].copy(), labels]  # (N, 28, 28) -> (N, 28, 28, 1)
    return out[0], out[1], out[2], out[3]


def read_labels(path: Path, classes: int = 10) -> np.ndarray:
    """An IDX label file as int64 labels, checked to be one-dimensional and in range."""
    labels = read_idx(path).astype(np.int64)
    if labels.ndim != 1:
        raise ActbenchError(
            f"{path.name}: labels must be one-dimensional, found shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ActbenchError(f"{path.name}: labels fall outside 0..{classes - 1}")
    return labels


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as uint8 images (its 0..16 levels scaled to 0..255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    return images, bunch.target.astype(np.int64)
