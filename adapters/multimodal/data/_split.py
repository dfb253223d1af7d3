"""Seeded stratified hold-outs: the validation split a run holds out of its training data.

`stratified_indices` draws, class by class, ``round(fraction · n_c)`` of the ``n_c`` samples
of each class ``c`` (at least one, at most ``n_c - 1``: every class with two samples or more
is in both parts) with NumPy's
``default_rng(seed)``; `holdout_split` applies it to a dataset and returns the two parts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from moo.validation import check_int, check_real
from moo_multimodal.data._dataset import Batch, MultimodalDataset, TensorDataset


class EmptyHoldoutError(ValueError):
    """A hold-out that holds out no sample (every class has a single sample)."""


def dataset_labels(dataset: MultimodalDataset) -> np.ndarray:
    """Every sample's label, as an int64 array, read without decoding inputs where the
    dataset keeps its labels (`TensorDataset` ``labels``, clip lists ``clips``); otherwise
    sample by sample."""
    labels = getattr(dataset, "labels", None)
    if isinstance(labels, torch.Tensor) and labels.shape == (len(dataset),):
        return labels.detach().cpu().numpy().astype(np.int64)
    clips = getattr(dataset, "clips", None)
    if isinstance(clips, Sequence) and len(clips) == len(dataset):
        return np.asarray([int(clip[-1]) for clip in clips], dtype=np.int64)
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))], dtype=np.int64)


def stratified_indices(
    labels: Sequence[int] | np.ndarray, fraction: float, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held)``: sorted, disjoint index arrays covering ``range(len(labels))``;
    ``held`` holds ``round(fraction · n_c)`` samples of each class (at least one, at most
    ``n_c - 1``: a class of two samples or more is in both parts), drawn with
    ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: ``fraction`` outside ``(0, 1)``, a negative ``seed``, labels that are not
            a 1-D integer array; `EmptyHoldoutError` (a ``ValueError``) when no sample can be
            held out (every class has a single sample).
    """
    fraction = check_real(fraction, "fraction", low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int(seed, "seed", low=0)
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {y.shape} of {y.dtype}")
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_held = min(max(1, round(fraction * idx.size)), idx.size - 1)
        if n_held > 0:
            held.append(rng.permutation(idx)[:n_held])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    if held_idx.size == 0:
        raise EmptyHoldoutError(
            f"a hold-out of {y.size} samples holds out no sample (fraction {fraction:g}): every "
            "class has a single sample, which stays; use more data, or a fraction of 0 for no "
            "hold-out"
        )
    mask = np.ones(y.size, dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


class SubsetDataset(MultimodalDataset):
    """The samples of ``base`` at ``indices`` (any `MultimodalDataset`; a `TensorDataset`
    is better split with `TensorDataset.subset`, which copies its tensors)."""

    def __init__(self, base: MultimodalDataset, indices: Sequence[int] | np.ndarray) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.modalities = tuple(base.modalities)
        self.num_classes = base.num_classes
        self.input_shapes = dict(base.input_shapes)

    @property
    def unreadable(self) -> dict[int, str]:
        """The base dataset's unreadable samples (those read with ``missing="skip"``)."""
        found: dict[int, str] = getattr(self.base, "unreadable", {})
        return found

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Batch:
        return self.base[self.indices[i]]

    def __repr__(self) -> str:
        return f"SubsetDataset({self.base!r}, n={len(self)})"


def _subset(dataset: MultimodalDataset, indices: np.ndarray) -> MultimodalDataset:
    if isinstance(dataset, TensorDataset):
        return dataset.subset(torch.from_numpy(indices.astype(np.int64)))
    return SubsetDataset(dataset, indices)


def _without_augmentation(dataset: MultimodalDataset) -> MultimodalDataset:
    """A shallow copy of a dataset that augments training samples (an attribute ``train``
    set to ``True``, as the clip datasets have) with ``train = False``; else ``dataset``."""
    if getattr(dataset, "train", None) is True:
        evaluated = copy.copy(dataset)
        evaluated.train = False  # type: ignore[attr-defined]
        return evaluated
    return dataset


def holdout_split(
    dataset: MultimodalDataset, fraction: float, *, seed: int = 0
) -> tuple[MultimodalDataset, MultimodalDataset]:
    """``(rest, held)``: a seeded stratified hold-out of ``dataset`` (see
    `stratified_indices`); the two parts are disjoint and cover it. The held-out part of a
    dataset that augments its training samples (the clip datasets) is read without the
    augmentation.

    Raises:
        ValueError: see `stratified_indices`.
    """
    kept, held = stratified_indices(dataset_labels(dataset), fraction, seed=seed)
    return _subset(dataset, kept), _subset(_without_augmentation(dataset), held)
