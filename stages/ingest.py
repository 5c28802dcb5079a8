"""Ingest stage: decode and resize a user image folder into data/raw/<name>/ingested.npz.

    python stages/ingest.py --dataset my_products --out data/raw/my_products/ingested.npz

Reads params: data.folders.<name> (path, image_size, color) and data.skip_non_images.
The folder itself is this stage's DVC dependency, so changed images are noticed.
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench.cli import run_stage
from actbench.data import folders
from actbench.errors import ActbenchError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    if args.dataset not in params.data.folders:
        raise ActbenchError(
            f"unknown folder dataset {args.dataset!r}; configured folders: "
            f"{', '.join(params.data.folders) or '(none)'}"
        )
    folder = params.data.folders[args.dataset]
    arrays = folders.read_folder(
        folder.path,
        folder.image_size,
        folder.color,
        Path.cwd(),
        skip_bad=params.data.skip_non_images,
    )
    folders.save_ingested(args.out, arrays)
    n_test = len(arrays["x_test"]) if "x_test" in arrays else 0
    print(
        f"{args.dataset}: {len(arrays['x_train'])} train + {n_test} test images, "
        f"{len(arrays['class_names'])} classes, {len(arrays['skipped'])} unusable files skipped, "
        f"{len(arrays['ignored'])} system files ignored (.DS_Store, Thumbs.db, ...)"
    )


if __name__ == "__main__":
    run_stage(main)
