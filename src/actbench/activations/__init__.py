"""The activation registry: one module per activation in this folder, found by file name.

Adding an activation is adding one file, ``activations/<name>.py``, built from ``keras.ops`` (so
it runs on TensorFlow and JAX), elementwise (output ``i`` depends on input ``i`` alone: the
diagnostics' ``f'(z)`` relies on it), same shape and dtype out as in. It binds ``<name>`` to one
of two kinds of plug-in:

* **function**: ``def <name>(x)``. Every activation site of a model wraps it in a
  ``keras.layers.Activation``; the registry registers it as Keras-serializable
  (``actbench><name>``).
* **layer** (learnable): ``class <name>(keras.layers.Layer)``, or ``<name> = SomeLayer``: a
  ``keras.layers.Layer`` subclass, which every site instantiates as ``SomeLayer(name=...)``.
  Every site gets its own instance, so its own weights; how they are shared (one per channel,
  one scalar per site) is the plug-in's choice, stated in its docstring. The class must reload
  from its ``get_config()`` (the registry registers it as ``actbench><ClassName>`` unless the
  module already did).

Optional module-level names, read from the source as literals:

* ``ALIASES = ("other_name",)``: more names the registry accepts (``silu`` for ``swish``).
* ``OTHER_NAMES = ("Sigmoid Linear Unit (SiLU)",)``: names the function has elsewhere, shown
  only (``python -m actbench activations``, the report); one line each.
* ``REFERENCES = ("Author et al., Title, venue year, arXiv:...",)``: where it comes from, one
  line each.

Names, kinds and metadata are found without importing Keras: the registry lists the ``.py``
files here and reads their syntax tree. ``get(name)`` and ``site(name, layer_name)`` import only
that one module, so a stage that trains one activation imports, and DVC-depends on, only that
activation's module; a saved model reloads once the module is imported (``load_all``).
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

HERE = Path(__file__).resolve().parent
PACKAGE = "actbench"  # Keras serialization package: saved models name "actbench>tanhrelu"
KINDS = ("function", "layer")
METADATA = ("ALIASES", "OTHER_NAMES", "REFERENCES")  # module-level tuples of one-line strings


@dataclass(frozen=True)
class Info:
    """What the registry knows of one plug-in without importing it."""

    name: str  # the module name, the canonical name
    kind: str | None  # "function", "layer", or None: the module does not bind ``name``
    summary: str  # the first line of the module docstring
    aliases: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    @property
    def source(self) -> Path:
        return HERE / f"{self.name}.py"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: for run records and the report."""
        return {
            "name": self.name, "kind": self.kind, "summary": self.summary,
            "aliases": list(self.aliases), "other_names": list(self.other_names),
            "references": list(self.references),
        }  # fmt: skip


def _read(path: Path) -> Info:
    tree = ast.parse(path.read_text(), str(path))
    found: dict[str, tuple[str, ...]] = {}
    kind = None
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        for target in targets:
            if target in METADATA:
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    value = None
                if not (isinstance(value, tuple) and all(isinstance(v, str) for v in value)):
                    raise ValueError(f"{path}: {target} must be a literal tuple of strings")
                found[target] = value
            elif target == path.stem:
                kind = "layer"  # <name> = SomeLayer
        if isinstance(node, ast.FunctionDef) and node.name == path.stem:
            kind = "function"
        elif isinstance(node, ast.ClassDef) and node.name == path.stem:
            kind = "layer"
    doc = ast.get_docstring(tree) or ""
    return Info(
        name=path.stem,
        kind=kind,
        summary=doc.strip().splitlines()[0] if doc.strip() else "",
        aliases=found.get("ALIASES", ()),
        other_names=found.get("OTHER_NAMES", ()),
        references=found.get("REFERENCES", ()),
    )


@functools.cache
def _modules() -> dict[str, Info]:
    """``{module name: Info}`` for every plug-in file, read from source, not imported."""
    return {p.stem: _read(p) for p in sorted(HERE.glob("*.py")) if not p.stem.startswith("_")}


def modules() -> list[str]:
    """Canonical names: one per plug-in module, sorted."""
    return list(_modules())


def aliases() -> dict[str, str]:
    """``{alias: canonical name}``."""
    return {alias: name for name, found in _modules().items() for alias in found.aliases}


def names() -> list[str]:
    """Every name ``get`` accepts, aliases included, sorted."""
    return sorted([*modules(), *aliases()])


def _unknown(name) -> ValueError:
    return ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")


