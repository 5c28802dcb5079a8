"""Per-epoch curves in dvclive's documented layout (https://dvc.org/doc/dvclive/live/log_metric):
``<dir>/plots/metrics/<curve>.tsv`` (columns ``step`` and the curve's name, one row per epoch)
plus ``<dir>/metrics.json`` (the last values and ``step``).

Training logs them with dvclive's public API (``Live``: ``log_metric``, ``next_step``, ``step``).
Where dvclive is not installed (the GPU machine of ``tools/device_check.sh`` has JAX but no DVC),
``open_log`` returns ``TsvLog``, which writes the same files, so the rest of the run's life and
every reader of the curves are the same. ``TsvLog`` copies that layout, checked against dvclive
3.49.1: tests/test_curves.py writes the same curves with both, fresh and resumed, and compares
the files byte for byte, so a dvclive that writes anything else fails it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from actbench.errors import ActbenchError
from actbench.io import atomic_path

# Per epoch. learning_rate is the mean of the schedule over the epoch's optimizer steps.
CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate")


def read_history(curves_dir: Path) -> dict[str, list[float]]:
    """Per-epoch curves from a dvclive folder, in step order."""
    out = {}
    for curve in CURVES:
        path = curves_dir / "plots" / "metrics" / f"{curve}.tsv"
        if not path.is_file():
            raise ActbenchError(f"{path} is missing; rerun the run's train stage (`dvc repro`)")
        with path.open(newline="") as fh:
            rows = sorted(csv.DictReader(fh, delimiter="\t"), key=lambda r: int(r["step"]))
        out[curve] = [float(r[curve]) for r in rows]
    return out


class TsvLog:
    """The part of ``dvclive.Live`` training uses (``log_metric``, ``next_step``, ``step``, a
    context manager), writing the files ``Live(dir, resume, save_dvc_exp=False, dvcyaml=None,
    report=None)`` writes: started anew, it removes the curves and summary of an earlier run."""

    def __init__(self, directory: str, resume: bool = False):
        self.dir = Path(directory)
        self.step = 0
        self.summary: dict[str, float] = {}
        if not resume:
            shutil.rmtree(self.dir / "plots" / "metrics", ignore_errors=True)
            (self.dir / "metrics.json").unlink(missing_ok=True)

    def log_metric(self, name: str, value: float) -> None:
        path = self.dir / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with path.open("a", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t", lineterminator=os.linesep)
            if not existed:
                writer.writerow(["step", name])
            writer.writerow([self.step, value])
        self.summary[name] = value

    def next_step(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        summary = json.dumps({**self.summary, "step": self.step}, indent=4)
        (self.dir / "metrics.json").write_text(summary + "\n", encoding="utf-8")
        self.step += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def truncate(curves_dir: Path, epochs: int) -> None:
    """Keep the first ``epochs`` rows of every curve: what was logged after the last checkpoint
    (a kill between logging an epoch and checkpointing it) is trained and logged again."""
    for path in (curves_dir / "plots" / "metrics").rglob("*.tsv"):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
            fields = list(rows[0]) if rows else None
        if fields is None:
            continue
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=fields, delimiter="\t", lineterminator=os.linesep
            )
            writer.writeheader()
            writer.writerows(r for r in rows if int(r["step"]) < epochs)


def open_log(directory: Path, resumed_from: int | None):
    """dvclive's ``Live`` on ``directory``, or ``TsvLog`` where dvclive is not installed. A run
    resumed after epoch ``resumed_from`` keeps the curves of its first ``resumed_from`` epochs
    and continues right after them; any other run starts them anew."""
    if resumed_from is not None:
        truncate(directory, resumed_from)
    try:
        from dvclive import Live
        from scmrepo.exceptions import SCMError
    except ImportError:
        live = TsvLog(str(directory), resume=resumed_from is not None)
    else:
        try:
            live = Live(dir=str(directory), resume=resumed_from is not None, save_dvc_exp=False,
                        dvcyaml=None, report=None)  # fmt: skip
        except SCMError as err:  # dvclive 3.49 reads HEAD and fails in a repository with no commit
            raise ActbenchError(
                f"dvclive cannot start ({err}); commit the project first: git add -A && git commit"
            ) from None
    if resumed_from is not None:
        live.step = resumed_from  # epoch k is step k - 1: continue right after the checkpoint
    return live
