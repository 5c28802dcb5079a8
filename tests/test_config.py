"""params.yaml validation: each bad value gives one line naming the key, value and what is allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from actbench import config
from actbench.errors import ActbenchError

from .project import with_changes

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(dotted: str, value):
    return with_changes(copy.deepcopy(BASE), **{dotted: value})


def test_repository_params_are_valid():
    params = config.parse(BASE)
    assert params.profile == "quick"
    assert params.budget.width == BASE["profiles"]["quick"]["width"]
    assert params.activations[-1] == params.activation


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
            "activation = 'tanhrelu2' is not valid; expected one of elu, gelu",
        ),
        ("baselines", ["relu", "nope"], "baselines[1] = 'nope' is not valid; expected one of"),
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
        ("data.val_size", 0.0, "data.val_size = 0.0 is not valid; expected a number in (0.0, 1.0)"),
        (
            "train.learning_rate",
            -1,
            "train.learning_rate = -1.0 is not valid; expected a positive number",
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
    raw["train"]["learnig_rate"] = 0.1
    with pytest.raises(ActbenchError) as err:
        config.parse(raw)
    assert "unknown key 'learnig_rate' in train" in str(err.value)
    assert "did you mean 'learning_rate'?" in str(err.value)


def test_missing_key_and_unknown_top_level_key():
    raw = copy.deepcopy(BASE)
    del raw["train"]["momentum"]
    with pytest.raises(ActbenchError, match="missing key 'train.momentum'"):
        config.parse(raw)
    raw = copy.deepcopy(BASE)
    raw["activations"] = ["relu"]
    with pytest.raises(
        ActbenchError, match="unknown key 'activations' in the top level.*did you mean 'activation'"
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


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("activation: [unclosed\n")
    with pytest.raises(ActbenchError, match="is not valid YAML at line"):
        config.load(path)
