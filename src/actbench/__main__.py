"""Command line: ``python -m actbench <command>``.

python -m actbench doctor        # what this environment trains with (backend, GPUs, precision)
python -m actbench activations   # the registered activations: kind, file, other names, references
python -m actbench exp           # `dvc exp show`, cut to the verdicts: fits a terminal
python -m actbench --help
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actbench",
        description="actbench: a reproducible DVC benchmark for activation functions. The "
        "pipeline itself runs with `dvc repro`; these commands inspect the environment.",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("doctor", help="what this environment will train with")
    sub.add_parser(
        "activations", help="list the registered activations: kind, file, other names, references"
    )
    exp = sub.add_parser(
        "exp", help="`dvc exp show`, cut to accuracy and verdicts (fits a terminal)"
    )
    exp.add_argument("dvc_args", nargs="*", help="passed on to `dvc exp show` (e.g. -A, -n 5)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["exp"] and not {"-h", "--help"} & set(argv[1:]):  # the rest is dvc's
        from actbench import expshow

        return expshow.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from actbench import doctor

        doctor.main()
    elif args.command == "activations":
        from actbench import activations

        for found in activations.catalog():  # one line per module, then its prior art, indented
            extra = f" (also: {', '.join(found.aliases)})" if found.aliases else ""
            print(f"{found.name:12} {found.kind or '?':9}{found.source}{extra}")
            for other in found.other_names:
                print(f"{'':12} known as: {other}")
            for ref in found.references:
                print(f"{'':12} reference: {ref}")
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
