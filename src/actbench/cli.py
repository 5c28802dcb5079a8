"""What every stage script shares: one-line user errors and a clean exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from actbench.errors import ActbenchError


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user error becomes one line on stderr and exit status 2."""
    try:
        main()
    except ActbenchError as err:
        stage = os.path.basename(sys.argv[0])
        print(f"actbench: {stage}: error: {err}", file=sys.stderr)
        sys.exit(2)
