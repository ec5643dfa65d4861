"""The ``graphopt`` command line: argument parsing and printing only.

Each module in this package adds its subcommands through ``register(subparsers)`` and calls the
library's public API; ``main`` finds them, so capabilities add commands without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

__all__ = ["main", "CLIError"]


class CLIError(Exception):
    """An error to print as one line and exit with status 2 (bad input, missing file)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphopt",
        description="graphopt: Cluster-GCN, local augmentation, DADAO/gossip and convex ReLU "
                    "training on one Graph and Partition.",
        epilog="Run 'graphopt COMMAND --help' for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, FileNotFoundError) as e:
        print(f"graphopt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"graphopt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
