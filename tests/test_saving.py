"""Saved runs reload: with `keras.saving.load_model` right after `import actbench` (in either
import order), and with `actbench.load_model`, for every registered activation, in a fresh
interpreter; a truncated model file is called corrupt, not "not found"."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from actbench import activations
from actbench.errors import ActbenchError
from actbench.training import loop

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)
ROOT = Path(__file__).resolve().parents[1]

RELOAD = """
import sys
import numpy as np
order = sys.argv[1]
if order == "keras-first":
    import keras, actbench
else:
    import actbench, keras
x = np.load(sys.argv[2])
for path in sys.argv[3:]:
    model = keras.saving.load_model(path) if order != "actbench-load" else actbench.load_model(path)
    np.save(path + ".reloaded.npy", keras.ops.convert_to_numpy(model(x, training=False)))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every registered activation's inference model (width 2, 8x8x1 images) and its logits."""
    out = tmp_path_factory.mktemp("saved")
    x = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    np.save(out / "x.npy", x)
    paths = []
    for name in activations.modules():
        _, model = loop.build_model((8, 8, 1), 3, name, width=2, pad=1, flip=False)
        path = out / f"{name}.keras"
        model.save(path)
        np.save(f"{path}.expected.npy", keras.ops.convert_to_numpy(model(x, training=False)))
        paths.append(path)
    return out, paths


@pytest.mark.parametrize("order", ["actbench-first", "keras-first", "actbench-load"])
def test_every_activation_reloads_in_a_fresh_interpreter(saved, order):
    folder, paths = saved
    if order != "actbench-first":  # the other two orders: a function plug-in and a layer plug-in
        paths = [p for p in paths if p.stem in ("tanhrelu", "prelu")]
    res = subprocess.run([sys.executable, "-c", RELOAD, order, str(folder / "x.npy"), *map(str, paths)],
                         cwd=folder, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src"),
                         **{k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}})  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    for path in paths:
        np.testing.assert_allclose(np.load(f"{path}.reloaded.npy"), np.load(f"{path}.expected.npy"),
                                   rtol=1e-5, atol=1e-6, err_msg=path.name)  # fmt: skip


HOOK = """
import json, sys
if sys.argv[1] != "plain":
    import actbench
    if sys.argv[1] == "off":
        actbench.autoregister(False)  # as a stage does (stages/_src.py)
import keras
print(json.dumps({
    "loader": type(keras.__loader__).__qualname__, "spec_loader": type(keras.__spec__.loader).__qualname__,
    "file": keras.__file__, "cached": keras.__spec__.cached, "path": list(keras.__path__),
    "finders": [type(f).__module__ for f in sys.meta_path],
    "registered": [keras.saving.get_registered_object(k) is not None
                   for k in ("actbench>tanhrelu", "actbench>PReLU", "actbench>Augment")],
}))
"""


def test_import_actbench_then_keras_registers_and_leaves_keras_as_a_plain_import_does():
    """The hook (``actbench._RegisterAfterKeras``, the import system's public protocol) registers
    after ``import keras``, replaces nothing of Keras' (its loader, file, path are those of a plain
    import), and leaves ``sys.meta_path``; switched off, it registers nothing."""
    import json
    import os

    def run(mode: str) -> dict:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        res = subprocess.run(
            [sys.executable, "-c", HOOK, mode], capture_output=True, text=True, env=env
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.splitlines()[-1])

    plain, hooked, off = run("plain"), run("on"), run("off")
    assert plain["registered"] == off["registered"] == [False, False, False]
    assert hooked["registered"] == [True, True, True]
    for got in (hooked, off):
        assert {k: got[k] for k in ("loader", "spec_loader", "file", "cached", "path")} == {
            k: plain[k] for k in ("loader", "spec_loader", "file", "cached", "path")}  # fmt: skip
        assert "actbench" not in got["finders"]


def test_a_truncated_model_is_called_corrupt(saved, tmp_path):
    from actbench.evaluation import load_model

    _, paths = saved
    broken = tmp_path / "broken.keras"
    broken.write_bytes(paths[0].read_bytes()[:2000])
    with pytest.raises(ActbenchError) as err:
        load_model(broken, activations.modules()[0])
    assert "is corrupt or truncated" in str(err.value) and "\n" not in str(err.value)
