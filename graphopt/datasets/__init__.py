"""Dataset loaders (each format as its authors published it), the manifest, and generators.

Files are looked for in ``root``, else ``$GRAPHOPT_DATA`` and the repo's ``datasets/``; a missing
file is downloaded from its canonical URL and kept only if its sha256 matches the manifest.
"""

from ._files import DatasetNotFoundError, data_roots, dataset_file, download, manifest
from .planetoid import load_planetoid

__all__ = ["DatasetNotFoundError", "data_roots", "dataset_file", "download", "manifest",
           "load_planetoid"]
