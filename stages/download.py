"""Download stage: fetch a built-in dataset's official files into data/raw/<dataset>/download/.

    python stages/download.py --dataset cifar10 --out data/raw/cifar10/download

Where the files come from is a machine setting, not a param: ACTBENCH_MIRROR or `mirror:` in
actbench.local.yaml (a directory or base URL holding the official files), else the official
URLs. Every file is checked by its published MD5 and SHA-256. digits and folder datasets need
no download: their step only records where the data come from.
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import settings
from actbench.cli import run_stage
from actbench.data import catalog, sources
from actbench.io import all_or_nothing, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    params.check_dataset(args.dataset)
    builtin = catalog.BUILTIN.get(args.dataset)
    record: dict[str, object] = {"dataset": args.dataset}
    with all_or_nothing(args.out):  # the folder whole, or not at all
        if builtin is not None and builtin.files:
            mirror = settings.get("mirror")
            record["files"] = sources.download(args.dataset, args.out, mirror=mirror)
            record["official_urls"] = list(builtin.urls)
            origin = mirror or builtin.urls[0]
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            origin = record["from"] = (
                builtin.citation
                if builtin is not None
                else f"image folder {params.data.folders[args.dataset].path}, read by ingest@{args.dataset}"
            )
        write_json(args.out / "SOURCE.json", record)  # the mirror is not recorded: machine-specific
    print(f"{args.dataset}: {origin}")


if __name__ == "__main__":
    run_stage(main)
