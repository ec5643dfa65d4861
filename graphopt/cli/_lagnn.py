"""Run code of ``graphopt lagnn`` (parser: ``lagnn.py``): local augmentation on a Planetoid dataset."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

from . import CLIError, launch_ranks, set_threads

__all__ = ["run"]

# GCNII depth/width per dataset from the paper's scripts (Cora's settings elsewhere)
GCNII = {"citeseer": dict(num_layers=32, hidden=256, theta=0.6, dropout=0.7)}
GCNII_DEFAULT = dict(num_layers=64, hidden=64, theta=0.5, dropout=0.6)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..augment import LAGAT, LAGCN, LAGCNII, LAClassifier, NeighborCVAE, resolve_device
    from ..datasets import load_planetoid

    if args.patience < 1 or args.epochs < 1 or args.samples < 1:
        raise CLIError("--epochs, --patience and --samples must be positive")
    set_threads(args.threads)
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
        from ..cluster_gcn.distributed import init_distributed, shutdown_distributed
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
        shutdown_distributed()
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
    return launch_ranks(cmd, args.nproc, args.threads, tmp)
