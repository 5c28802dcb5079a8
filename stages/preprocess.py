"""Preprocess stage: raw files -> data/prepared/<dataset>.npz plus a JSON sidecar.

    python stages/preprocess.py --dataset digits --raw data/raw/digits \
        --out data/prepared/digits.npz --meta data/prepared/digits.json

Reads params: profile, profiles.<profile>.train_size, data.val_size, data.test_size,
data.split_seed. Images stay uint8 NHWC; the model scales them to [0, 1].
"""

import argparse
from pathlib import Path

from actbench import config, datasets
from actbench.cli import run_stage
from actbench.io import versions, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--raw", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--meta", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = config.load(args.params)
    params.check_dataset(args.dataset)
    raw = datasets.load_raw(args.dataset, args.raw)
    train_size = params.budget.train_size.get(args.dataset)
    arrays = datasets.prepare(
        raw,
        val_size=params.data.val_size,
        test_size=params.data.test_size,
        split_seed=params.data.split_seed,
        train_size=train_size,
    )
    counts = datasets.counts(arrays)
    # The sidecar first, the arrays last: DVC sees both only if both were written.
    write_json(
        args.meta,
        {
            "dataset": args.dataset,
            "profile": params.profile,
            "image_shape": list(arrays["x_train"].shape[1:]),
            "class_names": [str(n) for n in arrays["class_names"]],
            "counts": counts,
            "source_checksums": raw.checksums,
            "skipped_files": raw.skipped,
            "params": {
                "train_size": train_size,
                "val_size": params.data.val_size,
                "test_size": params.data.test_size if raw.x_test is None else None,
                "split_seed": params.data.split_seed,
            },
            "versions": versions(),
        },
    )
    datasets.save_prepared(args.out, arrays)
    print(
        f"{args.dataset}: train {counts['train']['total']}, val {counts['val']['total']}, "
        f"test {counts['test']['total']} images of shape {tuple(arrays['x_train'].shape[1:])}"
    )


if __name__ == "__main__":
    run_stage(main)
