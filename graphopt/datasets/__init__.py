"""Dataset loaders (each format as its authors published it), the manifest, splits and generators.

Files are looked for in ``root``, else ``$GRAPHOPT_DATA`` and the repo's ``datasets/``; a missing
file is downloaded from its canonical URL and kept only if its sha256 matches the manifest.
"""

from ._files import DatasetNotFoundError, data_roots, dataset_file, download, manifest
from .generators import (COMMUNICATION_GRAPHS, barbell_graph, communication_graph, complete_graph,
                         contextual_sbm, cycle_graph, erdos_renyi_graph, grid_graph, path_graph,
                         random_geometric_graph, star_graph)
from .planetoid import load_planetoid
from .splits import stratified_split

__all__ = ["DatasetNotFoundError", "data_roots", "dataset_file", "download", "manifest",
           "load_planetoid", "stratified_split", "contextual_sbm", "communication_graph",
           "COMMUNICATION_GRAPHS", "complete_graph", "star_graph", "cycle_graph", "path_graph",
           "grid_graph", "barbell_graph", "erdos_renyi_graph", "random_geometric_graph"]
