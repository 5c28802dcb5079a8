"""Are two runs of the same experiment's metrics equal? `make docker-check` compares the container
run with the host run through this.

    python tools/docker_compare.py HOST_CLONE CONTAINER_CLONE [--atol 0]

It reads only the two files every version of the pipeline writes: metrics/summary.json (the
table `dvc metrics diff` shows: every number and verdict must match) and metrics/comparison.json,
of which it compares every per-seed value under "aggregates" (test accuracy, macro F1, best
validation accuracy, diagnostics: one number per run). With train.deterministic=true both sides
are bit-identical on the same CPU and library versions, so the default tolerance is 0. Exits 1,
naming the first values that differ, if any differ by more than --atol.
"""

import argparse
import json
import math
import sys
from pathlib import Path


def leaves(tree: object, path: str = "") -> dict[str, object]:
    """Every scalar of a JSON tree, by its path."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in leaves(sub, f"{path}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in leaves(sub, f"{path}[{i}]").items()}
    return {path: tree}


def per_seed_values(comparison: dict) -> dict[str, object]:
    """The per-run numbers of comparison.json: aggregates/<activation>/<dataset>/<key>/per_seed."""
    out = {}
    for act, by_dataset in comparison["aggregates"].items():
        for dataset, keys in by_dataset.items():
            for key, value in keys.items():
                if isinstance(value, dict) and "per_seed" in value:
                    out |= leaves(value["per_seed"], f"/aggregates/{act}/{dataset}/{key}/per_seed")
    return out


def differences(a: dict[str, object], b: dict[str, object], atol: float) -> list[str]:
    out = [f"{k}: only on one side" for k in sorted(a.keys() ^ b.keys())]
    for key in sorted(a.keys() & b.keys()):
        x, y = a[key], b[key]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
        if numbers and (x == y or abs(x - y) <= atol or (math.isnan(x) and math.isnan(y))):
            continue
        if not numbers and x == y:
            continue
        out.append(f"{key}: {x!r} (host) != {y!r} (container)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host", type=Path)
    parser.add_argument("container", type=Path)
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance per number")
    args = parser.parse_args()

    read = lambda root, name: json.loads((root / "metrics" / name).read_text())  # noqa: E731
    summary = [leaves(read(root, "summary.json")) for root in (args.host, args.container)]
    runs = [per_seed_values(read(root, "comparison.json")) for root in (args.host, args.container)]
    diffs = differences(*summary, args.atol) + differences(*runs, args.atol)
    if diffs:
        print(f"{len(diffs)} values differ (atol {args.atol}):", *diffs[:20], sep="\n  ")
        return 1
    numbers = sum(isinstance(v, int | float) for v in summary[0].values())
    print(
        f"metrics equal (atol {args.atol}): {len(summary[0])} values of summary.json "
        f"({numbers} numbers) and {len(runs[0])} per-run values of comparison.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
