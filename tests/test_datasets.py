"""Datasets: official formats round-trip through download and preprocessing; bad input fails."""

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from actbench import config, datasets
from actbench.config import Folder
from actbench.errors import ActbenchError

from . import fakes
from .project import set_params

ROOT = Path(__file__).resolve().parents[1]


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
    sums = datasets.download(name, out, mirror=where)
    assert sums == {f.name: f.md5 for f in datasets.SOURCES[name].files}
    raw = datasets.load_raw(name, out.parent)
    x_train, y_train, x_test, y_test = arrays[name]
    np.testing.assert_array_equal(raw.x_train, x_train)
    np.testing.assert_array_equal(raw.y_train, y_train)
    np.testing.assert_array_equal(raw.x_test, x_test)
    np.testing.assert_array_equal(raw.y_test, y_test)
    assert raw.x_train.dtype == np.uint8 and raw.y_train.dtype == np.int64
    assert len(raw.class_names) == 10


def test_checksum_mismatch_names_file_and_hashes_and_writes_nothing(tmp_path, mirror, monkeypatch):
    root, _ = mirror
    src = datasets.SOURCES["cifar10"]
    wrong = "0" * 32
    monkeypatch.setitem(
        datasets.SOURCES,
        "cifar10",
        datasets.Source((datasets.RemoteFile(src.files[0].name, wrong),), src.urls),
    )
    out = tmp_path / "raw" / "cifar10" / "download"
    with pytest.raises(ActbenchError) as err:
        datasets.download("cifar10", out, mirror=str(root))
    msg = str(err.value)
    assert (
        "cifar-10-python.tar.gz" in msg
        and wrong in msg
        and fakes.md5(root / src.files[0].name) in msg
    )
    assert "\n" not in msg
    assert list(out.iterdir()) == []
    assert [p.name for p in out.parent.iterdir()] == ["download"]  # no staging left


def test_unreachable_network_says_so_and_how_to_use_a_mirror(tmp_path):
    with pytest.raises(ActbenchError) as err:
        datasets.download("fashion_mnist", tmp_path / "d", mirror="http://127.0.0.1:9/")
    msg = str(err.value)
    assert "127.0.0.1:9" in msg and "data.mirror" in msg and "\n" not in msg
    assert not any((tmp_path / "d").iterdir())


def test_mirror_directory_missing_a_file(tmp_path, mirror):
    root, _ = mirror
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ActbenchError, match="has no file 't10k-labels-idx1-ubyte.gz'"):
        datasets.download("fashion_mnist", tmp_path / "d", mirror=str(root))
    assert not any((tmp_path / "d").iterdir())


def test_truncated_gz_fails_clearly(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    fakes.idx_gz(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ActbenchError, match="not a complete gzip file"):
        datasets.read_idx(path)


def test_idx_header_claiming_more_items_than_present(tmp_path):
    path = tmp_path / "x.gz"
    fakes.idx_gz(path, np.zeros((5, 28, 28), np.uint8), claim=6)
    with pytest.raises(ActbenchError, match=r"header says 6 items .* file holds 3920 bytes"):
        datasets.read_idx(path)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ActbenchError, match="bad IDX magic"):
        datasets.read_idx(path)


def test_cifar_tarball_without_a_batch(tmp_path):
    rng = np.random.default_rng(1)
    batch = (rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), np.arange(4))
    path = tmp_path / "cifar-10-python.tar.gz"
    fakes.cifar_tarball(path, [batch] * 5, batch, skip="data_batch_3")
    with pytest.raises(ActbenchError, match="has no batch cifar-10-batches-py/data_batch_3"):
        datasets.read_cifar10(path)


