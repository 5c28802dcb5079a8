"""Validate stage: params.yaml checked before any other stage runs.

    python stages/validate.py --out .actbench/params.ok

Every other stage descends from ``--out`` (dvc.yaml), so DVC runs this one first whenever a
param changed, and stops here when one is bad: no stage that owns a result has started, so
nothing of the last good run is removed or half-written. A bad param is one line naming the
key, the value, what is allowed and the closest allowed name, then how to get the last good
params back (DVC has already written the bad value into params.yaml by then).

``--out`` is written only when the params are valid, and always with the same text, so a new
valid params.yaml reruns only the stages that read the params that changed.
Reads params: all of them.
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench.cli import run_stage
from actbench.errors import ActbenchError
from actbench.io import atomic_path

RESTORE = (
    "Nothing ran: fix params.yaml, or restore the last good one with "
    "`git show HEAD:params.yaml > params.yaml` or `dvc exp apply <experiment>`"
)


def check(path: str) -> params_lib.Params:
    """The params of ``path``, or one ActbenchError line that ends with how to restore them."""
    try:
        params = params_lib.load(path)
        for name in params.datasets:
            folder = params.data.folders.get(name)
            if folder is not None and not Path(folder.path).is_dir():
                raise ActbenchError(
                    f"{path}: data.folders.{name}.path = {folder.path!r} is not a folder here"
                )
    except ActbenchError as err:
        _remove_empty_raw_folders(path)
        end = " " if str(err).endswith(("?", ".")) else ". "
        raise ActbenchError(f"{err}{end}{RESTORE}") from None
    return params


def _remove_empty_raw_folders(path: str) -> None:
    """``dvc exp run`` restores outputs before it runs anything, and in doing so creates the empty
    folder data/raw/<name> for a dataset name it has never seen; remove it for a refused name."""
    try:
        names = params_lib.read_yaml(Path(path)).get("datasets")
    except (ActbenchError, AttributeError):
        return
    for name in names if isinstance(names, list) else []:
        folder = Path("data", "raw", str(name))
        if "/" not in str(name) and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    check(args.params)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text("params.yaml passed actbench's checks\n")


if __name__ == "__main__":
    run_stage(main)
