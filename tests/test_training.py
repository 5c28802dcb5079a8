"""The training path: schedule, augmentation, determinism of the input pipeline, distribution."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from actbench import training

ROOT = Path(__file__).resolve().parents[1]


def test_warmup_cosine_matches_its_formula():
    sched = training.WarmupCosine(peak=0.1, warmup_steps=10, total_steps=110)
    for step in (0, 5, 10, 35, 60, 109, 110, 500):
        if step < 10:
            expected = 0.1 * step / 10
        else:
            progress = min((step - 10) / 100, 1.0)
            expected = 0.5 * 0.1 * (1 + math.cos(math.pi * progress))
        assert float(sched(step)) == pytest.approx(expected, rel=1e-5, abs=1e-7)  # float32
    assert sched.get_config() == {"peak": 0.1, "warmup_steps": 10, "total_steps": 110}


def test_padding_pixels():
    assert training.padding_pixels(32, 0.125) == 4
    assert training.padding_pixels(28, 0.125) == 4
    assert training.padding_pixels(8, 0.125) == 1
    assert training.padding_pixels(32, 0.0) == 0


def test_train_dataset_is_fixed_shape_one_hot_in_unit_range_and_seeded():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (70, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, 70)
    a = list(training.train_dataset(x, y, 3, 32, seed=5, pad=1, flip=False))
    b = list(training.train_dataset(x, y, 3, 32, seed=5, pad=1, flip=False))
    c = list(training.train_dataset(x, y, 3, 32, seed=6, pad=1, flip=False))
    assert len(a) == 2  # 70 // 32: the remainder is dropped, every batch has the same shape
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.shape == (32, 8, 8, 1) and ya.shape == (32, 3)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert float(tf.reduce_min(xa)) >= 0.0 and float(tf.reduce_max(xa)) <= 1.0
        np.testing.assert_array_equal(tf.reduce_sum(ya, axis=1), np.ones(32))
    assert not np.array_equal(a[0][0], c[0][0])


def test_crop_only_shifts_and_zero_pads():
    x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1) + 1  # no zero pixels
    (batch, _), *_ = list(
        training.train_dataset(
            np.repeat(x, 4, 0), np.zeros(4, int), 2, 4, seed=1, pad=1, flip=False
        )
    )
    src = x[0, :, :, 0].astype(np.float32) / 255
    for img in np.asarray(batch)[..., 0]:
        found = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                shifted = np.zeros((10, 10), np.float32)
                shifted[1:9, 1:9] = src
                if np.allclose(shifted[1 + dy : 9 + dy, 1 + dx : 9 + dx], img):
                    found = True
        assert found


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import dataclasses
from pathlib import Path
from actbench import config, datasets
from actbench.training import RunSpec, distribution, train_run
params = config.load("params.yaml")
mode = sys.argv[1]
recipe = dataclasses.replace(params.train, distribute=mode, deterministic=True)
budget = dataclasses.replace(params.budget, epochs=2, batch_size=64)
arrays = datasets.prepare(datasets.load_raw("digits", Path(".")), val_size=0.1, test_size=0.2, split_seed=0, train_size=None)
out = Path(mode)
result = train_run(RunSpec("relu", "digits", 0, "baseline"), arrays, budget, recipe, out / "live", out / "ckpt", {})
print(json.dumps({"replicas": distribution(mode).num_replicas_in_sync, "loss": [float(v) for v in result.history["train/loss"]]}))
"""


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "run.py").write_text(MIRRORED)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
                   cwd=tmp_path, check=True)  # fmt: skip
    out = {}
    for mode in ("off", "mirrored"):
        res = subprocess.run([sys.executable, "run.py", mode], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
        assert res.returncode == 0, res.stderr[-3000:]
        out[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["off"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # Same global batch, data and initial weights. Batch norm normalises per replica (32 images
    # instead of 64), so trajectories drift apart; the first epoch's mean loss must still agree.
    np.testing.assert_allclose(out["mirrored"]["loss"][0], out["off"]["loss"][0], rtol=0.02)
    assert out["mirrored"]["loss"][1] < out["mirrored"]["loss"][0]
