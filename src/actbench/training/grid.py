"""The tune stage's training: one activation on one dataset at every point of the learning-rate
grid, with every tuning seed (the protocol: ``actbench.tuning``).

A tuning run keeps its checkpoint until the whole grid is scored, so a killed tune stage
resumes: finished points are restored at their last epoch, not trained again.
"""

from __future__ import annotations

import shutil
import time

from actbench.params import Params
from actbench.runs import RunSpec
from actbench.training import loop
from actbench.tuning import header


def tune(activation: str, dataset: str, params: Params) -> dict:
    """Train the grid for one activation and dataset; its scores (validation accuracy)."""
    tuning = params.tuning
    out = header(activation, dataset, params)
    if not tuning.enabled:
        return out
    specs = [
        RunSpec(activation, dataset, seed, m)
        for m in tuning.lr_multipliers
        for seed in tuning.seeds
    ]
    points: dict[float, dict] = {}
    for spec in specs:
        fitted = loop.fit_run(spec, params, time.time(), spec.lr_multiplier)
        point = points.setdefault(spec.lr_multiplier, {
            "lr_multiplier": spec.lr_multiplier,
            "peak_learning_rate": fitted.record["schedule"]["peak"],
            "per_seed": {}, "val_curves": {},
        })  # fmt: skip
        point["per_seed"][str(spec.seed)] = fitted.record["val_accuracy"]
        point["val_curves"][str(spec.seed)] = fitted.history["val_accuracy"]
        point["epochs"] = fitted.record["epochs"]
        print(f"{spec.name}: val_accuracy {fitted.record['val_accuracy']:.4f}", flush=True)
    for point in points.values():
        values = list(point["per_seed"].values())
        point["mean"] = sum(values) / len(values)
    out["points"] = [points[m] for m in sorted(points)]
    for spec in specs:  # the whole grid is scored: nothing left to resume
        shutil.rmtree(spec.checkpoint, ignore_errors=True)
    return out
