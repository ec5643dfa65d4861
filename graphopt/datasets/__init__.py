"""Dataset loaders (each format as its authors published it), the manifest, splits and generators.

Files are looked for in ``root``, else ``$GRAPHOPT_DATA`` and the repo's ``datasets/``; a missing
file is downloaded from its canonical URL and kept only if its sha256 matches the manifest. A file
already on disk is verified against the manifest the first time it is used
(:func:`verify_file`; :class:`DatasetCorruptError` names it, both hashes and the fix).
:func:`load` reads any dataset of the manifest by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._files import (DatasetCorruptError, DatasetNotFoundError, data_roots, dataset_entry,
                     dataset_file, download, fetch_dataset, manifest, verify_file)
from .blogcatalog import load_blogcatalog
from .generators import (COMMUNICATION_GRAPHS, barbell_graph, communication_graph, complete_graph,
                         contextual_sbm, cycle_graph, erdos_renyi_graph, grid_graph, path_graph,
                         random_geometric_graph, star_graph)
from .graphsage import load_graphsage, save_graphsage
from .idx import load_idx, read_idx
from .libsvm import load_libsvm, read_libsvm
from .npz import load_npz
from .planetoid import load_planetoid
from .splits import stratified_split

__all__ = ["DatasetNotFoundError", "DatasetCorruptError", "data_roots", "dataset_entry",
           "dataset_file", "download", "fetch_dataset", "verify_file",
           "manifest", "list_datasets", "dataset_format", "load", "load_planetoid", "load_npz", "load_blogcatalog",
           "load_graphsage", "save_graphsage", "load_libsvm", "read_libsvm", "load_idx",
           "read_idx", "stratified_split", "contextual_sbm", "communication_graph",
           "COMMUNICATION_GRAPHS", "complete_graph", "star_graph", "cycle_graph", "path_graph",
           "grid_graph", "barbell_graph", "erdos_renyi_graph", "random_geometric_graph"]


def list_datasets(fmt: str | None = None) -> list[str]:
    """Names of the manifest's datasets (those of format ``fmt`` only, when given)."""
    return sorted(k for k, v in manifest().items() if fmt is None or v["format"] == fmt)


def dataset_format(name: str) -> str:
    """The manifest format of ``name``, or ``"graphsage"`` for a path to GraphSAGE files."""
    if name not in manifest() and (Path(name).is_dir() or Path(f"{name}-G.json").is_file()):
        return "graphsage"
    return dataset_entry(name)["format"]


def load(name: str, root: str | os.PathLike | None = None, **kwargs: Any) -> Any:
    """Load a manifest dataset by name with its format's loader.

    Graph datasets (planetoid, npz, mat) return a :class:`~graphopt.Graph`; ``libsvm`` returns
    ``(X, y)`` and ``idx`` returns ``(images, labels)`` (``kwargs`` such as ``split`` pass through).
    A ``name`` that is not in the manifest but is a GraphSAGE prefix (``<name>-G.json`` exists)
    or a folder holding one such dataset is read with :func:`load_graphsage`.
    """
    fmt = dataset_format(name)
    if fmt == "graphsage":
        return load_graphsage(name, **kwargs)
    if fmt == "planetoid":
        return load_planetoid(name, root, **kwargs)
    if fmt == "npz":
        return load_npz(name, root, **kwargs)
    if fmt == "mat":
        return load_blogcatalog(root, **kwargs)
    if fmt == "libsvm":
        return load_libsvm(name, root=root, **kwargs)
    if fmt == "idx":
        return load_idx(name, root=root, **kwargs)
    raise ValueError(f"dataset {name!r} has format {fmt!r}, which no loader reads")
