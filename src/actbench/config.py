"""params.yaml, read once at the edge into typed, validated, frozen dataclasses.

Every section is checked for unknown keys (with a did-you-mean hint), missing keys and types,
then for meaning (known activation and dataset names, positive counts, fractions in range).
A problem raises ``ActbenchError`` with one line: the dotted key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from actbench import activations
from actbench.errors import ActbenchError

BUILTIN_DATASETS = ("cifar10", "fashion_mnist", "digits")


@dataclass(frozen=True)
class Profile:
    """One compute budget; ``profile`` in params.yaml picks which."""

    width: int  # stage-1 channels of ResNet-18
    epochs: int  # passes over the training set
    batch_size: int  # images per optimizer step
    min_seeds: int  # the least number of seeds this profile accepts
    train_size: dict[str, int] = field(default_factory=dict)  # per-dataset stratified subset


@dataclass(frozen=True)
class Folder:
    """A user image-folder dataset."""

    path: str  # directory; relative paths are relative to the repository root
    image_size: tuple[int, int]  # (height, width) after resizing
    color: Literal["rgb", "grayscale"]


@dataclass(frozen=True)
class DataParams:
    mirror: str
    val_size: float
    test_size: float
    split_seed: int
    skip_non_images: bool
    folders: dict[str, Folder]


@dataclass(frozen=True)
class TrainParams:
    learning_rate: float
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    warmup_epochs: int
    crop_padding: float
    hflip: list[str]
    deterministic: bool
    jit_compile: Literal["auto"] | bool
    steps_per_execution: int
    mixed_precision: Literal["auto", "off", "bfloat16", "float16"]
    distribute: Literal["auto", "off", "mirrored"]


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    dying_batch: int
    dying_threshold: float


@dataclass(frozen=True)
class CompareParams:
    alpha: float
    last_epochs: int


@dataclass(frozen=True)
class PlotParams:
    smoothing: float


@dataclass(frozen=True)
class Params:
    activation: str
    baselines: list[str]
    datasets: list[str]
    seeds: list[int]
    profile: str
    profiles: dict[str, Profile]
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    compare: CompareParams
    plot: PlotParams

    @property
    def budget(self) -> Profile:
        """The budget of the selected profile."""
        return self.profiles[self.profile]

    @property
    def activations(self) -> list[str]:
        """Baselines then the candidate, without repeats."""
        return list(dict.fromkeys([*self.baselines, self.activation]))

    def dataset_names(self) -> list[str]:
        """Every name a dataset may have: the built-ins and the configured folders."""
        return [*BUILTIN_DATASETS, *self.data.folders]

    def check_dataset(self, name: str) -> None:
        """Refuse a dataset name that is neither built in nor a configured folder."""
        if name not in self.dataset_names():
            raise ActbenchError(
                f"unknown dataset {name!r}; valid names: {', '.join(self.dataset_names())}"
            )


def _fail(key: str, value: Any, allowed: str) -> typing.NoReturn:
    raise ActbenchError(f"params.yaml: {key} = {value!r} is not valid; expected {allowed}")


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
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _convert(tp: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it in the typed form."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        _fail(key, value, _describe(tp))
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _convert(option, value, key)
            except ActbenchError:
                continue
        _fail(key, value, _describe(tp))
    if origin is list:
        if not isinstance(value, list):
            _fail(key, value, _describe(tp))
        return [_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            _fail(key, value, _describe(tp))
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            _fail(key, value, _describe(tp))
        return {str(k): _convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (bool, str) and isinstance(value, tp):
        return value
    _fail(key, value, _describe(tp))


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from mapping ``raw``, rejecting unknown and missing keys."""
    where = prefix or "the top level"
    if not isinstance(raw, dict):
        _fail(prefix or "params", raw, _describe(cls))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ActbenchError(
                f"params.yaml: unknown key {key!r} in {where}; allowed keys: "
                f"{', '.join(fields)}{did_you_mean}"
            )
    values = {}
    for name, f in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name not in raw:
            if f.default_factory is not dataclasses.MISSING:
                values[name] = f.default_factory()
                continue
            raise ActbenchError(f"params.yaml: missing key {dotted!r} ({_describe(hints[name])})")
        values[name] = _convert(hints[name], raw[name], dotted)
    return cls(**values)


def _check_range(key: str, value: float, low: float, high: float, closed: bool = False) -> None:
    inside = low <= value <= high if closed else low < value < high
    if not inside:
        bracket = f"[{low}, {high}]" if closed else f"({low}, {high})"
        _fail(key, value, f"a number in {bracket}")