def canonical(name: str) -> str:
    """The module name for ``name`` (itself or the activation it is an alias of)."""
    if not isinstance(name, str):
        raise _unknown(name)
    if name in _modules():
        return name
    if name in aliases():
        return aliases()[name]
    raise _unknown(name)


def source(name: str) -> Path:
    """The file that defines activation ``name``; the file a stage using it depends on."""
    return HERE / f"{canonical(name)}.py"


def info(name: str) -> Info:
    """Kind, other names and references of activation ``name``, without importing it."""
    return _modules()[canonical(name)]


def catalog() -> list[Info]:
    """``info`` of every plug-in, sorted by name (what the CLI and the report list)."""
    return list(_modules().values())


def kind(name: str) -> str:
    """``"function"`` or ``"layer"``; a module that binds neither is a one-line ``ValueError``."""
    found = info(name)
    if found.kind is None:
        raise ValueError(
            f"{found.source} must define a function {found.name}(x), or bind {found.name} to a "
            "keras.layers.Layer subclass"
        )
    return found.kind


def is_learnable(name: str) -> bool:
    """Whether ``name`` is a layer plug-in: one instance, with its own weights, per site."""
    return kind(name) == "layer"


_LOADED: dict[str, Callable] = {}


def get(name: str) -> Callable:
    """Import and return what the module binds to its name, registered with Keras.

    A function plug-in: the function ``f(x)``. A layer plug-in: the ``keras.layers.Layer``
    subclass; ``entry(name=layer_name)`` makes one site (``site`` does that). Unknown names
    raise a one-line ``ValueError``.
    """
    module_name = canonical(name)
    if module_name not in _LOADED:
        plugin_kind = kind(module_name)
        module = importlib.import_module(f"{__name__}.{module_name}")
        entry = getattr(module, module_name, None)
        import keras  # deferred: validating names above needs no Keras

        if plugin_kind == "function":
            if not callable(entry):
                raise ValueError(f"{source(name)} must define a function {module_name}(x)")
            register = keras.saving.register_keras_serializable(package=PACKAGE, name=module_name)
            entry = register(entry)
        else:
            if not (isinstance(entry, type) and issubclass(entry, keras.layers.Layer)):
                shown = getattr(entry, "__name__", type(entry).__name__)
                raise ValueError(
                    f"{source(name)} binds {module_name} by assignment, so it is read as a layer "
                    f"plug-in, and {module_name} = {shown} is not a keras.layers.Layer subclass "
                    f"(a function plug-in is `def {module_name}(x)`)"
                )
            _register_layer(entry, source(name))
        _LOADED[module_name] = entry
    return _LOADED[module_name]


def _register_layer(cls: type, path: Path) -> None:
    """Register ``cls`` as ``actbench><ClassName>`` unless it is registered already."""
    import keras

    if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls:
        return  # the module registered it (as the shipped plug-ins do)
    key = f"{PACKAGE}>{cls.__name__}"
    taken = keras.saving.get_registered_object(key)
    if taken is not None and taken is not cls:
        raise ValueError(
            f"{path}: the Keras name {key!r} is taken by {taken.__module__}.{taken.__name__}; "
            "give the class another name"
        )
    keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def site(activation: str | Callable, layer_name: str) -> keras.layers.Layer:
    """A new ``keras.layers.Layer`` named ``layer_name`` that applies ``activation``: one call
    per activation site of a model, every call a fresh layer (so fresh weights).

    ``activation`` is a registry name, or what ``get`` returned, or any callable ``f(x)``, or a
    ``keras.layers.Layer`` subclass. A function becomes ``keras.layers.Activation(f)``; a layer
    class is instantiated with ``name=layer_name``.
    """
    import keras

    if isinstance(activation, str):
        activation = get(activation)
    if isinstance(activation, keras.layers.Layer):
        raise ValueError(
            f"activation {activation.name!r} is a layer instance; pass its class, since every "
            "site needs its own instance"
        )
    if isinstance(activation, type) and issubclass(activation, keras.layers.Layer):
        return activation(name=layer_name)
    if not callable(activation):
        raise _unknown(activation)
    return keras.layers.Activation(activation, name=layer_name)


def name_of(activation: str | Callable) -> str:
    """The registry's name of ``activation`` (a name or alias, or what ``get`` returned), else
    the ``__name__`` of a function or layer class the registry does not know."""
    if isinstance(activation, str):
        return canonical(activation)
    found = next((n for n, e in _LOADED.items() if e is activation), None)
    return found or getattr(activation, "__name__", "custom")


def load_all() -> None:
    """Import and register every activation (to reload a saved model of any of them)."""
    for name in modules():
        get(name)
