"""Labeled image datasets."""

from core.datasets.base import ImageDataset
from core.datasets.registry import DATASETS, default_dataset_name, load_dataset

__all__ = ["DATASETS", "ImageDataset", "default_dataset_name", "load_dataset"]
