"""What every training loop of graphopt shares: divergence checks, progress lines, checkpoint reading,
and the check that a model fits the graph it is trained on.

- :class:`TrainingDiverged` / :func:`check_loss`: a non-finite loss, or one over
  ``DIVERGENCE_FACTOR`` times the first step's, stops training with an error naming the epoch
  (a run that goes on would keep weights that predict nothing).
- :class:`EpochLog`: a tqdm bar on a terminal; otherwise one ``logging`` INFO line per epoch
  (loss, metrics, seconds) and a total-time line, so logs of batch jobs say how a run went.
- :func:`load_checkpoint`: ``torch.load(weights_only=True)`` that answers a missing file with
  ``FileNotFoundError`` and a garbage one with ``ValueError("not a graphopt checkpoint: PATH")``.
- :func:`check_model_fits`: a model whose declared input width or number of outputs does not
  match the graph is refused before training starts, naming both numbers.

Importing this module does not import torch (``graphopt`` re-exports :class:`TrainingDiverged`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

__all__ = ["TrainingDiverged", "check_loss", "EpochLog", "load_checkpoint", "check_model_fits",
           "check_logits", "DIVERGENCE_FACTOR"]

# A loss this many times the first epoch's has left any sensible range (cross-entropy starts near
# log(C), a reconstruction loss near its data's scale): the run diverged.
DIVERGENCE_FACTOR = 1e6


class TrainingDiverged(FloatingPointError, ValueError):
    """Training stopped because the loss became NaN/infinite or exploded; the message names the epoch.

    A ``FloatingPointError`` (what it is) and a ``ValueError`` (what callers catch for bad settings,
    e.g. a learning rate too large for the data)."""


def check_loss(loss: float, epoch: int, first_loss: float | None = None, *, what: str = "loss") -> None:
    """Raise :class:`TrainingDiverged` if ``loss`` (the mean loss of ``epoch``, counted from 0) is NaN
    or infinite, or more than ``DIVERGENCE_FACTOR`` times ``first_loss``: the loss of the run's first step, at
    the initial weights (a first epoch's mean can already have exploded)."""
    loss = float(loss)
    hint = "lower the learning rate, or check the features' scale and the labels"
    # counted from 1 like the progress lines; the history's rows count from 0
    where = f"{epoch + 1} (history row epoch={epoch})"
    if not math.isfinite(loss):
        raise TrainingDiverged(f"training diverged in epoch {where}: the {what} is {loss}; {hint}")
    # The floor keeps a run that starts near zero loss from being flagged for ordinary changes.
    if first_loss is not None and math.isfinite(first_loss) and loss > DIVERGENCE_FACTOR * max(first_loss, 1e-3):
        raise TrainingDiverged(f"training diverged in epoch {where}: the {what} is {loss:.4g}, over "
                               f"{DIVERGENCE_FACTOR:.0e} times the first step's {first_loss:.4g}; {hint}")


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


class EpochLog:
    """Iterate over ``epochs`` with progress shown: a tqdm bar when stderr is a terminal, else one
    INFO line per epoch on ``logger`` and a total-time line when the loop ends. ``enabled=False``
    shows nothing.

    ``keys`` are the entries of the per-epoch row (given to :meth:`update`) that are shown; the
    seconds are measured here (from the start of the epoch's iteration to :meth:`update`).
    Use as a context manager so the bar is closed and the total logged however the loop ends.
    """

    def __init__(self, epochs: Iterable[int], desc: str, *, logger: logging.Logger,
                 enabled: bool = True, keys: Sequence[str] = ("loss", "val")) -> None:
        self.epochs = list(epochs)
        self.desc, self.logger, self.keys = desc, logger, tuple(keys)
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.done = 0
        self._t0 = self._start = time.perf_counter()

    def __enter__(self) -> EpochLog:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(failed=exc_type is not None)

    def __iter__(self) -> Iterator[int]:
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=len(self.epochs), desc=self.desc)
        self._start = time.perf_counter()
        for epoch in self.epochs:
            self._t0 = time.perf_counter()
            yield epoch

    def update(self, epoch: int, row: Mapping[str, Any]) -> None:
        """Report ``epoch`` as finished with its ``row`` of values."""
        self.done += 1
        shown = {k: row[k] for k in self.keys if k in row}
        if self.bar is not None:
            self.bar.set_postfix({k: _fmt(v) for k, v in shown.items()}, refresh=False)
            self.bar.update(1)
        elif self.enabled:
            values = ", ".join(f"{k} {_fmt(v)}" for k, v in shown.items())
            self.logger.info("%s epoch %d/%d: %s (%.2f s)", self.desc, epoch + 1, self.epochs[-1] + 1,
                             values, time.perf_counter() - self._t0)

    def close(self, failed: bool = False) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled and self.epochs:
            how = "stopped by an error after" if failed else "trained"
            self.logger.info("%s: %s %d epoch(s) in %.2f s", self.desc, how, self.done,
                             time.perf_counter() - self._start)
            self.enabled = False  # once


def load_checkpoint(path: str | os.PathLike, *, kind: str, required: Sequence[str],
                    map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (no code is unpickled).

    A missing file is a ``FileNotFoundError`` (a resumed run never starts over silently); a file
    that torch cannot read, or that lacks the ``required`` entries of a ``kind`` checkpoint, is a
    ``ValueError("not a graphopt checkpoint: PATH (...)")``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} checkpoint {path} does not exist"
                                + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with warnings.catch_warnings():  # garbage may look like a pickle of an unusual protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, MemoryError):
        raise
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError... on garbage
        # ``from None``: torch's message advises weights_only=False, i.e. running the file's code.
        raise ValueError(f"not a graphopt checkpoint: {path} (torch.load failed with "
                         f"{type(e).__name__}: the file is truncated, corrupt or not a {kind} checkpoint)") from None
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"not a graphopt checkpoint: {path} (no {', '.join(map(repr, missing))} entries "
                         f"of a {kind} checkpoint)")
    return state


def _declared(model: Any, name: str) -> int | None:
    v = getattr(model, name, None)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def check_model_fits(model: Any, num_features: int, num_classes: int, *, multilabel: bool = False) -> None:
    """Refuse a ``model`` whose declared ``in_channels`` differs from the graph's ``num_features``,
    or whose ``out_channels`` cannot hold its labels (fewer outputs than classes; multi-label:
    not exactly one output per label). Models that declare neither (any ``nn.Module``) are
    checked on their first output by :func:`check_logits` instead."""
    name = type(model).__name__
    width = _declared(model, "in_channels")
    if width is not None and num_features and width != num_features:
        raise ValueError(f"the graph has {num_features} features per node but {name} takes "
                         f"in_channels={width}: build the model with in_channels={num_features}")
    out = _declared(model, "out_channels")
    if out is not None:
        check_logits(out, num_classes, multilabel, name)


def check_logits(width: int, num_classes: int, multilabel: bool, name: str = "the model") -> None:
    """Raise ``ValueError`` unless ``width`` outputs can score ``num_classes`` labels."""
    if multilabel and width != num_classes:
        raise ValueError(f"the graph has {num_classes} labels per node (multi-label) but {name} "
                         f"has {width} outputs: build it with out_channels={num_classes}")
    if not multilabel and width < num_classes:
        raise ValueError(f"the graph has labels up to {num_classes - 1} ({num_classes} classes) but "
                         f"{name} has {width} outputs: build it with out_channels={num_classes}, or "
                         "relabel the classes 0..C-1")
