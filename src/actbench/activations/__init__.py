"""The activation registry: one module per activation in this folder, found by file name.

Adding an activation is adding one file, ``activations/<name>.py``, that defines a function
``<name>(x)`` built from ``keras.ops`` (elementwise, same shape and dtype out as in). Optional
module-level names:

* ``ALIASES = ("other_name",)``: more names for the same function (``silu`` for ``swish``).

Names are found and validated without importing Keras: the registry lists the ``.py`` files
here and reads ``ALIASES`` from their source. ``get(name)`` imports only that one module and
registers its function as Keras-serializable (``actbench>name``), so a saved model reloads
once the module is imported (see ``actbench.load_model``). A stage that trains one activation
imports, and DVC-depends on, only that activation's module.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "actbench"  # Keras serialization package: saved models name "actbench>tanhrelu"


@functools.cache
def _modules() -> dict[str, tuple[str, ...]]:
    """``{module name: its ALIASES}`` for every plug-in file, read from source, not imported."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        found[path.stem] = _aliases(path)
    return found


def _aliases(path: Path) -> tuple[str, ...]:
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ALIASES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return ()


def modules() -> list[str]:
    """Canonical names: one per plug-in module, sorted."""
    return list(_modules())


def aliases() -> dict[str, str]:
    """``{alias: canonical name}``."""
    return {alias: name for name, found in _modules().items() for alias in found}


def names() -> list[str]:
    """Every name ``get`` accepts, aliases included, sorted."""
    return sorted([*modules(), *aliases()])


def canonical(name: str) -> str:
    """The module name for ``name`` (itself or the activation it is an alias of)."""
    if name in _modules():
        return name
    if name in aliases():
        return aliases()[name]
    raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")


def source(name: str) -> Path:
    """The file that defines activation ``name``; the file a stage using it depends on."""
    return HERE / f"{canonical(name)}.py"


_LOADED: dict[str, Callable] = {}


def get(name: str) -> Callable:
    """Import and return activation ``name``; unknown names raise a one-line ``ValueError``."""
    if not isinstance(name, str):
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")
    module_name = canonical(name)
    if module_name not in _LOADED:
        module = importlib.import_module(f"{__name__}.{module_name}")
        fn = getattr(module, module_name, None)
        if not callable(fn):
            raise ValueError(f"{source(name)} must define a function {module_name}(x)")
        import keras  # deferred: validating names above needs no Keras

        register = keras.saving.register_keras_serializable(package=PACKAGE, name=module_name)
        _LOADED[module_name] = register(fn)
    return _LOADED[module_name]


def load_all() -> None:
    """Import and register every activation (to reload a saved model of any of them)."""
    for name in modules():
        get(name)
