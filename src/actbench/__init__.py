"""actbench: a reproducible DVC benchmark for activation functions in ResNet-18.

    import actbench, keras
    model = keras.saving.load_model("models/tanhrelu_digits_s0.keras")   # or actbench.load_model
    model.predict(uint8_images)   # (N, H, W, C) uint8 -> (N, classes) logits

Importing the package registers, with Keras, every object a saved run names (the ``Augment``
layer and every activation plug-in), so ``keras.saving.load_model`` reloads a run with no
``custom_objects``: at once if Keras is already imported, else right after Keras is first
imported. Nothing heavy is imported here: every stage imports this package first, before it
configures the backend, and a stage turns the registration off (``stages/_src.py``) because it
imports, and DVC-depends on, only the activation it trains.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

# Before anything imports TensorFlow: hide its C++ start-up chatter (a user can still override).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"


def register() -> None:
    """Register every Keras object a saved actbench model refers to (imports Keras)."""
    importlib.import_module("actbench.training.pipeline")  # the Augment layer
    importlib.import_module("actbench.activations").load_all()


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps Keras' own loader so that ``register`` runs once Keras is
    imported, then removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            register()

        spec.loader.exec_module = exec_module
        return spec


_HOOK = _AfterKeras()


def autoregister(enabled: bool) -> None:
    """Turn the registration on import of Keras on (the default) or off (the stages)."""
    if enabled and _HOOK not in sys.meta_path and "keras" not in sys.modules:
        sys.meta_path.insert(0, _HOOK)
    elif not enabled and _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


if "keras" in sys.modules:
    register()
else:
    autoregister(True)


def __getattr__(name: str):
    # ``actbench.load_model`` on first use (PEP 562), so `import actbench` stays light. No
    # stage calls it (stages load models through actbench.evaluation), hence importlib here.
    if name == "load_model":
        return importlib.import_module("actbench.evaluation").load_model
    raise AttributeError(f"module 'actbench' has no attribute {name!r}")
