"""The prepared arrays: the one data module that training and evaluation depend on.

``data/prepared/<dataset>.npz`` holds uint8 NHWC images and int64 labels for the train, val and
test splits, plus the class names; ``<dataset>.json`` next to it says where they came from.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError
from actbench.io import atomic_path

KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "class_names")
SPLITS = ("train", "val", "test")


def path_of(dataset: str) -> Path:
    return Path("data/prepared") / f"{dataset}.npz"


def sidecar_of(dataset: str) -> Path:
    return Path("data/prepared") / f"{dataset}.json"


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the prepared ``.npz`` atomically (uncompressed: uint8 is already 4x smaller)."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **{k: arrays[k] for k in KEYS})


def load(path: Path, splits: tuple[str, ...] = SPLITS) -> dict[str, np.ndarray]:
    """Read the class names and the arrays of ``splits`` from a prepared ``.npz``, checking that
    they are complete and consistent. Only the named splits are read from the file (``.npz``
    members load one by one): training and tuning pass ``("train", "val")``, so the test split
    is read by the evaluate stage alone."""
    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run `dvc repro` to prepare it")
    keys = [*(f"{a}_{s}" for s in splits for a in "xy"), "class_names"]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in keys}
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ActbenchError(
            f"{path} is corrupt or incomplete ({reason}); delete it and run `dvc repro`"
        ) from None
    n_classes = len(arrays["class_names"])
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
            raise ActbenchError(
                f"{path}: split {split!r} is malformed; delete it and run `dvc repro`"
            )
        if y.min() < 0 or y.max() >= n_classes:
            raise ActbenchError(f"{path}: {split} labels fall outside 0..{n_classes - 1}")
    return arrays
