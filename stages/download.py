"""Download stage: fetch a dataset's official files into data/raw/<dataset>/download/.

    python stages/download.py --dataset cifar10 --out data/raw/cifar10/download

Reads params: data.mirror (a base URL or a local directory holding the official files).
digits and folder datasets need no download: their step only records where the data comes from.
"""

import argparse
from pathlib import Path

from actbench import config, datasets
from actbench.cli import run_stage
from actbench.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = config.load(args.params)
    params.check_dataset(args.dataset)
    record = {"dataset": args.dataset}
    if args.dataset in datasets.SOURCES:
        source = datasets.SOURCES[args.dataset]
        record["checksums"] = datasets.download(args.dataset, args.out, mirror=params.data.mirror)
        record["from"] = params.data.mirror or source.urls[0]
    elif args.dataset == "digits":
        args.out.mkdir(parents=True, exist_ok=True)
        record["from"] = (
            "scikit-learn's bundled copy (sklearn.datasets.load_digits); nothing to download"
        )
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        record["from"] = (
            f"image folder {params.data.folders[args.dataset].path}, read by ingest@{args.dataset}"
        )
    write_json(args.out / "SOURCE.json", record)
    print(f"{args.dataset}: {record['from']}")


if __name__ == "__main__":
    run_stage(main)
