"""``graphopt lagnn``: local augmentation (LA-GNN, Liu et al., ICML 2022) on a Planetoid dataset.

Full-batch by default; ``--parts P`` trains over Cluster-GCN batches of a METIS partition; ``--nproc
R`` (or torchrun with ``--shards DIR``) trains data-parallel, each rank on its own shard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any

import numpy as np

from . import CLIError
from ._paths import output_path

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
    p.add_argument("--cvae", default=None, type=output_path, help="CVAE checkpoint: loaded if it exists, else written after training")
    p.add_argument("--cvae-epochs", type=int, default=10)
    p.add_argument("--cvae-max-pairs", type=int, default=None, help="pairs per CVAE epoch (default: all)")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda or cuda:N; the CVAE and the classifier run there")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="mixed-precision forward passes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--parts", type=int, default=None,
                   help="METIS parts: train over Cluster-GCN batches of them (needed by --nproc)")
    p.add_argument("--parts-per-batch", type=int, default=2, help="parts per batch with --parts / shards")
    p.add_argument("--nproc", type=int, default=None, metavar="R",
                   help="data-parallel on R local ranks (gloo, one thread each), shards written to a temp folder")
    p.add_argument("--shards", default=None, metavar="DIR",
                   help="shard folder (graphopt partition DATASET --parts P --shards R -o DIR); each rank "
                        "reads its own; needed under torchrun")
    p.add_argument("--dist-timeout", type=float, default=300.0, help="seconds before a silent peer is an error")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, parser=p)


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
    for name in ("parts", "parts_per_batch", "nproc"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be positive, got {v}")
    if args.nproc is not None:
        return _launch(args)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = args.shards is not None or world > 1
    try:
        device = resolve_device(args.device)
    except (TypeError, ValueError) as e:
        raise CLIError(f"--device: {e}") from e
    rank = 0
    if distributed:
        from ..cluster_gcn.distributed import init_distributed
        from ..shards import load_shard

        if args.shards is None:
            raise CLIError("a distributed run reads one shard per rank: pass --shards DIR, or use --nproc R")
        device = init_distributed(args.device, timeout=args.dist_timeout)
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        shard = load_shard(args.shards, rank, num_shards=world, dataset=args.dataset)
        g, part = shard.graph, shard.partition
    else:
        g = load_planetoid(args.dataset, args.root)
        part = None
        if args.parts is not None:
            from ..partition import Partition

            part = Partition.metis(g, args.parts, seed=0)
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"device: {device}" + (f", amp {args.amp}" if args.amp else "")
        + (f", {world} ranks" if distributed else ""))
    q = args.parts_per_batch
    m = 0 if args.plain else 1
    cvae = None
    if m:
        if args.cvae and Path(args.cvae).exists():
            cvae = NeighborCVAE.load(args.cvae, progress=not args.quiet, device=device, amp=args.amp)
        else:
            cvae = NeighborCVAE(epochs=args.cvae_epochs, max_pairs_per_epoch=args.cvae_max_pairs,
                                progress=not args.quiet, device=device, amp=args.amp)
            if distributed:
                cvae.fit_distributed(shard, parts_per_batch=q)
            else:
                cvae.fit(g, part, q)
            if args.cvae and rank == 0:
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
                           device=device, amp=args.amp)
        if distributed:
            clf.fit_distributed(shard, parts_per_batch=q)
        elif part is not None:
            clf.fit(g, part, q)
        else:
            clf.fit(g)
        accs.append(clf.score())  # over every rank's nodes in a distributed run
        val = clf.score(mask="val_mask")
        say(f"seed {seed}: best epoch {clf.best_epoch_}, val acc {val:.4f}, test acc {accs[-1]:.4f}")
    name = ("" if args.plain else "LA-") + args.backbone.upper()
    say(f"{name} on {args.dataset}: test accuracy {100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f} "
        f"over {len(accs)} seed(s)")
    if distributed:
        torch.distributed.barrier()  # rank 0 hosts the store: a peer still using it aborts if it goes first
        torch.distributed.destroy_process_group()
    return 0


def _rank_argv(args: argparse.Namespace) -> list[str]:
    """The options of this run for its ranks (everything but --nproc and --shards)."""
    out = []
    for action in args.parser._actions:
        if not action.option_strings or action.dest in ("help", "nproc", "shards"):
            continue
        value = getattr(args, action.dest)
        if isinstance(action, argparse._StoreTrueAction):
            out += [action.option_strings[0]] if value else []
        elif isinstance(value, list):
            out += [action.option_strings[0], *map(str, value)]
        elif value is not None:
            out += [action.option_strings[0], str(value)]
    return out


def _launch(args: argparse.Namespace) -> int:
    """``--nproc R``: write shards of a METIS partition (unless ``--shards`` names them), run R local ranks."""
    from ..cluster_gcn.distributed import launch_local
    from ..datasets import load_planetoid
    from ..partition import Partition
    from ..shards import write_shards

    tmp, shards = None, args.shards
    if shards is None:
        if args.parts is None:
            raise CLIError("--nproc needs --parts P (the METIS parts the ranks share out) or --shards DIR")
        if args.nproc > args.parts:
            raise CLIError(f"--nproc {args.nproc} exceeds --parts {args.parts}: every rank needs a part")
        g = load_planetoid(args.dataset, args.root)
        tmp = shards = tempfile.mkdtemp(prefix="graphopt-shards-")
        write_shards(Partition.metis(g, args.parts, seed=0), args.nproc, shards, dataset=args.dataset)
        del g
    cmd = [sys.executable, "-m", "graphopt", "lagnn", *_rank_argv(args), "--shards", str(shards)]
    try:
        launch_local(cmd, args.nproc, threads=args.threads or 1,
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    except RuntimeError as e:
        raise CLIError(str(e)) from e
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
