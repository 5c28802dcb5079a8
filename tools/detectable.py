"""How many seeds a comparison needs: the minimum detectable difference against the number of seeds.

    python tools/detectable.py metrics/comparison.json             # at the SDs measured there
    python tools/detectable.py --sd 0.17 --comparisons 6            # at a given SD (points)

For each observed SD of the paired differences (or the one given), the smallest true mean
difference a two-sided paired t-test detects with 80% power at alpha/m, for 3 to 20 seeds
(actbench.stats.min_detectable_diff, the number `inconclusive` verdicts report).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from actbench import stats  # noqa: E402

SEEDS = (3, 5, 10, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comparison", nargs="?", help="a metrics/comparison.json")
    parser.add_argument("--sd", type=float, help="SD of the paired differences, accuracy points")
    parser.add_argument("--comparisons", type=int, default=3, help="the family size m")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    rows = []
    if args.comparison:
        data = json.loads(Path(args.comparison).read_text())
        m, alpha = data["family"]["comparisons"], data["family"]["alpha"]
        for dataset, versus in data["comparisons"].items():
            for baseline, c in versus.items():
                if c["sd_diff"]:
                    rows.append(
                        (
                            f"{dataset}: {data['candidate']} - {baseline}",
                            100 * c["sd_diff"],
                            m,
                            alpha,
                        )
                    )
    if args.sd is not None:
        rows.append((f"SD {args.sd:g} points", args.sd, args.comparisons, args.alpha))
    print("| differences | SD (points) | m | " + " | ".join(f"{n} seeds" for n in SEEDS) + " |")
    print("|---|---|---|" + "---|" * len(SEEDS))
    for name, sd, m, alpha in rows:
        cells = [f"{stats.min_detectable_diff(n, sd, alpha / m):.2f}" for n in SEEDS]
        print(f"| {name} | {sd:.2f} | {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
