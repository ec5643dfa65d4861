"""Device placement, mixed precision and warnings of graphopt.augment (issue 10 item 1, issue 13 item 7).

The CPU is the only device these tests can count on, so "nothing is created on a fixed device" is
checked by making torch's default device ``meta`` while training and predicting with
``device="cpu"``: any tensor created without an explicit device would land on ``meta`` and the run
would fail or return meta tensors. CUDA itself is exercised by ``benchmarks/bench_lagnn_device.py``.
"""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.nn import GCN

from graphopt import Partition
from graphopt.augment import (LAGAT, LAGCN, LAGCNII, LAClassifier, LocalAugmentation, NeighborCVAE,
                              resolve_device)

from test_augment import sbm_graph

HAS_CUDA = torch.cuda.is_available()
# a device this machine lacks: plain "cuda" on a CPU-only machine, an out-of-range index otherwise
MISSING = "cuda:99" if HAS_CUDA else "cuda"
MISSING_MSG = "only" if HAS_CUDA else "no cuda device"


@pytest.fixture(scope="module")
def small():
    return sbm_graph()


@contextmanager
def default_device(device):
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(None)


def cvae(**kw):
    return NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, progress=False, **kw)


def _devices(module):
    return {p.device for p in module.parameters()} | {b.device for b in module.buffers()}


