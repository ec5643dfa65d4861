"""Convergence plots and CSV files for runs of :mod:`graphopt.gossip` methods (DADAO, Nabli &
Oyallon, ICML 2023, and baselines): error against gradients and against communications."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

from graphopt._io import write_atomic
from graphopt.gossip.simulator import History

__all__ = ["plot_convergence", "save_convergence_plot", "save_histories_csv"]


def plot_convergence(histories: Sequence[History], axes: Sequence[Any] | None = None,
                     relative: bool = True) -> Any:
    """Error vs local gradients (left) and vs edge activations (right), one line per run."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    else:
        fig = axes[0].figure
    for h in histories:
        err = h.relative_error if relative else h.error
        for ax, x in zip(axes, (h.grads, h.comms)):
            ax.semilogy(x, err, label=h.method)
    ylabel = "relative error" if relative else r"$\frac{1}{n}\sum_i \|x_i - x^*\|^2$"
    for ax, xlabel in zip(axes, ("local gradients", "communications (edge activations)")):
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def save_convergence_plot(histories: Sequence[History], path: str | os.PathLike,
                          relative: bool = True) -> Path:
    """Write :func:`plot_convergence` to ``path`` (format from its suffix), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_convergence(histories, relative=relative)
    fmt = Path(path).suffix.lstrip(".") or "png"
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=120))
    finally:
        plt.close(fig)


def save_histories_csv(histories: Sequence[History], path: str | os.PathLike) -> Path:
    """One row per checkpoint of every run (``History.rows``), atomically."""
    rows = [r for h in histories for r in h.rows()]
    if not rows:
        raise ValueError("no checkpoints to write")

    def write(f) -> None:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)

    return write_atomic(path, write, mode="w")
