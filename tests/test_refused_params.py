"""A refused experiment never touches the last good results, and actbench's line comes first.

On a copy of the shared pipeline (its results committed), each mistake a user makes with
``dvc exp run -S`` or an edited params.yaml is refused by the validate stage before any stage
that owns a result runs: the first error is actbench's one line (the key, the value, what is
allowed, the closest name, how to restore), and every file of the workspace but params.yaml is
byte-identical afterwards, with no new folder.
"""

import hashlib
from pathlib import Path

import pytest

from .project import sh

pytestmark = pytest.mark.e2e
RESTORE = (
    "Nothing ran: fix params.yaml, or restore the last good one with "
    "`git show HEAD:params.yaml > params.yaml`"
)


def snapshot(repo: Path) -> tuple[dict[str, str], set[str]]:
    """md5 of every file, and every folder, outside .git and .dvc (params.yaml aside)."""
    files, folders = {}, set()
    for path in repo.rglob("*"):
        rel = path.relative_to(repo)
        if rel.parts[0] in (".git", ".dvc") or rel == Path("params.yaml"):
            continue
        if path.is_dir():
            folders.add(str(rel))
        else:
            files[str(rel)] = hashlib.md5(path.read_bytes()).hexdigest()
    return files, folders


def first_error(out: str) -> str:
    return next(line for line in out.splitlines() if "error" in line.lower())


MISTAKES = {
    "misspelled candidate": (
        ["-S", "activation=tanhrleu"],
        "activation = 'tanhrleu' is not valid; expected one of activations: tanhrelu, relu, elu, "
        "swish; did you mean 'tanhrelu'?",
    ),
    "misspelled activation": (
        ["-S", "activations=[tanhrelu,relu,elu,swsh]"],
        "activations[3] = 'swsh' is not valid; expected one of elu, gelu,",
    ),
    "candidate not trained": (
        ["-S", "activation=gelu"],
        "activation = 'gelu' is not in activations [tanhrelu, relu, elu, swish]; train it too: "
        "dvc exp run -S activation=gelu -S 'activations=[tanhrelu,relu,elu,swish,gelu]'",
    ),
    "negative learning rate": (
        ["-S", "profiles.quick.learning_rate=-0.1"],
        "profiles.quick.learning_rate = -0.1 is not valid; expected a positive number",
    ),
    "unknown dataset": (
        ["-S", "datasets=[cifar100]"],
        "datasets[0] = 'cifar100' is not valid; expected a built-in dataset or a key of "
        "data.folders: cifar10, fashion_mnist, digits; did you mean 'cifar10'?",
    ),
    "wrong type": (
        ["-S", "train.momentum=fast"],
        "train.momentum = 'fast' is not valid; expected a number",
    ),
    "unknown key, appended": (
        ["-S", "+profiles.quick.learningrate=0.1"],
        "unknown key 'learningrate' in profiles.quick; allowed keys: width,",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_refused_experiment_keeps_every_file(workspace, mistake):
    args, message = MISTAKES[mistake]
    before, good = snapshot(workspace), (workspace / "params.yaml").read_text()
    res = sh(workspace, "dvc", "exp", "run", *args, check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert first_error(out).startswith("actbench: validate.py: error: params.yaml: "), out
    assert message in first_error(out) and RESTORE in first_error(out), out
    assert "Traceback" not in out and "Running stage 'download" not in out
    assert snapshot(workspace) == before
    # The restore the line names. (`git checkout params.yaml`, even `git restore --source=HEAD`, may
    # do nothing here: after a failed `dvc exp run` git's index can hold the bad file's size and
    # time against the good content, so git sees nothing to write.)
    (workspace / "params.yaml").write_text(sh(workspace, "git", "show", "HEAD:params.yaml").stdout)
    assert (workspace / "params.yaml").read_text() == good
    assert "Data and pipelines are up to date." in sh(workspace, "dvc", "repro").stdout


def test_an_edited_params_file_is_refused_the_same_way(workspace):
    params = workspace / "params.yaml"
    params.write_text(
        params.read_text().replace("  quick:\n", "  quick:\n    learningrate: 0.1\n", 1)
    )
    before = snapshot(workspace)
    res = sh(workspace, "dvc", "repro", check=False)
    assert res.returncode != 0
    assert "unknown key 'learningrate' in profiles.quick" in first_error(res.stdout + res.stderr)
    assert "did you mean 'learning_rate'?" in first_error(res.stdout + res.stderr)
    assert snapshot(workspace) == before


def test_a_key_params_yaml_lacks_and_a_list_given_a_number_are_refused_by_dvc_first(workspace):
    """DVC itself refuses these while it reads its arguments and dvc.yaml: before it writes
    params.yaml, so nothing at all changes (README, "Failure and recovery")."""
    before, text = snapshot(workspace), (workspace / "params.yaml").read_text()
    for args in (["-S", "profiles.quick.learningrate=0.1"], ["-S", "seeds=3"]):
        res = sh(workspace, "dvc", "exp", "run", *args, check=False)
        assert res.returncode != 0 and "Running stage" not in res.stdout, args
        assert snapshot(workspace) == before and (workspace / "params.yaml").read_text() == text
