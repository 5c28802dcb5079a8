"""Time `dvc repro` on the quick profile with data of the real shapes and sizes.

    python tools/time_quick_profile.py            # writes metrics/quick_profile_timing.json

CIFAR-10 (50,000 + 10,000 images of 32x32x3) and Fashion-MNIST (60,000 + 10,000 of 28x28x1)
are generated in their official file formats with random pixels, because this machine cannot
download the real ones. Speed does not depend on pixel values; accuracy does, so no accuracy
from this run is reported. The synthetic files cannot match the published checksums, so the
download step is replaced by copying them in and the preprocess stages run in this process with
the checksums pointed at them; everything after (train, evaluate, compare, plot) is a plain
`dvc repro` in a temporary git repository. Each stage records its own timings (start-up until
training starts, first epoch, later epochs, evaluation start-up); they are averaged here.
"""

import argparse
import functools
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tools import synthetic  # noqa: E402

from actbench.data import catalog, sources  # noqa: E402
from actbench.provenance import machine, versions  # noqa: E402

COPIED = ["dvc.yaml", "params.yaml", "stages", "src", "pyproject.toml", ".dvcignore", ".gitignore"]
BUILTIN = ("cifar10", "fashion_mnist")


def sh(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}  # fmt: skip
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return res.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "metrics" / "quick_profile_timing.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="actbench-timing-"))
    for name in COPIED:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    sh(work, "git", "init", "-q")
    sh(work, "dvc", "init", "-q")
    shutil.copytree(ROOT / ".dvc" / "plots", work / ".dvc" / "plots")
    sh(work, "git", "-c", "user.name=timing", "-c", "user.email=timing@localhost", "add", "-A")
    sh(
        work,
        "git",
        "-c",
        "user.name=timing",
        "-c",
        "user.email=timing@localhost",
        "commit",
        "-qm",
        "project",
    )
    mirror = work / "mirror"
    print("generating full-size synthetic CIFAR-10 and Fashion-MNIST files ...", flush=True)
    synthetic.make_mirror(
        mirror, np.random.default_rng(0), per_batch=10_000, fm_train=60_000, fm_test=10_000
    )
    os.chdir(work)
    for name in BUILTIN:
        catalog.BUILTIN[name] = synthetic.trusted(catalog.BUILTIN[name], mirror)
        sources.download(name, work / "data/raw" / name / "download", mirror=str(mirror))
        (work / "data/raw" / name / "download" / "SOURCE.json").write_text(
            '{"from": "synthetic"}\n'
        )
    sys.path.insert(0, str(work / "stages"))  # for the stages' `import _src`
    timings = {}
    for name in BUILTIN:
        start = time.perf_counter()
        sys.argv = ["preprocess.py", "--dataset", name, "--raw", f"data/raw/{name}",
                    "--out", f"data/prepared/{name}.npz", "--meta", f"data/prepared/{name}.json"]  # fmt: skip
        runpy.run_path(str(work / "stages/preprocess.py"), run_name="__main__")
        timings[f"preprocess_{name}_s"] = round(time.perf_counter() - start, 1)
    sh(
        work,
        "dvc",
        "commit",
        "-f",
        "-q",
        *(f"{s}@{n}" for s in ("download", "preprocess") for n in BUILTIN),
    )
    print("dvc repro (train, evaluate, compare, plot) ...", flush=True)
    start = time.perf_counter()
    sh(work, "dvc", "repro")
    timings["repro_after_preprocess_s"] = round(time.perf_counter() - start, 1)
    timings["total_excluding_download_s"] = round(sum(timings.values()), 1)
    trains = [json.loads(p.read_text()) for p in sorted((work / "metrics/train").rglob("*.json"))]
    evals = [json.loads(p.read_text()) for p in sorted((work / "metrics/eval").rglob("*.json"))]

    def mean(records, *keys):
        return float(np.mean([functools.reduce(lambda d, k: d[k], keys, r) for r in records]))

    tracing = [t["seconds"]["first_epoch"] - t["seconds"]["later_epoch_mean"] for t in trains]
    per_run = {
        "train_stage_wall_s": mean(trains, "seconds", "wall"),
        "train_setup_s (process start, imports, data load, model build)": mean(
            trains, "seconds", "setup"
        ),
        "train_first_epoch_s (includes graph tracing)": mean(trains, "seconds", "first_epoch"),
        "train_tracing_s (first epoch minus a later one)": float(np.mean(tracing)),
        "train_fit_s": mean(trains, "seconds", "fit"),
        "train_epochs": mean(trains, "epochs"),
        "evaluate_stage_wall_s": mean(evals, "seconds", "wall"),
        "evaluate_setup_s (process start, imports, model load)": mean(evals, "seconds", "setup"),
        "overhead_s (train setup + tracing + evaluate setup)": float(
            mean(trains, "seconds", "setup") + np.mean(tracing) + mean(evals, "seconds", "setup")
        ),
        "images_per_s": {
            d: float(np.mean([t["images_per_second"] for t in trains if t["dataset"] == d]))
            for d in BUILTIN
        },  # fmt: skip
    }
    result = {
        "what": "dvc repro, quick profile, synthetic data of the real CIFAR-10 and Fashion-MNIST sizes",
        "runs": len(trains),
        "timings": timings,
        "per_run_mean": {
            k: (round(v, 2) if isinstance(v, float) else v) for k, v in per_run.items()
        },
        "machine": machine(),
        "versions": versions(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
