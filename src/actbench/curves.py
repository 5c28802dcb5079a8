"""Per-epoch curves in dvclive's layout: ``<dir>/plots/metrics/<curve>.tsv`` (columns ``step`` and
the curve's name, one row per epoch) plus ``<dir>/metrics.json`` (the last values).

Training logs them with dvclive (``Live``). Where dvclive is not installed (the GPU machine of
``tools/device_check.sh`` has JAX but no DVC), ``open_log`` returns ``TsvLog``, which writes the
same files, so the rest of the run's life and every reader of the curves are the same.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from actbench.errors import ActbenchError

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
    context manager), writing the files ``Live`` writes with ``save_dvc_exp=False, dvcyaml=None,
    report=None``."""

    def __init__(self, directory: str, resume: bool = False):
        self.dir = Path(directory)
        self.step = 0
        self.summary: dict[str, float] = {}
        if not resume:
            for tsv in (self.dir / "plots" / "metrics").glob("*.tsv"):
                tsv.unlink()

    def log_metric(self, name: str, value: float) -> None:
        path = self.dir / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t", lineterminator=os.linesep)
            if not existed:
                writer.writerow(["step", name])
            writer.writerow([self.step, value])
        self.summary[name] = value

    def next_step(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "metrics.json").write_text(json.dumps({**self.summary, "step": self.step}))
        self.step += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def open_log(directory: Path, resumed_from: int | None):
    """dvclive's ``Live`` on ``directory`` (continuing after epoch ``resumed_from``), or
    ``TsvLog`` where dvclive is not installed."""
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
