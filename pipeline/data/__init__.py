"""Data: official archives → prepared uint8 arrays → device-resident batches."""

from .archives import DataError
from .noise import corrupt_labels
from .prepared import Split, load_split, read_manifest
from .sources import DATASETS, dataset_source, fetch, register_imagefolder
from .splits import split_validation

__all__ = [
    "DATASETS",
    "DataError",
    "Split",
    "corrupt_labels",
    "dataset_source",
    "fetch",
    "load_split",
    "read_manifest",
    "register_imagefolder",
    "split_validation",
]
