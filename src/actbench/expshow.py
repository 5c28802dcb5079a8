"""``python -m actbench exp``: `dvc exp show`, cut to what a terminal can show.

`dvc exp show` prints every param, every dependency and every metric: about 150 columns on
`digits`, each one an ellipsis in a 120-column terminal. This command runs ``dvc exp show
--csv`` (passing on its own arguments, e.g. ``-A`` or ``-n 5``) and prints per experiment the
candidate, and per dataset its mean test accuracy and, per baseline, the mean difference in
points and the verdict. Datasets that do not fit the terminal's width side by side get a block
each. The full table stays one command away: ``dvc exp show``.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys

VERDICTS = {"better": "better", "worse": "worse", "equivalent": "equiv.",
            "inconclusive": "incon.", "too few seeds": "few"}  # fmt: skip
GAP = "  "


def _rows(args: list[str]) -> list[dict[str, str]]:
    res = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--csv", *args], capture_output=True, text=True
    )
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit(res.returncode)
    return list(csv.DictReader(io.StringIO(res.stdout)))


def _label(row: dict[str, str]) -> str:
    name, rev = row.get("Experiment", ""), row.get("rev", "")
    if row.get("typ", "").startswith("branch"):
        return f"  {rev} [{name}]" if name else f"  {rev}"
    return rev or name


def _number(value: str, fmt: str) -> str:
    """A fraction DVC printed, in percent; ``-`` for what DVC leaves empty or marks ``!``."""
    try:
        return fmt.format(100 * float(value))
    except ValueError:
        return "-"


def _cell(row: dict[str, str], dataset: str, baseline: str) -> str:
    diff, verdict = (
        row.get(f"{dataset}.{baseline}.diff", ""),
        row.get(f"{dataset}.{baseline}.verdict", ""),
    )
    if verdict in ("", "!"):  # no such baseline in that experiment, or no metrics at all
        return "-"
    points = _number(diff, "{:+.2f} ")
    return (points if points != "-" else "") + VERDICTS.get(verdict, verdict)


def _accuracy(row: dict[str, str], dataset: str) -> str:
    return _number(row.get(f"{dataset}.accuracy", ""), "{:.2f}")


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return GAP.join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return [fmt(header).rstrip(), *(fmt(r).rstrip() for r in body)]


def render(rows: list[dict[str, str]], width: int) -> str:
    """The compact table(s) of ``dvc exp show --csv`` rows, each line at most ``width`` wide
    where the columns allow it."""
    columns = list(rows[0]) if rows else []
    datasets = [m.group(1) for c in columns if (m := re.fullmatch(r"([^.]+)\.accuracy", c))]
    baselines = {d: [m.group(1) for c in columns if (m := re.fullmatch(rf"{re.escape(d)}\.([^.]+)\.verdict", c))]
                 for d in datasets}  # fmt: skip
    lead = [[_label(r), r.get("candidate", "").strip("!") or "-"] for r in rows]

    def block(names: list[str]) -> tuple[list[str], list[list[str]]]:
        header = ["experiment", "candidate"]
        body = [list(x) for x in lead]
        for d in names:
            header += [f"{d} acc"] + [f"vs {b}" for b in baselines[d]]
            for out, r in zip(body, rows, strict=True):
                out += [_accuracy(r, d)] + [_cell(r, d, b) for b in baselines[d]]
        return header, body

    if not datasets:
        return "\n".join(_table(["experiment", "candidate"], lead))
    together = _table(*block(datasets))
    if max(map(len, together)) <= width or len(datasets) == 1:
        return "\n".join(together)
    blocks = ["\n".join(_table(*block([d]))) for d in datasets]
    return "\n\n".join(blocks)


def main(args: list[str]) -> int:
    width = shutil.get_terminal_size((120, 24)).columns
    print(render(_rows(args), width))
    print(
        "\n<dataset> acc: the candidate's mean test accuracy (%); vs <baseline>: the mean difference"
    )
    print(
        "in points and the verdict (the report says what each could detect); every column: dvc exp show"
    )
    return 0
