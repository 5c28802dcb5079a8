"""The per-epoch curves: ``TsvLog`` (where dvclive is not installed) writes exactly what dvclive's
``Live`` writes, fresh and resumed after a checkpoint; checked against dvclive 3.49.1."""

import os
from pathlib import Path

import pytest

from actbench import curves

pytestmark = pytest.mark.portable  # no Keras; dvclive is in both environments

EPOCH = {"train_loss": 1.25, "train_accuracy": 0.5, "val_loss": 1.5, "val_accuracy": 0.375,
         "learning_rate": 0.1}  # fmt: skip


def _log(live, epochs: range) -> None:
    with live:
        for epoch in epochs:
            for name, value in EPOCH.items():
                live.log_metric(name, value / (epoch + 1))
            live.next_step()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _run(folder: Path, use_dvclive: bool, monkeypatch) -> dict[str, dict[str, bytes]]:
    """Four epochs; then three epochs and a kill after the third is logged but not checkpointed
    (the checkpoint is of epoch 2), resumed to four; then a fresh start over a finished run."""
    if not use_dvclive:
        import builtins

        real_import = builtins.__import__

        def no_dvclive(name, *args, **kwargs):
            if name == "dvclive" or name.startswith("dvclive."):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_dvclive)
    out = {}
    fresh, resumed = folder / "fresh", folder / "resumed"
    _log(curves.open_log(fresh, None), range(4))
    out["fresh"] = _files(fresh)
    _log(curves.open_log(resumed, None), range(3))
    _log(curves.open_log(resumed, 2), range(2, 4))
    out["resumed"] = _files(resumed)
    _log(curves.open_log(fresh, None), range(1))  # a new run in the same folder: anew
    out["again"] = _files(fresh)
    assert isinstance(curves.open_log(folder / "which", None), curves.TsvLog) is not use_dvclive
    monkeypatch.undo()
    return out


def test_tsvlog_writes_what_dvclive_writes_fresh_resumed_and_anew(tmp_path, monkeypatch):
    pytest.importorskip("dvclive")
    monkeypatch.chdir(tmp_path)  # dvclive looks for a git repository from here: there is none
    live = _run(tmp_path / "dvclive", True, monkeypatch)
    plain = _run(tmp_path / "tsvlog", False, monkeypatch)
    assert live == plain
    assert live["resumed"] == live["fresh"]  # a resumed run's curves are those of a whole run
    tsv = live["fresh"][os.path.join("plots", "metrics", "val_loss.tsv")].decode()
    assert tsv.splitlines() == ["step\tval_loss", "0\t1.5", "1\t0.75", "2\t0.5", "3\t0.375"]
    assert live["again"][os.path.join("plots", "metrics", "val_loss.tsv")].decode().splitlines() == [
        "step\tval_loss", "0\t1.5"]  # fmt: skip
    history = curves.read_history(tmp_path / "tsvlog" / "resumed")
    assert history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])
