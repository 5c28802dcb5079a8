"""Ingest stage: decode and resize a user image folder into data/raw/<name>/ingested.npz.

    python stages/ingest.py --dataset my_products --out data/raw/my_products/ingested.npz

Reads params: data.folders.<name> (path, image_size, color) and data.skip_non_images.
The folder itself is this stage's DVC dependency, so changed images are noticed.
"""

import argparse
from pathlib import Path

from actbench import config, datasets
from actbench.cli import run_stage
from actbench.errors import ActbenchError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = config.load(args.params)
    if args.dataset not in params.data.folders:
        raise ActbenchError(
            f"unknown folder dataset {args.dataset!r}; configured folders: "
            f"{', '.join(params.data.folders) or '(none)'}"
        )
    folder = params.data.folders[args.dataset]
    raw = datasets.read_folder(folder, Path.cwd(), skip_non_images=params.data.skip_non_images)
    datasets.save_ingested(args.out, raw)
    n_test = 0 if raw.x_test is None else len(raw.x_test)
    print(
        f"{args.dataset}: {len(raw.x_train)} train + {n_test} test images, "
        f"{len(raw.class_names)} classes, {len(raw.skipped)} non-image files skipped"
    )


if __name__ == "__main__":
    run_stage(main)
