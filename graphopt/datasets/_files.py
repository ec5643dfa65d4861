"""Finding dataset files: the data root, the manifest, and checksummed atomic downloads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["data_roots", "manifest", "dataset_entry", "dataset_file", "download",
           "DatasetNotFoundError", "read_member", "write_atomic"]

REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is in no data root and could not be downloaded."""


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


def dataset_file(name: str, path: str, root: str | os.PathLike | None = None,
                 download_missing: bool = True) -> Path:
    """Local path of one file of dataset ``name``, downloading it into the first root if absent."""
    entry = next((f for f in dataset_entry(name)["files"] if f["path"] == path), None)
    if entry is None:
        raise ValueError(f"dataset {name!r} has no file {path!r}")
    roots = data_roots(root)
    for r in roots:
        if (r / path).is_file():
            return r / path
    where = ", ".join(str(r) for r in roots)
    if not download_missing:
        raise DatasetNotFoundError(f"{path} of dataset {name!r} not found in {where}")
    if entry.get("sha256") is None:
        raise DatasetNotFoundError(
            f"{path} of dataset {name!r} not found in {where}, and it has no published checksum to "
            f"verify a download against ({entry.get('note', 'see datasets/manifest.json')}); "
            f"place the file there by hand from {entry['url']}")
    return download(entry["url"], roots[0] / path, entry["sha256"])


def download(url: str, dest: str | os.PathLike, sha256: str) -> Path:
    """Download ``url`` to ``dest`` through a temp file; rename only after the sha256 matches."""
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

    return write_atomic(dest, fetch)


def read_member(path: str | os.PathLike, member: str | None = None) -> bytes:
    """Bytes of ``path``, or of ``member`` inside it when ``path`` is a zip archive wrapping the data."""
    import zipfile

    path = Path(path)
    if member is None:
        return path.read_bytes()
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if member not in names:
            raise ValueError(f"{path} has no member {member!r}; it holds {names}")
        return z.read(member)


def write_atomic(dest: str | os.PathLike, write: Any, mode: str = "wb") -> Path:
    """Create ``dest`` by calling ``write(file)`` on a temp file in its folder, then renaming it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            write(f)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
