"""Select stage: one activation's learning rate on one dataset, from its tuning scores alone.

    python stages/select_lr.py --activation tanhrelu --dataset digits   # not select.py: that
                                                                        # would shadow the stdlib's

Reads metrics/grid/<activation>_<dataset>.json (its grid points) and applies the rule of
actbench.tuning: while the chosen point is at an edge of the points scored so far, it trains
the next point beyond that edge (at most profiles.<profile>.tuning.max_extensions), for this
activation alone. Writes metrics/selected/<activation>_<dataset>.json (the multiplier its train
stages use: x1 when tuning is off), .runner_up.json (the runner-up's, for
tuning.runner_up_seeds) and metrics/tuned/<activation>_<dataset>.json (every point scored, the
rule's outcome, whether the choice is still at an edge, and what tuning cost).
Reads params: profile, profiles.<profile>.* (the budget and the recipe, for an extension),
profiles.<profile>.tuning, train.*, evaluate.batch_size.
"""

import argparse

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import runs, tuning
from actbench.cli import run_stage
from actbench.io import all_or_nothing, read_json, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    act, dataset = args.activation, args.dataset
    runs.checked_spec(params, act, dataset, 0)
    points = read_json(runs.grid_record(act, dataset))["points"]
    rule, extended = tuning.choose(points), []
    while rule["edge"] and len(extended) < params.active_profile.tuning.max_extensions:
        rates = sorted(p["lr_multiplier"] for p in points)
        multiplier = tuning.beyond(rates, rule["edge"])
        if not extended:
            from actbench.training import device

            device.configure(params.train.deterministic)
            from actbench.training import grid  # heavy: Keras and its backend
        print(
            f"{act} on {dataset}: x{rule['chosen']:g} is at the {rule['edge']} edge; trying x{multiplier:g}"
        )
        new = grid.point(act, dataset, multiplier, params) | {"extension": True}
        points, extended = [*points, new], [*extended, multiplier]
        rule = tuning.choose(points)
    base = params.active_profile.learning_rate
    runs_scored = [v for p in points for v in p["per_seed"].values()]
    record = {
        "activation": act, "dataset": dataset, "enabled": bool(points), "profile": params.profile,
        "score": "validation accuracy after the last epoch", "base_learning_rate": base,
        "points": sorted(points, key=lambda p: p["lr_multiplier"]), "extended": extended,
        "still_at_edge": rule["edge"], **rule,
        "budget": {"runs": len(runs_scored),
                   "seconds": round(sum(s for p in points for s in p.get("seconds", {}).values()), 2),
                   "device_kind": next((p["device"]["device_kind"] for p in points), None),
                   "expected_best": tuning.expected_best(runs_scored) if runs_scored else []},
    }  # fmt: skip
    chosen = runs.selection_of(act, dataset)
    second = runs.selection_of(act, dataset, runner_up=True)
    with all_or_nothing(chosen, second, runs.tuning_record(act, dataset)):
        write_json(chosen, tuning.selection(act, dataset, rule["chosen"], base))
        write_json(
            second, tuning.selection(act, dataset, rule["runner_up"] or rule["chosen"], base)
        )
        write_json(runs.tuning_record(act, dataset), record)
    edge = f"; still at the {rule['edge']} edge" if rule["edge"] else ""
    print(
        f"{act} on {dataset}: learning rate x{rule['chosen']:g} ({tuning.protocol(params)}){edge}"
    )


if __name__ == "__main__":
    run_stage(main)
