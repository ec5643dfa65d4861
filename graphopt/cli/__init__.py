"""The ``graphopt`` command line: argument parsing and printing only.

Start-up is kept light: each public module here (``cluster_gcn``, ``lagnn``, ...) defines its
subcommands' parsers with the standard library only, and names its run function as
``"module:function"`` in a private module (``_cluster_gcn``, ...) that is imported only when the
command runs. So ``graphopt --help`` and ``graphopt COMMAND --help`` never import torch, SciPy,
CVXPY or networkx (``tests/test_cli.py`` checks it; ``benchmarks/bench_startup.py`` times it).
``main`` finds the public modules, so capabilities add commands without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import pkgutil
import re
import resource
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main", "build_parser", "CLIError", "HelpFormatter", "datasets_of", "add_threads",
           "set_threads", "auto_parts"]

# dataset formats that hold a graph (the others, libsvm and idx, hold feature vectors)
GRAPH_FORMATS = ("planetoid", "npz", "mat")
# nodes per Cluster-GCN batch that the default --parts aims at (see auto_parts)
NODES_PER_BATCH = 1500


class CLIError(Exception):
    """An error to print as one line and exit with status 2 (bad input, missing file)."""


def plain(text: str) -> str:
    """reST markup as plain text: ``x`` and :func:`x` and `x` become x."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"`{1,2}([^`]+)`{1,2}", r"\1", text)


class HelpFormatter(argparse.HelpFormatter):
    """Help in plain text with every option's default: reST markup is dropped, descriptions keep
    their paragraphs (each refilled to the terminal width), and "(default: X)" is added where X is
    a value (not None or False) that the help text does not already state."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", plain(text).strip())
        return "\n\n".join(textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                                         subsequent_indent=indent) for p in paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = plain(action.help or "")
        default = action.default
        if (default is not None and default is not False and default is not argparse.SUPPRESS
                and default != [] and "default" not in text and action.option_strings):
            shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            text += f" (default: {shown})".replace("%", "%%")
        return text


def datasets_of(*formats: str) -> list[str]:
    """Manifest dataset names of the given formats (all when none given), read without importing
    :mod:`graphopt.datasets` (which loads SciPy)."""
    path = Path(__file__).resolve().parents[1] / "datasets" / "manifest.json"
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    return sorted(k for k, v in manifest.items() if not formats or v["format"] in formats)


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="CPU threads for torch and BLAS (default: their own choice; 1 on a "
                             "shared or small machine avoids oversubscription)")


def set_threads(threads: int | None, torch: bool = True) -> None:
    """Apply ``--threads``: torch's intra-op threads (when ``torch``) and the BLAS pools NumPy uses."""
    if threads is None:
        return
    if threads < 1:
        raise CLIError(f"--threads must be positive, got {threads}")
    if torch:
        import torch as _torch

        _torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threadpool_limits(threads)


def auto_parts(num_nodes: int, clusters_per_batch: int = 1) -> int:
    """Default number of METIS parts p: batches of q parts hold about 1,500 nodes.

    The Cluster-GCN paper's settings give batches of 1,100 to 3,100 nodes (PPI: 50 parts of 57k
    nodes, one per batch; Amazon2M: 15,000 parts of 2.4M, ten per batch; Reddit: 1,500 parts of
    233k, twenty per batch), so ``p = round(N q / 1500)``, at least q (one batch is then the whole
    graph) and at most N.
    """
    q = max(1, clusters_per_batch)
    return max(1, min(num_nodes, max(q, round(num_nodes * q / NODES_PER_BATCH))))


def lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """The run function ``"module:function"`` of this package, imported only when called."""
    module, _, name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)(args)

    run.__qualname__ = f"lazy({target})"
    return run


def launch_ranks(cmd: list[str], nproc: int, threads: int | None, scratch: str | None) -> int:
    """Run ``cmd`` as ``nproc`` local ranks (each logging to stderr), then remove ``scratch``
    (a temporary shards folder, or None); a failed rank becomes a :class:`CLIError`."""
    import shutil

    from ..cluster_gcn.distributed import launch_local

    try:
        launch_local(cmd, nproc, threads=threads or 1,
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    except RuntimeError as e:
        raise CLIError(str(e)) from e
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _version() -> str:
    from .. import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphopt", formatter_class=HelpFormatter,
        description="graphopt: Cluster-GCN, local augmentation, DADAO/gossip and convex ReLU "
                    "training on one Graph and Partition.",
        epilog="Run 'graphopt COMMAND --help' for a command's options; 'graphopt demo' for a tour.")
    parser.add_argument("--version", action="version", version=f"graphopt {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue  # run-time modules: imported by lazy() when their command runs
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (ranks, workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _configure_logging(quiet: bool) -> None:
    """Per-epoch log lines (the training code logs at INFO) on stderr, also when stdout is not a
    terminal and no progress bar is drawn; an application that configured logging keeps its own."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(bool(getattr(args, "quiet", False)))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    try:
        code = int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, FileNotFoundError) as e:
        print(f"graphopt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"graphopt {args.command}: interrupted", file=sys.stderr)
        return 130
    # training commands end with their total time, on stderr beside the progress lines so that
    # stdout stays the result (convex-relu --json prints JSON there); ranks other than 0 stay silent
    if getattr(args, "timed", False) and os.environ.get("RANK", "0") == "0":
        print(f"total time: {time.perf_counter() - wall:.1f} s wall, "
              f"{_cpu_seconds() - cpu:.1f} s CPU", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
