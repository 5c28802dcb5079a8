"""User image folders: decode and resize PNG/JPEG files into uint8 arrays (the ingest stage).

Two layouts: ``root/<class>/<image>`` (a test split is carved later) or
``root/train/<class>/...`` with ``root/test/<class>/...``. Class names are the sorted folder
names. Every unusable file (not an image, a truncated or corrupt PNG/JPEG, an image of more
than ``MAX_PIXELS``, a broken symlink) is either listed in one error line or, with
``data.skip_non_images: true``, skipped and recorded in the ingested file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError
from actbench.io import atomic_path

MAX_PIXELS = 50_000_000  # per image; larger ones are refused before they are decoded


def _class_dirs(root: Path) -> list[Path]:
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not dirs:
        raise ActbenchError(f"image folder {root} has no class sub-folders")
    return dirs


MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


def _sniff(path: Path) -> str | None:
    """The format a file's first bytes claim (PNG or JPEG), or None."""
    with path.open("rb") as fh:
        head = fh.read(8)
    return next((fmt for magic, fmt in MAGIC.items() if head.startswith(magic)), None)


def _decode(path: Path, size: tuple[int, int], mode: str) -> np.ndarray | str:
    """The resized image as (H, W, C) uint8, or the reason the file cannot be used."""
    from PIL import Image

    if path.is_symlink() and not path.exists():
        return "a broken symlink"
    try:
        claimed = _sniff(path)
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if claimed is None:
        return "not a PNG or JPEG image"
    height, width = size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        return f"more than {MAX_PIXELS:,} pixels"
    except (OSError, ValueError, SyntaxError):  # Pillow's errors for damaged headers
        return f"a truncated or corrupt {claimed} file"
    with img:
        pixels = img.width * img.height
        if pixels > MAX_PIXELS:
            return f"{pixels:,} pixels, more than the {MAX_PIXELS:,} allowed"
        try:
            img = img.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
        except (OSError, ValueError, SyntaxError):  # Pillow's errors for truncated/corrupt data
            return f"a truncated or corrupt {claimed} file"
        return np.asarray(img, dtype=np.uint8).reshape(height, width, -1)


def _read_tree(
    root: Path, classes: list[str], size: tuple[int, int], color: str, bad: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    mode = "RGB" if color == "rgb" else "L"
    images, labels = [], []
    for label, name in enumerate(classes):
        cdir = root / name
        if not cdir.is_dir():
            raise ActbenchError(f"image folder {root} has no class folder {name!r}")
        count = 0
        for path in sorted(p for p in cdir.rglob("*") if p.is_file() or p.is_symlink()):
            decoded = _decode(path, size, mode)
            if isinstance(decoded, str):
                bad.append(f"{path} ({decoded})")
                continue
            images.append(decoded)
            labels.append(label)
            count += 1
        if count == 0:
            raise ActbenchError(f"class folder {cdir} has no usable PNG or JPEG images")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def read_folder(
    path: str, image_size: tuple[int, int], color: str, repo_root: Path, skip_bad: bool
) -> dict[str, np.ndarray]:
    """Read a folder dataset in either layout into arrays (``x_test`` absent without a split)."""
    from PIL import Image

    root = Path(path)
    root = root if root.is_absolute() else repo_root / root
    if not root.is_dir():
        raise ActbenchError(f"image folder {root} does not exist or is not a directory")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses larger images at open, without decoding
    bad: list[str] = []
    split = (root / "train").is_dir() and (root / "test").is_dir()
    classes = [p.name for p in _class_dirs(root / "train" if split else root)]
    arrays: dict[str, np.ndarray] = {}
    for part in ("train", "test") if split else ("train",):
        tree = root / part if split else root
        arrays[f"x_{part}"], arrays[f"y_{part}"] = _read_tree(tree, classes, image_size, color, bad)
    if bad and not skip_bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ActbenchError(
            f"image folder {root} holds {len(bad)} unusable file(s): {shown}; "
            "remove them or set data.skip_non_images: true"
        )
    arrays["class_names"] = np.asarray(classes, dtype=str)
    arrays["skipped"] = np.asarray(bad, dtype=str)
    return arrays


def save_ingested(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a decoded folder dataset (before splitting) atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)


def load_ingested(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run the ingest stage (`dvc repro`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as err:
        raise ActbenchError(
            f"{path} is corrupt ({type(err).__name__}); delete it and run `dvc repro`"
        ) from None
