"""Datasets: official formats round-trip through download and preprocessing, the real label
files pass the real download path and parser, and the published checksums are the real ones."""

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actbench import params as params_lib
from actbench.data import catalog, folders, formats, prepared, raw, sources, splits
from actbench.errors import ActbenchError
from actbench.io import digests

from . import fakes
from .project import set_params

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL_LABELS = SHARED / "fashion-mnist"
needs_real_labels = pytest.mark.skipif(
    not (REAL_LABELS / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason=f"the real Fashion-MNIST label files are not in {REAL_LABELS} (a clone without ../shared)",
)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    arrays = fakes.make_mirror(tmp_path / "mirror", np.random.default_rng(0))
    fakes.trust_mirror(monkeypatch, tmp_path / "mirror")
    return tmp_path / "mirror", arrays


@pytest.mark.parametrize("how", ["directory", "file_url"])
@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
def test_official_formats_round_trip_pixel_for_pixel(tmp_path, mirror, how, name):
    root, arrays = mirror
    where = str(root) if how == "directory" else root.as_uri() + "/"
    out = tmp_path / "raw" / name / "download"
    sums = sources.download(name, out, mirror=where)
    assert sums == {f.name: {"md5": f.md5, "sha256": f.sha256} for f in catalog.BUILTIN[name].files}
    data = raw.load_raw(name, out.parent)
    x_train, y_train, x_test, y_test = arrays[name]
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.x_test, x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.class_names == list(catalog.BUILTIN[name].classes)


def test_checksum_mismatch_says_what_is_wrong_and_how_to_retry(tmp_path, mirror, monkeypatch):
    root, _ = mirror
    builtin = catalog.BUILTIN["cifar10"]
    wrong = dataclasses.replace(builtin.files[0], md5="0" * 32)
    monkeypatch.setitem(catalog.BUILTIN, "cifar10", dataclasses.replace(builtin, files=(wrong,)))
    out = tmp_path / "raw" / "cifar10" / "download"
    with pytest.raises(ActbenchError) as err:
        sources.download("cifar10", out, mirror=str(root))
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and "0" * 32 in msg and wrong.sha256 in msg
    assert fakes.md5(root / wrong.name) in msg  # what was found
    assert (
        "corrupt or not the official one" in msg and "delete it" in msg and "ACTBENCH_MIRROR" in msg
    )
    assert "\n" not in msg
    assert not out.exists()  # nothing moved into the output


def test_sha256_is_checked_too(tmp_path, mirror, monkeypatch):
    root, _ = mirror
    builtin = catalog.BUILTIN["cifar10"]
    wrong = dataclasses.replace(builtin.files[0], sha256="f" * 64)
    monkeypatch.setitem(catalog.BUILTIN, "cifar10", dataclasses.replace(builtin, files=(wrong,)))
    with pytest.raises(ActbenchError, match="expected md5 .* and sha256 f{64}"):
        sources.download("cifar10", tmp_path / "d", mirror=str(root))


def test_download_stages_outside_the_output_and_cleans_a_killed_runs_leftover(
    tmp_path, mirror, monkeypatch
):
    root, _ = mirror
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    leftover = tmp_path / ".dvc/tmp/actbench/download-cifar10"
    leftover.mkdir(parents=True)
    (leftover / "cifar-10-python.tar.gz").write_bytes(b"half a file")
    out = Path("data/raw/cifar10/download")
    sources.download("cifar10", out, mirror=str(root))
    assert sorted(p.name for p in out.iterdir()) == ["cifar-10-python.tar.gz"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["download"]
    assert not leftover.exists()


def test_unreachable_network_says_so_and_how_to_use_a_mirror(tmp_path):
    with pytest.raises(ActbenchError) as err:
        sources.download("fashion_mnist", tmp_path / "d", mirror="http://127.0.0.1:9/")
    msg = str(err.value)
    assert "127.0.0.1:9" in msg and "ACTBENCH_MIRROR" in msg and "\n" not in msg
    assert not (tmp_path / "d").exists()


def test_catalog_checksums_are_well_formed_and_distinct():
    for builtin in catalog.BUILTIN.values():
        for f in builtin.files:
            assert len(f.md5) == 32 and int(f.md5, 16) >= 0
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
            assert f.size > 0
    all_md5 = [f.md5 for b in catalog.BUILTIN.values() for f in b.files]
    assert len(set(all_md5)) == len(all_md5)


@needs_real_labels
def test_the_real_label_files_match_the_published_checksums():
    # The test that would have caught the wrong t10k-labels MD5: the real bytes, our table.
    published = {f.name: f for f in catalog.FASHION_MNIST.files}
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        path = REAL_LABELS / name
        assert digests(path, "md5", "sha256") == {
            "md5": published[name].md5,
            "sha256": published[name].sha256,
        }
        assert path.stat().st_size == published[name].size


@needs_real_labels
def test_real_label_files_through_the_download_path_and_the_idx_parser(tmp_path, monkeypatch):
    labels_only = tuple(f for f in catalog.FASHION_MNIST.files if "labels" in f.name)
    monkeypatch.setitem(
        catalog.BUILTIN,
        "fashion_mnist",
        dataclasses.replace(catalog.FASHION_MNIST, files=labels_only),
    )
    out = tmp_path / "download"
    sums = sources.download("fashion_mnist", out, mirror=str(REAL_LABELS))
    assert set(sums) == {f.name for f in labels_only}
    for name, total, per_class in (
        ("train-labels-idx1-ubyte.gz", 60_000, 6_000),
        ("t10k-labels-idx1-ubyte.gz", 10_000, 1_000),
    ):
        sources.verify(out / name, next(f for f in labels_only if f.name == name))
        labels = formats.read_labels(out / name)
        assert labels.shape == (total,) and labels.dtype == np.int64
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10


@needs_real_labels
def test_a_single_changed_byte_of_a_real_file_is_refused(tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray((REAL_LABELS / bad.name).read_bytes())
    data[-20] ^= 0x01
    bad.write_bytes(bytes(data))
    remote = next(f for f in catalog.FASHION_MNIST.files if f.name == bad.name)
    with pytest.raises(ActbenchError, match="checksum mismatch for t10k-labels-idx1-ubyte.gz"):
        sources.check(bad, remote, str(tmp_path))


def test_the_cifar_unpickler_refuses_anything_but_numpy_arrays(tmp_path):
    import io
    import pickle
    import tarfile

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        blob = pickle.dumps({b"data": Payload(), b"labels": [0]})
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(ActbenchError, match=r"not safe to load: refusing to load builtins\.print"):
        formats.read_cifar10(path)


def test_digits_prepared_is_stratified_disjoint_and_deterministic():
    data = raw.load_raw("digits", Path("unused"))
    assert data.x_train.shape == (1797, 8, 8, 1) and data.x_train.dtype == np.uint8
    a = splits.prepare(data, val_size=0.1, test_size=0.2, split_seed=0, train_size=None)
    b = splits.prepare(data, val_size=0.1, test_size=0.2, split_seed=0, train_size=None)
    c = splits.prepare(data, val_size=0.1, test_size=0.2, split_seed=1, train_size=None)
    for key in prepared.KEYS:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["y_val"], c["y_val"]) or not np.array_equal(a["x_val"], c["x_val"])
    n = {s: len(a[f"y_{s}"]) for s in ("train", "val", "test")}
    assert sum(n.values()) == 1797
    assert n["test"] == pytest.approx(0.2 * 1797, abs=1)
    for k in range(10):  # stratified: each class's share in val within one image of train's
        share = np.mean(a["y_train"] == k)
        assert abs(np.sum(a["y_val"] == k) - share * n["val"]) <= 1.0


def test_split_indices_are_disjoint_and_cover_everything():
    y = np.repeat(np.arange(4), 25)
    data = raw.RawData(
        np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1), y, None, None, list("abcd"), {}, []
    )
    out = splits.prepare(data, val_size=0.2, test_size=0.2, split_seed=3, train_size=None)
    ids = {s: set(out[f"x_{s}"].ravel().tolist()) for s in ("train", "val", "test")}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"])
    assert ids["val"].isdisjoint(ids["test"])
    assert set().union(*ids.values()) == set(range(100))
    for s in ("train", "val", "test"):  # original order kept inside each split
        assert list(out[f"x_{s}"].ravel()) == sorted(out[f"x_{s}"].ravel())
    assert np.bincount(out["y_val"]).tolist() == [4, 4, 4, 4]


def test_train_size_subset_and_too_large():
    data = raw.load_raw("digits", Path("unused"))
    out = splits.prepare(data, val_size=0.1, test_size=0.2, split_seed=0, train_size=500)
    assert len(out["y_train"]) + len(out["y_val"]) == 500
    with pytest.raises(ActbenchError, match="train_size = 5000 is larger than the 1437"):
        splits.prepare(data, val_size=0.1, test_size=0.2, split_seed=0, train_size=5000)


def _image(path: Path, color, fmt: str, size=(12, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)


def folder_tree(root: Path, with_split: bool) -> None:
    colors = {"cat": (200, 10, 10), "dog": (10, 200, 10)}
    layout = [("train", 6), ("test", 2)] if with_split else [("", 10)]
    for split, n in layout:
        for cls, color in colors.items():
            for i in range(n):
                fmt, ext = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
                _image(root / split / cls / f"{i}.{ext}", color, fmt)


@pytest.mark.parametrize("with_split", [False, True])
def test_folder_dataset_both_layouts(tmp_path, with_split):
    folder_tree(tmp_path / "photos", with_split)
    arrays = folders.read_folder("photos", (8, 6), "rgb", tmp_path, skip_bad=False)
    assert arrays["class_names"].tolist() == ["cat", "dog"]
    assert arrays["x_train"].shape[1:] == (8, 6, 3)
    assert ("x_test" in arrays) == with_split
    cats = arrays["x_train"][arrays["y_train"] == 0].astype(int)
    assert abs(cats[..., 0].mean() - 200) < 8 and abs(cats[..., 1].mean() - 10) < 8  # JPEG is lossy
    gray = folders.read_folder("photos", (5, 5), "grayscale", tmp_path, skip_bad=False)
    assert gray["x_train"].shape[1:] == (5, 5, 1)


def test_unusable_files_are_listed_or_skipped_with_their_reason(tmp_path):
    folder_tree(tmp_path / "photos", with_split=False)
    (tmp_path / "photos" / "cat" / "notes.txt").write_text("not an image")
    jpeg = (tmp_path / "photos" / "dog" / "0.jpg").read_bytes()
    (tmp_path / "photos" / "dog" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "photos" / "dog" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ActbenchError) as err:
        folders.read_folder("photos", (8, 8), "rgb", tmp_path, skip_bad=False)
    msg = str(err.value)
    assert (
        "3 unusable file(s)" in msg
        and "notes.txt (not a PNG, JPEG, BMP, WebP or TIFF image)" in msg
    )
    assert (
        "cut.jpg (a truncated or corrupt JPEG file)" in msg and "gone.png (a broken symlink)" in msg
    )
    arrays = folders.read_folder("photos", (8, 8), "rgb", tmp_path, skip_bad=True)
    assert len(arrays["skipped"]) == 3 and len(arrays["y_train"]) == 20


def _run(script: str, *args: str, cwd: Path):
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip


def test_preprocess_stage_writes_npz_and_sidecar_for_digits(tmp_path):
    set_params(tmp_path, datasets=["digits"])
    assert (
        _run(
            "download.py", "--dataset", "digits", "--out", "data/raw/digits/download", cwd=tmp_path
        ).returncode
        == 0
    )
    res = _run("preprocess.py", "--dataset", "digits", "--raw", "data/raw/digits",
               "--out", "data/prepared/digits.npz", "--meta", "data/prepared/digits.json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    arrays = prepared.load(tmp_path / "data/prepared/digits.npz")
    meta = params_lib.read_yaml(tmp_path / "data/prepared/digits.json")
    assert meta["counts"]["train"]["total"] == len(arrays["y_train"])
    assert sum(meta["counts"]["val"][str(k)] for k in range(10)) == len(arrays["y_val"])
    assert meta["profile"] == "quick" and meta["params"]["split_seed"] == 0


def test_folder_dataset_through_the_ingest_and_preprocess_stages(tmp_path):
    folder_tree(tmp_path / "photos", with_split=True)
    folder = {"path": "photos", "image_size": [6, 6], "color": "grayscale"}
    set_params(tmp_path, datasets=["shoes"], **{"data.folders": {"shoes": folder}})
    res = _run(
        "ingest.py", "--dataset", "shoes", "--out", "data/raw/shoes/ingested.npz", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    res = _run("preprocess.py", "--dataset", "shoes", "--raw", "data/raw/shoes",
               "--out", "data/prepared/shoes.npz", "--meta", "data/prepared/shoes.json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    arrays = prepared.load(tmp_path / "data/prepared/shoes.npz")
    assert list(arrays["class_names"]) == ["cat", "dog"]
    assert arrays["x_train"].shape[1:] == (6, 6, 1)
    assert len(arrays["y_test"]) == 4  # the folder's own test split, untouched
    assert len(arrays["y_train"]) + len(arrays["y_val"]) == 12


@pytest.mark.skipif(
    not (SHARED / "cifar10-jpeg" / "train").is_dir(), reason="no ../shared/data/cifar10-jpeg here"
)
def test_real_cifar10_jpeg_folder_ingests_with_its_own_split(tmp_path):
    # One class folder of the real JPEG re-encoding is enough to check decoding real bytes.
    for split in ("train", "test"):
        for cls in ("airplane", "cat"):
            src = SHARED / "cifar10-jpeg" / split / cls
            shutil.copytree(src, tmp_path / "c10" / split / cls)
    arrays = folders.read_folder("c10", (32, 32), "rgb", tmp_path, skip_bad=False)
    assert arrays["x_train"].shape == (2000, 32, 32, 3) and arrays["x_test"].shape == (
        400,
        32,
        32,
        3,
    )
    assert np.bincount(arrays["y_train"]).tolist() == [1000, 1000]
    assert 60 < arrays["x_train"].mean() < 200 and len(arrays["skipped"]) == 0
