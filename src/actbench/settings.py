"""Machine settings: what differs between machines but never changes a result.

They are not params: DVC does not track them, so setting them reruns nothing. Each is read from
an environment variable, else from ``actbench.local.yaml`` at the repository root (git-ignored,
in the spirit of DVC's ``.dvc/config.local``):

    mirror: /datasets/official   # ACTBENCH_MIRROR: a directory or http(s)/file:// base URL
                                 # holding the official dataset files under their own names

The published checksums guarantee the same bytes whichever source is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from actbench.errors import ActbenchError

LOCAL_FILE = Path("actbench.local.yaml")
KEYS = {"mirror": "ACTBENCH_MIRROR"}


def get(key: str) -> str:
    """The setting ``key``: its environment variable, else the local file, else ``""``."""
    env = os.environ.get(KEYS[key])
    if env is not None:
        return env
    if not LOCAL_FILE.is_file():
        return ""
    from actbench.params import read_yaml

    local = read_yaml(LOCAL_FILE) or {}
    if not isinstance(local, dict) or set(local) - set(KEYS):
        raise ActbenchError(
            f"{LOCAL_FILE}: expected a mapping with keys {', '.join(KEYS)}, found {local!r}"
        )
    value = local.get(key) or ""
    if not isinstance(value, str):
        raise ActbenchError(f"{LOCAL_FILE}: {key} = {value!r} is not valid; expected a string")
    return value
