"""Convergence plots and CSV files for runs of :mod:`graphopt.gossip` methods (DADAO, Nabli &
Oyallon, ICML 2023, and baselines): error against gradients and against communications for the
simulator, error (or test accuracy) against wall time and against communications for real runs
(:mod:`graphopt.gossip.runtime`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

from graphopt._io import write_atomic
from graphopt.gossip.simulator import History

__all__ = ["plot_convergence", "save_convergence_plot", "save_histories_csv", "plot_runtime",
           "save_runtime_plot", "save_runtime_csv", "ERROR_LABEL"]

ERROR_LABEL = r"relative error $\frac{\sum_i \|x_i - x^*\|^2}{\sum_i \|x_i^0 - x^*\|^2}$"
ABS_ERROR_LABEL = r"error $\frac{1}{n}\sum_i \|x_i - x^*\|^2$"


def plot_convergence(histories: Sequence[History], axes: Sequence[Any] | None = None,
                     relative: bool = True, title: str = "", log_comms: bool | None = None,
                     log_grads: bool | None = None) -> Any:
    """Error vs local gradients (left) and vs edge activations (right), one line per run.

    The y-axis (always logarithmic) says which error: relative to the start, or
    ``(1/n) sum_i ||x_i - x*||^2``; ``title`` goes above both panels. ``log_comms`` and
    ``log_grads`` put that x-axis on a log scale, where a constant factor between runs shows as
    a constant shift; ``None`` (the default) chooses it when the axis spans more than two
    decades (runs of a few hundred to a million communications).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    else:
        fig = axes[0].figure
    for h in histories:
        err = h.relative_error if relative else h.error
        for ax, x in zip(axes, (h.grads, h.comms)):
            ax.semilogy(x, err, label=h.method)
    for ax, xlabel, log, key in zip(axes, ("local gradients (all workers)",
                                           "communications (edge activations)"),
                                    (log_grads, log_comms), ("grads", "comms")):
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        if log if log is not None else _spans_decades(getattr(h, key) for h in histories):
            ax.set_xscale("log")
    axes[0].set_ylabel(ERROR_LABEL if relative else ABS_ERROR_LABEL)
    axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _spans_decades(series, decades: float = 2.0) -> bool:
    """True when the positive values of all ``series`` together span more than ``decades``."""
    positive = [v for x in series for v in x if v > 0]
    return bool(positive) and max(positive) > 10 ** decades * min(positive)


def save_convergence_plot(histories: Sequence[History], path: str | os.PathLike,
                          relative: bool = True, title: str = "", log_comms: bool | None = None,
                          log_grads: bool | None = None) -> Path:
    """Write :func:`plot_convergence` to ``path`` (format from its suffix), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    return _save(plot_convergence(histories, relative=relative, title=title, log_comms=log_comms,
                                  log_grads=log_grads), path)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    import matplotlib.pyplot as plt

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


def plot_runtime(results: Sequence[Any], title: str = "", labels: Sequence[str] | None = None
                 ) -> Any:
    """Real runs (:class:`~graphopt.gossip.runtime.RuntimeResult`): error (or mean test
    accuracy of the workers) against wall time (left) and against bytes sent by all workers
    (right), one line per run."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    labels = labels or [r.method for r in results]
    metric = results[0].metric if results else "error"
    for res, label in zip(results, labels):
        if not res.rows:
            continue
        y = [r["relative_error" if metric == "error" else "accuracy"] for r in res.rows]
        for ax, key in zip(axes, ("wall", "bytes")):
            x = [r[key] for r in res.rows]
            (ax.semilogy if metric == "error" else ax.plot)(x, y, marker=".", label=label)
    axes[0].set_xlabel("wall time (s, since the common start)")
    axes[1].set_xlabel("communications (bytes sent, all workers)")
    axes[0].set_ylabel(ERROR_LABEL if metric == "error" else
                       "test accuracy (mean over workers)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_runtime_plot(results: Sequence[Any], path: str | os.PathLike, title: str = "",
                      labels: Sequence[str] | None = None) -> Path:
    """Write :func:`plot_runtime` to ``path`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    return _save(plot_runtime(results, title, labels), path)


def save_runtime_csv(results: Sequence[Any], path: str | os.PathLike) -> Path:
    """One row per checkpoint of every real run, atomically."""
    rows = [dict(method=res.method, **r) for res in results for r in res.rows]
    if not rows:
        raise ValueError("no checkpoints to write")
    fields = list(dict.fromkeys(k for r in rows for k in r))

    def write(f) -> None:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)

    return write_atomic(path, write, mode="w")
