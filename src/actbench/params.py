"""params.yaml, read once at the edge into typed, validated, frozen models.

The file is read as YAML 1.2 (ruamel.yaml), the version DVC writes with ``dvc exp run -S``:
``off``, ``no`` and ``yes`` are strings and ``1e-6`` is a number, as DVC means them.
pydantic checks every section for unknown keys, missing keys and types (strictly: ``true`` is not
a number and ``"3"`` is not an integer); ``Checker`` then checks meaning (known activation and
dataset names, positive counts, fractions in range). A problem raises ``ActbenchError`` with one
line: the file, the dotted key, the value, what is allowed and the closest allowed name. Nothing
here imports Keras or NumPy, so a bad param fails in well under a second.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from actbench import activations
from actbench.data import catalog
from actbench.errors import ActbenchError

MAX_IMAGE_SIDE = 1024  # pixels; folder images are resized to at most this per side


class Section(BaseModel):
    """A section of params.yaml: unknown keys are errors, types are strict, values frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _empty_if_none(value: Any) -> Any:
    return {} if value is None else value  # `folders:` with nothing below it is no folder


Pair = Annotated[tuple[int, int], BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v)]


class Tuning(Section):
    """Per-activation learning rates, chosen on validation data (the tune, gather and select
    stages). At the top level of params.yaml, not per profile: dvc.yaml makes one tune stage per
    grid point, and DVC cannot expand a list chosen by another param."""

    lr_multipliers: list[float]  # the grid, as multiples of the profile's learning_rate; [] = off
    runner_up_seeds: list[int]  # benchmark seeds also trained at the runner-up rate; [] = none

    @property
    def enabled(self) -> bool:
        """Off (an empty grid): every activation trains at the profile's rate (multiplier 1)."""
        return bool(self.lr_multipliers)


class ProfileTuning(Section):
    """What tuning costs under one profile."""

    seeds: list[int]  # tuning seeds, disjoint from the benchmark's `seeds`
    max_extensions: int  # points tried beyond an edge of the grid, per activation and dataset


class Profile(Section):
    """One compute budget; ``profile`` in params.yaml picks which."""

    width: int  # stage-1 channels of ResNet-18; 64 is the standard network
    epochs: int  # passes over the training set, at least (see epochs_for)
    min_steps: int  # optimizer steps, at least: a small dataset gets more epochs to reach them
    batch_size: int  # images per optimizer step, over all devices together
    learning_rate: float  # peak learning rate per 128 images; scaled linearly with batch_size
    min_seeds: int  # the least number of seeds this profile accepts
    cutout: float  # side of the square zeroed per training image, as a fraction; 0 = off
    pad_mode: Literal["zero", "reflect"]  # what the random-crop padding holds
    flip_tta: bool  # test logits: mean over each image and its mirror (flipped datasets)
    tuning: ProfileTuning
    train_size: Annotated[dict[str, int], BeforeValidator(_empty_if_none)] = {}  # per dataset

    def steps_per_epoch(self, train_images: int) -> int:
        return train_images // self.batch_size  # the remainder is dropped: fixed batch shapes

    def epochs_for(self, train_images: int) -> int:
        """``epochs``, raised until the run makes at least ``min_steps`` optimizer steps."""
        steps = self.steps_per_epoch(train_images)
        return max(self.epochs, math.ceil(self.min_steps / steps)) if steps else self.epochs


class Folder(Section):
    """A user image-folder dataset."""

    path: str  # directory; relative paths are relative to the repository root
    image_size: Pair  # (height, width) after resizing
    color: Literal["rgb", "grayscale"]


class DataParams(Section):
    val_size: float
    test_size: float
    split_seed: int
    skip_non_images: bool
    folders: Annotated[dict[str, Folder], BeforeValidator(_empty_if_none)]


class TrainParams(Section):
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    warmup_epochs: int
    crop_padding: float
    hflip: list[str]
    deterministic: Literal["auto"] | bool
    jit_compile: Literal["auto"] | bool
    steps_per_execution: int
    mixed_precision: Literal["auto", "off", "bfloat16", "float16"]
    distribute: Literal["auto", "off", "mirrored"]
    feed: Literal["auto", "host", "device"]


class EvaluateParams(Section):
    batch_size: int
    diagnostic_images: int


class CompareParams(Section):
    alpha: float
    equivalence_margin: dict[str, float]  # accuracy points, per profile


class PlotParams(Section):
    smoothing: float


