"""Multimodal datasets: the dataset interface, batching, the registry and the synthetic benchmark.

``load_dataset(name, root=..., seed=..., **options)`` returns `DatasetSplits` (train and test
`MultimodalDataset` splits plus a recommended encoder per modality); `available_datasets`
lists the registered names. ``"synthetic"`` and ``"synthetic-3"`` are generated in memory (see
`moo_multimodal.data.synthetic`).
"""

from __future__ import annotations

from moo_multimodal.data import av_digits as _av_digits  # noqa: F401  (registers "av-digits")
from moo_multimodal.data import published as _published  # noqa: F401  (registers crema-d, ...)
from moo_multimodal.data._dataset import (
    DatasetSplits,
    MultimodalDataset,
    TensorDataset,
    iterate_batches,
)
from moo_multimodal.data._registry import (
    DatasetInfo,
    available_datasets,
    load_dataset,
    register_dataset,
    require_root,
)
from moo_multimodal.data.synthetic import ModalitySpec, make_synthetic

__all__ = [
    "DatasetInfo",
    "DatasetSplits",
    "ModalitySpec",
    "MultimodalDataset",
    "TensorDataset",
    "available_datasets",
    "iterate_batches",
    "load_dataset",
    "make_synthetic",
    "register_dataset",
    "require_root",
]
