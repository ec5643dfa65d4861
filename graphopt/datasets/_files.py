"""Finding dataset files: the data root, the manifest, checksummed atomic downloads and verification.

Every manifest file is checked against its published sha256 (md5 where only that is published) the
first time it is used. The result is remembered in a small ``.NAME.verified`` record beside the file,
keyed by its size and mtime, so later loads do not rehash; where that folder is read-only the record
goes to the per-user cache (``$XDG_CACHE_HOME/graphopt/verified``). A file that does not match raises
:class:`DatasetCorruptError` naming the file, both hashes and the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from .._io import write_atomic

__all__ = ["data_roots", "manifest", "dataset_entry", "dataset_file", "download", "fetch_dataset",
           "verify_file", "DatasetNotFoundError", "DatasetCorruptError", "read_member", "reading",
           "cache_dir", "write_atomic"]

REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is in no data root and could not be downloaded."""


class DatasetCorruptError(ValueError):
    """A dataset file on disk is not the published one: edited, truncated or unreadable."""


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """Names, file paths, canonical URLs, sizes and sha256 of every known dataset."""
    with open(Path(__file__).with_name("manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def dataset_entry(name: str) -> dict[str, Any]:
    """The manifest entry of dataset ``name``; ``ValueError`` listing the known names otherwise."""
    m = manifest()
    if name not in m:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(m))}")
    return m[name]


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Where files are looked for, in order: ``root`` if given, else ``$GRAPHOPT_DATA`` and the repo's ``datasets/``."""
    if root is not None:
        return [Path(root)]
    roots = []
    if os.environ.get("GRAPHOPT_DATA"):
        roots.append(Path(os.environ["GRAPHOPT_DATA"]))
    roots.append(REPO_DATASETS)
    return roots


def cache_dir() -> Path:
    """graphopt's per-user cache: ``$XDG_CACHE_HOME/graphopt``, else ``~/.cache/graphopt``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "graphopt"


def _file_entry(name: str, path: str) -> dict[str, Any]:
    entry = next((f for f in dataset_entry(name)["files"] if f["path"] == path), None)
    if entry is None:
        raise ValueError(f"dataset {name!r} has no file {path!r}")
    return entry


def dataset_file(name: str, path: str, root: str | os.PathLike | None = None,
                 download_missing: bool = True) -> Path:
    """Local path of one file of dataset ``name``, verified against the manifest.

    The file is looked for in each data root; when absent it is downloaded into the first one.
    A file on disk that does not match the manifest raises :class:`DatasetCorruptError`.
    """
    entry = _file_entry(name, path)
    roots = data_roots(root)
    for r in roots:
        if (r / path).is_file():
            return verify_file(name, r / path, entry)
    where = ", ".join(str(r) for r in roots)
    if not download_missing:
        raise DatasetNotFoundError(f"{path} of dataset {name!r} not found in {where}")
    return _download_entry(name, entry, roots[0], where)


def _download_entry(name: str, entry: dict[str, Any], root: Path, where: str) -> Path:
    if entry.get("sha256") is None:
        raise DatasetNotFoundError(
            f"{entry['path']} of dataset {name!r} not found in {where}, and it has no published "
            f"checksum to verify a download against ({entry.get('note', 'see datasets/manifest.json')}); "
            f"place the file there by hand from {entry['url']}")
    dest = root / entry["path"]
    out = download(entry["url"], dest, entry["sha256"])
    _remember(out, out.stat(), "sha256", entry["sha256"])  # just checked while downloading
    return out


def download(url: str, dest: str | os.PathLike, sha256: str) -> Path:
    """Download ``url`` to ``dest`` through a temp file; rename only after the sha256 matches.

    Missing folders of ``dest`` (inside a data root) are created, and removed again when the
    download fails: a failed download leaves nothing behind.
    """
    def fetch(out: Any) -> None:
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                while chunk := resp.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        except OSError as e:
            raise DatasetNotFoundError(f"could not download {url}: {e}") from e
        if h.hexdigest() != sha256:
            raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, "
                             f"got {h.hexdigest()}; the file was not saved")

    dest = Path(dest)
    created = []
    missing = dest.parent
    while not missing.exists():
        created.append(missing)
        missing = missing.parent
    try:
        for d in reversed(created):
            d.mkdir()
        return write_atomic(dest, fetch)
    except BaseException:
        for d in created:  # innermost first; only the folders made here, and only if empty
            try:
                d.rmdir()
            except OSError:
                pass
        raise


# ---------------------------------------------------------------------------- verification
def _expected_digest(entry: dict[str, Any]) -> tuple[str, str] | None:
    if entry.get("sha256"):
        return "sha256", entry["sha256"]
    if entry.get("md5"):  # a few large files publish only an md5
        return "md5", entry["md5"]
    return None


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _records(path: Path) -> tuple[Path, Path]:
    """Where ``path``'s verification record lives: beside it, else in the per-user cache."""
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return (path.with_name(f".{path.name}.verified"),
            cache_dir() / "verified" / f"{path.name}-{key}.verified")


def _record(path: Path, st: os.stat_result, algorithm: str, digest: str) -> dict[str, Any]:
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "algorithm": algorithm, "digest": digest}


