"""What every stage script shares: one-line user errors, a clean exit, no stale temp files."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

from actbench.errors import ActbenchError
from actbench.io import clean_staging

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


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user error becomes one line on stderr and exit status 2."""
    stage = os.path.basename(sys.argv[0])
    try:
        clean_staging()
        main()
    except ActbenchError as err:
        print(f"actbench: {stage}: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"actbench: {stage}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        line = _write_error(err)
        if line is None:
            raise  # a bug: keep the traceback
        print(f"actbench: {stage}: error: {line}", file=sys.stderr)
        sys.exit(2)
