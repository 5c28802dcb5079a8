"""Per-activation learning rates, chosen on validation data only: the protocol and the rule.

The protocol (``profiles.<profile>.tuning``), the same for every activation, candidate or
baseline:

1. ``tune`` (one stage per activation and dataset) trains the recipe at every multiplier of the
   grid (``lr_multipliers`` x the profile's ``learning_rate``) with every tuning seed
   (``tuning.seeds``, disjoint from the benchmark's ``seeds``). A point's score is the
   validation accuracy after the last epoch, the model the benchmark keeps; the test split is
   never loaded (``prepared.load(..., splits=("train", "val"))``).
2. ``select`` (one stage) picks, per activation and dataset, the multiplier with the best mean
   score over the tuning seeds; ties go to the default (1), then to the multiplier nearest to it.
   With tuning off every activation gets 1: the shared-rate protocol.
3. The benchmark's train stages read the selection (``runs.read_selection``) and record it.

The grid's training is ``actbench.training.grid``; this module (the rule) imports no Keras.
"""

from __future__ import annotations

import math

TUNED, SHARED = "tuned", "shared"  # the learning-rate protocols


def header(activation: str, dataset: str, params) -> dict:
    """A tune record without its points: what a tune stage writes when tuning is off."""
    return {
        "activation": activation, "dataset": dataset, "enabled": params.tuning.enabled,
        "score": "validation accuracy after the last epoch", "profile": params.profile,
        "base_learning_rate": params.active_profile.learning_rate, "points": [],
    }  # fmt: skip


def select(record: dict) -> float:
    """The chosen multiplier of one tune record: the best mean score; ties go to 1, then to the
    multiplier nearest to 1 (on a log scale), then to the smaller."""
    if not record["enabled"] or not record["points"]:
        return 1.0
    best = max(p["mean"] for p in record["points"])
    tied = [p["lr_multiplier"] for p in record["points"] if p["mean"] == best]
    return min(tied, key=lambda m: (abs(math.log(m)), m))


def selection(record: dict) -> dict:
    """What a train stage reads (``metrics/selected/<activation>_<dataset>.json``): the same
    bytes whenever the choice is the same, so an unchanged choice retrains nothing. It holds
    no protocol: a run at multiplier 1 is the same run under tuning (where 1 won) as without it,
    and is trained once."""
    m = select(record)
    return {
        "activation": record["activation"], "dataset": record["dataset"], "lr_multiplier": m,
        "learning_rate": record["base_learning_rate"] * m,  # per 128 images
    }  # fmt: skip


def protocol(params) -> str:
    """``tuned`` when the active profile tunes, else ``shared``."""
    return TUNED if params.tuning.enabled else SHARED