def _is_verified(path: Path, st: os.stat_result, algorithm: str, digest: str) -> bool:
    want = _record(path, st, algorithm, digest)
    for rec in _records(path):
        try:
            if json.loads(rec.read_text(encoding="utf-8")) == want:
                return True
        except (OSError, ValueError):
            continue
    return False


def _writable(folder: Path) -> bool:
    # root passes os.access on every folder; a folder with no write bit at all was made read-only
    # on purpose (a shared data root), so it is left alone too.
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


def _remember(path: Path, st: os.stat_result, algorithm: str, digest: str) -> None:
    path = path.resolve()
    text = json.dumps(_record(path, st, algorithm, digest))
    beside, cached = _records(path)
    # GRAPHOPT_VERIFIED_IN_CACHE=1 keeps every record in the cache (the tests use it so that they
    # never write into a shared data root).
    if os.environ.get("GRAPHOPT_VERIFIED_IN_CACHE", "") in ("", "0") and _writable(path.parent):
        try:
            write_atomic(beside, lambda f: f.write(text), mode="w")
            return
        except OSError:  # e.g. a read-only mount, or permissions os.access did not see
            pass
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, lambda f: f.write(text), mode="w")
    except OSError:
        pass  # only a speed-up: the file was verified, the next load hashes it again


def verify_file(name: str, path: str | os.PathLike, entry: dict[str, Any] | None = None, *,
                force: bool = False) -> Path:
    """``path`` once it matches its manifest entry; :class:`DatasetCorruptError` otherwise.

    ``entry`` is the file's manifest entry (looked up by ``name`` and the path's last two parts
    when omitted). A file already verified at its current size and mtime is not hashed again,
    unless ``force``. Files with no published checksum are checked for their size only, if known.
    """
    path = Path(path)
    if entry is None:
        entry = _file_entry(name, "/".join(path.parts[-2:]))
    st = path.stat()
    size = entry.get("size")
    expected = _expected_digest(entry)
    if expected is None:
        if size is not None and st.st_size != size:
            raise DatasetCorruptError(
                f"{path} (dataset {name!r}) has {st.st_size} bytes, the published file {size}; "
                f"{_fix(name, path, entry)}")
        return path
    algorithm, digest = expected
    resolved = path.resolve()
    if not force and _is_verified(resolved, st, algorithm, digest):
        return path
    actual = _digest(path, algorithm)
    if actual != digest:
        sizes = (f"; it has {st.st_size} bytes, the published file {size}"
                 if size is not None and size != st.st_size else "")
        raise DatasetCorruptError(
            f"{path} (dataset {name!r}) is not the published file: expected {algorithm} {digest}, "
            f"got {actual}{sizes}; {_fix(name, path, entry)}")
    after = path.stat()
    if (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
        # unchanged while it was hashed (atime may have moved: reading it)
        _remember(resolved, st, algorithm, digest)
    return path


def _fix(name: str, path: Path, entry: dict[str, Any] | None = None) -> str:
    how = f"fetch it again with `graphopt data fetch {name}`"
    if entry is not None and entry.get("sha256") is None:
        how = f"download it again by hand from {entry['url']}"
    return f"delete {path} and {how}"


@contextmanager
def reading(path: str | os.PathLike, name: str | None = None) -> Iterator[None]:
    """Re-raise a truncated or garbled file's parse error as :class:`DatasetCorruptError` naming it."""
    try:
        yield
    except (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, zlib.error,
            gzip.BadGzipFile) as e:
        fix = _fix(name, Path(path)) if name else f"replace {path}"
        raise DatasetCorruptError(f"cannot read {path}: {type(e).__name__}: {e}; the file is "
                                  f"truncated or not the published one: {fix}") from e


def fetch_dataset(name: str, root: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Make every file of dataset ``name`` present and verified; ``(path, status)`` per file.

    A missing file is downloaded into the first data root; one that fails verification is
    downloaded again in its place (atomically, only once the new copy's sha256 matches).
    Status is ``"ok"``, ``"downloaded"`` or ``"replaced"``; a file that cannot be fetched raises.
    """
    report = []
    roots = data_roots(root)
    where = ", ".join(str(r) for r in roots)
    for entry in dataset_entry(name)["files"]:
        root = next((r for r in roots if (r / entry["path"]).is_file()), None)
        if root is None:
            report.append((_download_entry(name, entry, roots[0], where), "downloaded"))
            continue
        try:
            report.append((verify_file(name, root / entry["path"], entry, force=True), "ok"))
        except DatasetCorruptError as e:
            if entry.get("sha256") is None or not _writable((root / entry["path"]).parent):
                raise DatasetCorruptError(f"{e} (fetch cannot replace it: "
                                          f"{'no published sha256' if entry.get('sha256') is None else 'read-only folder'})") from None
            report.append((_download_entry(name, entry, root, where), "replaced"))
    return report


def read_member(path: str | os.PathLike, member: str | None = None) -> bytes:
    """Bytes of ``path``, or of ``member`` inside it when ``path`` is a zip archive wrapping the data."""
    path = Path(path)
    if member is None:
        return path.read_bytes()
    with reading(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if member not in names:
                raise ValueError(f"{path} has no member {member!r}; it holds {names}")
            return z.read(member)