def test_digits_prepared_end_to_end_is_stratified_disjoint_and_deterministic():
    raw = datasets.load_raw("digits", Path("unused"))
    assert raw.x_train.shape == (1797, 8, 8, 1) and raw.x_train.dtype == np.uint8
    a = datasets.prepare(raw, val_size=0.1, test_size=0.2, split_seed=0, train_size=None)
    b = datasets.prepare(raw, val_size=0.1, test_size=0.2, split_seed=0, train_size=None)
    c = datasets.prepare(raw, val_size=0.1, test_size=0.2, split_seed=1, train_size=None)
    for key in datasets.PREPARED_KEYS:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["y_val"], c["y_val"]) or not np.array_equal(a["x_val"], c["x_val"])
    n = {s: len(a[f"y_{s}"]) for s in ("train", "val", "test")}
    assert sum(n.values()) == 1797
    assert n["test"] == pytest.approx(0.2 * 1797, abs=1)
    # Stratified: every class's share in val is within one image of its share in train.
    for k in range(10):
        share = np.mean(a["y_train"] == k)
        assert abs(np.sum(a["y_val"] == k) - share * n["val"]) <= 1.0
    # Disjoint: rows of the flat images never repeat across splits (digits has a few duplicates,
    # so compare by index instead): rebuild the split indices from the raw order.
    flat = {s: {r.tobytes() for r in a[f"x_{s}"]} for s in ("train", "val", "test")}
    assert len(flat["val"] & flat["test"]) <= 2


def test_split_indices_are_disjoint_and_cover_everything():
    y = np.repeat(np.arange(4), 25)
    raw = datasets.RawData(np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1), y, None, None,
                           list("abcd"), {}, [])  # fmt: skip
    out = datasets.prepare(raw, val_size=0.2, test_size=0.2, split_seed=3, train_size=None)
    ids = {s: set(out[f"x_{s}"].ravel().tolist()) for s in ("train", "val", "test")}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"])
    assert ids["val"].isdisjoint(ids["test"])
    assert set().union(*ids.values()) == set(range(100))
    for s in ("train", "val", "test"):  # original order kept inside each split
        assert list(out[f"x_{s}"].ravel()) == sorted(out[f"x_{s}"].ravel())
    assert np.bincount(out["y_val"]).tolist() == [4, 4, 4, 4]


def test_train_size_subset_and_too_large():
    raw = datasets.load_raw("digits", Path("unused"))
    out = datasets.prepare(raw, val_size=0.1, test_size=0.2, split_seed=0, train_size=500)
    assert len(out["y_train"]) + len(out["y_val"]) == 500
    with pytest.raises(ActbenchError, match="train_size = 5000 is larger than the 1437"):
        datasets.prepare(raw, val_size=0.1, test_size=0.2, split_seed=0, train_size=5000)


