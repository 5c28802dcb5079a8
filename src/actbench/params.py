"""params.yaml, read once at the edge into typed, validated, frozen dataclasses.

The file is read as YAML 1.2 (ruamel.yaml), the version DVC writes with ``dvc exp run -S``:
``off``, ``no`` and ``yes`` are strings and ``1e-6`` is a number, as DVC means them.
Every section is checked for unknown keys (with a did-you-mean hint), missing keys and types,
then for meaning (known activation and dataset names, positive counts, fractions in range).
A problem raises ``ActbenchError`` with one line: the file, the dotted key, the value and what
is allowed. Nothing here imports Keras or NumPy, so a bad param fails in well under a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from actbench import activations
from actbench.data import catalog
from actbench.errors import ActbenchError

MAX_IMAGE_SIDE = 1024  # pixels; folder images are resized to at most this per side


@dataclass(frozen=True)
class Tuning:
    """Per-activation learning rates, chosen on validation data (the tune, gather and select
    stages). At the top level of params.yaml, not per profile: dvc.yaml makes one tune stage per
    grid point, and DVC cannot expand a list chosen by another param."""

    lr_multipliers: list[float]  # the grid, as multiples of the profile's learning_rate; [] = off
    runner_up_seeds: list[int]  # benchmark seeds also trained at the runner-up rate; [] = none

    @property
    def enabled(self) -> bool:
        """Off (an empty grid): every activation trains at the profile's rate (multiplier 1)."""
        return bool(self.lr_multipliers)


@dataclass(frozen=True)
class ProfileTuning:
    """What tuning costs under one profile."""

    seeds: list[int]  # tuning seeds, disjoint from the benchmark's `seeds`
    max_extensions: int  # points tried beyond an edge of the grid, per activation and dataset


@dataclass(frozen=True)
class Profile:
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
    train_size: dict[str, int] = field(default_factory=dict)  # per-dataset stratified subset

    def steps_per_epoch(self, train_images: int) -> int:
        return train_images // self.batch_size  # the remainder is dropped: fixed batch shapes

    def epochs_for(self, train_images: int) -> int:
        """``epochs``, raised until the run makes at least ``min_steps`` optimizer steps."""
        steps = self.steps_per_epoch(train_images)
        return max(self.epochs, math.ceil(self.min_steps / steps)) if steps else self.epochs


@dataclass(frozen=True)
class Folder:
    """A user image-folder dataset."""

    path: str  # directory; relative paths are relative to the repository root
    image_size: tuple[int, int]  # (height, width) after resizing
    color: Literal["rgb", "grayscale"]


@dataclass(frozen=True)
class DataParams:
    val_size: float
    test_size: float
    split_seed: int
    skip_non_images: bool
    folders: dict[str, Folder]


@dataclass(frozen=True)
class TrainParams:
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


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    diagnostic_images: int


@dataclass(frozen=True)
class CompareParams:
    alpha: float
    equivalence_margin: dict[str, float]  # accuracy points, per profile


@dataclass(frozen=True)
class PlotParams:
    smoothing: float


@dataclass(frozen=True)
class Params:
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


class _Checker:
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

    def convert(self, tp: Any, value: Any, key: str) -> Any:
        """Check ``value`` against the type hint ``tp``; return it in the typed form."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, value, key)
        if origin is Literal:
            if value in args and type(value) in {type(a) for a in args}:
                return value
            self.fail(key, value, _describe(tp))
        if origin in (typing.Union, types.UnionType):
            for option in args:
                try:
                    return self.convert(option, value, key)
                except ActbenchError:
                    continue
            self.fail(key, value, _describe(tp))
        if origin is list:
            if not isinstance(value, list):
                self.fail(key, value, _describe(tp))
            return [self.convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        if origin is tuple:
            if not isinstance(value, list | tuple) or len(value) != len(args):
                self.fail(key, value, _describe(tp))
            pairs = zip(args, value, strict=True)
            return tuple(self.convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(pairs))
        if origin is dict:
            if value is None:
                return {}
            if not isinstance(value, dict):
                self.fail(key, value, _describe(tp))
            return {str(k): self.convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
        if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                self.fail(key, value, "a finite number")
            return float(value)
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if tp in (bool, str) and isinstance(value, tp):
            return tp(value)
        self.fail(key, value, _describe(tp))

    def build(self, cls: type, raw: Any, prefix: str) -> Any:
        """Build dataclass ``cls`` from mapping ``raw``, rejecting unknown and missing keys."""
        where = prefix or "the top level"
        if not isinstance(raw, dict):
            self.fail(prefix or "the file", raw, _describe(cls))
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
        for key in raw:
            if key not in fields:
                if prefix == "data" and key == "mirror":
                    raise ActbenchError(
                        f"{self.source}: data.mirror is no longer a param (it is machine-specific); "
                        "delete it and set ACTBENCH_MIRROR or `mirror:` in actbench.local.yaml"
                    )
                if prefix.endswith(".tuning") and key in ("enabled", "lr_multipliers"):
                    raise ActbenchError(
                        f"{self.source}: {prefix}.{key} is no longer a param; the grid is the "
                        "top-level tuning.lr_multipliers ([] = off), the same for every profile"
                    )
                if prefix == "" and key == "baselines":
                    raise ActbenchError(
                        f"{self.source}: baselines is no longer a param; list every activation to "
                        "train, the candidate among them, in `activations` (e.g. activations: "
                        "[tanhrelu, relu, elu, swish])"
                    )
                hint = difflib.get_close_matches(str(key), list(fields), n=1)
                did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ActbenchError(
                    f"{self.source}: unknown key {key!r} in {where}; allowed keys: "
                    f"{', '.join(fields)}{did_you_mean}"
                )
        values = {}
        for name, f in fields.items():
            dotted = f"{prefix}.{name}" if prefix else name
            if name not in raw:
                if f.default_factory is not dataclasses.MISSING:
                    values[name] = f.default_factory()
                    continue
                raise ActbenchError(
                    f"{self.source}: missing key {dotted!r} ({_describe(hints[name])})"
                )
            values[name] = self.convert(hints[name], raw[name], dotted)
        return cls(**values)

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

    def validate(self, params: Params) -> Params:
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
        return dataclasses.replace(params, source=self.source)


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
    if dataclasses.is_dataclass(tp):
        names = [f.name for f in dataclasses.fields(tp) if f.name != "source"]
        return "a mapping with keys " + ", ".join(names)
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded params mapping; ``source`` names it in messages."""
    checker = _Checker(source)
    return checker.validate(checker.build(Params, raw, ""))


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
