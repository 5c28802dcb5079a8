"""The code each stage runs: the import closure of its script within this project.

    python tools/stage_deps.py            # every stage script's closure, as dvc.yaml deps

Every ``import`` and ``from ... import`` anywhere in a file counts (function-level imports
included: they run when the stage does). ``tests/test_dvc_yaml.py`` checks that the ``deps`` of
every stage in dvc.yaml cover exactly this closure, plus the plug-in modules the stage imports
by name at run time (``actbench.activations.get``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Dotted names of the modules ``path`` imports (a ``from a import b`` gives a and a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def closure(script: Path) -> set[Path]:
    """Every project file a run of ``script`` may import, the script itself included."""
    seen: set[Path] = set()
    todo = [script.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] == "_src" and (path.parent / "_src.py").is_file():
                todo.append(path.parent / "_src.py")
                continue
            if parts[0] != "actbench":
                continue
            for i in range(1, len(parts) + 1):  # a.b.c imports a, a.b and a.b.c
                file = _module_file(".".join(parts[:i]))
                if file is not None:
                    todo.append(file)
    return seen


def main() -> None:
    for script in sorted((ROOT / "stages").glob("[!_]*.py")):
        print(f"{script.stem}:")
        for path in sorted(closure(script)):
            print(f"  - {path.relative_to(ROOT)}")
    sys.exit(0)


if __name__ == "__main__":
    main()
