"""``graphopt demo``: a tour of the four capabilities on generated and embedded graphs (no download)."""

from __future__ import annotations

from typing import Any

from . import HelpFormatter, lazy

__all__ = ["register"]


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="tour of graphopt on embedded graphs (no download)",
                          description=__doc__, formatter_class=HelpFormatter)
    demo.add_argument("--seed", type=int, default=0, help="seed of the graphs and of every run")
    demo.set_defaults(func=lazy("_demo:main"), timed=True)
