"""Multimodal datasets: a sample is a dict of per-modality tensors and an integer label.

`MultimodalDataset` is the interface every loader returns; `TensorDataset` holds in-memory
tensors (the synthetic benchmark and small preprocessed datasets) and is batched by index
slicing; any other dataset is batched through a `torch.utils.data.DataLoader`.
`iterate_batches` gives both the same seeded order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from moo.validation import check_int

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]

_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


class MultimodalDataset(Dataset[Batch], ABC):
    """A classification dataset whose samples have several input modalities.

    Attributes (set by subclasses):
        modalities: the modality names, in the order models and objectives use.
        num_classes: the number of classes ``C``; labels lie in ``[0, C)``.
        input_shapes: the shape of one sample's input per modality (without the batch axis).
    """

    modalities: tuple[str, ...]
    num_classes: int
    input_shapes: dict[str, tuple[int, ...]]

    @abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    @abstractmethod
    def __getitem__(self, i: int) -> Batch:
        """Sample ``i``: ``({modality: input tensor}, label)``, the label an int64 scalar."""


class TensorDataset(MultimodalDataset):
    """A `MultimodalDataset` over in-memory tensors (first axis = samples).

    Args:
        inputs: one tensor per modality, all with the same first dimension ``N``; the mapping's
            order is the modality order. Floating-point inputs must be finite; integer inputs
            (token ids, ...) are accepted as they are.
        labels: integer class labels, shape ``(N,)``; stored as int64.
        num_classes: ``C``; ``None`` infers ``max(labels) + 1``.

    Raises:
        ValueError: no modality, a non-tensor or 0-d input, mismatched lengths, an empty
            dataset, a non-finite input (the message names the modality and the first bad
            sample), non-integer labels or labels outside ``[0, C)``.
    """

    def __init__(
        self,
        inputs: Mapping[str, torch.Tensor],
        labels: torch.Tensor,
        num_classes: int | None = None,
    ) -> None:
        if not isinstance(inputs, Mapping) or len(inputs) == 0:
            raise ValueError(
                f"inputs must be a non-empty mapping of modality -> tensor, got {inputs!r}"
            )
        if not isinstance(labels, torch.Tensor):
            raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        if labels.ndim != 1:
            raise ValueError(
                f"labels must be 1-D (one per sample), got shape {tuple(labels.shape)}"
            )
        if labels.dtype not in _INTEGER_DTYPES:
            raise ValueError(f"labels must have an integer dtype, got {labels.dtype}")
        n = labels.shape[0]
        for m, x in inputs.items():
            if not isinstance(m, str) or not m:
                raise ValueError(f"modality names must be non-empty strings, got {m!r}")
            if not isinstance(x, torch.Tensor):
                raise ValueError(f"inputs[{m!r}] must be a torch.Tensor, got {type(x).__name__}")
            if x.ndim == 0:
                raise ValueError(f"inputs[{m!r}] must have a sample axis, got a 0-d tensor")
            if x.shape[0] != n:
                raise ValueError(
                    f"inputs[{m!r}] has {x.shape[0]} samples but labels has {n}; "
                    "every modality needs one row per label"
                )
        if n == 0:
            raise ValueError("dataset is empty: labels has 0 samples")
        for m, x in inputs.items():
            if x.is_floating_point() or x.is_complex():
                finite = torch.isfinite(x.reshape(n, -1)).all(dim=1)
                if not bool(finite.all()):
                    bad = int(torch.nonzero(~finite)[0, 0])
                    raise ValueError(f"inputs[{m!r}] has non-finite values, first at sample {bad}")
        labels = labels.to(torch.int64)
        if num_classes is None:
            num_classes = int(labels.max()) + 1
        num_classes = check_int(num_classes, "num_classes", low=1)
        out = (labels < 0) | (labels >= num_classes)
        if bool(out.any()):
            bad = int(torch.nonzero(out)[0, 0])
            raise ValueError(
                f"labels must lie in [0, {num_classes}), got labels[{bad}] = {int(labels[bad])}"
            )
        self._set(dict(inputs), labels, num_classes)

    def _set(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int) -> None:
        self.inputs: dict[str, torch.Tensor] = inputs
        self.labels: torch.Tensor = labels
        self.num_classes = num_classes
        self.modalities = tuple(inputs)
        self.input_shapes = {m: tuple(x.shape[1:]) for m, x in inputs.items()}

    @classmethod
    def _trusted(
        cls, inputs: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int
    ) -> TensorDataset:
        """A dataset from already validated tensors (no checks, no copies)."""
        ds = cls.__new__(cls)
        ds._set(inputs, labels, num_classes)
        return ds

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> Batch:
        return {m: x[i] for m, x in self.inputs.items()}, self.labels[i]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{m}: {s}" for m, s in self.input_shapes.items())
        return f"TensorDataset(n={len(self)}, num_classes={self.num_classes}, inputs={{{shapes}}})"

    def subset(self, indices: Sequence[int] | torch.Tensor) -> TensorDataset:
        """The samples at ``indices`` (integer indices, in that order; repeats allowed).

        Raises:
            ValueError: non-integer, non-1-D or out-of-range indices, or an empty selection.
        """
        idx = torch.as_tensor(indices)
        if idx.ndim != 1 or (idx.numel() > 0 and idx.dtype not in _INTEGER_DTYPES):
            raise ValueError(
                f"indices must be a 1-D sequence of integers, got shape {tuple(idx.shape)} "
                f"and dtype {idx.dtype}"
            )
        if idx.numel() == 0:
            raise ValueError("dataset is empty: subset got no indices")
        idx = idx.to(torch.int64)
        n = len(self)
        out = (idx < -n) | (idx >= n)
        if bool(out.any()):
            bad = int(torch.nonzero(out)[0, 0])
            raise ValueError(
                f"indices must lie in [-{n}, {n}), got indices[{bad}] = {int(idx[bad])}"
            )
        return TensorDataset._trusted(
            {m: x[idx] for m, x in self.inputs.items()}, self.labels[idx], self.num_classes
        )


def _order(n: int, shuffle: bool, seed: int) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


def iterate_batches(
    dataset: MultimodalDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Mini-batches ``({modality: (B, ...) tensor}, (B,) int64 labels)`` over one epoch.

    The order is ``torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))``
    when ``shuffle`` (the dataset order otherwise), so the same seed gives the same batches;
    pass e.g. ``seed + epoch`` for a fresh order per epoch. A `TensorDataset` is batched by
    index slicing (fast); any other `MultimodalDataset` through a `DataLoader` (default
    collate, main process) that follows the same order. ``drop_last`` drops a final batch
    smaller than ``batch_size``.

    Raises:
        ValueError: ``batch_size`` not a positive integer or ``dataset`` not a dataset.
    """
    check_int(batch_size, "batch_size", low=1)
    if not isinstance(dataset, Dataset):
        raise ValueError(f"dataset must be a MultimodalDataset, got {type(dataset).__name__}")
    n = len(dataset)
    order = _order(n, shuffle, seed)
    if isinstance(dataset, TensorDataset):
        return _tensor_batches(dataset, order, batch_size, shuffle, drop_last)
    return _loader_batches(dataset, order, batch_size, drop_last)


