"""What every stage script shares: one-line user errors, a clean exit, no stale temp files."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable

from actbench.errors import ActbenchError
from actbench.io import clean_staging

# A file each stage appends two lines to when this is set (the Ray driver, actbench.cluster, sets
# it): {"stage": $DVC_STAGE, "status": null} as it starts, {"stage": ..., "status": N} with its
# exit status N as it ends. DVC_STAGE is DVC's documented variable (https://dvc.org/doc/user-guide/env,
# DVC >= 3.49): the name of the stage whose command runs, `train@relu-digits-0`.
STAGE_LOG = "ACTBENCH_STAGE_LOG"

# Write failures a user fixes (disk full, quota, file-size limit, read-only, permissions).
WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full; free some space",
    errno.EDQUOT: "the disk quota is exhausted; free some space",
    errno.EFBIG: "the file is larger than this process may write (see `ulimit -f`)",
    errno.EROFS: "the file system is read-only; run from a writable copy",
    errno.EACCES: "permission denied; fix the permissions",
    errno.EPERM: "operation not permitted; fix the permissions",
}


# SQLite's words for the same failures, in DVC's state database (opened by dvclive).
SQLITE_WRITE_ERRORS = (
    "disk I/O error",
    "database or disk is full",
    "readonly database",
    "unable to open database",
)


def _write_error(err: BaseException) -> str | None:
    """One line for a write failure anywhere in ``err``'s chain, else None."""
    import sqlite3

    while err is not None:
        if isinstance(err, OSError) and err.errno in WRITE_ERRORS:
            where = err.filename or "a file"
            return f"cannot write {where}: {err.strerror}; {WRITE_ERRORS[err.errno]}"
        if isinstance(err, sqlite3.OperationalError) and any(
            m in str(err) for m in SQLITE_WRITE_ERRORS
        ):
            return (f"cannot write DVC's state database in .dvc/tmp ({err}): the disk may be full, "
                    "a file-size limit reached (`ulimit -f`) or the folder read-only; free space or fix it")  # fmt: skip
        err = err.__cause__ or err.__context__
    return None


def log_stage(status: int | None) -> None:
    """Append this stage's line to ``$ACTBENCH_STAGE_LOG``, if set (``STAGE_LOG``)."""
    path = os.environ.get(STAGE_LOG)
    if path:  # a log that cannot be written (a full disk) must not hide the stage's own error
        with contextlib.suppress(OSError), open(path, "a") as fh:
            fh.write(
                json.dumps({"stage": os.environ.get("DVC_STAGE", ""), "status": status}) + "\n"
            )


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user error becomes one line on stderr and exit status 2. The
    start and the exit status go to the stage log (``log_stage``) when one is asked for; a stage
    killed by a signal logs its start only."""
    log_stage(None)
    status = 1  # an exception that escapes (a bug): Python prints its traceback and exits with 1
    try:
        status = _run(main, os.path.basename(sys.argv[0]))
    except SystemExit as done:  # sys.exit() in main, argparse's usage errors
        status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
        raise
    finally:
        log_stage(status)
    if status:
        sys.exit(status)


def _run(main: Callable[[], None], stage: str) -> int:
    """``main``'s exit status: 0, 2 for a user error, 130 for Ctrl-C; a bug raises."""
    try:
        clean_staging()
        main()
    except ActbenchError as err:
        print(f"actbench: {stage}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"actbench: {stage}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        line = _write_error(err)
        if line is None:
            raise  # a bug: keep the traceback
        print(f"actbench: {stage}: error: {line}", file=sys.stderr)
        return 2
    return 0