# ---------------------------------------------------------------- device names
def test_resolve_device_names_and_errors():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    if HAS_CUDA:
        assert resolve_device("cuda").index is not None  # an index, so it compares equal to a tensor's device
    with pytest.raises(ValueError, match=MISSING_MSG):
        resolve_device(MISSING)
    with pytest.raises(ValueError, match="'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(TypeError, match="device must be"):
        resolve_device(3)


def test_a_missing_device_is_a_clear_error_everywhere(small, tmp_path):
    with pytest.raises(ValueError, match=MISSING_MSG):
        cvae(device=MISSING)
    with pytest.raises(ValueError, match=MISSING_MSG):
        LAClassifier(LAGCN(small.num_features, 16, 3, num_generated=0), device=MISSING)
    with pytest.raises(ValueError, match=MISSING_MSG):
        LAGCN(small.num_features, 16, 3, device=MISSING)
    with pytest.raises(ValueError, match=MISSING_MSG):
        LocalAugmentation(GCN(small.num_features, 16, 2, 3), device=MISSING)
    path = tmp_path / "cvae.pt"
    cvae().fit(small).save(path)
    with pytest.raises(ValueError, match=MISSING_MSG):
        NeighborCVAE.load(path, device=MISSING)
    with pytest.raises(ValueError, match="amp must be"):
        cvae(amp="int8")
    with pytest.raises(ValueError, match="amp must be"):
        LAClassifier(LAGCN(small.num_features, 16, 3, num_generated=0), amp="fp8")


# ---------------------------------------------------------------- device honoured end to end
def test_cpu_is_honoured_end_to_end_with_nothing_on_the_default_device(small, tmp_path):
    part = Partition.random(small, 4, seed=0)
    sparse = small.replace(x=sp.csr_matrix(small.x))
    models = [LAGCN(small.num_features, 16, 3), LAGAT(small.num_features, 4, 3, heads=2),
              LAGCNII(small.num_features, 16, 3, num_layers=2),
              LocalAugmentation(GCN(small.num_features, 16, 2, 3))]
    path = tmp_path / "cvae.pt"
    with default_device("meta"):
        gen = cvae(device="cpu").fit(small)
        assert _devices(gen.net_) == {torch.device("cpu")}
        gen.save(path)
        loaded = NeighborCVAE.load(path, progress=False, device="cpu")
        assert _devices(loaded.net_) == {torch.device("cpu")}
        assert loaded.sample(small, 1)[0].device.type == "cpu"
        torch.testing.assert_close(loaded.sample(small, 1, seed=2)[0], gen.sample(small, 1, seed=2)[0])
        clustered = cvae(device="cpu").fit(small, part, 2)
        assert clustered.history_[-1]["pairs"] > 0
        bald = NeighborCVAE(epochs=2, hidden_size=16, latent_size=2, selection="bald", selection_warmup=2,
                            selection_every=2, selection_passes=2, progress=False, device="cpu").fit(small)
        assert bald.selection_score_ is not None
        for model in models:
            for g in (small, sparse):
                clf = LAClassifier(model, gen, epochs=2, num_samples=2, pool_size=2, progress=False,
                                   device="cpu").fit(g)
                assert _devices(clf.model_) == {torch.device("cpu")}
                assert clf.predict_proba().device.type == "cpu"
                assert all(x.device.type == "cpu" for x in clf.generated_)
                assert 0 <= clf.score() <= 1
            clf = LAClassifier(model, gen, epochs=2, num_samples=2, progress=False, device="cpu").fit(small, part, 2)
            assert clf.predict_proba().device.type == "cpu"
            assert clf.predict(small).shape == (small.num_nodes,)


def test_models_take_a_device_and_wrapped_branches_follow_the_layer(small):
    assert _devices(LAGCN(small.num_features, 16, 3, device="cpu")) == {torch.device("cpu")}
    assert _devices(LAGCNII(small.num_features, 16, 3, num_layers=2, device="cpu")) == {torch.device("cpu")}
    # branches are built like the layer they replace: a float64 model gets float64 branches
    wrapped = LocalAugmentation(GCN(small.num_features, 16, 2, 3).double())
    assert {p.dtype for p in wrapped.parameters()} == {torch.float64}


def test_wrapped_pyg_model_trains_through_the_classifier(small):
    # PyG's GCN resets its own first layer, which LocalAugmentation has replaced by its branches
    gen = cvae().fit(small)
    clf = LAClassifier(LocalAugmentation(GCN(small.num_features, 16, 2, 3)), gen, epochs=80, num_samples=2,
                       pool_size=2, progress=False).fit(small)
    assert clf.score() > 0.8


# ---------------------------------------------------------------- mixed precision
def test_bf16_autocast_trains_like_float32(small):
    full = cvae().fit(small)
    half = cvae(amp="bf16").fit(small)
    a, b = full.history_[-1]["loss"], half.history_[-1]["loss"]
    assert a != b and abs(a - b) < 0.05 * a  # autocast is on, and changes the loss only by rounding
    assert half.sample(small, 1)[0].dtype == torch.float32
    for model in (LAGCN(small.num_features, 16, 3), LAGCNII(small.num_features, 16, 3, num_layers=4)):
        accs = []
        for amp in (None, "bf16"):
            clf = LAClassifier(model, full, epochs=100, num_samples=2, pool_size=2, progress=False, amp=amp)
            accs.append(clf.fit(small.replace(x=sp.csr_matrix(small.x))).score())
            assert np.isfinite(clf.history_[-1]["val_loss"])
        assert accs[1] > 0.8 and abs(accs[0] - accs[1]) < 0.1


def test_fp16_uses_a_gradient_scaler(small):
    gen = cvae(amp="fp16").fit(small)
    assert np.isfinite(gen.history_[-1]["loss"])
    clf = LAClassifier(LAGCN(small.num_features, 16, 3), gen, epochs=60, num_samples=2, pool_size=2,
                       progress=False, amp="fp16").fit(small)
    assert clf.score() > 0.8


# ---------------------------------------------------------------- warnings and CLI
_LA_RUN = """
import sys, warnings
sys.path.insert(0, {tests!r})
warnings.simplefilter("always")
import scipy.sparse as sp
from graphopt import Partition
from graphopt.augment import LAGCN, LAGCNII, LAClassifier, NeighborCVAE
from test_augment import sbm_graph
g = sbm_graph()
g = g.replace(x=sp.csr_matrix(g.x))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cvae = NeighborCVAE(epochs=1, hidden_size=16, latent_size=2, progress=False).fit(g)
    for model in (LAGCN(g.num_features, 16, 3), LAGCNII(g.num_features, 16, 3, num_layers=2)):
        LAClassifier(model, cvae, epochs=2, num_samples=2, progress=False).fit(g)
        LAClassifier(model, cvae, epochs=2, num_samples=2, progress=False).fit(g, Partition.random(g, 3), 1)
print("WARNINGS:", [str(w.message)[:80] for w in caught])
"""


def test_no_sparse_invariant_warning_on_an_la_run():
    # torch warns once per process, so a fresh process is the only honest place to look
    out = subprocess.run([sys.executable, "-c", _LA_RUN.format(tests=str(Path(__file__).parent))],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "WARNINGS:" in out.stdout
    text = out.stdout + out.stderr
    assert "invariant" not in text and "SEGFAULT" not in text


def test_cli_lagnn_device_threads_and_no_warning(shared_root, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    argv = [sys.executable, "-m", "graphopt", "lagnn", "--dataset", "cora", "--root", str(shared_root),
            "--epochs", "2", "--samples", "2", "--pool", "2", "--cvae-epochs", "1", "--cvae-max-pairs", "300",
            "--quiet", "--threads", "1", "--device", "cpu"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "device: cpu" in out.stdout and "LA-GCN on cora" in out.stdout
    assert "SEGFAULT" not in out.stderr and "invariant" not in out.stderr

    from graphopt.cli import main
    assert main(["lagnn", "--threads", "0", "--quiet"]) == 2
    assert main(["lagnn", "--device", MISSING, "--quiet"]) == 2
    assert main(["lagnn", "--device", "tpu", "--quiet"]) == 2
