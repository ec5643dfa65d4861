"""graphopt's Adam: torch's update without the torch._dynamo import torch's decorators trigger."""

import subprocess
import sys

import pytest
import torch

from graphopt._ops import adam


def _train(make_opt, scaler: bool = False) -> tuple[list[torch.Tensor], dict]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    opt = make_opt(model.parameters())
    grad_scaler = torch.amp.GradScaler("cpu") if scaler else None
    x, y = torch.randn(16, 7), torch.randn(16, 3)
    for _ in range(5):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        if grad_scaler:
            grad_scaler.scale(loss).backward()
            grad_scaler.step(opt)
            grad_scaler.update()
        else:
            loss.backward()
            opt.step()
    return [p.detach().clone() for p in model.parameters()], opt.state_dict()


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("scaler", [False, True])
def test_updates_and_state_match_torch_adam(fused, scaler):
    kw = dict(lr=0.01, weight_decay=5e-4)
    ours, ours_state = _train(lambda p: adam(p, fused=fused, **kw), scaler)
    theirs, their_state = _train(lambda p: torch.optim.Adam(p, fused=fused or None, **kw), scaler)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert ours_state["param_groups"] == their_state["param_groups"]
    for k, st in their_state["state"].items():
        for name, value in st.items():
            assert torch.equal(ours_state["state"][k][name], value)
    # A checkpointed state loads back into a fresh optimizer.
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    fresh = adam(model.parameters(), fused=fused, **kw)
    fresh.load_state_dict(ours_state)
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], ours_state["state"][0]["exp_avg"])


def test_cluster_gcn_training_does_not_import_torch_dynamo():
    # Cluster-GCN's training process imports neither PyG nor torch._dynamo (LA-GNN's models are
    # PyG convolutions, whose import brings torch._dynamo in anyway).
    code = ("import sys\n"
            "import numpy as np, scipy.sparse as sp\n"
            "from graphopt.graph import Graph\n"
            "from graphopt.partition import Partition\n"
            "from graphopt.cluster_gcn import ClusterGCN, fit\n"
            "rng = np.random.default_rng(0)\n"
            "a = sp.random(60, 60, density=0.1, random_state=0, format='csr')\n"
            "a = ((a + a.T) > 0).astype(float)\n"
            "g = Graph.from_scipy(a, x=rng.normal(size=(60, 5)).astype(np.float32),\n"
            "                     y=rng.integers(0, 3, 60), train_mask=np.ones(60, bool))\n"
            "fit(ClusterGCN(5, 8, 3, num_layers=2), g, Partition.metis(g, 4, seed=0),\n"
            "    clusters_per_batch=2, epochs=2, progress=False)\n"
            "print('torch._dynamo' in sys.modules, 'torch_geometric' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"
