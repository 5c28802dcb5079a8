"""Training one point of the learning-rate grid: one activation on one dataset at one multiplier
of the profile's rate, with every tuning seed (the protocol: ``actbench.tuning``). The tune
stage trains a grid point with it; the select stage the points beyond an edge.

A tuning run keeps its checkpoint until its point is scored, so a killed stage resumes:
finished runs are restored at their last epoch, not trained again.
"""

from __future__ import annotations

import shutil
import statistics
import time

from actbench.params import Params
from actbench.runs import RunSpec
from actbench.training import loop


def point(activation: str, dataset: str, multiplier: float, params: Params) -> dict:
    """Train ``activation`` on ``dataset`` at ``multiplier`` with each tuning seed; the point's
    scores (validation accuracy after the last epoch), curves and training seconds."""
    specs = [RunSpec(activation, dataset, seed, multiplier) for seed in params.tuning_seeds]
    out = {"activation": activation, "dataset": dataset, "lr_multiplier": multiplier,
           "per_seed": {}, "val_curves": {}, "seconds": {}}  # fmt: skip
    for spec in specs:
        started = time.time()
        fitted = loop.fit_run(spec, params, started, multiplier)
        seed = str(spec.seed)
        out["per_seed"][seed] = fitted.record["val_accuracy"]
        out["val_curves"][seed] = fitted.history["val_accuracy"]
        out["seconds"][seed] = round(time.time() - started, 2)
        out |= {"epochs": fitted.record["epochs"], "peak_learning_rate": fitted.record["schedule"]["peak"],
                "val_images": fitted.record["val_images"], "device": fitted.record["device"]}  # fmt: skip
        print(f"{spec.name}: val_accuracy {fitted.record['val_accuracy']:.4f}", flush=True)
    out["mean"] = statistics.fmean(out["per_seed"].values())
    for spec in specs:  # scored: nothing left to resume
        shutil.rmtree(spec.checkpoint, ignore_errors=True)
    return out
