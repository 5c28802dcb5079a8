"""params.yaml validation: each bad value gives one line naming the file, key, value and what is
allowed; the file is read as YAML 1.2, the way `dvc exp run -S` writes it."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actbench import params as config
from actbench.errors import ActbenchError

from .project import set_params, with_changes

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

ROOT = Path(__file__).resolve().parents[1]
BASE = config.read_yaml(ROOT / "params.yaml")


def with_change(dotted: str, value):
    return with_changes(copy.deepcopy(BASE), **{dotted: value})


def test_repository_params_are_valid():
    params = config.parse(BASE)
    assert params.profile == "quick"
    assert params.active_profile.width == BASE["profiles"]["quick"]["width"]
    assert params.margin == BASE["compare"]["equivalence_margin"]["quick"]
    assert params.activation in params.activations
    assert params.baselines == [a for a in params.activations if a != params.activation]


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        (
            "profiles.quick.epochs",
            "ten",
            "profiles.quick.epochs = 'ten' is not valid; expected an integer",
        ),
        (
            "profiles.quick.epochs",
            0,
            "profiles.quick.epochs = 0 is not valid; expected a positive integer",
        ),
        (
            "profiles.quick.batch_size",
            0,
            "profiles.quick.batch_size = 0 is not valid; expected a positive integer",
        ),
        (
            "profiles.quick.width",
            True,
            "profiles.quick.width = True is not valid; expected an integer",
        ),
        (
            "activation",
            "tanhrelu2",
            "params.yaml: activation = 'tanhrelu2' is not valid; expected one of activations: "
            "tanhrelu, relu, elu, swish; did you mean 'tanhrelu'?",
        ),
        ("activations", ["relu", "nope"], "activations[1] = 'nope' is not valid; expected one of"),
        ("activations", ["tanhrelu"], "expected at least two activation names"),
        ("activations", ["tanhrelu", "relu", "relu"], "expected names without repeats"),
        (
            "datasets",
            ["cifar100"],
            "datasets[0] = 'cifar100' is not valid; expected a built-in dataset",
        ),
        ("seeds", [], "seeds = [] is not valid; expected a non-empty list"),
        (
            "seeds",
            [0, 1],
            "seeds = [0, 1] is not valid; expected at least 3 seeds for profile 'quick'",
        ),
        ("profile", "fast", "profile = 'fast' is not valid; expected one of quick, full"),
        (
            "activation",
            "silu",
            "activation = 'silu' is not valid; expected 'swish', the name of the module",
        ),
        (
            "profiles.quick.train_size",
            {"cifar_10": 100},
            "profiles.quick.train_size.cifar_10 = 100 is not valid; expected a key that names a dataset",
        ),
        ("profiles.quick.min_steps", -1, "profiles.quick.min_steps = -1 is not valid"),
        (
            "profiles.full.cutout",
            1.5,
            "profiles.full.cutout = 1.5 is not valid; expected a fraction",
        ),
        (
            "profiles.full.pad_mode",
            "mirror",
            "profiles.full.pad_mode = 'mirror' is not valid; expected one of 'zero', 'reflect'",
        ),
        (
            "train.feed",
            "gpu",
            "train.feed = 'gpu' is not valid; expected one of 'auto', 'host', 'device'",
        ),
        (
            "compare.equivalence_margin",
            {"quick": 1.0},
            "expected a margin (accuracy points) for every profile, 'full'",
        ),
        (
            "data.folders",
            {"big": {"path": "x", "image_size": [4096, 32], "color": "rgb"}},
            "data.folders.big.image_size[0] = 4096 is not valid; expected at most 1024 pixels",
        ),
        ("plot.smoothing", 1.0, "plot.smoothing = 1.0 is not valid; expected a number in [0, 1)"),
        ("data.val_size", 0.0, "data.val_size = 0.0 is not valid; expected a number in (0.0, 1.0)"),
        (
            "profiles.full.learning_rate",
            -1,
            "profiles.full.learning_rate = -1.0 is not valid; expected a positive number",
        ),
        (
            "train.jit_compile",
            "yes",
            "train.jit_compile = 'yes' is not valid; expected one of 'auto' or true or false",
        ),
        (
            "train.mixed_precision",
            "fp8",
            "train.mixed_precision = 'fp8' is not valid; expected one of 'auto'",
        ),
        ("compare.alpha", 1.5, "compare.alpha = 1.5 is not valid; expected a number in (0.0, 1.0)"),
    ],
)
def test_bad_values_give_one_line_naming_key_value_and_allowed(dotted, value, expected):
    with pytest.raises(ActbenchError) as err:
        config.parse(with_change(dotted, value))
    msg = str(err.value)
    assert "\n" not in msg
    assert expected in msg


def test_misspelled_key_suggests_the_right_one():
    raw = copy.deepcopy(BASE)
    raw["train"]["momentm"] = 0.9
    with pytest.raises(ActbenchError) as err:
        config.parse(raw)
    assert "unknown key 'momentm' in train" in str(err.value)
    assert "did you mean 'momentum'?" in str(err.value)


def test_missing_key_and_unknown_top_level_key():
    raw = copy.deepcopy(BASE)
    del raw["train"]["momentum"]
    with pytest.raises(ActbenchError, match="missing key 'train.momentum'"):
        config.parse(raw)
    raw = copy.deepcopy(BASE)
    raw["activatons"] = ["relu"]
    with pytest.raises(
        ActbenchError, match="unknown key 'activatons' in the top level.*did you mean 'activations'"
    ):
        config.parse(raw)
    raw = copy.deepcopy(BASE)
    raw["profiles"]["quick"]["tuning"]["enabled"] = True
    with pytest.raises(
        ActbenchError, match="profiles.quick.tuning.enabled is no longer a param; the grid"
    ):
        config.parse(raw)
    raw = copy.deepcopy(BASE)
    raw["baselines"] = ["relu"]
    with pytest.raises(
        ActbenchError, match="baselines is no longer a param; list every activation"
    ):
        config.parse(raw)


def test_folder_datasets_are_valid_dataset_names():
    raw = with_change(
        "data.folders", {"shoes": {"path": "x", "image_size": [32, 32], "color": "rgb"}}
    )
    raw["datasets"] = ["shoes", "digits"]
    params = config.parse(raw)
    assert params.data.folders["shoes"].image_size == (32, 32)
    bad = copy.deepcopy(raw)
    bad["data"]["folders"]["shoes"]["color"] = "cmyk"
    with pytest.raises(ActbenchError, match="data.folders.shoes.color = 'cmyk'"):
        config.parse(bad)


def test_invalid_yaml_is_one_line_with_the_parsers_reason(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("activation: [unclosed\n")
    with pytest.raises(ActbenchError) as err:
        config.load(path)
    msg = str(err.value)
    assert "is not valid YAML at line 2" in msg and "expected ',' or ']'" in msg and "\n" not in msg


def test_messages_name_the_params_file_actually_read(tmp_path):
    raw = with_changes(copy.deepcopy(BASE), **{"profiles.quick.epochs": 0})
    other = tmp_path / "other.yaml"
    set_params(tmp_path, **{"profiles.quick.epochs": 0})
    (tmp_path / "params.yaml").rename(other)
    with pytest.raises(ActbenchError, match=f"^{other}: profiles.quick.epochs = 0 is not valid"):
        config.load(other)
    with pytest.raises(ActbenchError, match="^custom.yaml: profiles.quick.epochs = 0"):
        config.parse(raw, source="custom.yaml")


def test_data_mirror_is_refused_with_where_it_moved():
    raw = copy.deepcopy(BASE)
    raw["data"]["mirror"] = "/datasets"
    with pytest.raises(ActbenchError, match="data.mirror is no longer a param.*ACTBENCH_MIRROR"):
        config.parse(raw)


# Every -S form the README shows, and the YAML 1.1 traps, written by DVC's own code.
DVC_WRITES = [
    ("train.mixed_precision=off", ("train", "mixed_precision"), "off"),
    ("train.distribute=off", ("train", "distribute"), "off"),
    ("train.jit_compile=true", ("train", "jit_compile"), True),
    ("activation=elu", ("activation",), "elu"),
    ("profile=full", ("profile",), "full"),
    ("seeds=[0,1,2,3,4,5,6,7,8,9]", ("seeds",), list(range(10))),
    ("datasets=[digits]", ("datasets",), ["digits"]),
    ("activations=[tanhrelu,elu]", ("activations",), ["tanhrelu", "elu"]),
    ("profiles.quick.epochs=10", ("profiles", "quick", "epochs"), 10),
    ("train.label_smoothing=0", ("train", "label_smoothing"), 0.0),
    ("train.weight_decay=1e-6", ("train", "weight_decay"), 1e-6),
    ("compare.equivalence_margin.quick=0.5", ("compare", "equivalence_margin", "quick"), 0.5),
]


@pytest.mark.parametrize(("override", "keys", "expected"), DVC_WRITES)
def test_params_written_by_dvc_exp_run_set_param_are_read_as_dvc_means_them(
    tmp_path, override, keys, expected
):
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    apply_overrides(path, [override])  # exactly what `dvc exp run -S` does to the file
    extra = {"profile=full": ["seeds=[0,1,2,3,4,5,6,7,8,9]"]}.get(override, [])
    if extra:
        apply_overrides(path, extra)
    params = config.load(path)
    node = params
    for key in keys:
        node = node[key] if isinstance(node, dict) else getattr(node, key)
    assert node == expected


@pytest.mark.parametrize(("value", "allowed"), [("no", "true or false"), ("yes", "true or false")])
def test_yaml_1_1_booleans_stay_strings_and_are_refused_where_a_boolean_is_needed(
    tmp_path, value, allowed
):
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    apply_overrides(path, [f"train.nesterov={value}"])
    with pytest.raises(
        ActbenchError, match=f"train.nesterov = '{value}' is not valid; expected {allowed}"
    ):
        config.load(path)


def test_a_misspelled_param_fails_before_keras_or_tensorflow_load(tmp_path):
    # The README reports the wall time (well under 1 s); the test checks the cause, not a clock:
    # the stage stops before importing anything heavy (-X importtime lists every import).
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    text = (tmp_path / "params.yaml").read_text().replace("  momentum:", "  momentm:")
    (tmp_path / "params.yaml").write_text(text)
    res = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "stages/train.py"),
         "--activation", "tanhrelu", "--dataset", "digits", "--seed", "0"], cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 2
    imported = {
        line.split("|")[-1].strip()
        for line in res.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"actbench.params", "ruamel.yaml"} <= imported
    assert not imported & {"keras", "tensorflow", "jax", "numpy", "sklearn", "scipy"}
    errors = [line for line in res.stderr.splitlines() if not line.startswith("import time:")]
    assert errors == [
        "actbench: train.py: error: params.yaml: unknown key 'momentm' in train; allowed keys: "
        "momentum, nesterov, weight_decay, label_smoothing, warmup_epochs, crop_padding, "
        "hflip, deterministic, jit_compile, steps_per_execution, mixed_precision, distribute, feed; "
        "did you mean 'momentum'?"
    ]