class Params(Section):
    activation: str  # the candidate, one of ``activations``
    activations: list[str]  # every activation trained, the candidate among them
    datasets: list[str]
    seeds: list[int]
    profile: str
    profiles: dict[str, Profile]
    tuning: Tuning
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    compare: CompareParams
    plot: PlotParams
    source: str = "params.yaml"  # the file these were read from, for messages

    @property
    def active_profile(self) -> Profile:
        """The settings of the selected ``profile``."""
        return self.profiles[self.profile]

    @property
    def margin(self) -> float:
        """The equivalence margin of the selected profile, in accuracy points."""
        return self.compare.equivalence_margin[self.profile]

    @property
    def baselines(self) -> list[str]:
        """What the candidate is compared with: every other activation, in params order."""
        return [a for a in self.activations if a != self.activation]

    @property
    def tuning_seeds(self) -> list[int]:
        """The seeds every grid point trains with, under the active profile."""
        return self.active_profile.tuning.seeds

    def dataset_names(self) -> list[str]:
        """Every name a dataset may have: the built-ins and the configured folders."""
        return [*catalog.names(), *self.data.folders]

    def check_dataset(self, name: str) -> None:
        """Refuse a dataset name that is neither built in nor a configured folder."""
        if name not in self.dataset_names():
            raise ActbenchError(
                f"unknown dataset {name!r}; valid names: {', '.join(self.dataset_names())}"
            )


