"""User image folders: decode and resize image files into uint8 arrays (the ingest stage).

Two layouts: ``root/<class>/<image>`` (a test split is carved later) or
``root/train/<class>/...`` with ``root/test/<class>/...``. Class names are the sorted folder
names. System clutter is ignored whatever the params say, and listed in the ingested file:
hidden names (``.DS_Store``, macOS' ``._*`` twins, ``.ipynb_checkpoints/``), ``__MACOSX/``,
``Thumbs.db`` and ``desktop.ini``. Every other file must be a single-frame PNG, JPEG, BMP,
WebP or TIFF image of at most ``MAX_PIXELS``; an unusable one (not such an image, truncated or
corrupt, an animation or multi-page file, a broken symlink) is either listed in one error line
or, with ``data.skip_non_images: true``, skipped and recorded in the ingested file.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actbench.errors import ActbenchError
from actbench.io import atomic_path

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 50_000_000  # per image; larger ones are refused before they are decoded
# Pillow's format name -> (how messages spell it, the Pillow plugin that reads it). Only these
# plugins are loaded and asked to open a file.
FORMATS = {
    "PNG": ("PNG", "PngImagePlugin"),
    "JPEG": ("JPEG", "JpegImagePlugin"),
    "BMP": ("BMP", "BmpImagePlugin"),
    "WEBP": ("WebP", "WebPImagePlugin"),
    "TIFF": ("TIFF", "TiffImagePlugin"),
}
READABLE = "PNG, JPEG, BMP, WebP or TIFF"
# Never data, whatever skip_non_images says (besides every name starting with "."): macOS zip
# folders and Windows' thumbnail caches and folder settings. Compared case-folded, as Windows does.
CLUTTER = frozenset({"__macosx", "thumbs.db", "desktop.ini"})
UINT16_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}  # 16-bit grayscale (PNG, TIFF): scaled to 8 bits


def is_clutter(name: str) -> bool:
    """Whether a file or folder name is the operating system's or a tool's, never an image."""
    return name.startswith(".") or name.casefold() in CLUTTER


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to the folder root, with a trailing ``/`` for a folder."""
    name = path.relative_to(root).as_posix()
    return f"{name}/" if path.is_dir() and not path.is_symlink() else name


def _subdirs(parent: Path, root: Path, ignored: list[str]) -> list[Path]:
    """The folders in ``parent`` that can hold data, sorted; its clutter goes to ``ignored``."""
    entries = sorted(parent.iterdir())
    ignored += [_rel(p, root) for p in entries if is_clutter(p.name)]
    return [p for p in entries if p.is_dir() and not is_clutter(p.name)]


def _files(cdir: Path, root: Path, ignored: list[str]) -> list[Path]:
    """Every file under ``cdir`` (symlinks included, not followed), sorted. Clutter is recorded
    in ``ignored`` and not descended into."""
    found = []
    for top, dirs, files in os.walk(cdir):
        here = Path(top)
        ignored += [_rel(here / n, root) for n in sorted(dirs + files) if is_clutter(n)]
        dirs[:] = [n for n in dirs if not is_clutter(n)]
        found += [here / n for n in files if not is_clutter(n)]
        found += [here / n for n in dirs if (here / n).is_symlink()]  # os.walk does not enter them
    return sorted(found)


def _claimed(head: bytes) -> str | None:
    """The format a file's first bytes claim, by the signature checks of Pillow's plugins."""
    from PIL import Image

    return next((fmt for fmt in FORMATS if Image.OPEN[fmt][1](head) is True), None)


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit grayscale scaled to 8 bits (Pillow's own conversion clips at 255)."""
    from PIL import Image

    if img.mode not in UINT16_MODES:
        return img
    wide = np.asarray(img).astype(np.uint32)  # (H, W), 0..65535
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), mode="L")


