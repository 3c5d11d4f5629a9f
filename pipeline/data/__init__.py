"""Data: official archives → prepared uint8 arrays → device-resident batches."""

from .archives import DataError
from .noise import corrupt_labels
from .prepared import Split, load_split, read_manifest
from .sources import DATASETS, archive_digest, dataset_source, fetch, prepared_share, register_imagefolder
from .splits import split_sizes, split_validation

__all__ = [
    "DATASETS",
    "DataError",
    "Split",
    "archive_digest",
    "corrupt_labels",
    "dataset_source",
    "fetch",
    "load_split",
    "prepared_share",
    "read_manifest",
    "register_imagefolder",
    "split_sizes",
    "split_validation",
]
