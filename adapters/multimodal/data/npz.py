"""One's own data in one file: a NumPy ``.npz`` archive that `load_dataset` (and
``moo-mm train --dataset path/to/data.npz``) reads.

The archive (``numpy.savez`` / ``savez_compressed``) holds, for ``N`` samples:

- ``labels``: shape ``(N,)``, integer classes in ``[0, C)``;
- one array per modality, shape ``(N, ...)`` (any key other than the reserved ones below is
  a modality, named by its key, in the archive's order): floating-point inputs (finite), or
  integer inputs (token ids, used as stored);
- optionally ``train_idx``, ``valid_idx``, ``test_idx``: 1-D integer arrays of sample indices
  in ``[0, N)``, pairwise disjoint: the splits. Without ``test_idx`` the test split is a
  seeded stratified hold-out of the samples not in ``valid_idx`` (``test_fraction`` of each
  class, 0.2 by default, drawn with the loader's ``seed``); without ``train_idx`` the
  training split is every sample in no other split. ``valid_idx`` is the dataset's own
  validation split (model selection); without it the trainer holds one out of the training
  split (``TrainConfig.valid_fraction``);
- optionally ``num_classes``: a 0-d integer (default ``max(labels) + 1``).

The recommended encoder of a modality follows its sample shape: ``(F,)`` an MLP, ``(T, F)`` a
GRU, ``(C, H, W)`` a CNN, anything else an MLP on the flattened input (``--encoder`` chooses
another). Arrays are read with ``allow_pickle=False``: an archive holding pickled objects is
refused.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moo.validation import check_int
from moo_multimodal.data._dataset import DatasetSplits, TensorDataset
from moo_multimodal.data._split import stratified_indices

LABELS = "labels"
SPLIT_KEYS: tuple[str, ...] = ("train_idx", "valid_idx", "test_idx")
RESERVED: tuple[str, ...] = (LABELS, *SPLIT_KEYS, "num_classes")

NPZ_LAYOUT = (
    "an .npz file: 'labels' (N,) integers in [0, C); one (N, ...) array per modality (any "
    "other key); optional 'train_idx', 'valid_idx', 'test_idx' (disjoint sample indices) and "
    "'num_classes'"
)


def is_npz_name(name: object) -> bool:
    """Whether a dataset name is the path of an ``.npz`` archive (it ends with ``.npz``)."""
    return isinstance(name, str) and name.lower().endswith(".npz")


def _encoder(shape: tuple[int, ...], floating: bool) -> tuple[str, dict[str, Any]]:
    if floating and len(shape) == 2:
        return "gru", {}
    if floating and len(shape) == 3:
        return "cnn", {}
    return "mlp", {}


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, in its order."""
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"dataset file {str(path)!r} {where} (expected {NPZ_LAYOUT})")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"dataset file {str(path)!r} is not a readable .npz archive: {exc}"
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"dataset file {str(path)!r} holds a single array, not an .npz archive of named "
            f"arrays ({NPZ_LAYOUT})"
        )
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            try:
                arrays[key] = np.asarray(archive[key])
            except ValueError as exc:  # object arrays: allow_pickle=False
                raise ValueError(
                    f"dataset file {str(path)!r}: array {key!r} cannot be read without "
                    f"unpickling ({exc}); store numbers, not Python objects"
                ) from exc
    return arrays


def _indices(path: Path, key: str, value: np.ndarray, n: int) -> np.ndarray:
    where = f"dataset file {str(path)!r}: {key!r}"
    if value.ndim != 1 or (value.size > 0 and not np.issubdtype(value.dtype, np.integer)):
        raise ValueError(
            f"{where} must be a 1-D array of integer sample indices, got shape "
            f"{value.shape} of {value.dtype}"
        )
    idx = value.astype(np.int64)
    if idx.size == 0:
        raise ValueError(f"{where} is empty (leave the key out instead)")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise ValueError(f"{where} must lie in [0, {n}), got {key}[{bad[0]}] = {idx[bad[0]]}")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"{where} repeats sample indices")
    return idx