def _check_positive(key: str, value: int) -> None:
    if value < 1:
        _fail(key, value, "a positive integer")


def validate(params: Params) -> Params:
    """Semantic checks that types alone cannot express."""
    valid = activations.names()
    if params.activation not in valid:
        _fail("activation", params.activation, "one of " + ", ".join(valid))
    if not params.baselines:
        _fail("baselines", params.baselines, "at least one activation name")
    for i, name in enumerate(params.baselines):
        if name not in valid:
            _fail(f"baselines[{i}]", name, "one of " + ", ".join(valid))
    if len(set(params.baselines)) != len(params.baselines):
        _fail("baselines", params.baselines, "names without repeats")
    for name, folder in params.data.folders.items():
        if name in BUILTIN_DATASETS:
            _fail(f"data.folders.{name}", name, "a name that is not a built-in dataset")
        if folder.color not in ("rgb", "grayscale"):
            _fail(f"data.folders.{name}.color", folder.color, "'rgb' or 'grayscale'")
        for i, side in enumerate(folder.image_size):
            _check_positive(f"data.folders.{name}.image_size[{i}]", side)
    known = params.dataset_names()
    if not params.datasets:
        _fail("datasets", params.datasets, "at least one of " + ", ".join(known))
    for i, name in enumerate(params.datasets):
        if name not in known:
            _fail(
                f"datasets[{i}]",
                name,
                "a built-in dataset or a key of data.folders: " + ", ".join(known),
            )
    if len(set(params.datasets)) != len(params.datasets):
        _fail("datasets", params.datasets, "names without repeats")
    if params.profile not in params.profiles:
        _fail("profile", params.profile, "one of " + ", ".join(params.profiles))
    for pname, prof in params.profiles.items():
        for key in ("width", "epochs", "batch_size", "min_seeds"):
            _check_positive(f"profiles.{pname}.{key}", getattr(prof, key))
        for ds, size in prof.train_size.items():
            _check_positive(f"profiles.{pname}.train_size.{ds}", size)
    if not params.seeds:
        _fail("seeds", params.seeds, "a non-empty list of non-negative integers")
    for i, seed in enumerate(params.seeds):
        if seed < 0:
            _fail(f"seeds[{i}]", seed, "a non-negative integer")
    if len(set(params.seeds)) != len(params.seeds):
        _fail("seeds", params.seeds, "seeds without repeats")
    if len(params.seeds) < params.budget.min_seeds:
        _fail(
            "seeds",
            params.seeds,
            f"at least {params.budget.min_seeds} seeds for profile {params.profile!r} "
            f"(profiles.{params.profile}.min_seeds)",
        )
    d = params.data
    _check_range("data.val_size", d.val_size, 0.0, 1.0)
    _check_range("data.test_size", d.test_size, 0.0, 1.0)
    if d.split_seed < 0:
        _fail("data.split_seed", d.split_seed, "a non-negative integer")
    t = params.train
    if t.learning_rate <= 0:
        _fail("train.learning_rate", t.learning_rate, "a positive number")
    _check_range("train.momentum", t.momentum, 0.0, 1.0, closed=True)
    if t.weight_decay < 0:
        _fail("train.weight_decay", t.weight_decay, "a number >= 0")
    _check_range("train.label_smoothing", t.label_smoothing, 0.0, 1.0, closed=True)
    if t.warmup_epochs < 0:
        _fail("train.warmup_epochs", t.warmup_epochs, "an integer >= 0")
    _check_range("train.crop_padding", t.crop_padding, 0.0, 0.5, closed=True)
    for i, name in enumerate(t.hflip):
        if name not in known:
            _fail(f"train.hflip[{i}]", name, "a dataset name: " + ", ".join(known))
    _check_positive("train.steps_per_execution", t.steps_per_execution)
    e = params.evaluate
    _check_positive("evaluate.batch_size", e.batch_size)
    _check_positive("evaluate.dying_batch", e.dying_batch)
    if e.dying_threshold <= 0:
        _fail("evaluate.dying_threshold", e.dying_threshold, "a positive number")
    _check_range("compare.alpha", params.compare.alpha, 0.0, 1.0)
    _check_positive("compare.last_epochs", params.compare.last_epochs)
    _check_range("plot.smoothing", params.plot.smoothing, 0.0, 1.0, closed=False)
    return params


def parse(raw: Any) -> Params:
    """Validate an already-loaded params mapping."""
    return validate(_build(Params, raw, ""))


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; every stage calls this first."""
    path = Path(path)
    try:
        with path.open() as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ActbenchError(f"{path} not found; run from the repository root") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ActbenchError(f"{path} is not valid YAML{where}") from None
    return parse(raw)