class Checker:
    """Builds and validates ``Params`` for one file, so every message names that file."""

    def __init__(self, source: str):
        self.source = source

    def fail(
        self, key: str, value: Any, allowed: str, choices: typing.Iterable[str] = ()
    ) -> typing.NoReturn:
        """One line: the key, the bad value, what is allowed, and the closest of ``choices``."""
        hint = difflib.get_close_matches(str(value), list(choices), n=1)
        did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ActbenchError(
            f"{self.source}: {key} = {value!r} is not valid; expected {allowed}{did_you_mean}"
        )

    def removed(self, raw: dict) -> None:
        """Keys of earlier versions: one line saying where each went."""
        if "mirror" in (raw.get("data") or {}):
            raise ActbenchError(
                f"{self.source}: data.mirror is no longer a param (it is machine-specific); "
                "delete it and set ACTBENCH_MIRROR or `mirror:` in actbench.local.yaml"
            )
        if "baselines" in raw:
            raise ActbenchError(
                f"{self.source}: baselines is no longer a param; list every activation to train, "
                "the candidate among them, in `activations` (e.g. activations: [tanhrelu, relu, elu, swish])"
            )
        profiles = raw.get("profiles")
        for name, profile in profiles.items() if isinstance(profiles, dict) else []:
            tuning = profile.get("tuning") if isinstance(profile, dict) else None
            for key in ("enabled", "lr_multipliers"):
                if isinstance(tuning, dict) and key in tuning:
                    raise ActbenchError(
                        f"{self.source}: profiles.{name}.tuning.{key} is no longer a param; the grid is "
                        "the top-level tuning.lr_multipliers ([] = off), the same for every profile"
                    )

    def message(self, error: dict) -> str:
        """One line for pydantic's first error: the dotted key, the value, what is allowed."""
        tp, key, section = Params, "", Params
        for part in error["loc"]:
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                if part not in tp.model_fields:
                    break  # an unknown key
                section, tp = tp, tp.model_fields[part].annotation
                key = f"{key}.{part}" if key else str(part)
            elif origin in (list, tuple):
                tp = typing.get_args(tp)[0]
                key = f"{key}[{part}]"
            elif origin is dict:
                tp, key = typing.get_args(tp)[1], f"{key}.{part}"
            else:
                break  # a member of a union: the message names the whole union
        if error["type"] == "extra_forbidden":
            unknown, where = error["loc"][-1], key or "the top level"
            allowed = [
                f
                for f in (
                    tp if isinstance(tp, type) and issubclass(tp, BaseModel) else section
                ).model_fields
            ]
            hint = difflib.get_close_matches(str(unknown), allowed, n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            return f"{self.source}: unknown key {unknown!r} in {where}; allowed keys: {', '.join(allowed)}{did_you_mean}"
        if error["type"] == "missing":
            return f"{self.source}: missing key {key!r} ({_describe(tp)})"
        allowed = "a finite number" if error["type"] == "finite_number" else _describe(tp)
        return f"{self.source}: {key or 'the file'} = {error['input']!r} is not valid; expected {allowed}"

    def in_range(self, key: str, value: float, low: float, high: float, closed: bool = False):
        inside = low <= value <= high if closed else low < value < high
        if not inside:
            bracket = f"[{low}, {high}]" if closed else f"({low}, {high})"
            self.fail(key, value, f"a number in {bracket}")

    def positive(self, key: str, value: int) -> None:
        if value < 1:
            self.fail(key, value, "a positive integer")

    def activation(self, key: str, name: str) -> None:
        valid = activations.modules()
        if name in activations.aliases():
            self.fail(
                key,
                name,
                f"{activations.aliases()[name]!r}, the name of the module it is an alias of",
            )
        if name not in valid:
            self.fail(key, name, "one of " + ", ".join(valid), choices=valid)

    def grid(self, tuning: Tuning, seeds: list[int]) -> None:
        grid = tuning.lr_multipliers
        if grid and (any(m <= 0 for m in grid) or len(set(grid)) != len(grid) or 1.0 not in grid):
            self.fail("tuning.lr_multipliers", grid, "[] (off) or distinct positive multiples of the "
                      "learning rate, 1 among them (the default)")  # fmt: skip
        extra = sorted(set(tuning.runner_up_seeds) - set(seeds))
        if extra or len(set(tuning.runner_up_seeds)) != len(tuning.runner_up_seeds):
            self.fail("tuning.runner_up_seeds", tuning.runner_up_seeds,
                      "distinct seeds of `seeds` (the runs to repeat at the runner-up rate)")  # fmt: skip
        if tuning.runner_up_seeds and len(grid) < 2:
            self.fail("tuning.runner_up_seeds", tuning.runner_up_seeds,
                      "[] unless tuning.lr_multipliers has two points or more (a runner-up)")  # fmt: skip

    def tuning(self, pname: str, tuning: ProfileTuning, seeds: list[int]) -> None:
        key = f"profiles.{pname}.tuning"
        if tuning.max_extensions < 0:
            self.fail(f"{key}.max_extensions", tuning.max_extensions, "an integer >= 0")
        if (
            not tuning.seeds
            or any(s < 0 for s in tuning.seeds)
            or len(set(tuning.seeds)) != len(tuning.seeds)
        ):
            self.fail(
                f"{key}.seeds", tuning.seeds, "a non-empty list of distinct non-negative integers"
            )
        shared = sorted(set(tuning.seeds) & set(seeds))
        if shared:
            self.fail(f"{key}.seeds", tuning.seeds,
                      f"seeds disjoint from `seeds` (both hold {shared}): tuning must not see the benchmark's runs")  # fmt: skip

    def validate(self, params: Params) -> Params:  # noqa: C901  (one check per line of params.yaml)
        """Semantic checks that types alone cannot express."""
        if len(params.activations) < 2:
            self.fail("activations", params.activations,
                      "at least two activation names: the candidate and a baseline")  # fmt: skip
        for i, name in enumerate(params.activations):
            self.activation(f"activations[{i}]", name)
        if len(set(params.activations)) != len(params.activations):
            self.fail("activations", params.activations, "names without repeats")
        if params.activation not in params.activations:
            listed = ", ".join(params.activations)
            if params.activation in activations.aliases():
                self.activation("activation", params.activation)
            if params.activation in activations.modules():
                with_it = ",".join([*params.activations, params.activation])
                raise ActbenchError(
                    f"{self.source}: activation = {params.activation!r} is not in activations "
                    f"[{listed}]; train it too: dvc exp run -S activation={params.activation} "
                    f"-S 'activations=[{with_it}]'"
                )
            self.fail("activation", params.activation, "one of activations: " + listed,
                      choices=params.activations)  # fmt: skip
        for name, folder in params.data.folders.items():
            if name in catalog.names():
                self.fail(f"data.folders.{name}", name, "a name that is not a built-in dataset")
            for i, side in enumerate(folder.image_size):
                self.positive(f"data.folders.{name}.image_size[{i}]", side)
                if side > MAX_IMAGE_SIDE:
                    self.fail(
                        f"data.folders.{name}.image_size[{i}]",
                        side,
                        f"at most {MAX_IMAGE_SIDE} pixels",
                    )
        known = params.dataset_names()
        if not params.datasets:
            self.fail("datasets", params.datasets, "at least one of " + ", ".join(known))
        for i, name in enumerate(params.datasets):
            if name not in known:
                self.fail(
                    f"datasets[{i}]",
                    name,
                    "a built-in dataset or a key of data.folders: " + ", ".join(known),
                    choices=known,
                )
        if len(set(params.datasets)) != len(params.datasets):
            self.fail("datasets", params.datasets, "names without repeats")
        if params.profile not in params.profiles:
            self.fail(
                "profile", params.profile, "one of " + ", ".join(params.profiles), params.profiles
            )
        for pname, prof in params.profiles.items():
            for key in ("width", "epochs", "batch_size", "min_seeds"):
                self.positive(f"profiles.{pname}.{key}", getattr(prof, key))
            if prof.learning_rate <= 0:
                self.fail(
                    f"profiles.{pname}.learning_rate", prof.learning_rate, "a positive number"
                )
            if prof.min_steps < 0:
                self.fail(f"profiles.{pname}.min_steps", prof.min_steps, "an integer >= 0")
            if not 0 <= prof.cutout < 1:
                self.fail(
                    f"profiles.{pname}.cutout",
                    prof.cutout,
                    "a fraction of the image side in [0, 1)",
                )
            self.tuning(pname, prof.tuning, params.seeds)
            for ds, size in prof.train_size.items():
                if ds not in known:
                    self.fail(
                        f"profiles.{pname}.train_size.{ds}", size,
                        "a key that names a dataset: " + ", ".join(known),
                    )  # fmt: skip
                self.positive(f"profiles.{pname}.train_size.{ds}", size)
        self.grid(params.tuning, params.seeds)
        if not params.seeds:
            self.fail("seeds", params.seeds, "a non-empty list of non-negative integers")
        for i, seed in enumerate(params.seeds):
            if seed < 0:
                self.fail(f"seeds[{i}]", seed, "a non-negative integer")
        if len(set(params.seeds)) != len(params.seeds):
            self.fail("seeds", params.seeds, "seeds without repeats")
        if len(params.seeds) < params.active_profile.min_seeds:
            self.fail(
                "seeds",
                params.seeds,
                f"at least {params.active_profile.min_seeds} seeds for profile {params.profile!r} "
                f"(profiles.{params.profile}.min_seeds)",
            )
        d = params.data
        self.in_range("data.val_size", d.val_size, 0.0, 1.0)
        self.in_range("data.test_size", d.test_size, 0.0, 1.0)
        if d.split_seed < 0:
            self.fail("data.split_seed", d.split_seed, "a non-negative integer")
        t = params.train
        self.in_range("train.momentum", t.momentum, 0.0, 1.0, closed=True)
        if t.weight_decay < 0:
            self.fail("train.weight_decay", t.weight_decay, "a number >= 0")
        self.in_range("train.label_smoothing", t.label_smoothing, 0.0, 1.0, closed=True)
        if t.warmup_epochs < 0:
            self.fail("train.warmup_epochs", t.warmup_epochs, "an integer >= 0")
        self.in_range("train.crop_padding", t.crop_padding, 0.0, 0.5, closed=True)
        for i, name in enumerate(t.hflip):
            if name not in known:
                self.fail(f"train.hflip[{i}]", name, "a dataset name: " + ", ".join(known), known)
        self.positive("train.steps_per_execution", t.steps_per_execution)
        e = params.evaluate
        self.positive("evaluate.batch_size", e.batch_size)
        self.positive("evaluate.diagnostic_images", e.diagnostic_images)
        c = params.compare
        self.in_range("compare.alpha", c.alpha, 0.0, 1.0)
        for pname in params.profiles:
            if pname not in c.equivalence_margin:
                self.fail(
                    "compare.equivalence_margin", c.equivalence_margin,
                    f"a margin (accuracy points) for every profile, {pname!r} included",
                )  # fmt: skip
        for pname, margin in c.equivalence_margin.items():
            if pname not in params.profiles:
                self.fail(
                    f"compare.equivalence_margin.{pname}", margin,
                    "a key that names a profile: " + ", ".join(params.profiles),
                )  # fmt: skip
            self.in_range(f"compare.equivalence_margin.{pname}", margin, 0.0, 100.0)
        if params.plot.smoothing < 0 or params.plot.smoothing >= 1:
            self.fail("plot.smoothing", params.plot.smoothing, "a number in [0, 1)")
        return params.model_copy(update={"source": self.source})


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of names to {_describe(typing.get_args(tp)[1])}"
    if origin is tuple:
        return f"a list of {len(typing.get_args(tp))} {_describe(typing.get_args(tp)[0])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping with keys " + ", ".join(f for f in tp.model_fields if f != "source")
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded params mapping; ``source`` names it in messages."""
    checker = Checker(source)
    if not isinstance(raw, dict) or "source" in raw:
        raise ActbenchError(checker.message({"type": "model_type", "loc": (), "input": raw}))
    checker.removed(raw)
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        errors = err.errors()  # a misspelled key is both missing and unknown: say "unknown"
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise ActbenchError(checker.message(first)) from None
    return checker.validate(params)


def read_yaml(path: Path) -> Any:
    """Read ``path`` as YAML 1.2, as DVC writes it; a syntax error is one line with its cause."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        with path.open() as fh:
            return YAML(typ="safe", pure=True).load(fh)
    except FileNotFoundError:
        raise ActbenchError(f"{path} not found; run from the repository root") from None
    except IsADirectoryError:
        raise ActbenchError(f"{path} is a directory, not a params file") from None
    except UnicodeDecodeError as err:
        raise ActbenchError(f"{path} is not UTF-8 text ({err.reason})") from None
    except YAMLError as err:
        where, why = "", str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, MarkedYAMLError):
            mark = err.problem_mark or err.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            why = " ".join(p for p in (err.context, err.problem) if p) or why
        raise ActbenchError(f"{path} is not valid YAML{where}: {why}") from None


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; every stage calls this first."""
    return parse(read_yaml(Path(path)), source=str(path))
