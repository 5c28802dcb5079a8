"""Every stage imports this first.

* It runs the ``src/`` next to this script: the code DVC hashed, not an installed copy. In a
  queued experiment's workspace or a mounted Docker volume, the stages then execute that
  workspace's own ``src/``, whatever ``actbench`` is installed.
* It turns off ``actbench``'s registration of every activation when Keras is imported: a stage
  imports, and DVC-depends on, only the activation it uses.
* On Linux, the stage dies with the process that started it (``dvc repro``): a killed DVC, or a
  killed Ray worker above it, leaves no training behind.
"""

import contextlib
import ctypes
import signal
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

import actbench  # noqa: E402

actbench.autoregister(False)

PR_SET_PDEATHSIG = 1
if sys.platform == "linux":
    with contextlib.suppress(OSError, AttributeError):  # no prctl here: nothing to do
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
