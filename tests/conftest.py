"""Shared fixtures: real Cora/CiteSeer from ../shared/datasets when present, small generated graphs otherwise."""

import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if "GRAPHOPT_DATA" not in os.environ and SHARED.is_dir():
    os.environ["GRAPHOPT_DATA"] = str(SHARED)
# Dataset verification records go to a throw-away per-user cache, never beside the (shared) data.
os.environ["GRAPHOPT_VERIFIED_IN_CACHE"] = "1"
_CACHE = tempfile.mkdtemp(prefix="graphopt-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

import torch  # noqa: E402

# Test models are tiny: one thread avoids oversubscription on small CI machines.
torch.set_num_threads(1)


def _shared_root() -> Path | None:
    root = Path(os.environ.get("GRAPHOPT_DATA", SHARED))
    return root if (root / "planetoid" / "ind.cora.x").is_file() else None


@pytest.fixture(scope="session")
def shared_root() -> Path:
    root = _shared_root()
    if root is None:
        pytest.skip("real datasets not found: set GRAPHOPT_DATA or place ../shared/datasets beside the repo")
    return root


@pytest.fixture(scope="session")
def cora(shared_root):
    from graphopt.datasets import load_planetoid

    return load_planetoid("cora", shared_root)


@pytest.fixture(scope="session")
def citeseer(shared_root):
    from graphopt.datasets import load_planetoid

    return load_planetoid("citeseer", shared_root)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def load_benchmark(name: str):
    """A script of benchmarks/ imported as a module (they are scripts, not a package)."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
