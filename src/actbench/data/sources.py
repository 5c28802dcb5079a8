"""Download: fetch a built-in dataset's official files and check them by MD5 and SHA-256.

Files are fetched into a staging folder outside every tracked directory
(``.dvc/tmp/actbench/download-<dataset>``), checked, and only then moved into the stage's
output folder, so an interrupted or corrupt download leaves nothing DVC would hash. A staging
folder left by a killed download is removed when the next one starts.

Where the bytes come from is a machine setting, not a param: ``ACTBENCH_MIRROR`` or ``mirror:``
in ``actbench.local.yaml`` (see ``actbench.settings``). The checksums make every source
equivalent.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from actbench.data.catalog import BUILTIN, RemoteFile
from actbench.errors import ActbenchError
from actbench.io import STAGING, digests

DOWNLOAD_TIMEOUT_S = 60  # per socket operation; a dead network fails fast instead of hanging


def check(path: Path, remote: RemoteFile, origin: str) -> dict[str, str]:
    """Compare ``path`` with the published MD5 and SHA-256; return both on a match."""
    got = digests(path, "md5", "sha256")
    if got == {"md5": remote.md5, "sha256": remote.sha256}:
        return got
    raise ActbenchError(
        f"checksum mismatch for {remote.name} from {origin}: expected md5 {remote.md5} and "
        f"sha256 {remote.sha256}, got md5 {got['md5']} and sha256 {got['sha256']} "
        f"({path.stat().st_size} bytes, the official file has {remote.size}); the file is "
        "corrupt or not the official one: delete it from the mirror and fetch it again, or "
        "point ACTBENCH_MIRROR at a good copy"
    )


def _candidates(urls: tuple[str, ...], mirror: str) -> list[str]:
    """Base locations to try: the mirror alone when set, else the official URLs."""
    if not mirror:
        return list(urls)
    return [mirror if mirror.endswith("/") else mirror + "/"]


def _fetch_one(base: str, name: str, dest: Path) -> str:
    """Copy ``base + name`` to ``dest`` (a local directory, or an http(s)/file:// URL);
    return where it came from."""
    if "://" not in base:
        src = Path(base) / name
        if not src.is_file():
            raise ActbenchError(f"mirror directory {base!r} has no file {name!r}")
        shutil.copyfile(src, dest)
        return str(src)
    url = urllib.parse.urljoin(base, name)
    print(f"fetching {url}", flush=True)
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            dest.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise ActbenchError(f"could not fetch {url}: {reason}") from None
    return url


def staging_for(dataset: str) -> Path:
    """A fresh staging folder for ``dataset``'s download; a killed run's leftover is removed."""
    if STAGING.parent.is_dir():
        staging = STAGING / f"download-{dataset}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging
    return Path(tempfile.mkdtemp(prefix=f"actbench-download-{dataset}-"))


def download(dataset: str, out_dir: Path, mirror: str = "") -> dict[str, dict[str, str]]:
    """Fetch the official files of ``dataset`` into ``out_dir``; return their digests.

    Every file is checked against its published MD5 and SHA-256 before anything is moved into
    ``out_dir``; nothing partial is ever left there.
    """
    source = BUILTIN[dataset]
    staging = staging_for(dataset)
    try:
        checksums = {}
        for remote in source.files:
            tmp = staging / remote.name
            errors = []
            for base in _candidates(source.urls, mirror):
                try:
                    origin = _fetch_one(base, remote.name, tmp)
                    break
                except ActbenchError as err:
                    errors.append(str(err))
            else:
                hint = (
                    "check ACTBENCH_MIRROR (or mirror: in actbench.local.yaml)"
                    if mirror
                    else "the network may be unreachable; put the official files in a directory "
                    "and set ACTBENCH_MIRROR=/that/dir (or a http(s)/file:// base URL)"
                )
                raise ActbenchError(f"download of {dataset} failed: {errors[-1]}; {hint}")
            checksums[remote.name] = check(tmp, remote, origin)
        out_dir.mkdir(parents=True, exist_ok=True)
        for remote in source.files:
            shutil.move(staging / remote.name, out_dir / remote.name)
        return checksums
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify(path: Path, remote: RemoteFile) -> dict[str, str]:
    """Check a downloaded file again before anything parses it."""
    if not path.is_file():
        raise ActbenchError(f"{path} is missing; run the download stage (`dvc repro`)")
    try:
        return check(path, remote, str(path.parent))
    except ActbenchError:
        raise ActbenchError(
            f"{path} no longer matches its published checksums; delete it and run `dvc repro` "
            "to download it again"
        ) from None
