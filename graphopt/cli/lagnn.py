"""``graphopt lagnn``: local augmentation (LA-GNN, Liu et al., ICML 2022) on a Planetoid dataset."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from . import CLIError

BACKBONES = ("gcn", "gat", "gcnii")
# GCNII depth/width per dataset from the paper's scripts (Cora's settings elsewhere)
GCNII = {"citeseer": dict(num_layers=32, hidden=256, theta=0.6, dropout=0.7)}
GCNII_DEFAULT = dict(num_layers=64, hidden=64, theta=0.5, dropout=0.6)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("lagnn", help="train LA-GCN / LA-GAT / LA-GCNII with a neighbour CVAE",
                              description=__doc__)
    p.add_argument("--dataset", default="cora", help="planetoid dataset: cora, citeseer, pubmed")
    p.add_argument("--root", default=None, help="dataset directory (default: $GRAPHOPT_DATA)")
    p.add_argument("--backbone", choices=BACKBONES, default="gcn")
    p.add_argument("--plain", action="store_true", help="train the backbone without augmentation")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--patience", type=int, default=100)
    p.add_argument("--samples", type=int, default=4, help="K forward passes per step")
    p.add_argument("--lam", type=float, default=1.0, help="consistency weight")
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--pool", type=int, default=16, help="pre-generated X̄ per run (0: fresh every pass)")
    p.add_argument("--cvae", default=None, help="CVAE checkpoint: loaded if it exists, else written after training")
    p.add_argument("--cvae-epochs", type=int, default=10)
    p.add_argument("--cvae-max-pairs", type=int, default=None, help="pairs per CVAE epoch (default: all)")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda or cuda:N; the CVAE and the classifier run there")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="mixed-precision forward passes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..augment import LAGAT, LAGCN, LAGCNII, LAClassifier, NeighborCVAE, resolve_device
    from ..datasets import load_planetoid

    if args.patience < 1 or args.epochs < 1 or args.samples < 1:
        raise CLIError("--epochs, --patience and --samples must be positive")
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except (TypeError, ValueError) as e:
        raise CLIError(f"--device: {e}") from e
    print(f"device: {device}" + (f", amp {args.amp}" if args.amp else ""))
    g = load_planetoid(args.dataset, args.root)
    m = 0 if args.plain else 1
    cvae = None
    if m:
        if args.cvae and Path(args.cvae).exists():
            cvae = NeighborCVAE.load(args.cvae, progress=not args.quiet, device=device, amp=args.amp)
        else:
            cvae = NeighborCVAE(epochs=args.cvae_epochs, max_pairs_per_epoch=args.cvae_max_pairs,
                                progress=not args.quiet, device=device, amp=args.amp).fit(g)
            if args.cvae:
                cvae.save(args.cvae)
    accs = []
    for seed in args.seeds:
        f, c = g.num_features, g.num_classes
        lr = 0.01
        if args.backbone == "gcn":
            model = LAGCN(f, 16, c, num_generated=m, dropout=0.5)
        elif args.backbone == "gat":
            model, lr = LAGAT(f, 8, c, heads=8, num_generated=m, dropout=0.6), 0.01 if m else 0.005
        else:
            d = GCNII.get(args.dataset, GCNII_DEFAULT)
            model = LAGCNII(f, d["hidden"], c, num_layers=d["num_layers"], theta=d["theta"], num_generated=m,
                            dropout=d["dropout"])
        clf = LAClassifier(model, cvae, num_samples=args.samples if m else 1, consistency=args.lam if m else 0.0,
                           temperature=args.temperature, epochs=args.epochs, patience=args.patience,
                           lr=lr, pool_size=args.pool or None, seed=seed, progress=not args.quiet,
                           device=device, amp=args.amp).fit(g)
        accs.append(clf.score())
        print(f"seed {seed}: best epoch {clf.best_epoch_}, val acc {clf.score(mask='val_mask'):.4f}, "
              f"test acc {accs[-1]:.4f}")
    name = ("" if args.plain else "LA-") + args.backbone.upper()
    print(f"{name} on {args.dataset}: test accuracy {100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f} "
          f"over {len(accs)} seed(s)")
    return 0
