"""Stratified, deterministic train/validation/test splits (the preprocess stage)."""

from __future__ import annotations

import numpy as np

from actbench.data.raw import RawData
from actbench.errors import ActbenchError


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
