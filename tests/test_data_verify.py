"""Dataset verification: files on disk are checked against the manifest's sha256 on first use,
remembered by size and mtime, and truncated or edited files are refused naming the file and the fix.

Every test works on copies in tmp_path: nothing is ever written beside the shared data.
"""

import json
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from graphopt import datasets as ds
from graphopt.cli import main
from graphopt.datasets import _files

CORA = [f"ind.cora.{ext}" for ext in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")]


@pytest.fixture
def cora_copy(shared_root, tmp_path, monkeypatch):
    """A data root in tmp_path holding Cora; verification records may be written beside it."""
    root = tmp_path / "data"
    (root / "planetoid").mkdir(parents=True)
    for f in CORA:
        shutil.copy(shared_root / "planetoid" / f, root / "planetoid" / f)
    monkeypatch.delenv("GRAPHOPT_VERIFIED_IN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


@pytest.fixture
def digests(monkeypatch):
    """The files hashed, in order (every full-file hash goes through _files._digest)."""
    seen = []
    real = _files._digest

    def counting(path, algorithm):
        seen.append(Path(path).name)
        return real(path, algorithm)

    monkeypatch.setattr(_files, "_digest", counting)
    return seen


def _sha(name):
    return next(f["sha256"] for f in ds.dataset_entry("cora")["files"] if f["path"].endswith(name))


def test_cut_test_index_is_refused_naming_file_hashes_and_fix(cora_copy):
    index = cora_copy / "planetoid" / "ind.cora.test.index"
    data = index.read_bytes()
    index.write_bytes(data[: len(data) // 2 + 2])  # mid-line: today this loaded 501 test nodes
    with pytest.raises(ds.DatasetCorruptError) as e:
        ds.load_planetoid("cora", cora_copy)
    msg = str(e.value)
    assert str(index) in msg and _sha("test.index") in msg
    assert _files._digest(index, "sha256") in msg
    assert "graphopt data fetch cora" in msg and "delete" in msg
    assert "bytes" in msg  # the size differs from the published one: say so
    assert isinstance(e.value, ValueError)


def test_edited_test_index_is_refused(cora_copy):
    index = cora_copy / "planetoid" / "ind.cora.test.index"
    lines = index.read_text().splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]  # same size, another split
    index.write_text("".join(lines))
    with pytest.raises(ds.DatasetCorruptError, match="ind.cora.test.index"):
        ds.load("cora", cora_copy)


def test_second_load_does_not_rehash(cora_copy, digests):
    g = ds.load_planetoid("cora", cora_copy)
    assert int(g.test_mask.sum()) == 1000
    assert sorted(digests) == sorted(CORA)
    for f in CORA:  # remembered beside each file, keyed by size and mtime
        rec = json.loads((cora_copy / "planetoid" / f".{f}.verified").read_text())
        st = (cora_copy / "planetoid" / f).stat()
        assert (rec["size"], rec["mtime_ns"], rec["digest"]) == (st.st_size, st.st_mtime_ns, _sha(f))
    digests.clear()
    ds.load_planetoid("cora", cora_copy)
    assert digests == []
    # touching a file (new mtime) makes it be hashed again, and only it
    y = cora_copy / "planetoid" / "ind.cora.y"
    os.utime(y, ns=(y.stat().st_atime_ns, y.stat().st_mtime_ns + 10**9))
    ds.load_planetoid("cora", cora_copy)
    assert digests == ["ind.cora.y"]


def test_record_of_another_file_is_not_trusted(cora_copy, digests):
    ds.load_planetoid("cora", cora_copy)
    x = cora_copy / "planetoid" / "ind.cora.x"
    st = x.stat()
    x.write_bytes(b"\0" * st.st_size)  # same size, mtime put back: the record still matches...
    os.utime(x, ns=(st.st_atime_ns, st.st_mtime_ns))
    digests.clear()
    # ...so it is not rehashed (the key is size + mtime, by design); parsing still names the file
    with pytest.raises(ds.DatasetCorruptError, match="cannot read .*ind.cora.x.*truncated"):
        ds.load_planetoid("cora", cora_copy)
    assert digests == []
    # but a record copied along with the file (another path) is not trusted
    other = cora_copy.parent / "other"
    shutil.copytree(cora_copy, other)
    with pytest.raises(ds.DatasetCorruptError, match="ind.cora.x .*is not the published file"):
        ds.load_planetoid("cora", other)
    assert digests == ["ind.cora.x"]


def _beside(root):
    return sorted(p.name for p in (root / "planetoid").glob(".*.verified"))


def _cached(tmp_path):
    return sorted((tmp_path / "cache" / "graphopt" / "verified").glob("*.verified"))


def test_read_only_folder_records_go_to_user_cache(cora_copy, tmp_path, monkeypatch, digests):
    folder = cora_copy / "planetoid"
    folder.chmod(0o555)  # no write bit: left alone even by root, who passes os.access
    try:
        ds.load_planetoid("cora", cora_copy)
        assert _beside(cora_copy) == [] and len(_cached(tmp_path)) == len(CORA)
        digests.clear()
        ds.load_planetoid("cora", cora_copy)
        assert digests == []
    finally:
        folder.chmod(0o755)


def test_os_access_and_write_errors_fall_back_to_cache(cora_copy, tmp_path, monkeypatch, digests):
    real_access = os.access
    with monkeypatch.context() as m:
        m.setattr(_files.os, "access", lambda p, mode: False if Path(p) == cora_copy / "planetoid"
                  else real_access(p, mode))
        ds.load_planetoid("cora", cora_copy)
    assert _beside(cora_copy) == [] and len(_cached(tmp_path)) == len(CORA)

    # a folder that looks writable but refuses the write (read-only mount, ACLs)
    shutil.rmtree(tmp_path / "cache")
    real_write = _files.write_atomic

    def refuse_beside(dest, write, mode="wb"):
        if Path(dest).parent == cora_copy / "planetoid":
            raise PermissionError(13, "Permission denied", str(dest))
        return real_write(dest, write, mode)

    monkeypatch.setattr(_files, "write_atomic", refuse_beside)
    digests.clear()
    ds.load_planetoid("cora", cora_copy)
    assert len(digests) == len(CORA)  # the old cache records were deleted
    assert _beside(cora_copy) == [] and len(_cached(tmp_path)) == len(CORA)
    assert not [p for p in (cora_copy / "planetoid").iterdir() if p.name.endswith(".tmp")]


def test_env_var_keeps_records_out_of_data_folders(cora_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHOPT_VERIFIED_IN_CACHE", "1")
    ds.load_planetoid("cora", cora_copy)
    assert _beside(cora_copy) == [] and len(_cached(tmp_path)) == len(CORA)


def _no_checksum(monkeypatch, name, path):
    """The manifest with ``path`` of ``name`` unpublished (as PubMed allx is): only parsing can tell."""
    m = json.loads(json.dumps(_files.manifest()))
    entry = next(f for f in m[name]["files"] if f["path"] == path)
    entry.update(sha256=None, size=None)
    monkeypatch.setattr(_files, "manifest", lambda: m)


def test_truncated_pickle_names_the_file(cora_copy, monkeypatch):
    _no_checksum(monkeypatch, "cora", "planetoid/ind.cora.x")
    x = cora_copy / "planetoid" / "ind.cora.x"
    x.write_bytes(x.read_bytes()[:1000])
    with pytest.raises(ds.DatasetCorruptError) as e:
        ds.load_planetoid("cora", cora_copy)
    assert str(x) in str(e.value) and "truncated" in str(e.value)
    assert isinstance(e.value.__cause__, (EOFError, __import__("pickle").UnpicklingError))


def test_truncated_npz_and_zip_name_the_file(shared_root, tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "gnn_benchmark").mkdir(parents=True)
    for name, f in (("cora-npz", "cora.npz"), ("amazon-photo", "amazon-photo.zip")):
        _no_checksum(monkeypatch, name, f"gnn_benchmark/{f}")
        data = (shared_root / "gnn_benchmark" / f).read_bytes()
        (root / "gnn_benchmark" / f).write_bytes(data[: len(data) // 2])
        with pytest.raises(ds.DatasetCorruptError, match=f"gnn_benchmark/{f}.*truncated"):
            ds.load(name, root)


def test_cli_verify_and_fetch(cora_copy, shared_root, capsys, monkeypatch):
    assert main(["data", "verify", "cora", "--root", str(cora_copy)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == len(CORA) and "0 corrupt, 0 missing" in out

    index = cora_copy / "planetoid" / "ind.cora.test.index"
    index.write_bytes(index.read_bytes()[:2500])
    (cora_copy / "planetoid" / "ind.cora.y").unlink()
    assert main(["data", "verify", "cora", "--root", str(cora_copy)]) == 1
    out = capsys.readouterr().out
    assert "CORRUPT" in out and str(index) in out and "1 corrupt, 1 missing" in out

    # fetch downloads the missing file and replaces the corrupt one (served here from the shared copy)
    def serve(url, timeout=None):
        return open(shared_root / "planetoid" / url.rsplit("/", 1)[1], "rb")

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    assert main(["data", "fetch", "cora", "--root", str(cora_copy)]) == 0
    out = capsys.readouterr().out
    assert "replaced" in out and "downloaded" in out and out.count("ok ") == len(CORA) - 2
    assert index.read_bytes() == (shared_root / "planetoid" / "ind.cora.test.index").read_bytes()
    assert int(ds.load_planetoid("cora", cora_copy).test_mask.sum()) == 1000

    assert main(["data", "verify", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_verify_checks_md5_and_size_when_no_sha256(tmp_path, monkeypatch):
    payload = b"images" * 100
    m = {"toy": {"format": "idx", "files": [
        {"path": "toy/a.gz", "url": "https://example.invalid/a.gz", "sha256": None,
         "size": len(payload), "md5": __import__("hashlib").md5(payload).hexdigest()},
        {"path": "toy/b.gz", "url": "https://example.invalid/b.gz", "sha256": None,
         "size": 10}]}}
    monkeypatch.setattr(_files, "manifest", lambda: m)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.gz").write_bytes(payload)
    (tmp_path / "toy" / "b.gz").write_bytes(b"x" * 10)
    assert ds.dataset_file("toy", "toy/a.gz", tmp_path) == tmp_path / "toy" / "a.gz"
    assert ds.dataset_file("toy", "toy/b.gz", tmp_path) == tmp_path / "toy" / "b.gz"
    (tmp_path / "toy" / "a.gz").write_bytes(payload[:-1])
    with pytest.raises(ds.DatasetCorruptError, match="expected md5"):
        ds.dataset_file("toy", "toy/a.gz", tmp_path)
    (tmp_path / "toy" / "b.gz").write_bytes(b"x" * 9)
    with pytest.raises(ds.DatasetCorruptError, match="9 bytes, the published file 10.*example.invalid"):
        ds.dataset_file("toy", "toy/b.gz", tmp_path)


def test_truncated_graphsage_files_name_the_file(tmp_path):
    from graphopt.datasets import contextual_sbm, load_graphsage, save_graphsage

    g = contextual_sbm(60, 3, 6.0, 5, seed=0)
    prefix = save_graphsage(g, tmp_path, "toy")
    feats = Path(f"{prefix}-feats.npy")
    feats.write_bytes(feats.read_bytes()[:300])
    with pytest.raises(ds.DatasetCorruptError, match="toy-feats.npy"):
        load_graphsage(prefix)
    gj = Path(f"{prefix}-G.json")
    gj.write_text(gj.read_text()[:100])
    with pytest.raises(ds.DatasetCorruptError, match="toy-G.json.*not valid JSON"):
        load_graphsage(prefix)
