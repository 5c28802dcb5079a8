"""Bad input, through the real stage scripts: one line, exit status 2, no traceback, no debris.

Every case runs a stage as a user would (`python stages/<stage>.py ...` in a project folder) and
checks that stderr is exactly one `actbench: <stage>: error: ...` line naming the bad value and
what is allowed, the exit status is 2, and nothing is left that DVC would cache or another stage
reads: neither the stage's outputs nor temporary files. Groups: params, official-format files,
image folders, models, and the environment (read-only, disk full, no network, backend).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from . import fakes
from .project import env_for, set_params

pytestmark = pytest.mark.e2e
CANDIDATE = (
    "--activation",
    "tanhrelu",
    "--dataset",
    "digits",
    "--seed",
    "0",
)
RUN = "tanhrelu_digits_s0"
OUTPUTS = {
    "train.py": ["models/tanhrelu_digits_s0.keras", "metrics/train/tanhrelu_digits_s0.json",
                 "dvclive/tanhrelu_digits_s0"],
    "evaluate.py": ["metrics/eval/tanhrelu_digits_s0.json", "metrics/eval/tanhrelu_digits_s0.confusion.csv"],
    "preprocess.py": ["data/prepared/digits.npz", "data/prepared/digits.json"],
    "ingest.py": ["data/raw/photos/ingested.npz"],
    "download.py": ["data/raw/fashion_mnist/download", "data/raw/cifar10/download"],
}  # fmt: skip
# As another user in a user namespace (no passwd entry, no power over files it does not own):
# root would ignore a read-only mode, and this works for root and non-root alike.
AS_OTHER_USER = ["unshare", "--user", "--map-user=54321", "--map-group=54321"]


@pytest.fixture(scope="module")
def project(pipeline, tmp_path_factory) -> Path:
    """A copy of the shared pipeline, with the good params, arrays and a model kept aside."""
    repo = shutil.copytree(pipeline, tmp_path_factory.mktemp("bad") / "repo", symlinks=True)
    model = repo / "models" / f"{RUN}.keras"
    shutil.copy(model, repo / "good.keras")
    for path in ("params.yaml", "data/prepared/digits.npz"):
        shutil.copy(repo / path, repo / f"{path}.good")
    return repo


@pytest.fixture
def repo(project) -> Path:
    """The project with its params and data as prepared, and no run outputs."""
    for path in ("params.yaml", "data/prepared/digits.npz"):
        shutil.copy(project / f"{path}.good", project / path)
    for leftover in ("models", "metrics/train", "metrics/eval", "dvclive", "checkpoints", "data/raw/photos", "photos", "mirror",
                     "data/raw/fashion_mnist", "data/raw/cifar10", ".dvc/tmp/actbench"):  # fmt: skip
        target = project / leftover
        if target.is_symlink() or target.is_file():
            target.unlink()
        else:
            shutil.rmtree(target, ignore_errors=True)
    return project


def stage(repo: Path, script: str, *args: str, env: dict | None = None, fsize: int | None = None,
          as_other_user: bool = False) -> subprocess.CompletedProcess:  # fmt: skip
    def limits():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    prefix = AS_OTHER_USER if as_other_user else []
    return subprocess.run(
        [*prefix, sys.executable, f"stages/{script}", *args], cwd=repo, env={**env_for(repo), **(env or {})},
        capture_output=True, text=True, preexec_fn=limits, timeout=600,
    )  # fmt: skip


def refused(repo: Path, res: subprocess.CompletedProcess, script: str, *fragments: str) -> None:
    lines = res.stderr.splitlines()
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith(f"actbench: {script}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    for output in OUTPUTS[script]:
        assert not (repo / output).exists(), f"{output} was left behind"
    staging = repo / ".dvc/tmp/actbench"
    assert not staging.exists() or list(staging.iterdir()) == [], list(staging.iterdir())
    for folder in ("metrics", "models", "data/prepared", "data/raw"):
        strays = (
            [p for p in (repo / folder).rglob(".*") if p.is_file() and p.name != ".gitignore"]
            if (repo / folder).exists()
            else []
        )
        assert not strays, strays


# --- params -----------------------------------------------------------------------------------

# Every message is checked in-process by tests/test_params.py; these two show a stage prints it
# as its one line, before it imports Keras.
PARAM_CASES = [
    ({"train.momentm": 0.9}, ["unknown key 'momentm' in train", "did you mean 'momentum'"]),
    ({"activation": "tanh_relu"}, ["activation = 'tanh_relu' is not valid", "did you mean 'tanhrelu'"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "fragments"), PARAM_CASES, ids=[next(iter(c)) for c, _ in PARAM_CASES]
)
def test_bad_params(repo, changes, fragments):
    set_params(repo, **changes)
    refused(repo, stage(repo, "train.py", *CANDIDATE), "train.py", "params.yaml: ", *fragments)


def test_params_syntax_error(repo):
    (repo / "params.yaml").write_text("activation: [unclosed\n")
    refused(
        repo,
        stage(repo, "evaluate.py", *CANDIDATE),
        "evaluate.py",
        "params.yaml is not valid YAML at line 2",
    )


def test_params_duplicate_key(repo):
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "activation: relu\n")
    refused(
        repo,
        stage(repo, "train.py", *CANDIDATE),
        "train.py",
        "params.yaml is not valid YAML",
        "duplicate key",
    )


def test_params_file_given_does_not_exist(repo):
    refused(
        repo,
        stage(repo, "train.py", *CANDIDATE, "--params", "other.yaml"),
        "train.py",
        "other.yaml not found",
    )


# --- official-format files (through the download stage, which checks before anything parses) --


def _mirror(repo: Path) -> Path:
    fakes.make_mirror(repo / "mirror", np.random.default_rng(0))
    return repo / "mirror"


def test_corrupt_official_file_in_the_mirror(repo):
    mirror = _mirror(repo)
    set_params(repo, datasets=["fashion_mnist"])
    res = stage(repo, "download.py", "--dataset", "fashion_mnist", "--out", "data/raw/fashion_mnist/download",
                env={"ACTBENCH_MIRROR": str(mirror)})  # fmt: skip
    refused(
        repo,
        res,
        "download.py",
        "checksum mismatch for train-images-idx3-ubyte.gz",
        "not the official one",
    )


def test_truncated_official_file_in_the_mirror(repo):
    mirror = _mirror(repo)
    blob = (mirror / "cifar-10-python.tar.gz").read_bytes()
    (mirror / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    set_params(repo, datasets=["cifar10"])
    res = stage(repo, "download.py", "--dataset", "cifar10", "--out", "data/raw/cifar10/download",
                env={"ACTBENCH_MIRROR": str(mirror)})  # fmt: skip
    refused(repo, res, "download.py", "checksum mismatch for cifar-10-python.tar.gz", "170498071")


def test_mirror_missing_a_file(repo):
    mirror = _mirror(repo)
    (mirror / "train-images-idx3-ubyte.gz").unlink()  # the first file fetched
    set_params(repo, datasets=["fashion_mnist"])
    res = stage(repo, "download.py", "--dataset", "fashion_mnist", "--out", "data/raw/fashion_mnist/download",
                env={"ACTBENCH_MIRROR": str(mirror)})  # fmt: skip
    refused(repo, res, "download.py", "has no file 'train-images-idx3-ubyte.gz'")


def test_corrupt_prepared_arrays(repo):
    data = repo / "data/prepared/digits.npz"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    refused(
        repo,
        stage(repo, "train.py", *CANDIDATE),
        "train.py",
        "digits.npz is corrupt or incomplete",
        "dvc repro",
    )


def test_prepared_arrays_of_the_wrong_type(repo):
    arrays = dict(np.load(repo / "data/prepared/digits.npz"))
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    np.savez(repo / "data/prepared/digits.npz", **arrays)
    refused(repo, stage(repo, "train.py", *CANDIDATE), "train.py", "split 'train' is malformed")


# --- image folders (the ingest stage) ----------------------------------------------------------


def _folder(repo: Path, skip: bool = False) -> Path:
    root = repo / "photos"
    for cls, color in (("cat", (200, 10, 10)), ("dog", (10, 200, 10))):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            Image.new("RGB", (12, 10), color).save(root / cls / f"{i}.png")
    set_params(repo, **{"data.folders": {"photos": {"path": "photos", "image_size": [8, 8], "color": "rgb"}},
                        "data.skip_non_images": skip})  # fmt: skip
    return root


def ingest(repo: Path) -> subprocess.CompletedProcess:
    return stage(repo, "ingest.py", "--dataset", "photos", "--out", "data/raw/photos/ingested.npz")


def test_folder_that_does_not_exist(repo):
    set_params(
        repo,
        **{"data.folders": {"photos": {"path": "photos", "image_size": [8, 8], "color": "rgb"}}},
    )
    refused(repo, ingest(repo), "ingest.py", "photos does not exist or is not a directory")


def test_empty_folder(repo):
    set_params(
        repo,
        **{"data.folders": {"photos": {"path": "photos", "image_size": [8, 8], "color": "rgb"}}},
    )
    (repo / "photos").mkdir()
    refused(repo, ingest(repo), "ingest.py", "has no class sub-folders")


def test_class_folder_without_images(repo):
    (_folder(repo) / "bird").mkdir()
    refused(
        repo, ingest(repo), "ingest.py", "bird has no usable PNG, JPEG, BMP, WebP or TIFF images"
    )


def test_folder_with_a_text_file(repo):
    (_folder(repo) / "cat" / "notes.txt").write_text("not an image")
    refused(
        repo,
        ingest(repo),
        "ingest.py",
        "notes.txt (not a PNG, JPEG, BMP, WebP or TIFF image)",
        "data.skip_non_images: true",
    )


def test_folder_with_a_truncated_jpeg(repo):
    root = _folder(repo)
    Image.new("RGB", (64, 64), (1, 2, 3)).save(root / "dog" / "full.jpg", format="JPEG")
    blob = (root / "dog" / "full.jpg").read_bytes()
    (root / "dog" / "full.jpg").write_bytes(blob[: len(blob) // 2])
    refused(repo, ingest(repo), "ingest.py", "full.jpg (a truncated or corrupt JPEG file)")


def test_folder_with_system_clutter_and_a_truncated_jpeg(repo):
    # The clutter is ignored (never "unusable"); the truncated JPEG among it still fails alone.
    root = _folder(repo)
    for rel in (
        ".DS_Store",
        "cat/.DS_Store",
        "cat/._0.png",
        "__MACOSX/cat/._0.png",
        "dog/Thumbs.db",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00\x00\x00\x01Bud1")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(root / "dog" / "full.jpg", format="JPEG")
    blob = (root / "dog" / "full.jpg").read_bytes()
    (root / "dog" / "full.jpg").write_bytes(blob[: len(blob) // 2])
    refused(repo, ingest(repo), "ingest.py", "holds 1 unusable file(s): ", "full.jpg (a truncated")


def test_folder_with_a_huge_image_even_when_skipping_is_off(repo):
    root = _folder(repo)
    Image.new("1", (9000, 6000)).save(root / "cat" / "huge.png")  # 54 megapixels, a few KB on disk
    refused(
        repo,
        ingest(repo),
        "ingest.py",
        "huge.png (54,000,000 pixels, more than the 50,000,000 allowed)",
    )


def test_folder_with_a_broken_symlink(repo):
    root = _folder(repo)
    (root / "dog" / "gone.png").symlink_to(repo / "nowhere.png")
    refused(repo, ingest(repo), "ingest.py", "gone.png (a broken symlink)")


def test_folder_image_size_too_large(repo):
    _folder(repo)
    set_params(repo, **{"data.folders.photos.image_size": [4096, 8]})
    refused(
        repo,
        ingest(repo),
        "ingest.py",
        "image_size[0] = 4096 is not valid; expected at most 1024 pixels",
    )


# --- models (the evaluate stage) ---------------------------------------------------------------


def test_missing_model(repo):
    refused(
        repo,
        stage(repo, "evaluate.py", *CANDIDATE),
        "evaluate.py",
        f"{RUN}.keras is missing",
        "train stage",
    )


def test_corrupt_model(repo):
    model = repo / "models" / f"{RUN}.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"PK\x03\x04 this is not a keras archive")
    res = stage(repo, "evaluate.py", *CANDIDATE)
    model.unlink()
    refused(
        repo, res, "evaluate.py", f"{RUN}.keras is corrupt or truncated", "rerun its train stage"
    )


def test_model_of_another_architecture(repo):
    import keras

    model = repo / "models" / f"{RUN}.keras"
    model.parent.mkdir(parents=True)
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(
        model
    )
    res = stage(repo, "evaluate.py", *CANDIDATE)
    model.unlink()
    refused(repo, res, "evaluate.py", "is not an actbench run", "ResNet-18")


# --- environment -------------------------------------------------------------------------------


def test_no_network(repo):
    set_params(repo, datasets=["fashion_mnist"])
    res = stage(repo, "download.py", "--dataset", "fashion_mnist", "--out", "data/raw/fashion_mnist/download",
                env={"ACTBENCH_MIRROR": "http://127.0.0.1:9/"})  # fmt: skip
    refused(
        repo, res, "download.py", "could not fetch http://127.0.0.1:9/train-images-idx3-ubyte.gz"
    )


def test_unsupported_backend(repo):
    refused(repo, stage(repo, "train.py", *CANDIDATE, env={"KERAS_BACKEND": "torch"}), "train.py",
            "KERAS_BACKEND = 'torch' is not supported; expected one of tensorflow, jax")  # fmt: skip


def test_disk_full_while_writing_the_prepared_arrays(repo):
    (repo / "data/prepared/digits.npz").unlink()
    (repo / "data/prepared/digits.json").unlink(missing_ok=True)
    res = stage(repo, "preprocess.py", "--dataset", "digits", "--raw", "data/raw/digits", "--out",
                "data/prepared/digits.npz", "--meta", "data/prepared/digits.json", fsize=20_000)  # fmt: skip
    refused(repo, res, "preprocess.py", "cannot write", "File too large")


def test_disk_full_during_training(repo):
    res = stage(
        repo, "train.py", *CANDIDATE, fsize=60_000
    )  # a file-size limit, as a full disk fails writes
    refused(repo, res, "train.py", "cannot write", "ulimit -f")


def test_read_only_output_folder(repo):
    if subprocess.run([*AS_OTHER_USER, "true"], capture_output=True).returncode != 0:
        pytest.skip(
            "no user namespaces here (unshare --user), and root would ignore a read-only mode"
        )
    out = repo / "metrics/eval"
    out.mkdir(parents=True, exist_ok=True)
    (repo / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "good.keras", repo / "models" / f"{RUN}.keras")
    out.chmod(0o555)
    if subprocess.run([*AS_OTHER_USER, "true"], capture_output=True).returncode != 0:
        pytest.skip(
            "no user namespaces here (unshare --user), and root would ignore a read-only mode"
        )
    try:
        res = stage(repo, "evaluate.py", *CANDIDATE, as_other_user=True)
    finally:
        out.chmod(0o755)
        (repo / "models" / f"{RUN}.keras").unlink()
    refused(repo, res, "evaluate.py", "cannot write to metrics/eval")
