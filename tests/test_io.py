"""Atomic, durable writes: no temporary file where another stage reads, old file kept on failure."""

import os
import subprocess
import sys

import pytest

from actbench import io

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)


def test_atomic_write_stages_outside_the_target_folder_and_keeps_the_old_file(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    target = tmp_path / "metrics" / "m.json"
    io.write_json(target, {"a": 1})
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # the usual mode, not mkstemp's
    seen = []
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        seen.append(tmp)
        tmp.write_text("half")
        assert [p.name for p in target.parent.iterdir()] == ["m.json"]  # nothing next to it
        raise RuntimeError("killed mid-write")
    assert seen[0].parent == tmp_path / ".dvc/tmp/actbench"
    assert io.read_json(target) == {"a": 1}
    assert list((tmp_path / ".dvc/tmp/actbench").iterdir()) == []


def test_atomic_directory_replaces_the_whole_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    out = tmp_path / "curves"
    (out / "old").mkdir(parents=True)
    with io.atomic_path(out, directory=True) as tmp:
        (tmp / "new.tsv").write_text("step\\n")
    assert [p.name for p in out.iterdir()] == ["new.tsv"]


def test_writes_are_flushed_to_disk(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    io.write_json(tmp_path / "x.json", {"a": 1})
    assert len(calls) >= 2  # the file, then its directory


def test_leftovers_of_killed_processes_are_cleaned_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    staging = tmp_path / ".dvc/tmp/actbench"
    staging.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (staging / f"{dead.stdout.strip()}.m.json.abc.json").write_text("half")
    (staging / f"{dead.stdout.strip()}.curves.xyz").mkdir()
    (staging / f"{os.getpid()}.mine.json").write_text("in progress")
    io.clean_staging()
    assert [p.name for p in staging.iterdir()] == [f"{os.getpid()}.mine.json"]