def _decode(path: Path, size: tuple[int, int], mode: str) -> np.ndarray | str:
    """The resized image as (H, W, C) uint8, or the reason the file cannot be used."""
    from PIL import Image

    if path.is_symlink() and not path.exists():
        return "a broken symlink"
    try:
        with path.open("rb") as fh:
            claimed = _claimed(fh.read(16))  # 16 bytes: what Pillow's open reads to identify
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if claimed is None:
        return f"not a {READABLE} image"
    corrupt = f"a truncated or corrupt {FORMATS[claimed][0]} file"
    height, width = size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=[claimed])
    except Image.DecompressionBombError:
        return f"more than {MAX_PIXELS:,} pixels"
    except (OSError, ValueError, SyntaxError):  # Pillow's errors for damaged headers
        return corrupt
    with img:
        pixels = img.width * img.height
        if pixels > MAX_PIXELS:
            return f"{pixels:,} pixels, more than the {MAX_PIXELS:,} allowed"
        try:
            frames = getattr(img, "n_frames", 1)  # TIFF counts its pages by reading them
            img.load()
        except (OSError, ValueError, SyntaxError, EOFError):  # truncated or corrupt data
            return corrupt
        # A JPEG's MPO frames are camera extras (previews, stereo): its first is the photo.
        if frames > 1 and img.format != "MPO":
            return f"{frames} frames, an animation or multi-page file (save one frame as an image)"
        if img.mode in ("I", "F") or (img.mode.startswith("I;") and img.mode not in UINT16_MODES):
            return f"{img.mode} pixels (32-bit or signed) have no 8-bit scale; save as 8 or 16 bits"
        img = _to_8bit(img).convert(mode).resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).reshape(height, width, -1)


def _read_tree(
    root: Path,
    tree: Path,
    classes: list[str],
    size: tuple[int, int],
    color: str,
    bad: list[str],
    ignored: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    mode = "RGB" if color == "rgb" else "L"
    images, labels = [], []
    for label, name in enumerate(classes):
        cdir = tree / name
        if not cdir.is_dir():
            raise ActbenchError(f"image folder {tree} has no class folder {name!r}")
        count = 0
        for path in _files(cdir, root, ignored):
            decoded = _decode(path, size, mode)
            if isinstance(decoded, str):
                bad.append(f"{path} ({decoded})")
                continue
            images.append(decoded)
            labels.append(label)
            count += 1
        if count == 0:
            raise ActbenchError(f"class folder {cdir} has no usable {READABLE} images")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def read_folder(
    path: str, image_size: tuple[int, int], color: str, repo_root: Path, skip_bad: bool
) -> dict[str, np.ndarray]:
    """Read a folder dataset in either layout into arrays (``x_test`` absent without a split).

    ``skipped`` lists the unusable files skipped (``path (reason)``), ``ignored`` the clutter
    passed over, relative to the folder (a folder once, with a trailing ``/``)."""
    from PIL import Image

    for _, plugin in FORMATS.values():  # registers exactly these (Image.init() imports dozens)
        importlib.import_module(f"PIL.{plugin}")
    root = Path(path)
    root = root if root.is_absolute() else repo_root / root
    if not root.is_dir():
        raise ActbenchError(f"image folder {root} does not exist or is not a directory")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses larger images at open, without decoding
    bad: list[str] = []
    ignored: list[str] = []
    top = _subdirs(root, root, ignored)
    split = {"train", "test"} <= {p.name for p in top}
    trees = {part: root / part for part in ("train", "test")} if split else {"train": root}
    subdirs = {
        part: _subdirs(tree, root, ignored) if split else top for part, tree in trees.items()
    }
    if not subdirs["train"]:
        raise ActbenchError(f"image folder {trees['train']} has no class sub-folders")
    classes = [p.name for p in subdirs["train"]]
    arrays: dict[str, np.ndarray] = {}
    for part, tree in trees.items():
        arrays[f"x_{part}"], arrays[f"y_{part}"] = _read_tree(
            root, tree, classes, image_size, color, bad, ignored
        )
    if bad and not skip_bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ActbenchError(
            f"image folder {root} holds {len(bad)} unusable file(s): {shown}; "
            "remove them or set data.skip_non_images: true"
        )
    arrays["class_names"] = np.asarray(classes, dtype=str)
    arrays["skipped"] = np.asarray(bad, dtype=str)
    arrays["ignored"] = np.asarray(sorted(set(ignored)), dtype=str)
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
