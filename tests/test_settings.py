"""Machine settings: the mirror comes from the environment or an untracked local file, not params."""

import pytest

from actbench import settings
from actbench.errors import ActbenchError

pytestmark = pytest.mark.portable


def test_environment_first_then_the_local_file_then_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTBENCH_MIRROR", raising=False)
    assert settings.get("mirror") == ""
    (tmp_path / "actbench.local.yaml").write_text("mirror: /data/official\n")
    assert settings.get("mirror") == "/data/official"
    monkeypatch.setenv("ACTBENCH_MIRROR", "https://mirror.example/")
    assert settings.get("mirror") == "https://mirror.example/"


@pytest.mark.parametrize(("text", "fragment"), [("mirrror: /x\n", "expected a mapping with keys mirror"),
                                                ("mirror: 5\n", "mirror = 5 is not valid; expected a string"),
                                                ("mirror: [\n", "is not valid YAML")])  # fmt: skip
def test_a_bad_local_file_is_one_line(tmp_path, monkeypatch, text, fragment):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTBENCH_MIRROR", raising=False)
    (tmp_path / "actbench.local.yaml").write_text(text)
    with pytest.raises(ActbenchError, match=fragment.replace("[", r"\[")) as err:
        settings.get("mirror")
    assert "\n" not in str(err.value)


def test_the_local_file_is_git_ignored():
    from .project import ROOT

    assert "/actbench.local.yaml" in (ROOT / ".gitignore").read_text().splitlines()
