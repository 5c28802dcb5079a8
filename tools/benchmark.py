"""Benchmark: activation cost, whole-model training steps and the input pipeline, side by side.

    python tools/benchmark.py                      # everything; writes metrics/benchmark.json
    python tools/benchmark.py --skip-full-width    # without the slow width-64 training steps

Every number is a median of interleaved repeats in this one process; ratios to ReLU come from
the same rounds, so machine noise cancels. The machine and library versions are recorded.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from actbench import activations, benchmark  # noqa: E402
from actbench.io import write_json  # noqa: E402
from actbench.provenance import machine, versions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "metrics" / "benchmark.json"))
    parser.add_argument("--rounds", type=int, default=15, help="interleaved repeats per activation")
    parser.add_argument("--skip-full-width", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    names = activations.modules()
    result: dict = {"machine": machine(), "versions": versions()}
    print("activation cost (forward + backward) ...", flush=True)
    result["activation_cost"] = benchmark.activation_cost(names, rounds=args.rounds)
    print("matmul peak ...", flush=True)
    peak = benchmark.matmul_peak()
    result["matmul_peak_tflops"] = round(peak / 1e12, 4)
    widths = {"quick": 8} if args.skip_full_width else {"quick": 8, "full": 64}
    result["training_step"] = {}
    for profile, width in widths.items():
        chosen = names if profile == "quick" else ["relu", "elu", "swish", "tanhrelu"]
        print(f"training steps at width {width} ({profile}) ...", flush=True)
        step = benchmark.training_step(chosen, width, steps=10 if width < 32 else 2)
        for mode in ("graph", "xla"):
            for stats in step[mode].values():
                stats["mfu"] = round(stats["tflops"] * 1e12 / peak, 4)
        result["training_step"][f"{profile}_width{width}"] = step
    print("input pipeline ...", flush=True)
    pipeline = benchmark.input_pipeline()
    quick = result["training_step"]["quick_width8"]["graph"]["relu"]["images_per_s"]
    result["input_pipeline"] = {
        "images_per_s": round(pipeline, 1),
        "ratio_to_quick_training_throughput": round(pipeline / quick, 2),
    }
    result["seconds"] = round(time.perf_counter() - start, 1)
    write_json(args.out, result)
    print(
        json.dumps(
            {k: result[k] for k in ("matmul_peak_tflops", "input_pipeline", "seconds")}, indent=2
        )
    )
    for mode in ("graph", "xla"):
        print(mode, json.dumps(result["activation_cost"][mode]["geomean_ratio_to_relu"]))


if __name__ == "__main__":
    main()
