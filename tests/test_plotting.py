"""Figures and DVC charts: one colour per activation fixed by name, accuracy in percent, and a
loss panel scaled to the epochs after the first."""

import json
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest

from actbench import activations, plotting

from .project import ROOT

pytestmark = pytest.mark.portable


def test_every_registered_activation_has_its_own_colour_in_figures_and_dvc_charts():
    assert set(activations.modules()) <= set(plotting.PALETTE)
    assert len(set(plotting.PALETTE.values())) == len(plotting.PALETTE)  # no two share a colour
    template = json.loads((ROOT / ".dvc/plots/activation_lines.json").read_text())
    scale = template["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=False)) == plotting.PALETTE
    assert scale["range"][len(plotting.PALETTE) :] == plotting.EXTRA  # plug-ins without an entry
    assert plotting.color_of("my_plugin") == plotting.color_of("my_plugin") in plotting.EXTRA


def test_a_large_first_epoch_loss_is_left_above_the_axis():
    runs = [SimpleNamespace(history={"val_loss": [9.0, 1.0, 0.8, 0.6]}),
            SimpleNamespace(history={"val_loss": [8.0, 1.2, 0.7, 0.5]})]  # fmt: skip
    groups = {("relu", "digits"): SimpleNamespace(runs=runs)}
    fig, ax = plt.subplots()
    note = plotting.fit_after_first_epoch(ax, groups, "digits", ["relu"], "val_loss")
    low, high = ax.get_ylim()
    assert note == " (epoch 1 above the axis)" and low < 0.5 and 1.2 < high < 2.0
    plotting.percent_axis(ax.yaxis)
    assert ax.yaxis.get_major_formatter()(0.5) == "50%"
    plt.close(fig)


def test_a_narrow_percent_axis_has_no_two_tick_labels_alike():
    """Expected-best curves span a point or two: whole percents would repeat ("98%, 98%")."""
    fig, ax = plt.subplots()
    ax.plot([1, 8], [0.9665, 0.9785])
    plotting.percent_axis(ax.yaxis)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) > 3 and len(set(labels)) == len(labels), labels
    plt.close(fig)
