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
import importlib.machinery
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


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Registers actbench's objects once Keras is imported. Keras has no hook for this, so it
    goes through the import system's documented protocol (``importlib.abc.MetaPathFinder`` and
    ``Loader``, ``importlib.machinery.ModuleSpec``): on ``import keras`` it finds Keras' spec
    with the other finders and returns the same spec with a loader that runs Keras' own loader,
    then ``register``. Nothing of Keras is replaced: once the import is done, ``keras.__loader__``
    and ``keras.__spec__.loader`` are Keras' own loader. Used once: the finder leaves
    ``sys.meta_path`` on the first ``import keras``. tests/test_saving.py checks it in a fresh
    interpreter."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras" or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        found = importlib.util.find_spec(name)  # the other finders: Keras as installed
        if found is None or found.loader is None:
            return found
        spec = importlib.machinery.ModuleSpec(
            name, _ThenRegister(found.loader), origin=found.origin,
            loader_state=found.loader_state, is_package=found.submodule_search_locations is not None,
        )  # fmt: skip
        spec.submodule_search_locations = found.submodule_search_locations
        spec.cached, spec.has_location = found.cached, found.has_location  # __file__, __cached__
        return spec


class _ThenRegister(importlib.abc.Loader):
    """Keras' own loader, then ``register``."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader  # Keras' own from here on
        self.loader.exec_module(module)
        register()


_HOOK = _RegisterAfterKeras()


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
