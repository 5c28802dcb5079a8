"""dvc.yaml stays honest: every stage's code deps are exactly the import closure of its script.

For every stage, the project files its script can import (tools/stage_deps.py) plus the plug-in
modules it imports by name at run time must equal the deps under src/ and stages/: nothing
missing (an edit DVC would not notice) and nothing extra (an edit that reruns it for nothing).
"""

from pathlib import Path

import pytest
from tools.stage_deps import closure

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

ROOT = Path(__file__).resolve().parents[1]
ACTIVATIONS = ROOT / "src/actbench/activations"


def _resolved_stages():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [
            (s.addressing, s.cmd, [ROOT / d.def_path for d in s.deps]) for s in repo.index.stages
        ]


def _expand(paths):
    out = set()
    for path in paths:
        if path.is_dir():
            out |= {p.resolve() for p in path.rglob("*.py") if "__pycache__" not in p.parts}
        else:
            out.add(path.resolve())
    return out


def _code(paths):
    return {
        p
        for p in _expand(paths)
        if p.suffix == ".py" and {"src", "stages"} & set(p.relative_to(ROOT).parts[:1])
    }


def expected_code(addressing: str, cmd: str) -> set[Path]:
    """The script's closure plus what it imports by name: a run's own activation module for
    train and evaluate, every activation module for plot (it draws them all)."""
    script = ROOT / cmd.split()[1]
    wanted = {p.resolve() for p in closure(script)}
    if "--activation" in cmd:
        wanted.add((ACTIVATIONS / f"{cmd.split('--activation')[1].split()[0]}.py").resolve())
    if addressing == "plot":
        wanted |= _expand([ACTIVATIONS])
    return wanted


def mismatches(addressing, cmd, deps):
    declared, wanted = _code(deps), expected_code(addressing, cmd)
    rel = lambda paths: sorted(str(p.relative_to(ROOT)) for p in paths)  # noqa: E731
    return rel(wanted - declared), rel(declared - wanted)


STAGES = _resolved_stages()


@pytest.mark.parametrize(("addressing", "cmd", "deps"), STAGES, ids=[s[0] for s in STAGES])
def test_stage_code_deps_equal_the_import_closure_of_its_script(addressing, cmd, deps):
    missing, extra = mismatches(addressing, cmd, deps)
    assert not missing, f"{addressing}: deps lack {missing} (python tools/stage_deps.py lists them)"
    assert not extra, f"{addressing}: deps list {extra}, which its script never imports"


def test_the_check_fails_on_a_missing_or_an_extra_dep():
    addressing, cmd, deps = next(s for s in STAGES if s[0].startswith("train@"))
    runs_py = ROOT / "src/actbench/runs.py"
    assert runs_py in deps
    missing, extra = mismatches(addressing, cmd, [d for d in deps if d != runs_py])
    assert missing == ["src/actbench/runs.py"] and extra == []
    missing, extra = mismatches(addressing, cmd, [*deps, ROOT / "src/actbench/plotting.py"])
    assert missing == [] and extra == ["src/actbench/plotting.py"]


def test_tune_train_and_evaluate_depend_on_their_own_activation_only():
    for addressing, _, deps in STAGES:
        if addressing.startswith(("tune", "train", "evaluate")):
            modules = {d.name for d in deps if d.parent == ACTIVATIONS and d.name != "__init__.py"}
            assert modules == {f"{addressing.split('@')[1].split('-')[0]}.py"}, addressing


def _stages_with(tmp_path, **changes) -> dict[str, tuple]:
    """Every stage dvc.yaml resolves to under the repository's params with ``changes``: its
    command, deps, params and outputs (what DVC's run-cache is keyed on)."""
    import shutil

    from dvc.repo import Repo

    from .project import set_params

    repo = tmp_path / ("_".join(changes) or "base")
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    (repo / ".dvc").mkdir()
    (repo / ".dvc/config").write_text("[core]\n    no_scm = true\n")
    set_params(repo, **changes)
    with Repo(str(repo)) as dvc:
        return {s.name: (s.cmd, sorted(str(d.def_path) for d in s.deps), sorted(map(str, s.params)),
                               sorted(str(o.def_path) for o in s.outs)) for s in dvc.index.stages}  # fmt: skip


def test_a_run_has_no_role_and_choosing_the_candidate_changes_only_compare_and_plot(tmp_path):
    """Every activation is trained by the same stage definitions: making another activation the
    candidate leaves every other stage's command, deps and outputs as they were."""
    base, swapped = _stages_with(tmp_path), _stages_with(tmp_path, activation="relu")
    assert set(base) == set(swapped)
    assert {name for name in base if base[name] != swapped[name]} <= {"compare", "plot"}
    assert not any("candidate" in name or "candidate" in base[name][0] for name in base)


def test_validate_runs_before_every_stage_that_owns_a_result():
    """Every other stage descends from validate's output, so DVC runs validate first."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        validate = next(s for s in graph if s.addressing == "validate")
        ancestors = {s.addressing for s in graph if validate in nx.descendants(graph, s)}
    assert ancestors == {s.addressing for s in graph} - {"validate"}


def test_parsers_and_the_download_code_are_not_deps_of_training():
    for addressing, _, deps in STAGES:
        if addressing.startswith(("train", "evaluate", "compare")):
            names = {str(d.relative_to(ROOT)) for d in deps}
            assert not names & {"src/actbench/data/formats.py", "src/actbench/data/sources.py",
                                "src/actbench/data/folders.py", "src/actbench/data/splits.py"}, addressing  # fmt: skip
