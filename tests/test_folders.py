"""Image folders as users have them (actbench.data.folders), built from real CIFAR-10 JPEGs.

Each folder mixes extensions and their case (``.JPG``, ``.jpeg``, ``.png``, ``.webp``, ``.BMP``,
``.tiff``), grayscale, 16-bit and non-square images, and the clutter macOS, Windows and Jupyter
leave (``.DS_Store``, ``._*`` twins, ``__MACOSX/``, ``Thumbs.db``, ``desktop.ini``,
``.ipynb_checkpoints/`` holding a real JPEG). The references are the source JPEGs' own pixels,
so every image is checked, not only counted.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ruamel.yaml import YAML

from actbench.data import folders, prepared
from actbench.errors import ActbenchError

from .project import make_repo, set_params, sh

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg"
pytestmark = [
    pytest.mark.portable,  # also runs on Keras + JAX (make test-jax): no TensorFlow here
    pytest.mark.skipif(not (CIFAR / "train").is_dir(), reason=f"no real images in {CIFAR}"),
]
COUNTS = {"airplane": 12, "cat": 9, "ship": 6}  # unequal, so stratification shows
# Suffix -> how the real image is written there. Extensions differ in case on purpose.
KINDS = (".JPG", ".jpeg", ".png", ".webp", ".BMP", ".tiff", "-gray.png", "-16bit.tif", "-wide.png",
         "-mpo.jpg", ".jpg")  # fmt: skip
# First bytes of the real clutter files (their formats' magic numbers), so none is empty.
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(64)
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
THUMBS_DB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64)  # an OLE compound file
DESKTOP_INI = b"[.ShellClassInfo]\r\nIconResource=C:\\Windows\\system32\\imageres.dll,-3\r\n"


def rgb(path: Path) -> np.ndarray:
    """A file's pixels as (H, W, 3) uint8."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def write_as(src: Path, dest: Path, kind: str) -> tuple[np.ndarray, float]:
    """Write the real image ``src`` as ``kind`` at ``dest``. Returns the (32, 32, 3) pixels
    ingesting it must give and the largest mean absolute difference allowed (0: exact)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("RGB")
    gray = np.asarray(img.convert("L"))
    if kind.lower() in (".jpg", ".jpeg"):  # the bytes as they are, under another extension
        shutil.copyfile(src, dest)
        return rgb(src), 0
    if kind == ".webp":
        img.save(dest, lossless=True)
        return rgb(src), 0
    if kind in (".png", ".BMP", ".tiff"):  # lossless: the JPEG's decoded pixels, exactly
        img.save(dest)
        return rgb(src), 0
    if kind == "-gray.png":
        img.convert("L").save(dest)
        return np.repeat(gray[..., None], 3, axis=-1), 0
    if kind == "-16bit.tif":  # 16-bit grayscale, as scanners and microscopes write it
        Image.fromarray(gray.astype(np.uint16) * 257).save(dest)  # 8 -> 16 bits: x * 257
        return np.repeat(gray[..., None], 3, axis=-1), 0  # and back exactly
    if kind == "-wide.png":  # non-square (48 x 32): resized, not cropped, back to 32 x 32
        img.resize((48, 32), Image.Resampling.BICUBIC).save(dest)
        return rgb(src), 6  # measured: 1.9-2.7 levels; two different CIFAR images: ~90
    if kind == "-mpo.jpg":  # a camera JPEG with an extra (MPO) frame: its first frame is read
        img.save(dest, format="MPO", save_all=True, append_images=[img.rotate(90)], quality=95)
        return rgb(src), 2  # measured: 0.27 levels (re-encoded at quality 95)
    raise AssertionError(kind)


def real(cls: str, n: int, split: str = "train") -> list[Path]:
    return sorted((CIFAR / split / cls).glob("*.jpg"))[:n]


def user_folder(root: Path, with_split: bool = False, counts: dict[str, int] = COUNTS) -> dict:
    """A folder of real images of every kind in KINDS, and the clutter users' systems add.

    Returns ``refs`` (per part: (label, pixels, tolerance) in the order ingest reads them) and
    ``ignored`` (what ingest must list: relative, a folder once with a trailing ``/``)."""
    ignored = []

    def litter(rel: str, blob: bytes, listed: str | None = None) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(blob)
        ignored.append(listed or rel)

    litter(".DS_Store", DS_STORE)
    # A zip unpacked on a Mac: __MACOSX/ mirrors the folders with ._* twins.
    litter("__MACOSX/airplane/._0000.JPG", APPLE_DOUBLE, listed="__MACOSX/")
    parts = ("train", "test") if with_split else ("train",)
    refs = {}
    for part in parts:
        tree = f"{part}/" if with_split else ""
        if with_split:
            litter(f"{part}/Thumbs.db", THUMBS_DB)
        refs[part] = []
        for label, cls in enumerate(sorted(counts)):
            written = {}
            for i, src in enumerate(real(cls, counts[cls] if part == "train" else 3, part)):
                dest = root / f"{tree}{cls}" / f"{i:04d}{KINDS[i % len(KINDS)]}"
                written[dest] = write_as(src, dest, KINDS[i % len(KINDS)])
            refs[part] += [(label, *written[p]) for p in sorted(written)]  # ingest reads sorted
            litter(f"{tree}{cls}/.DS_Store", DS_STORE)
            litter(f"{tree}{cls}/._0000.JPG", APPLE_DOUBLE)  # macOS' twin of a real image
            litter(f"{tree}{cls}/Thumbs.db", THUMBS_DB)
            litter(f"{tree}{cls}/desktop.ini", DESKTOP_INI)
            litter(f"{tree}{cls}/.ipynb_checkpoints/0000-checkpoint.jpg",  # a real JPEG: not read twice
                   real(cls, 1)[0].read_bytes(), listed=f"{tree}{cls}/.ipynb_checkpoints/")  # fmt: skip
    return {"refs": refs, "ignored": sorted(ignored)}


def check_pixels(x: np.ndarray, y: np.ndarray, refs: list) -> None:
    assert len(x) == len(refs)
    assert y.tolist() == [label for label, _, _ in refs]
    for i, (_, ref, tol) in enumerate(refs):
        diff = np.abs(x[i].astype(int) - ref.astype(int))
        assert diff.mean() <= tol, (i, diff.mean(), tol)
        if tol == 0:
            np.testing.assert_array_equal(x[i], ref)


# --- clutter is ignored and listed; every real image is used, pixel for pixel -----------------


@pytest.mark.parametrize("with_split", [False, True], ids=["flat", "train-test"])
def test_clutter_is_ignored_and_listed_and_every_real_image_is_used(tmp_path, with_split):
    made = user_folder(tmp_path / "photos", with_split)
    arrays = folders.read_folder("photos", (32, 32), "rgb", tmp_path, skip_bad=False)  # the default
    assert arrays["class_names"].tolist() == sorted(COUNTS)  # no "__MACOSX" class
    assert arrays["skipped"].tolist() == []
    assert arrays["ignored"].tolist() == made["ignored"]
    for part, refs in made["refs"].items():
        check_pixels(arrays[f"x_{part}"], arrays[f"y_{part}"], refs)
    assert np.bincount(arrays["y_train"]).tolist() == [COUNTS[c] for c in sorted(COUNTS)]
    # Clutter is ignored even when skipping is on: it is never reported as skipped.
    again = folders.read_folder("photos", (32, 32), "rgb", tmp_path, skip_bad=True)
    assert again["skipped"].tolist() == [] and again["ignored"].tolist() == made["ignored"]


def test_grayscale_matches_the_itu_r_601_luma_of_each_image(tmp_path):
    made = user_folder(tmp_path / "photos")
    arrays = folders.read_folder("photos", (32, 32), "grayscale", tmp_path, skip_bad=False)
    assert arrays["x_train"].shape == (sum(COUNTS.values()), 32, 32, 1)
    for x, (_, ref, tol) in zip(arrays["x_train"], made["refs"]["train"], strict=True):
        luma = ref.astype(float) @ [0.299, 0.587, 0.114]  # Pillow's documented L conversion
        assert np.abs(x[..., 0] - luma).max() <= (1 if tol == 0 else 255)
        assert np.abs(x[..., 0] - luma).mean() <= max(tol, 0.5)


def test_each_format_is_read_by_its_content_whatever_its_extension(tmp_path):
    src = real("ship", 1)[0]
    img = Image.open(src).convert("RGB")
    cls = tmp_path / "f" / "ship"
    cls.mkdir(parents=True)
    shutil.copyfile(src, cls / "jpeg.png")  # a JPEG named .png
    for fmt, options in {"PNG": {}, "BMP": {}, "WEBP": {"lossless": True}, "TIFF": {}}.items():
        img.save(cls / f"{fmt.lower()}.jpg", format=fmt, **options)  # and the others named .jpg
    arrays = folders.read_folder("f", (32, 32), "rgb", tmp_path, skip_bad=False)
    assert len(arrays["x_train"]) == 5
    for x in arrays["x_train"]:
        np.testing.assert_array_equal(x, rgb(src))


# --- still strict where it matters ------------------------------------------------------------


def _encoded(fmt: str, frames: int = 1, **options) -> bytes:
    """Real images encoded as ``fmt`` (``frames`` > 1: an animation or a multi-page file)."""
    imgs = [Image.open(p).convert("RGB") for p in real("dog", frames)]
    out = io.BytesIO()
    imgs[0].save(out, format=fmt, save_all=frames > 1, append_images=imgs[1:], **options)
    return out.getvalue()


def _half(blob: bytes) -> bytes:
    return blob[: len(blob) // 2]  # an interrupted copy


def _float_tiff() -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb(real("dog", 1)[0])[..., 0].astype(np.float32) / 255).save(out, "TIFF")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BAD = {  # file name -> (its bytes, the reason ingest gives)
    "cut.jpg": (lambda: _half(real("dog", 1)[0].read_bytes()), "a truncated or corrupt JPEG file"),
    "cut.png": (lambda: _half(_encoded("PNG")), "a truncated or corrupt PNG file"),
    "cut.webp": (lambda: _half(_encoded("WEBP", lossless=True)), "a truncated or corrupt WebP file"),
    "cut.bmp": (lambda: _half(_encoded("BMP")), "a truncated or corrupt BMP file"),
    "cut.tif": (lambda: _half(_encoded("TIFF")), "a truncated or corrupt TIFF file"),
    "scan.pdf": (lambda: PDF, "not a PNG, JPEG, BMP, WebP or TIFF image"),
    "still.gif": (lambda: _encoded("GIF"), "not a PNG, JPEG, BMP, WebP or TIFF image"),
    "anim.gif": (lambda: _encoded("GIF", 3), "not a PNG, JPEG, BMP, WebP or TIFF image"),
    "pages.tif": (lambda: _encoded("TIFF", 3), "3 frames, an animation or multi-page file"),
    "anim.png": (lambda: _encoded("PNG", 2), "2 frames, an animation or multi-page file"),
    "anim.webp": (lambda: _encoded("WEBP", 2), "2 frames, an animation or multi-page file"),
    "float.tif": (_float_tiff, "F pixels (32-bit or signed) have no 8-bit scale"),
}  # fmt: skip


@pytest.mark.parametrize("name", BAD)
def test_an_unusable_file_among_the_clutter_still_fails_in_one_line_or_is_skipped(tmp_path, name):
    made = user_folder(tmp_path / "photos")
    blob, reason = BAD[name]
    bad = tmp_path / "photos" / "cat" / name
    bad.write_bytes(blob())
    with pytest.raises(ActbenchError) as err:
        folders.read_folder("photos", (32, 32), "rgb", tmp_path, skip_bad=False)
    msg = str(err.value)
    assert "\n" not in msg and "holds 1 unusable file(s): " in msg, msg
    assert f"{bad} ({reason}" in msg and msg.endswith("data.skip_non_images: true"), msg
    arrays = folders.read_folder("photos", (32, 32), "rgb", tmp_path, skip_bad=True)
    assert len(arrays["skipped"]) == 1 and arrays["skipped"][0].startswith(f"{bad} ({reason}")
    assert arrays["ignored"].tolist() == made["ignored"]
    check_pixels(arrays["x_train"], arrays["y_train"], made["refs"]["train"])


def test_a_class_folder_holding_only_clutter_has_no_usable_images(tmp_path):
    user_folder(tmp_path / "photos")
    (tmp_path / "photos" / "bird" / "__MACOSX").mkdir(parents=True)
    (tmp_path / "photos" / "bird" / ".DS_Store").write_bytes(DS_STORE)
    with pytest.raises(
        ActbenchError, match="bird has no usable PNG, JPEG, BMP, WebP or TIFF images"
    ):
        folders.read_folder("photos", (32, 32), "rgb", tmp_path, skip_bad=True)


# --- through the stages: the split stays stratified, the sidecar, one error line --------------


def _stage(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _use_folder(project: Path) -> None:
    folder = {"path": "photos", "image_size": [32, 32], "color": "rgb"}
    set_params(project, datasets=["mine"], **{"data.folders": {"mine": folder}})


INGEST = ("--dataset", "mine", "--out", "data/raw/mine/ingested.npz")
PREPROCESS = ("--dataset", "mine", "--raw", "data/raw/mine", "--out", "data/prepared/mine.npz",
              "--meta", "data/prepared/mine.json")  # fmt: skip


def test_stages_use_every_real_image_once_and_split_stratified(tmp_path):
    counts = {"airplane": 30, "cat": 20, "ship": 10}
    made = user_folder(tmp_path / "photos", counts=counts)
    _use_folder(tmp_path)
    res = _stage("ingest.py", *INGEST, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "60 train + 0 test images, 3 classes, 0 unusable files skipped" in res.stdout
    assert f"{len(made['ignored'])} system files ignored" in res.stdout, res.stdout
    ingested = folders.load_ingested(tmp_path / "data/raw/mine/ingested.npz")
    assert ingested["ignored"].tolist() == made["ignored"]
    check_pixels(ingested["x_train"], ingested["y_train"], made["refs"]["train"])
    res = _stage("preprocess.py", *PREPROCESS, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    arrays = prepared.load(tmp_path / "data/prepared/mine.npz")
    # Every ingested image lands in exactly one split (CIFAR images are distinct).
    split_rows = sorted(x.tobytes() for s in ("train", "val", "test") for x in arrays[f"x_{s}"])
    assert split_rows == sorted(x.tobytes() for x in ingested["x_train"])
    n = np.array([counts[c] for c in sorted(counts)])
    assert np.bincount(arrays["y_test"]).tolist() == (n * 0.2).astype(int).tolist()  # 6, 4, 2
    n_val = len(arrays["y_val"])
    expected_val = (n - n * 0.2) / (n - n * 0.2).sum() * n_val  # proportional to each class
    assert np.all(np.abs(np.bincount(arrays["y_val"], minlength=3) - expected_val) < 1)
    meta = json.loads((tmp_path / "data/prepared/mine.json").read_text())
    assert meta["skipped_files"] == [] and meta["counts"]["test"]["total"] == 12
    assert meta["ignored_files"] == made["ignored"] and meta["ignored_count"] == len(
        made["ignored"]
    )


def test_ingest_stage_reports_a_truncated_jpeg_among_the_clutter_in_one_line(tmp_path):
    user_folder(tmp_path / "photos")
    bad = tmp_path / "photos" / "ship" / "0003.jpg"
    bad.write_bytes(real("ship", 1)[0].read_bytes()[:400])
    _use_folder(tmp_path)
    res = _stage("ingest.py", *INGEST, cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    line = res.stderr.strip()
    assert line.startswith("actbench: ingest.py: error: image folder "), line
    assert f"holds 1 unusable file(s): {bad} (a truncated or corrupt JPEG file)" in line, line
    assert not (tmp_path / "data/raw/mine/ingested.npz").exists()
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]  # no half-written file


# --- DVC: clutter is no dependency inside the repository; outside it, reruns change nothing ----


def _lock_out(repo: Path, stage: str) -> str:
    lock = YAML(typ="safe").load(repo / "dvc.lock")
    return lock["stages"][stage]["outs"][0]["md5"]


@pytest.mark.e2e
def test_dvc_ignores_clutter_inside_the_repo_and_a_rerun_outside_changes_nothing(tmp_path):
    counts = {"cat": 3, "ship": 2}
    folder = {"image_size": [32, 32], "color": "rgb"}
    repo = make_repo(tmp_path / "repo", datasets=["inside", "outside"], **{"data.folders": {
        "inside": {"path": "photos", **folder}, "outside": {"path": "../outside", **folder}}})  # fmt: skip
    for root in (repo / "photos", tmp_path / "outside"):
        user_folder(root, counts=counts)
    stages = ("ingest@inside", "ingest@outside")
    sh(repo, "dvc", "repro", *stages)
    assert "up to date" in sh(repo, "dvc", "status", *stages).stdout
    before = _lock_out(repo, "ingest@outside")

    # Every name ingest ignores, inside the repo: DVC sees no change.
    for rel, blob in {"cat/.DS_Store": b"changed", "Thumbs.db": THUMBS_DB, "cat/desktop.ini": b"x",
                      "__MACOSX/ship/._0001.jpeg": APPLE_DOUBLE, "ship/._0001.jpeg": APPLE_DOUBLE,
                      "ship/.ipynb_checkpoints/new.jpg": b"x"}.items():  # fmt: skip
        assert any(folders.is_clutter(part) for part in Path(rel).parts)  # what ingest ignores
        (repo / "photos" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "photos" / rel).write_bytes(blob)
    # Outside the repository .dvcignore does not apply (DVC's ignore filter stops at the repo root).
    (tmp_path / "outside" / "cat" / ".DS_Store").write_bytes(b"changed")
    status = sh(repo, "dvc", "status", *stages).stdout
    assert "ingest@inside" not in status and "ingest@outside" in status, status
    # ... so ingest reruns there, and writes the same bytes: nothing downstream goes stale.
    assert "Running stage 'ingest@outside'" in sh(repo, "dvc", "repro", *stages).stdout
    assert _lock_out(repo, "ingest@outside") == before

    # A real image is still a dependency.
    (repo / "photos" / "cat" / "0000.JPG").write_bytes(real("cat", 2)[1].read_bytes())
    assert "ingest@inside" in sh(repo, "dvc", "status", *stages).stdout

    # The patterns hide nothing DVC or git keeps: no tracked file, output or lock file matches.
    kept = sh(repo, "git", "ls-files").stdout.split() + ["dvc.lock", "data/raw/inside/ingested.npz"]
    res = sh(repo, "dvc", "check-ignore", "--details", "--non-matching", *kept, check=False)
    from_ours = [line for line in res.stdout.splitlines() if line.startswith(".dvcignore")]
    assert not from_ours and len(res.stdout.splitlines()) == len(kept), res.stdout
