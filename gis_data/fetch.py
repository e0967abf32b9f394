"""Fill the data cache from a mirror folder or a mirror URL, verifying every checksum.

A failed fetch leaves no partial file: each file is written to a temporary name in the cache
folder, checked, then atomically renamed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gis_data.catalog import DATASETS, Dataset
from twin.errors import DataError


def default_cache_dir() -> Path:
    """Return the default data cache folder, ``~/.cache/langson-twin/data``.

    This package reads no environment: the service and the CLI pass the folder their settings name
    (``TWIN_DATA_DIR``, `api.settings.DataSettings`); this is only the fallback of library calls.
    """
    return Path.home() / ".cache" / "langson-twin" / "data"


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_cached(ds: Dataset, cache_dir: Path) -> bool:
    """Return whether `ds` is in the cache with the right checksum."""
    path = cache_dir / ds.filename
    return path.is_file() and sha256_of(path) == ds.sha256


def _install(ds: Dataset, cache_dir: Path, write: Callable[[Path], None], origin: str) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{ds.filename}.", suffix=".part", dir=cache_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        got = sha256_of(tmp)
        if got != ds.sha256:
            raise DataError(
                f"{ds.name}: checksum mismatch for {origin} (expected {ds.sha256[:12]}…, got {got[:12]}…)",
                hint="the mirror holds a different version; get the file that PROVENANCE.md names",
            )
        target = cache_dir / ds.filename
        tmp.replace(target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    *,
    cache_dir: Path | None = None,
    mirror: Path | None = None,
    base_url: str | None = None,
    names: list[str] | None = None,
    force: bool = False,
    progress: Callable[[Dataset, str], None] | None = None,
) -> dict[str, Path]:
    """Fetch datasets into `cache_dir` and return their paths by name.

    Parameters
    ----------
    cache_dir
        Destination; default `default_cache_dir()`.
    mirror
        A folder holding the prepared files (the CLI passes ``TWIN_DATA_MIRROR``, by default the
        team mirror ``../shared/data/langson`` when it exists).
    base_url
        A URL under which the prepared files are published (the CLI passes ``TWIN_DATA_URL``);
        used when no mirror folder is given.
    names
        Datasets to fetch (default all).
    force
        Fetch again even if the cached copy is valid.
    progress
        Called with (dataset, status) where status is "cached", "copied" or "downloaded".
    """
    cache = cache_dir or default_cache_dir()
    if mirror is not None and not mirror.is_dir():
        raise DataError(
            f"mirror folder {mirror} does not exist",
            hint="pass --from with a folder that holds the files listed by `twin data info`",
        )
    out: dict[str, Path] = {}
    for name in names or list(DATASETS):
        ds = DATASETS[name]
        if not force and is_cached(ds, cache):
            out[name] = cache / ds.filename
            if progress:
                progress(ds, "cached")
            continue
        if mirror is not None:
            src = mirror / ds.filename
            if not src.is_file():
                raise DataError(
                    f"{ds.name}: {ds.filename} is not in the mirror folder {mirror}",
                    hint="pass --from with a complete mirror folder",
                )

            def copy(p: Path, s: Path = src) -> None:
                shutil.copyfile(s, p)

            out[name] = _install(ds, cache, copy, str(src))
            status = "copied"
        elif base_url:
            url = f"{base_url.rstrip('/')}/{ds.filename}"
            if not url.startswith(("https://", "http://", "file://")):
                raise DataError(f"unsupported URL scheme in {url}", hint="use an https:// URL")

            def download(p: Path, u: str = url, ds: Dataset = ds) -> None:
                try:
                    with urllib.request.urlopen(u, timeout=60) as r, p.open("wb") as f:  # noqa: S310
                        shutil.copyfileobj(r, f)
                except OSError as e:
                    raise DataError(
                        f"{ds.name}: download of {u} failed: {e}",
                        hint="check the network, or pass --from DIR with a mirror folder",
                    ) from e

            out[name] = _install(ds, cache, download, url)
            status = "downloaded"
        else:
            raise DataError(
                f"{ds.name} is not in the data cache {cache} and no source is available",
                hint="run `twin data fetch --from DIR` with the mirror folder (e.g. "
                "../shared/data/langson) or set TWIN_DATA_URL to a published mirror",
            )
        if progress:
            progress(ds, status)
    return out


def path_of(name: str, cache_dir: Path | None = None) -> Path:
    """Return the cached path of dataset `name`, or raise `DataError` saying how to fetch it."""
    cache = cache_dir or default_cache_dir()
    ds = DATASETS[name]
    path = cache / ds.filename
    if not path.is_file():
        raise DataError(
            f"dataset {name} ({ds.filename}) is not in the data cache {cache}",
            hint="run `twin data fetch` first",
        )
    return path
