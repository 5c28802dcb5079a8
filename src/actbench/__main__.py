"""Command line: ``python -m actbench <command>``.

python -m actbench doctor        # what this environment trains with (backend, GPUs, precision)
python -m actbench activations   # the registered activations and their files
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
    sub.add_parser("activations", help="list the registered activations and their files")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from actbench import doctor

        doctor.main()
    elif args.command == "activations":
        from actbench import activations

        for name in activations.modules():
            aliases = [a for a, n in activations.aliases().items() if n == name]
            extra = f" (also: {', '.join(aliases)})" if aliases else ""
            print(f"{name:12} {activations.source(name)}{extra}")
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
