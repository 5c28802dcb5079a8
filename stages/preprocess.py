"""Preprocess stage: raw files -> data/prepared/<dataset>.npz plus a JSON sidecar.

    python stages/preprocess.py --dataset digits --raw data/raw/digits \
        --out data/prepared/digits.npz --meta data/prepared/digits.json

Reads params: profile, profiles.<profile>.train_size, data.val_size, data.test_size,
data.split_seed. Images stay uint8 NHWC; the model scales them to [0, 1].
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench.cli import run_stage
from actbench.data import prepared, raw, splits
from actbench.io import all_or_nothing, write_json
from actbench.provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--raw", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--meta", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    params.check_dataset(args.dataset)
    data = raw.load_raw(args.dataset, args.raw)
    train_size = params.active_profile.train_size.get(args.dataset)
    arrays = splits.prepare(
        data,
        val_size=params.data.val_size,
        test_size=params.data.test_size,
        split_seed=params.data.split_seed,
        train_size=train_size,
    )
    counts = splits.counts(arrays)
    sidecar = {
        "dataset": args.dataset,
        "image_shape": list(arrays["x_train"].shape[1:]),
        "class_names": [str(n) for n in arrays["class_names"]],
        "counts": counts,
        "source_checksums": data.checksums,
        "skipped_files": data.skipped,
        "ignored_files": data.ignored,  # .DS_Store, Thumbs.db, ...: never data
        "ignored_count": len(data.ignored),
        "params": {
            "train_size": train_size,
            "val_size": params.data.val_size,
            "test_size": params.data.test_size if data.x_test is None else None,
            "split_seed": params.data.split_seed,
        },
        **provenance(params.profile),
    }
    with all_or_nothing(args.out, args.meta):  # both or neither: nothing half-done for DVC
        prepared.save(args.out, arrays)
        write_json(args.meta, sidecar)
    print(
        f"{args.dataset}: train {counts['train']['total']}, val {counts['val']['total']}, "
        f"test {counts['test']['total']} images of shape {tuple(arrays['x_train'].shape[1:])}"
    )


if __name__ == "__main__":
    run_stage(main)
