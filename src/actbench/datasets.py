"""Datasets: where the bytes come from, how they are checked, and how they become arrays.

Three built-in datasets and any number of user image folders:

* ``cifar10``: the official ``cifar-10-python.tar.gz`` (pickled batches), MD5-checked.
* ``fashion_mnist``: the four official IDX ``.gz`` files, each MD5-checked.
* ``digits``: scikit-learn's bundled 8x8 digits; needs no network.
* folders: ``root/<class>/<image>`` (split by us) or ``root/{train,test}/<class>/<image>``.

The official formats are parsed here with the standard library and NumPy, checking magic
numbers, dimensions, counts and label ranges. ``prepare`` turns raw arrays into the prepared
splits: a stratified training subset, then a stratified validation split, original order kept.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import socket
import struct
import tarfile
import tempfile
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actbench.config import Folder
from actbench.errors import ActbenchError


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the official file name, also its name in a mirror directory
    md5: str  # the published checksum


@dataclass(frozen=True)
class Source:
    files: tuple[RemoteFile, ...]
    urls: tuple[str, ...]  # base URLs, tried in order; the first is the official one


# Checksums as published by the dataset authors (CIFAR-10 page; Fashion-MNIST README).
SOURCES: dict[str, Source] = {
    "cifar10": Source(
        files=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        urls=("https://www.cs.toronto.edu/~kriz/",),
    ),
    "fashion_mnist": Source(
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83fd310"),
        ),
        urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' mirror
        ),
    ),
}

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip
DOWNLOAD_TIMEOUT_S = 60  # per socket operation; a dead network fails fast instead of hanging


@dataclass
class RawData:
    """A dataset before splitting: uint8 NHWC images, int64 labels, class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None  # None: no official test split, one is carved by ``prepare``
    y_test: np.ndarray | None
    class_names: list[str]
    checksums: dict[str, str]  # file name -> md5 of what was read
    skipped: list[str]  # non-image files skipped on request (folder datasets)


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _candidates(source: Source, mirror: str) -> list[str]:
    """Base locations to try: the mirror alone when set, else the official URLs."""
    if not mirror:
        return list(source.urls)
    return [mirror if mirror.endswith("/") else mirror + "/"]


def _fetch_one(base: str, name: str, dest: Path) -> None:
    """Copy ``base + name`` to ``dest``: a local directory, or any URL Keras can fetch."""
    if "://" not in base:
        src = Path(base) / name
        if not src.is_file():
            raise ActbenchError(f"mirror directory {base!r} has no file {name!r}")
        shutil.copyfile(src, dest)
        return
    import keras  # deferred: heavy, and not needed for local mirrors

    url = urllib.parse.urljoin(base, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        got = keras.utils.get_file(
            fname=name, origin=url, cache_dir=str(dest.parent), cache_subdir="."
        )
    except Exception as err:  # Keras wraps URLError/HTTPError in a plain Exception
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ActbenchError(f"could not fetch {url}: {reason}") from None
    finally:
        socket.setdefaulttimeout(previous)
    if Path(got) != dest:
        shutil.move(got, dest)


def download(dataset: str, out_dir: Path, mirror: str = "") -> dict[str, str]:
    """Fetch the official files of ``dataset`` into ``out_dir``; return ``{name: md5}``.

    Every file is checked against its published MD5 before anything is written to ``out_dir``;
    files already there with the right checksum are kept. Nothing partial is ever left behind:
    files land in a temporary directory and are renamed into place only when all are verified.
    """
    source = SOURCES[dataset]
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset}-", dir=out_dir.parent))
    try:
        checksums = {}
        for remote in source.files:
            final = out_dir / remote.name
            if final.is_file() and md5sum(final) == remote.md5:
                checksums[remote.name] = remote.md5
                continue
            tmp = staging / remote.name
            errors = []
            for base in _candidates(source, mirror):
                try:
                    _fetch_one(base, remote.name, tmp)
                    break
                except ActbenchError as err:
                    errors.append(str(err))
            else:
                hint = (
                    "check data.mirror"
                    if mirror
                    else "the network may be unreachable; put the official files in a directory "
                    "and run with -S data.mirror=/that/dir (or a http(s)/file:// base URL)"
                )
                raise ActbenchError(f"download of {dataset} failed: {errors[-1]}; {hint}")
            actual = md5sum(tmp)
            if actual != remote.md5:
                raise ActbenchError(
                    f"checksum mismatch for {remote.name}: expected md5 {remote.md5}, "
                    f"got {actual}; "
                    "the file is corrupt or not the official one: delete it from the mirror and "
                    "fetch it again"
                )
            checksums[remote.name] = actual
        for tmp in staging.iterdir():
            tmp.replace(out_dir / tmp.name)
        return checksums
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Parsers of the official formats
# ---------------------------------------------------------------------------------------------

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"


