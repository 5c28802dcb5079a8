"""Docs that cannot rot: every relative link and ``#anchor`` in the README and ``docs/`` resolves.

A link resolves when its file or folder exists, relative to the page that holds it, and its
anchor, if any, is the slug of a heading of the target page (or of an ``<a id>``/``<a name>``
there). Slugs follow GitHub's rules: the heading's text lowercased, punctuation other than ``-``
and ``_`` dropped, each space turned into ``-``, and ``-1``, ``-2``, ... appended to repeats.
Links inside code spans and fenced code blocks are not links; absolute URLs are not checked.

Fast tier: a plain unit test, no DVC, no Keras import, well under a second.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets (an image)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def pages() -> list[Path]:
    """The Markdown this test keeps true."""
    extra = [ROOT / "CHANGELOG.md", ROOT / "metrics" / "README.md"]
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *[p for p in extra if p.exists()],
    ]


def prose(text: str) -> str:
    """``text`` without fenced code blocks (blank lines in their place)."""
    out, fence = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lowercased, punctuation but ``-`` and ``_``
    dropped, spaces to ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis marks, not snake_case
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page defines: heading slugs (repeats numbered) and HTML ids."""
    found, seen = set(), {}
    for line in prose(text).splitlines():
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found | set(HTML_ANCHOR.findall(text))


def links(text: str) -> list[str]:
    """Every link target in ``text``, outside code."""
    body = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), prose(text))
    return INLINE_LINK.findall(body) + REFERENCE_DEF.findall(body)


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """One line per relative link of ``page`` (or of ``text``, read as if it were ``page``)
    whose file or anchor does not exist."""
    text = page.read_text() if text is None else text
    problems = []
    for target in links(text):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else None  # None: this page
        if dest is not None and not dest.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and (dest is None or (dest.is_file() and dest.suffix == ".md")):
            defined = anchors(text if dest is None or dest == page.resolve() else dest.read_text())
            if unquote(anchor) not in defined:
                problems.append(f"{page.name}: {target}: no heading with anchor #{anchor}")
    return problems


def test_every_link_in_the_docs_resolves():
    problems = [line for page in pages() for line in broken_links(page)]
    assert not problems, "\n".join(problems)


def test_the_docs_are_there():
    names = {p.relative_to(ROOT).as_posix() for p in pages()}
    assert {"README.md", "docs/README.md", "docs/results/README.md", "CHANGELOG.md"} <= names
    assert len(ROOT.joinpath("README.md").read_text().splitlines()) < 300


def test_the_checker_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Some `code` and *more*: here!\n")
    page = tmp_path / "page.md"
    text = "\n".join([
        "# Title",
        "## Repeated",
        "## Repeated",
        "[good file](other.md) [good anchor](other.md#some-code-and-more-here)",
        "[own anchor](#title) [second repeat](#repeated-1) ![image](other.md)",
        "[web](https://example.org/x#y) `[in code](missing.md)`",
        "```",
        "[in a fence](missing.md)",
        "```",
        "[broken file](missing.md)",
        "[broken anchor](other.md#no-such-heading)",
        "[broken own anchor](#repeated-2)",
        "[reference]: missing-too.md",
    ])  # fmt: skip
    assert broken_links(page, text) == [
        "page.md: missing.md: no such file",
        "page.md: other.md#no-such-heading: no heading with anchor #no-such-heading",
        "page.md: #repeated-2: no heading with anchor #repeated-2",
        "page.md: missing-too.md: no such file",
    ]
    assert broken_links(page, "[ok](other.md#other-page) [ok](#x)\n# X\n") == []


def test_slugs_follow_github():
    assert slug("Failure and recovery") == "failure-and-recovery"
    assert slug("The first `dvc exp run` warns") == "the-first-dvc-exp-run-warns"
    assert slug("GPU, JAX and Docker") == "gpu-jax-and-docker"
    assert slug("`make docker-check`") == "make-docker-check"
    assert slug("Shared learning rate, 3 seeds") == "shared-learning-rate-3-seeds"
    assert slug("snake_case and **bold**") == "snake_case-and-bold"
    assert slug("A [link](x.md) here") == "a-link-here"


def test_the_prior_art_in_the_registry_is_in_the_docs():
    """TanhReLU's other names and references (what `python -m actbench activations` and the
    report print) name the same sources as the docs."""
    from actbench import activations

    info = activations.info("tanhrelu")
    listed = " ".join([*info.other_names, *info.references])
    docs = (ROOT / "docs" / "activations.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for source in ("P-TELU", "Duggal", "974-978", "Tanh Linear Unit", "activations_plus", "ef149a4",
                   "2104.02639"):  # fmt: skip
        assert source in listed, source
        assert source in docs, source
    assert "P-TELU" in readme and "Tanh Linear Unit" in readme


def test_the_readme_quotes_params_yaml_as_it_is():
    """The README's excerpt of params.yaml is the file's own lines."""
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    params = (ROOT / "params.yaml").read_text().splitlines()
    for line in block.splitlines():
        assert line in params, line


# Every command of the README's Quick start, and the file that runs it as written (with the
# marker that shows it): a Quick start command the project never runs fails the test below.
QUICKSTART = {
    "make setup": (".ci/run", "make test"),  # `test` depends on `setup`
    "source .venv/bin/activate": None,  # the shell's; every test puts .venv/bin first on PATH
    "dvc exp run -S 'datasets=[digits]'": (
        "tests/conftest.py",
        "QUICKSTART_DIGITS = \"dvc exp run -S 'datasets=[digits]'\"",
    ),
    "dvc repro": ("tests/test_e2e_dvc.py", '"dvc", "repro"'),
    # the same Dockerfile, with a stand-in base where Docker Hub is unreachable (docs/docker.md)
    "docker build -t actbench .": ("tools/docker_check.sh", "-t actbench"),
    'docker run --rm --user "$(id -u):$(id -g)" -v "$PWD":/workspace actbench dvc exp run -S '
    "'datasets=[digits]' -S train.deterministic=true": (
        "tools/docker_check.sh",
        "README's --user line, as written",
    ),
}


def quickstart_commands(readme: str) -> list[str]:
    """The command lines of the README's Quick start code blocks, comments dropped."""
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [
        line.split("  #")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip()
    ]


def test_every_quick_start_command_is_one_the_project_runs():
    commands = quickstart_commands((ROOT / "README.md").read_text())
    assert commands and set(commands) == set(QUICKSTART), set(commands) ^ set(QUICKSTART)
    for command, where in QUICKSTART.items():
        if where is not None:
            path, marker = where
            assert marker in (ROOT / path).read_text(), (command, path)