def load_npz(
    path: str | os.PathLike[str], *, seed: int = 0, test_fraction: float = 0.2
) -> DatasetSplits:
    """The splits of the ``.npz`` archive at ``path`` (layout: the module's docstring).

    Args:
        path: the archive.
        seed: seeds the test hold-out when the archive has no ``test_idx``.
        test_fraction: the fraction of each class held out as the test split when the
            archive has no ``test_idx``, in ``(0, 1)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: naming the file and the key: not an ``.npz`` archive, no ``labels``, no
            modality, a modality whose length is not ``N``, non-finite values (with the
            first bad sample), labels that are not integers in ``[0, C)``, split indices
            that are not 1-D integers in ``[0, N)`` or overlap, an empty split, pickled
            objects.
    """
    file = Path(path).expanduser()
    arrays = _read(file)
    where = f"dataset file {str(file)!r}"
    if LABELS not in arrays:
        raise ValueError(
            f"{where} has no {LABELS!r} array (keys: {', '.join(arrays) or 'none'}); "
            f"expected {NPZ_LAYOUT}"
        )
    labels = arrays[LABELS]
    if labels.ndim != 1:
        raise ValueError(f"{where}: {LABELS!r} must have shape (N,), got {labels.shape}")
    n = labels.shape[0]
    if n == 0:
        raise ValueError(f"{where}: {LABELS!r} is empty")
    integral = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating)
        and bool(np.all(np.isfinite(labels)))
        and bool(np.all(labels == np.round(labels)))
    )
    if not integral:
        raise ValueError(f"{where}: {LABELS!r} must hold integer classes, got dtype {labels.dtype}")
    y = labels.astype(np.int64)
    num_classes = int(y.max()) + 1
    if "num_classes" in arrays:
        count = arrays["num_classes"]
        if count.ndim != 0 or not np.issubdtype(count.dtype, np.integer):
            raise ValueError(f"{where}: 'num_classes' must be a 0-d integer, got {count!r}")
        num_classes = int(count)
    if y.min() < 0 or y.max() >= num_classes:
        bad = int(np.flatnonzero((y < 0) | (y >= num_classes))[0])
        raise ValueError(
            f"{where}: {LABELS!r} must lie in [0, {num_classes}), got labels[{bad}] = {y[bad]}"
        )
    modalities = [k for k in arrays if k not in RESERVED]
    if not modalities:
        raise ValueError(
            f"{where} has no modality array (only {', '.join(arrays)}): add one (N, ...) "
            "array per modality"
        )
    inputs: dict[str, torch.Tensor] = {}
    for m in modalities:
        x = arrays[m]
        if x.ndim == 0 or x.shape[0] != n:
            got = "a 0-d array" if x.ndim == 0 else f"{x.shape[0]} samples (shape {x.shape})"
            raise ValueError(
                f"{where}: modality {m!r} has {got}, but {LABELS!r} has {n}: every "
                "modality needs one row per label"
            )
        if np.issubdtype(x.dtype, np.floating):
            finite = np.isfinite(x.reshape(n, -1)).all(axis=1)
            if not finite.all():
                bad = int(np.flatnonzero(~finite)[0])
                raise ValueError(
                    f"{where}: modality {m!r} has non-finite values (NaN or inf), first at "
                    f"sample {bad}"
                )
            inputs[m] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        elif np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
            inputs[m] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))
        else:
            raise ValueError(f"{where}: modality {m!r} must hold numbers, got dtype {x.dtype}")
    given = {k: _indices(file, k, arrays[k], n) for k in SPLIT_KEYS if k in arrays}
    for i, a in enumerate(SPLIT_KEYS):
        for b in SPLIT_KEYS[i + 1 :]:
            if a in given and b in given:
                common = np.intersect1d(given[a], given[b])
                if common.size:
                    raise ValueError(
                        f"{where}: {a!r} and {b!r} share sample {int(common[0])} "
                        f"({common.size} in all): the splits must be disjoint"
                    )
    valid_idx = given.get("valid_idx")
    test_idx = given.get("test_idx")
    how = "given"
    if test_idx is None:
        rest = np.setdiff1d(np.arange(n), valid_idx if valid_idx is not None else [])
        if "train_idx" in given:
            rest = np.setdiff1d(rest, given["train_idx"])
            if rest.size == 0:
                raise ValueError(
                    f"{where}: 'train_idx' and 'valid_idx' cover every sample: no test "
                    "sample is left (add 'test_idx', or leave samples out of 'train_idx')"
                )
            test_idx = rest
        else:
            try:
                _, held = stratified_indices(y[rest], test_fraction, seed=seed)
            except ValueError as exc:
                raise ValueError(f"{where}: test hold-out: {exc}") from exc
            test_idx = rest[held]
            how = f"held out ({test_fraction:g} of each class, seed {seed})"
    train_idx = given.get("train_idx")
    if train_idx is None:
        used = np.concatenate([test_idx, valid_idx if valid_idx is not None else []])
        train_idx = np.setdiff1d(np.arange(n), used.astype(np.int64))
        if train_idx.size == 0:
            raise ValueError(f"{where}: the other splits cover every sample: no training sample")
    data = TensorDataset(inputs, torch.from_numpy(y), num_classes)

    def part(idx: np.ndarray) -> TensorDataset:
        return data.subset(torch.from_numpy(np.asarray(idx, dtype=np.int64)))

    train, test = part(train_idx), part(test_idx)
    valid = None if valid_idx is None else part(valid_idx)
    shapes = ", ".join(f"{m} {tuple(x.shape[1:])}" for m, x in inputs.items())
    sizes = f"{len(train)} train / " + (f"{len(valid)} valid / " if valid is not None else "")
    return DatasetSplits(
        name=str(file),
        train=train,
        test=test,
        encoders={
            m: _encoder(tuple(x.shape[1:]), x.is_floating_point()) for m, x in inputs.items()
        },
        description=(
            f"{file.name}: {sizes}{len(test)} test samples (test split {how}), "
            f"{num_classes} classes, {shapes}; read from {str(file)!r}"
        ),
        valid=valid,
    )


def _check_test_fraction(value: Any) -> float:
    from moo.validation import check_real

    return check_real(value, "test_fraction", low=0.0, high=1.0, low_open=True, high_open=True)


def load_npz_dataset(
    name: str, *, root: Any = None, seed: int = 0, **options: Any
) -> DatasetSplits:
    """`load_dataset`'s path for a name ending in ``.npz``: the archive at ``name`` (relative
    to ``root`` when given and ``name`` is relative); the one option is ``test_fraction``.

    Raises:
        ValueError: an unknown option (the message lists the accepted one); see `load_npz`.
        FileNotFoundError: see `load_npz`.
    """
    unknown = sorted(set(options) - {"test_fraction"})
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for the .npz dataset {name!r}; accepted: test_fraction"
        )
    path = Path(name).expanduser()
    if root is not None and not path.is_absolute():
        path = Path(root).expanduser() / path
    fraction = _check_test_fraction(options.get("test_fraction", 0.2))
    return load_npz(path, seed=check_int(seed, "seed", low=0), test_fraction=fraction)