def _cifar_batch(tar: tarfile.TarFile, member: str, archive: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        fh = tar.extractfile(f"{CIFAR_DIR}/{member}")
    except KeyError:
        fh = None
    if fh is None:
        raise ActbenchError(f"CIFAR-10 archive {archive} has no batch {CIFAR_DIR}/{member}")
    try:
        batch = pickle.load(fh, encoding="bytes")  # the archive's checksum was verified first
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception:
        raise ActbenchError(f"CIFAR-10 batch {member} in {archive} is not a valid batch") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ActbenchError(
            f"CIFAR-10 batch {member} has data {data.shape} and {len(labels)} labels; "
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


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file, checking the magic number and that the data fill the header."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise ActbenchError(f"{path.name} is not a complete gzip file ({err})") from None
    if len(raw) < 4:
        raise ActbenchError(f"{path.name} is too short to be an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in IDX_DTYPES or ndim < 1:
        raise ActbenchError(f"{path.name} has a bad IDX magic number {raw[:4].hex()}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ActbenchError(f"{path.name} is truncated inside its IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    actual = len(raw) - header
    if actual != expected:
        raise ActbenchError(
            f"{path.name}: header says {dims[0]} items of shape {dims[1:]} ({expected} bytes), "
            f"file holds {actual} bytes"
        )
    return np.frombuffer(raw, dtype=IDX_DTYPES[dtype_code], offset=header).reshape(dims)


def read_fashion_mnist(raw_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for prefix in ("train", "t10k"):
        images = read_idx(raw_dir / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(raw_dir / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ActbenchError(
                f"Fashion-MNIST {prefix} files disagree: images {images.shape}, "
                f"labels {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ActbenchError(f"Fashion-MNIST {prefix} labels fall outside 0..9")
        out += [images[..., None].copy(), labels]  # (N, 28, 28) -> (N, 28, 28, 1)
    return out[0], out[1], out[2], out[3]


def read_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 8x8 digits as uint8 images (its 0..16 levels scaled to 0..255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    return images, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


# ---------------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------------

IMAGE_FORMATS = {"PNG", "JPEG"}


def _class_dirs(root: Path) -> list[Path]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not dirs:
        raise ActbenchError(f"image folder {root} has no class sub-folders")
    return dirs


def _read_tree(
    root: Path, classes: list[str], folder: Folder, skip_non_images: bool, bad: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    height, width = folder.image_size
    mode = "RGB" if folder.color == "rgb" else "L"
    images, labels = [], []
    for label, name in enumerate(classes):
        cdir = root / name
        if not cdir.is_dir():
            raise ActbenchError(f"image folder {root} has no class folder {name!r}")
        count = 0
        for path in sorted(p for p in cdir.rglob("*") if p.is_file()):
            try:
                with Image.open(path) as img:
                    if img.format not in IMAGE_FORMATS:
                        raise UnidentifiedImageError
                    img = img.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                    images.append(np.asarray(img, dtype=np.uint8).reshape(height, width, -1))
            except (UnidentifiedImageError, OSError):
                bad.append(str(path))
                continue
            labels.append(label)
            count += 1
        if count == 0:
            raise ActbenchError(f"class folder {cdir} has no PNG or JPEG images")
    if bad and not skip_non_images:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ActbenchError(
            f"image folder {root} holds {len(bad)} file(s) that are not PNG/JPEG images: {shown}; "
            "remove them or set data.skip_non_images: true"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def read_folder(folder: Folder, repo_root: Path, skip_non_images: bool) -> RawData:
    """Read a folder dataset in either layout; class names are the sorted sub-folder names."""
    root = Path(folder.path)
    root = root if root.is_absolute() else repo_root / root
    if not root.is_dir():
        raise ActbenchError(f"image folder {root} does not exist or is not a directory")
    bad: list[str] = []
    split = (root / "train").is_dir() and (root / "test").is_dir()
    if split:
        classes = [p.name for p in _class_dirs(root / "train")]
        x_train, y_train = _read_tree(root / "train", classes, folder, skip_non_images, bad)
        x_test, y_test = _read_tree(root / "test", classes, folder, skip_non_images, bad)
    else:
        classes = [p.name for p in _class_dirs(root)]
        x_train, y_train = _read_tree(root, classes, folder, skip_non_images, bad)
        x_test = y_test = None
    return RawData(x_train, y_train, x_test, y_test, classes, {}, skipped=bad)


# ---------------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------------


def _stratified(
    y: np.ndarray, size: float | int, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, rest) of a stratified split; each returned in original order."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    try:
        kept, rest = train_test_split(idx, train_size=size, stratify=y, random_state=seed)
    except ValueError as err:
        raise ActbenchError(f"cannot take a stratified {what}: {err}") from None
    return np.sort(kept), np.sort(rest)


def prepare(
    raw: RawData, *, val_size: float, test_size: float, split_seed: int, train_size: int | None
) -> dict[str, np.ndarray]:
    """Split raw arrays into train/val/test, stratified and deterministic.

    Order of operations: carve a test split if there is no official one (``test_size``), take a
    stratified subset of ``train_size`` training images if asked, then hold out ``val_size`` of
    those for validation. Within each split the original order is kept.
    """
    x_train, y_train, x_test, y_test = raw.x_train, raw.y_train, raw.x_test, raw.y_test
    if x_test is None:
        keep, test = _stratified(y_train, 1.0 - test_size, split_seed, f"test split of {test_size}")
        x_test, y_test = x_train[test], y_train[test]
        x_train, y_train = x_train[keep], y_train[keep]
    if train_size is not None:
        if train_size > len(y_train):
            raise ActbenchError(
                f"train_size = {train_size} is larger than the {len(y_train)} training images"
            )
        if train_size < len(y_train):
            keep, _ = _stratified(y_train, train_size, split_seed, f"subset of {train_size}")
            x_train, y_train = x_train[keep], y_train[keep]
    if not 0.0 < val_size < 1.0:
        raise ActbenchError(
            f"data.val_size = {val_size!r} is not valid; expected a number in (0, 1)"
        )
    train, val = _stratified(y_train, 1.0 - val_size, split_seed, f"validation split of {val_size}")
    return {
        "x_train": x_train[train],
        "y_train": y_train[train],
        "x_val": x_train[val],
        "y_val": y_train[val],
        "x_test": x_test,
        "y_test": y_test,
        "class_names": np.asarray(raw.class_names, dtype=str),
    }


def counts(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Images per split and per class name, for the sidecar JSON."""
    names = [str(n) for n in arrays["class_names"]]
    out = {}
    for split in ("train", "val", "test"):
        y = arrays[f"y_{split}"]
        per_class = np.bincount(y, minlength=len(names))
        out[split] = {
            "total": int(len(y)),
            **{n: int(c) for n, c in zip(names, per_class, strict=True)},
        }
    return out


def save_prepared(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the prepared ``.npz`` atomically (uncompressed: uint8 is already 4x smaller)."""
    from actbench.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)


PREPARED_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "class_names")


def load_prepared(path: Path) -> dict[str, np.ndarray]:
    """Read a prepared ``.npz``, checking that it is complete and consistent."""
    import zipfile

    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run `dvc repro` to prepare it")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in PREPARED_KEYS}
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ActbenchError(
            f"{path} is corrupt or incomplete ({err}); delete it and run `dvc repro`"
        ) from None
    n_classes = len(arrays["class_names"])
    for split in ("train", "val", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y) or len(y) == 0:
            raise ActbenchError(
                f"{path}: split {split!r} is malformed; delete it and run `dvc repro`"
            )
        if y.min() < 0 or y.max() >= n_classes:
            raise ActbenchError(f"{path}: {split} labels fall outside 0..{n_classes - 1}")
    return arrays


def verify(path: Path, md5: str) -> str:
    """Check ``path`` against its published MD5 before anything reads it; return the MD5."""
    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run the download stage (`dvc repro`)")
    actual = md5sum(path)
    if actual != md5:
        raise ActbenchError(
            f"checksum mismatch for {path}: expected md5 {md5}, got {actual}; "
            "delete it and run `dvc repro` to download it again"
        )
    return actual


def load_raw(dataset: str, raw_dir: Path, folder_arrays: Path | None = None) -> RawData:
    """The raw arrays of a built-in dataset, or of an ingested folder dataset."""
    files = raw_dir / "download"
    if dataset in SOURCES:
        sums = {f.name: verify(files / f.name, f.md5) for f in SOURCES[dataset].files}
        if dataset == "cifar10":
            xtr, ytr, xte, yte = read_cifar10(files / "cifar-10-python.tar.gz")
            names = list(CIFAR10_CLASSES)
        else:
            xtr, ytr, xte, yte = read_fashion_mnist(files)
            names = list(FASHION_MNIST_CLASSES)
        return RawData(xtr, ytr, xte, yte, names, sums, skipped=[])
    if dataset == "digits":
        x, y, names = read_digits()
        return RawData(x, y, None, None, names, {}, skipped=[])
    path = folder_arrays or raw_dir / "ingested.npz"
    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run the ingest stage (`dvc repro`)")
    with np.load(path, allow_pickle=False) as npz:
        has_test = "x_test" in npz
        return RawData(
            npz["x_train"],
            npz["y_train"],
            npz["x_test"] if has_test else None,
            npz["y_test"] if has_test else None,
            [str(n) for n in npz["class_names"]],
            {},
            skipped=[str(s) for s in npz["skipped"]],
        )


def save_ingested(path: Path, raw: RawData) -> None:
    """Write a decoded folder dataset (before splitting) atomically."""
    from actbench.io import atomic_path

    arrays = {
        "x_train": raw.x_train,
        "y_train": raw.y_train,
        "class_names": np.asarray(raw.class_names, dtype=str),
        "skipped": np.asarray(raw.skipped, dtype=str),
    }
    if raw.x_test is not None:
        arrays |= {"x_test": raw.x_test, "y_test": raw.y_test}
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)
