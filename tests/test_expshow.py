"""`python -m actbench exp`: the compact `dvc exp show` (the DVC end-to-end test runs it for real)."""

import pytest

from actbench import expshow

pytestmark = pytest.mark.portable


def _row(rev, typ, candidate, acc, **baselines):
    row = {"Experiment": "", "rev": rev, "typ": typ, "Created": "", "parent": "", "candidate": candidate,
           "digits.accuracy": acc, "activation": candidate}  # fmt: skip
    for b, (diff, verdict) in baselines.items():
        row |= {
            f"digits.{b}.accuracy": "0.9",
            f"digits.{b}.diff": diff,
            f"digits.{b}.verdict": verdict,
        }
    return row


def test_rows_show_accuracy_differences_and_verdicts_and_missing_values_as_dashes():
    rows = [_row("workspace", "baseline", "tanhrelu", "0.9769", relu=("0.0148", "inconclusive"), elu=("-0.0028", "equivalent")),
            _row("main", "baseline", "elu", "!", relu=("!", "better"), elu=("", "")),
            _row("2f89f8e", "baseline", "!", "!", relu=("!", "!"))]  # fmt: skip
    lines = expshow.render(rows, 120).splitlines()
    assert lines[0].split() == [
        "experiment",
        "candidate",
        "digits",
        "acc",
        "vs",
        "relu",
        "vs",
        "elu",
    ]
    assert lines[1].split() == [
        "workspace",
        "tanhrelu",
        "97.69",
        "+1.48",
        "incon.",
        "-0.28",
        "equiv.",
    ]
    assert lines[2].split() == ["main", "elu", "-", "better", "-"]
    assert lines[3].split() == ["2f89f8e", "-", "-", "-", "-"]  # a commit without metrics


def test_datasets_that_do_not_fit_side_by_side_get_a_block_each():
    row = _row("workspace", "baseline", "tanhrelu", "0.97", relu=("0.01", "better"))
    for d in ("cifar10", "fashion_mnist"):
        row |= {f"{d}.accuracy": "0.5"} | {f"{d}.{b}.{k}": v for b in ("relu", "elu", "swish", "gelu", "mish")
                                            for k, v in (("diff", "0.001"), ("verdict", "inconclusive"))}  # fmt: skip
    text = expshow.render([row], 120)
    assert max(len(line) for line in text.splitlines()) <= 120 and text.count("experiment") == 3
    assert (
        max(len(line) for line in expshow.render([row], 400).splitlines()) > 120
    )  # wide: one table
