"""One home for a run: its identity and every artifact path.

A run is one activation trained on one dataset with one seed, under the active profile's budget.
Its name, ``<activation>_<dataset>_s<seed>``, names every file it produces:

    models/<run>.keras                      the trained model (train)
    metrics/train/<run>.json                training record and provenance (train)
    dvclive/<run>/plots/metrics/*.tsv       per-epoch curves (train)
    checkpoints/<run>/                      in-progress state, not a DVC output (train)
    metrics/eval/<run>.json                 test metrics and diagnostics (evaluate)
    metrics/eval/<run>.confusion.csv        actual,predicted pairs of the test set (evaluate)

A run has no role. Whether an activation is the candidate or a baseline is a question for the
comparison, not for training: the same run, with the same command, outputs and DVC run-cache
entry, serves in either role, so switching the candidate retrains nothing.

The learning rate a run trains at is chosen per activation and dataset by the ``tune``,
``gather`` and ``select`` stages (``metrics/selected/<activation>_<dataset>.json``); a tuning run
is a ``RunSpec`` with a ``lr_multiplier``, named ``<run>_lr<multiplier>``, whose files live under
``checkpoints/`` only (the tune stage keeps its scores, not its models). A run at the runner-up
rate (``tuning.runner_up_seeds``) is the same run with ``variant="runner_up"``: its files carry
``_runner_up`` after the run's name, and it reads ``<activation>_<dataset>.runner_up.json``.

Nothing here imports TensorFlow, Keras or NumPy: validation and aggregation read JSON.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from actbench.errors import ActbenchError


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies one run (the profile's budget comes from the params)."""

    activation: str
    dataset: str
    seed: int
    lr_multiplier: float | None = None  # a tuning run: this multiple of the profile's rate
    variant: str = ""  # "runner_up": the run at its activation's runner-up rate

    @property
    def name(self) -> str:
        base = f"{self.activation}_{self.dataset}_s{self.seed}"
        if self.variant:
            base = f"{base}_{self.variant}"
        return base if self.lr_multiplier is None else f"{base}_lr{self.lr_multiplier:g}"

    @property
    def model(self) -> Path:
        return Path("models") / f"{self.name}.keras"

    @property
    def train_record(self) -> Path:
        return Path("metrics/train") / f"{self.name}.json"

    @property
    def curves(self) -> Path:
        return Path("dvclive") / self.name

    @property
    def checkpoint(self) -> Path:
        """In-progress state. ``ACTBENCH_CHECKPOINTS`` moves it (to shared storage, so that a run
        retried on another machine resumes); by default ``checkpoints/`` in the workspace."""
        return Path(os.environ.get("ACTBENCH_CHECKPOINTS") or "checkpoints") / self.name

    @property
    def curves_in_progress(self) -> Path:
        """The curves are logged here while training; the folder moves to ``curves`` at the end,
        so the declared output is written once, whole (and the stage stays run-cacheable)."""
        return self.checkpoint / "live"

    @property
    def eval_record(self) -> Path:
        return Path("metrics/eval") / f"{self.name}.json"

    @property
    def confusion(self) -> Path:
        return Path("metrics/eval") / f"{self.name}.confusion.csv"

    @property
    def selection(self) -> Path:
        """The learning rate this run trains at (the select stage): its activation's chosen
        rate on this dataset, or the runner-up for a runner-up run."""
        return selection_of(self.activation, self.dataset, runner_up=self.variant == "runner_up")

    def identity(self) -> dict[str, object]:
        out: dict[str, object] = {"run": self.name, "activation": self.activation,
                                  "dataset": self.dataset, "seed": self.seed}  # fmt: skip
        if self.lr_multiplier is not None:
            out["lr_multiplier"] = self.lr_multiplier
        if self.variant:
            out["variant"] = self.variant
        return out


TUNE = Path("metrics/tune")  # one file per grid point (tune), and a README that keeps it in git


def grid_record(activation: str, dataset: str) -> Path:
    """The gather stage's collection of ``activation``'s grid points on ``dataset``."""
    return Path("metrics/grid") / f"{activation}_{dataset}.json"


def tuning_record(activation: str, dataset: str) -> Path:
    """How the select stage chose: every point it scored (grid and beyond), the rule, the
    runner-up, whether the choice is still at an edge, and what tuning cost."""
    return Path("metrics/tuned") / f"{activation}_{dataset}.json"


def selection_of(activation: str, dataset: str, runner_up: bool = False) -> Path:
    name = f"{activation}_{dataset}.runner_up.json" if runner_up else f"{activation}_{dataset}.json"
    return Path("metrics/selected") / name


def from_command_line(parser) -> tuple:
    """``--activation --dataset --seed [--runner-up] [--params]`` on ``parser`` (the stage's
    own, with its own description), parsed and checked against the params: ``(params, spec)``.
    The help texts live in the stage scripts, so editing one reruns that stage alone."""
    from actbench import params as params_lib

    for flag, kind in (("--activation", str), ("--dataset", str), ("--seed", int)):
        parser.add_argument(flag, required=True, type=kind)
    parser.add_argument("--runner-up", action="store_true")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)
    spec = checked_spec(params, args.activation, args.dataset, args.seed)
    return params, dataclasses.replace(spec, variant="runner_up") if args.runner_up else spec


def checked_spec(params, activation: str, dataset: str, seed: int) -> RunSpec:
    """A run named on a stage's command line, checked against the params: a known activation
    (by its module name) and dataset. Loads nothing heavy."""
    from actbench import activations

    params.check_dataset(dataset)
    if activation not in activations.modules():
        raise ActbenchError(
            f"unknown activation {activation!r}; valid names: {', '.join(activations.modules())}"
        )
    return RunSpec(activation, dataset, seed)


def read_selection(path: Path) -> dict:
    """The select stage's choice for one activation and dataset: ``lr_multiplier``, the multiple
    of the profile's learning rate it trains at."""
    import json

    try:
        selection = json.loads(path.read_text())
        float(selection["lr_multiplier"])
    except FileNotFoundError:
        raise ActbenchError(
            f"{path} is missing; run `dvc repro` (the select stage writes it)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ActbenchError(
            f"{path} is not a learning-rate selection ({type(err).__name__}); delete it and run `dvc repro`"
        ) from None
    return selection


def runs_of(activations: list[str], datasets: list[str], seeds: list[int]) -> list[RunSpec]:
    """Every run of these activations, datasets and seeds, activation by activation."""
    return [RunSpec(a, d, s) for a in activations for d in datasets for s in seeds]
