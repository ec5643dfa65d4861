"""One reading of ``device=`` for every trainer (Cluster-GCN, LA-GNN): names checked up front, so a
run never starts on a device it cannot finish on."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = None, model: nn.Module | None = None) -> torch.device:
    """``device`` as a ``torch.device``: ``"auto"`` (the current CUDA device when there is one, else
    the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, another backend torch reports available, or a
    :class:`torch.device`. ``None`` is ``model``'s own device (the CPU without a model).

    A plain ``"cuda"`` gets the current device's index, so it compares equal to a tensor's device.
    A name torch does not know is a ``ValueError``, as is a device this machine lacks (``"meta"``,
    CUDA without a GPU, an index past the last device); a non-string a ``TypeError``.
    """
    if device is None:
        p = None if model is None else next(model.parameters(), None)
        return torch.device("cpu") if p is None else p.device
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device ('auto', 'cpu', 'cuda', 'cuda:N'), "
                        f"got {type(device).__name__}")
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from e
    if dev.type == "cpu":
        return dev
    backend: Any = getattr(torch, dev.type, None)
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        what = "CUDA is not available" if dev.type == "cuda" else f"{dev.type} is not available"
        raise ValueError(f"device={str(device)!r} was asked for, but {what}: this torch build or machine has "
                         f"no {dev.type} device; use device='cpu' or 'auto'")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"device={str(device)!r} was asked for, but only {count} {dev.type} device(s) exist")
    if dev.index is None and dev.type == "cuda":
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev
