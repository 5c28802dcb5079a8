"""Check that the running environment holds exactly what a lock file pins.

    python tools/check_venv.py requirements/dev.lock

Every pinned distribution must be installed at its pinned version, and nothing else may be
installed but pip itself and the project (editable). Exits non-zero with the differences.
"""

import re
import sys
from importlib import metadata
from pathlib import Path

ALLOWED_EXTRA = {"pip", "actbench"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    lock = Path(sys.argv[1])
    pins = {
        canonical(n): v
        for n, v in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock.read_text(), re.M)
    }
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = [
        f"{n}=={installed.get(n, 'missing')} (lock: {v})"
        for n, v in pins.items()
        if installed.get(n) != v
    ]
    extra = sorted(set(installed) - set(pins) - ALLOWED_EXTRA)
    if wrong or extra:
        sys.exit(
            f"{sys.prefix} does not match {lock}: {'; '.join(wrong + [f'{e} is not in the lock' for e in extra])}"
        )
    print(f"{sys.prefix} matches {lock}: {len(pins)} pinned distributions")


if __name__ == "__main__":
    main()