def _tensor_batches(
    dataset: TensorDataset, order: torch.Tensor, batch_size: int, shuffle: bool, drop_last: bool
) -> Iterator[Batch]:
    n = order.shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if drop_last and stop - start < batch_size:
            return
        if shuffle:
            idx = order[start:stop]
            yield {m: x[idx] for m, x in dataset.inputs.items()}, dataset.labels[idx]
        else:
            yield (
                {m: x[start:stop] for m, x in dataset.inputs.items()},
                dataset.labels[start:stop],
            )


def _loader_batches(
    dataset: Dataset[Any], order: torch.Tensor, batch_size: int, drop_last: bool
) -> Iterator[Batch]:
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(), drop_last=drop_last)
    for inputs, labels in loader:
        yield dict(inputs), torch.as_tensor(labels, dtype=torch.int64)


def iterate_spans(dataset: MultimodalDataset, spans: Sequence[tuple[int, int]]) -> Iterator[Batch]:
    """One batch per index range ``[a, b)`` of ``spans`` (each non-empty), in that order: a
    process's share of the batches of a sharded evaluation. A `TensorDataset` is sliced (no
    copy); any other `MultimodalDataset` reads only those samples through a `DataLoader`
    (default collate, main process)."""
    if isinstance(dataset, TensorDataset):
        for a, b in spans:
            yield {m: x[a:b] for m, x in dataset.inputs.items()}, dataset.labels[a:b]
        return
    if not spans:
        return
    loader = DataLoader(dataset, batch_sampler=[list(range(a, b)) for a, b in spans])
    for inputs, labels in loader:
        yield dict(inputs), torch.as_tensor(labels, dtype=torch.int64)


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's train and test splits and what the adapter needs to build a model for it.

    Attributes:
        name: the registry name.
        train: the training split.
        test: the test split (same modalities and classes).
        encoders: the recommended encoder per modality: ``(kind, options)`` for
            ``moo_multimodal.models.make_encoder`` (e.g. ``("mlp", {"hidden": (64, 64)})``).
        description: a human-readable description (sizes, options used, provenance).
        valid: the dataset's own validation split, or ``None`` when it has none (the
            trainer then holds out a seeded stratified part of ``train``:
            ``TrainConfig.valid_fraction``).

    Raises:
        ValueError: the splits disagree on modalities or classes, or ``encoders`` does not
            have exactly one entry per modality.
    """

    name: str
    train: MultimodalDataset
    test: MultimodalDataset
    encoders: dict[str, tuple[str, dict[str, Any]]]
    description: str
    valid: MultimodalDataset | None = None

    def __post_init__(self) -> None:
        others = [("test", self.test)]
        if self.valid is not None:
            others.append(("valid", self.valid))
        for name, split in others:
            if tuple(self.train.modalities) != tuple(split.modalities):
                raise ValueError(
                    f"train and {name} modalities differ: {self.train.modalities} vs "
                    f"{split.modalities}"
                )
            if self.train.num_classes != split.num_classes:
                raise ValueError(
                    f"train and {name} num_classes differ: {self.train.num_classes} vs "
                    f"{split.num_classes}"
                )
        if set(self.encoders) != set(self.train.modalities):
            raise ValueError(
                f"encoders must have one entry per modality {self.train.modalities}, "
                f"got {sorted(self.encoders)}"
            )

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality names (of the training split)."""
        return tuple(self.train.modalities)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return self.train.num_classes

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """One sample's input shape per modality (of the training split)."""
        return dict(self.train.input_shapes)
