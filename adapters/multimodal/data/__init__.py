"""Multimodal datasets: the dataset interface, batching, the registry and the synthetic benchmark.

``load_dataset(name, root=..., seed=..., **options)`` returns `DatasetSplits` (train and test
`MultimodalDataset` splits plus a recommended encoder per modality); `available_datasets`
lists the registered names. ``"synthetic"`` and ``"synthetic-3"`` are generated in memory (see
`moo_multimodal.data.synthetic`); ``"av-digits"`` is built offline
(`moo_multimodal.data.av_digits`). The published benchmarks are read from ``root`` in their
reference layouts, one module per family: `moo_multimodal.data.clips` (the OGM-GE / MMPareto
audio-visual clips ``"crema-d"``, ``"ave"``, ``"kinetics-sounds"``, ``"vggsound"``),
`moo_multimodal.data.av_mnist` (MultiBench's ``"av-mnist"``) and `moo_multimodal.data.affect`
(MultiBench's ``"cmu-mosei"`` and ``"ur-funny"``). `moo_multimodal.data.audio` computes the
spectrograms of raw audio (``av-digits``' log-mel, the clip sets' ``.wav`` files).
`check_dataset` walks a user's copy end to end (``moo-mm datasets check``).
`holdout_split` holds a seeded stratified validation split out of a training split;
`load_npz` reads one's own data from an ``.npz`` archive (``load_dataset("path/data.npz")``).
"""

from __future__ import annotations

from moo_multimodal.data import affect as _affect  # noqa: F401  (registers cmu-mosei, ur-funny)
from moo_multimodal.data import av_digits as _av_digits  # noqa: F401  (registers "av-digits")
from moo_multimodal.data import av_mnist as _av_mnist  # noqa: F401  (registers "av-mnist")
from moo_multimodal.data import clips as _clips  # noqa: F401  (registers crema-d, ave, ...)
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
from moo_multimodal.data._split import (
    EmptyHoldoutError,
    SubsetDataset,
    dataset_labels,
    holdout_split,
    stratified_indices,
)
from moo_multimodal.data.check import DatasetCheck, SplitCheck, check_dataset
from moo_multimodal.data.npz import load_npz
from moo_multimodal.data.synthetic import ModalitySpec, make_synthetic

__all__ = [
    "DatasetCheck",
    "DatasetInfo",
    "DatasetSplits",
    "EmptyHoldoutError",
    "ModalitySpec",
    "MultimodalDataset",
    "SplitCheck",
    "SubsetDataset",
    "TensorDataset",
    "available_datasets",
    "check_dataset",
    "dataset_labels",
    "holdout_split",
    "iterate_batches",
    "load_dataset",
    "load_npz",
    "make_synthetic",
    "register_dataset",
    "require_root",
    "stratified_indices",
]
