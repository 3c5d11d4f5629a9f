"""Data: official archives → prepared uint8 arrays → device-resident batches."""

from .archives import DataError
from .prepared import Split, load_split, read_manifest
from .sources import DATASETS, dataset_source, fetch

__all__ = ["DATASETS", "DataError", "Split", "dataset_source", "fetch", "load_split", "read_manifest"]
