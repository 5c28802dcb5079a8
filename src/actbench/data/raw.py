"""A dataset's arrays before splitting, from whichever source it has (the preprocess stage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench.data import catalog, folders, formats, sources
from actbench.errors import ActbenchError


@dataclass
class RawData:
    """A dataset before splitting: uint8 NHWC images, int64 labels, class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None  # None: no official test split, one is carved by ``prepare``
    y_test: np.ndarray | None
    class_names: list[str]
    checksums: dict[str, dict[str, str]]  # file name -> digests of what was read
    skipped: list[str]  # unusable files skipped on request (folder datasets)
    ignored: list[str] = field(default_factory=list)  # system clutter passed over (folder datasets)


def load_raw(dataset: str, raw_dir: Path) -> RawData:
    """The raw arrays of a built-in dataset (from ``raw_dir/download``) or of an ingested folder
    dataset (``raw_dir/ingested.npz``)."""
    builtin = catalog.BUILTIN.get(dataset)
    if builtin is not None and builtin.files:
        files = raw_dir / "download"
        sums = {f.name: sources.verify(files / f.name, f) for f in builtin.files}
        if dataset == "cifar10":
            xtr, ytr, xte, yte = formats.read_cifar10(files / builtin.files[0].name)
        elif dataset == "fashion_mnist":
            xtr, ytr, xte, yte = formats.read_fashion_mnist(files)
        else:
            raise ActbenchError(f"no parser for built-in dataset {dataset!r}")
        return RawData(xtr, ytr, xte, yte, list(builtin.classes), sums, skipped=[])
    if dataset == "digits":
        x, y = formats.read_digits()
        return RawData(x, y, None, None, list(catalog.DIGITS.classes), {}, skipped=[])
    arrays = folders.load_ingested(raw_dir / "ingested.npz")
    return RawData(
        arrays["x_train"],
        arrays["y_train"],
        arrays.get("x_test"),
        arrays.get("y_test"),
        [str(n) for n in arrays["class_names"]],
        {},
        skipped=[str(s) for s in arrays["skipped"]],
        ignored=[str(s) for s in arrays.get("ignored", [])],
    )