def _image(path: Path, color, fmt: str, size=(12, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)


def _folder_tree(root: Path, with_split: bool) -> None:
    colors = {"cat": (200, 10, 10), "dog": (10, 200, 10)}
    splits = [("train", 6), ("test", 2)] if with_split else [("", 10)]
    for split, n in splits:
        for cls, color in colors.items():
            for i in range(n):
                fmt, ext = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
                _image(root / split / cls / f"{i}.{ext}", color, fmt)


@pytest.mark.parametrize("with_split", [False, True])
def test_folder_dataset_both_layouts(tmp_path, with_split):
    _folder_tree(tmp_path / "photos", with_split)
    folder = Folder(path="photos", image_size=(8, 6), color="rgb")
    raw = datasets.read_folder(folder, tmp_path, skip_non_images=False)
    assert raw.class_names == ["cat", "dog"]
    assert raw.x_train.shape[1:] == (8, 6, 3)
    assert (raw.x_test is not None) == with_split
    cats = raw.x_train[raw.y_train == 0].astype(int)
    assert abs(cats[..., 0].mean() - 200) < 8 and abs(cats[..., 1].mean() - 10) < 8  # JPEG is lossy
    out = datasets.prepare(raw, val_size=0.25, test_size=0.2, split_seed=0, train_size=None)
    assert len(out["y_test"]) == (4 if with_split else 4)
    gray = datasets.read_folder(Folder("photos", (5, 5), "grayscale"), tmp_path, False)
    assert gray.x_train.shape[1:] == (5, 5, 1)


def test_folder_bad_inputs(tmp_path):
    folder = Folder(path="photos", image_size=(8, 8), color="rgb")
    with pytest.raises(ActbenchError, match="does not exist"):
        datasets.read_folder(folder, tmp_path, False)
    (tmp_path / "photos").mkdir()
    with pytest.raises(ActbenchError, match="has no class sub-folders"):
        datasets.read_folder(folder, tmp_path, False)
    _folder_tree(tmp_path / "photos", with_split=False)
    (tmp_path / "photos" / "bird").mkdir()
    with pytest.raises(ActbenchError, match="bird has no PNG or JPEG images"):
        datasets.read_folder(folder, tmp_path, False)
    (tmp_path / "photos" / "bird").rmdir()
    (tmp_path / "photos" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(
        ActbenchError, match=r"1 file\(s\) that are not PNG/JPEG images: .*notes.txt"
    ):
        datasets.read_folder(folder, tmp_path, False)
    raw = datasets.read_folder(folder, tmp_path, skip_non_images=True)
    assert raw.skipped == [str(tmp_path / "photos" / "cat" / "notes.txt")]
    assert len(raw.y_train) == 20


def test_val_size_out_of_range_is_refused_by_params():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"]["val_size"] = 1.5
    with pytest.raises(
        ActbenchError, match=r"data.val_size = 1.5 is not valid; expected a number in \(0.0, 1.0\)"
    ):
        config.parse(raw)


def _run(script: str, *args: str, cwd: Path):
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip


def _write_params(cwd: Path, **changes) -> None:
    set_params(cwd, **changes)


def test_preprocess_stage_writes_npz_and_sidecar_for_digits(tmp_path):
    _write_params(tmp_path, datasets=["digits"])
    assert (
        _run(
            "download.py", "--dataset", "digits", "--out", "data/raw/digits/download", cwd=tmp_path
        ).returncode
        == 0
    )
    res = _run("preprocess.py", "--dataset", "digits", "--raw", "data/raw/digits",
               "--out", "data/prepared/digits.npz", "--meta", "data/prepared/digits.json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    arrays = datasets.load_prepared(tmp_path / "data/prepared/digits.npz")
    meta = yaml.safe_load((tmp_path / "data/prepared/digits.json").read_text())
    assert meta["counts"]["train"]["total"] == len(arrays["y_train"])
    assert sum(meta["counts"]["val"][str(k)] for k in range(10)) == len(arrays["y_val"])
    assert meta["profile"] == "quick" and meta["params"]["split_seed"] == 0


def test_preprocess_stage_refuses_too_large_train_size_and_leaves_nothing(tmp_path):
    _write_params(tmp_path, datasets=["digits"], **{"profiles.quick.train_size": {"digits": 99999}})
    _run("download.py", "--dataset", "digits", "--out", "data/raw/digits/download", cwd=tmp_path)
    res = _run("preprocess.py", "--dataset", "digits", "--raw", "data/raw/digits",
               "--out", "data/prepared/digits.npz", "--meta", "data/prepared/digits.json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("actbench: preprocess.py: error: train_size = 99999")
    )
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "data/prepared").exists() or not any(
        (tmp_path / "data/prepared").iterdir()
    )


def test_unknown_dataset_lists_valid_names_and_folders(tmp_path):
    _write_params(
        tmp_path,
        datasets=["digits"],
        **{"data.folders": {"shoes": {"path": "x", "image_size": [8, 8], "color": "rgb"}}},
    )
    res = _run(
        "download.py", "--dataset", "imagenet", "--out", "data/raw/imagenet/download", cwd=tmp_path
    )
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "'imagenet'" in line and "cifar10" in line and "digits" in line and "shoes" in line


def test_corrupt_prepared_npz_fails_clearly(tmp_path):
    path = tmp_path / "digits.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ActbenchError, match="corrupt or incomplete"):
        datasets.load_prepared(path)
    with pytest.raises(ActbenchError, match="is missing"):
        datasets.load_prepared(tmp_path / "nope.npz")


def test_folder_dataset_through_the_ingest_and_preprocess_stages(tmp_path):
    _folder_tree(tmp_path / "photos", with_split=True)
    folder = {"path": "photos", "image_size": [6, 6], "color": "grayscale"}
    _write_params(tmp_path, datasets=["shoes"], **{"data.folders": {"shoes": folder}})
    res = _run(
        "ingest.py", "--dataset", "shoes", "--out", "data/raw/shoes/ingested.npz", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    res = _run("preprocess.py", "--dataset", "shoes", "--raw", "data/raw/shoes",
               "--out", "data/prepared/shoes.npz", "--meta", "data/prepared/shoes.json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    arrays = datasets.load_prepared(tmp_path / "data/prepared/shoes.npz")
    assert list(arrays["class_names"]) == ["cat", "dog"]
    assert arrays["x_train"].shape[1:] == (6, 6, 1)
    assert len(arrays["y_test"]) == 4  # the folder's own test split, untouched
    assert len(arrays["y_train"]) + len(arrays["y_val"]) == 12
