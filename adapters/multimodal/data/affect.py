"""MultiBench's affect sets, CMU-MOSEI (``"cmu-mosei"``) and UR-FUNNY (``"ur-funny"``), read
from the layout of its reference code.

Nothing is downloaded: the data are read from ``root``, laid out as the reference code expects
(``moo-mm datasets`` prints the layouts; `CMU_MOSEI_LAYOUT` and `UR_FUNNY_LAYOUT` hold them).
The loaders check the pickle when they are called: it is read whole, and a missing or malformed
file fails with its path and what was expected.

MultiBench (P. P. Liang et al., "MultiBench: Multiscale Benchmarks for Multimodal
Representation Learning", NeurIPS 2021 Datasets and Benchmarks; github.com/pliang279/
MultiBench), in-memory `TensorDataset` subclasses:

- ``"cmu-mosei"`` / ``"ur-funny"`` (`MultiBenchAffect`): CMU-MOSEI (A. Zadeh, P. P. Liang,
  S. Poria, E. Cambria and L.-P. Morency, "Multimodal Language Analysis in the Wild", ACL 2018)
  and UR-FUNNY (M. K. Hasan et al., "UR-FUNNY: A Multimodal Language Dataset for Understanding
  Humor", EMNLP 2019); ``datasets/affect/get_data.py``: a pickle ``{"train", "valid", "test"}``
  of dicts with ``vision``, ``audio``, ``text`` arrays ``(N, T, F)`` (T = 50; MOSEI F = 35, 74,
  300; UR-FUNNY 371, 81, 300) and ``labels``. MOSEI labels are sentiment scores in [-3, 3]:
  ``score > 0`` is class 1 (MultiBench's binary task) or ``round(clip(score, -3, 3)) + 3``
  (7 classes); UR-FUNNY labels are humor 0 / 1 (stored -1 / 1 labels are read too, -1 -> 0).
  As MultiBench: samples whose text is all zero are dropped and ``-inf`` audio entries become 0.

CMU-MOSEI file names, first found wins: ``mosei_senti_data.pkl`` (MultiBench / MulT),
``mosei_raw.pkl``, then ``mosei_senti_data_noalign.pkl`` (the default of BalanceBenchmark,
``balancemm/datasets/Mosei_dataset.py``, which reads ``<data>_data_noalign.pkl`` unless
``if_align``; its sequence lengths may differ per modality). BalanceBenchmark's binary label is
``score >= 0`` -> 1 (``acc2``), not MultiBench's ``score > 0``; this loader uses MultiBench's.
UR-FUNNY file names, first found wins: ``humor.pkl`` (MultiBench's
``examples/affect/affect_late_fusion.py``), then ``humor_data.pkl`` (its
``examples/affect/humor_late_fusion.py``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moo.validation import check_bool, check_choice
from moo_multimodal.data._dataset import DatasetSplits, TensorDataset
from moo_multimodal.data._files import require_file
from moo_multimodal.data._registry import register_dataset, require_root

__all__ = [
    "CMU_MOSEI_LAYOUT",
    "UR_FUNNY_LAYOUT",
    "MultiBenchAffect",
    "load_affect_pickle",
    "z_normalize",
]

CMU_MOSEI_LAYOUT = """\
<root>/mosei_senti_data.pkl  (MultiBench / MulT; else mosei_raw.pkl, else BalanceBenchmark's
    mosei_senti_data_noalign.pkl: the first found in this order; or pass the .pkl as root)
    a pickled dict {'train', 'valid', 'test'}, each a dict of numpy arrays:
    'vision' (N, 50, 35), 'audio' (N, 50, 74), 'text' (N, 50, 300) float features
    (front zero-padded; in the _noalign file the lengths may differ per modality) and
    'labels' (N, 1, 1) sentiment scores in [-3, 3] (-> binary: score > 0; or 7 classes)"""

UR_FUNNY_LAYOUT = """\
<root>/humor.pkl  (MultiBench; else humor_data.pkl: the first found in this order;
    or pass the .pkl as root)
    a pickled dict {'train', 'valid', 'test'}, each a dict of numpy arrays:
    'vision' (N, 50, 371), 'audio' (N, 50, 81), 'text' (N, 50, 300) float features and
    'labels' (N,) or (N, 1) humor labels 0 / 1 (or -1 / 1, read as 0 / 1)"""

AFFECT_MODALITIES: tuple[str, ...] = ("vision", "audio", "text")
AFFECT_SPLITS: tuple[str, ...] = ("train", "valid", "test")
MOSEI_LABELS: tuple[str, ...] = ("binary", "7class")
MOSEI_FILES: tuple[str, ...] = (
    "mosei_senti_data.pkl",
    "mosei_raw.pkl",
    "mosei_senti_data_noalign.pkl",
)
UR_FUNNY_FILES: tuple[str, ...] = ("humor.pkl", "humor_data.pkl")


def _first_step(x: np.ndarray) -> np.ndarray:
    """Per sample of an ``(N, T, F)`` array: the first step holding a non-zero entry (``T``
    when there is none), i.e. the length of the leading zero padding."""
    nonzero = (x != 0).any(axis=2)
    start: np.ndarray = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), x.shape[1])
    return start


def z_normalize(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """MultiBench's per-sample z-normalization of an ``(N, T, F)`` float array, at fixed shape.

    Sample ``i`` is normalized over its steps ``start[i]:`` (its leading padding trimmed), per
    feature, with the mean and the unbiased standard deviation (ddof 1, as ``torch.std`` in
    MultiBench's ``Affectdataset.__getitem__``). Steps before ``start[i]`` (trimmed by
    MultiBench) are 0 in the result. Guard: a feature whose values are all equal over those
    steps, or whose std is not a positive finite number, and every feature of a sample with at
    most one step left, become 0 (MultiBench's ``nan_to_num`` makes the same 0 of ``0 / 0`` and
    of the undefined one-step std). Computed in float64, returned as float32.
    """
    out = np.zeros(x.shape, dtype=np.float32)
    for i, s in enumerate(start.tolist()):
        seq = x[i, s:].astype(np.float64)
        if seq.shape[0] <= 1:
            continue
        std = seq.std(axis=0, ddof=1)
        ok = np.isfinite(std) & (std > 0) & ~(seq == seq[0]).all(axis=0)
        normed = (seq - seq.mean(axis=0)) / np.where(ok, std, 1.0)
        out[i, s:] = np.where(ok, normed, 0.0)
    return out


def load_affect_pickle(path: str | os.PathLike[str], dataset: str = "affect") -> dict[str, Any]:
    """The MultiBench affect pickle at ``path`` (a dict with ``train``, ``valid``, ``test``).

    Raises:
        FileNotFoundError: ``path`` is missing.
        ValueError: it is not a readable pickle of a dict holding the three splits.
    """
    file = require_file(Path(path), dataset, "pickle")
    try:
        try:
            with open(file, "rb") as fh:
                data = pickle.load(fh)
        except UnicodeDecodeError:  # pickles written by Python 2 (the CMU SDK era)
            with open(file, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except Exception as err:  # any unpickling failure names the file
        raise ValueError(f"dataset {dataset!r}: cannot unpickle {str(file)!r}: {err}") from err
    if not isinstance(data, Mapping):
        raise ValueError(
            f"dataset {dataset!r}: {str(file)!r} must hold a dict with keys {AFFECT_SPLITS}, "
            f"got {type(data).__name__}"
        )
    for split in AFFECT_SPLITS:
        if split not in data or not isinstance(data[split], Mapping):
            raise ValueError(
                f"dataset {dataset!r}: {str(file)!r} has no {split!r} split (a dict of arrays); "
                f"keys: {sorted(map(str, data))}"
            )
    return dict(data)


class MultiBenchAffect(TensorDataset):
    """One split of a MultiBench affect pickle in memory: ``vision``, ``audio`` and ``text``
    float32 ``(T, F)`` sequences (as stored: zero-padded at the front, T = 50 in MultiBench's
    files) and integer labels.

    As MultiBench's ``get_dataloader``: samples whose text features are all zero are dropped
    (``drop_entry``), ``-inf`` entries become 0 (MultiBench does so for audio; any other
    non-finite value is zeroed too). MultiBench's ``Affectdataset`` then trims each *sample's*
    leading padding (all three modalities from the first step where the sample's text is
    non-zero, its default ``aligned=True``, the only mode ``get_dataloader`` uses), and its
    collate function pads each batch again *at the end* (``pad_sequence``; or to
    ``max_pad_num`` with ``max_pad``). Here the stored front-padded length is kept: a fixed
    shape per modality, the padding first.

    ``z_norm`` (off by default, as in MultiBench) does what MultiBench's
    ``Affectdataset(z_norm=True)`` does, at fixed shape (`z_normalize`): each sample is
    normalized per feature over its steps after the leading padding, with the unbiased std; the
    padding steps are 0. The trimming start is the first non-zero text step, for each modality
    of text's length; a modality of another length (BalanceBenchmark's ``_noalign`` file, which
    MultiBench's aligned trimming does not fit) starts at its own first non-zero step, as
    MultiBench's ``aligned=False``. A feature constant over those steps, and a sample with at
    most one step left, become 0. (MultiBench's module function ``z_norm``, over the padded
    steps with ddof 0, is not what its loader calls.)

    Args:
        data: the split's dict (``vision``, ``audio``, ``text``, ``labels``).
        labels: ``"binary"`` (MultiBench's ``score > 0`` -> 1, else 0), ``"7class"``
            (``round(clip(score, -3, 3)) + 3``) or ``"humor"`` (0 / 1 as stored; a split
            stored as -1 / 1, the values MultiBench's regression task makes of 0 / 1, is read
            with -1 -> 0).
        z_norm: MultiBench's per-sample, per-feature z-normalization after the leading padding.
        drop_empty_text: drop the samples whose text is all zero.
        source: the file and split named in messages.

    Raises:
        ValueError: a missing key, a modality not 3-D ``(N, T, F)``, mismatched sample counts,
            labels not one value per sample, humor labels other than 0 / 1 or -1 / 1 (a split
            holding both 0 and -1 is refused as ambiguous), or no sample left.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        labels: str = "binary",
        z_norm: bool = False,
        drop_empty_text: bool = True,
        source: str = "affect data",
    ) -> None:
        check_choice(labels, "labels", (*MOSEI_LABELS, "humor"))
        check_bool(z_norm, "z_norm")
        check_bool(drop_empty_text, "drop_empty_text")
        for key in (*AFFECT_MODALITIES, "labels"):
            if key not in data:
                raise ValueError(f"{source}: missing key {key!r}; keys: {sorted(map(str, data))}")
        arrays: dict[str, np.ndarray] = {}
        for m in AFFECT_MODALITIES:
            x = np.asarray(data[m])
            if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
                raise ValueError(
                    f"{source}: {m!r} must be a numeric (N, T, F) array, got dtype {x.dtype} "
                    f"and shape {x.shape}"
                )
            arrays[m] = x
        n = arrays["vision"].shape[0]
        raw = np.asarray(data["labels"], dtype=np.float64)
        if raw.ndim == 0 or raw.shape[0] != n or raw.reshape(n, -1).shape[1] != 1:
            raise ValueError(
                f"{source}: 'labels' must hold one value per sample ({n}), got shape {raw.shape}"
            )
        for m, x in arrays.items():
            if x.shape[0] != n:
                raise ValueError(f"{source}: {m!r} has {x.shape[0]} samples, 'vision' has {n}")
        y = raw.reshape(n)
        keep = np.ones(n, dtype=bool)
        if drop_empty_text:
            keep = np.nan_to_num(arrays["text"].reshape(n, -1)).sum(axis=1) != 0
        if not keep.any():
            raise ValueError(f"{source}: no sample left (every sample's text is all zero)")
        kept = {
            m: np.nan_to_num(x[keep].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            for m, x in arrays.items()
        }
        if z_norm:
            text_start = _first_step(kept["text"])
            for m, x in kept.items():
                aligned = x.shape[1] == kept["text"].shape[1]
                kept[m] = z_normalize(x, text_start if aligned else _first_step(x))
        inputs = {
            m: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for m, x in kept.items()
        }
        y = y[keep]
        if not np.isfinite(y).all():
            raise ValueError(f"{source}: 'labels' has non-finite values")
        if labels == "binary":
            classes, target = 2, (y > 0).astype(np.int64)
        elif labels == "7class":
            classes, target = 7, (np.round(np.clip(y, -3.0, 3.0)) + 3).astype(np.int64)
        else:
            if not np.isin(y, (-1.0, 0.0, 1.0)).all():
                bad = y[~np.isin(y, (-1.0, 0.0, 1.0))][0]
                raise ValueError(f"{source}: humor labels must be 0 or 1 (or -1 or 1), got {bad!r}")
            if (y == -1.0).any() and (y == 0.0).any():
                raise ValueError(
                    f"{source}: humor labels mix 0 and -1 (stored 0 / 1 or -1 / 1 expected, "
                    "not both)"
                )
            classes, target = 2, (y > 0).astype(np.int64)
        super().__init__(inputs, torch.from_numpy(target), num_classes=classes)
        self.dropped = int(n - keep.sum())


def _affect_file(base: Path, candidates: Sequence[str], name: str) -> Path:
    if base.is_file():
        return base
    for file in candidates:
        if (base / file).is_file():
            return base / file
    others = "".join(f" (or {str(base / f)!r})" for f in candidates[1:])
    raise FileNotFoundError(
        f"dataset {name!r}: missing pickle {str(base / candidates[0])!r}{others}; the first "
        "found in this order is read"
    )


def _affect_splits(
    name: str,
    path: Path,
    *,
    labels: str,
    z_norm: bool,
    drop_empty_text: bool,
    test_split: str,
    hidden: Mapping[str, int],
) -> DatasetSplits:
    check_choice(test_split, "test_split", ("test", "valid"))
    data = load_affect_pickle(path, name)
    made = {
        split: MultiBenchAffect(
            data[split],
            labels=labels,
            z_norm=z_norm,
            drop_empty_text=drop_empty_text,
            source=f"dataset {name!r}: {str(path)!r}[{split!r}]",
        )
        for split in dict.fromkeys(("train", test_split, "valid"))
    }
    train, test = made["train"], made[test_split]
    # the validation split of model selection: the pickle's, unless it is the test split here
    valid = made["valid"] if test_split == "test" else None
    for split, other in made.items():
        for m in AFFECT_MODALITIES:
            if train.input_shapes[m][1] != other.input_shapes[m][1]:
                raise ValueError(
                    f"dataset {name!r}: {str(path)!r}: {m!r} has {train.input_shapes[m][1]} "
                    f"features in 'train' but {other.input_shapes[m][1]} in {split!r}"
                )
    shapes = ", ".join(f"{m} {train.input_shapes[m]}" for m in AFFECT_MODALITIES)
    dropped = sum(split.dropped for split in made.values())
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        # MultiBench's late-fusion GRU widths for these datasets
        encoders={m: ("gru", {"hidden": hidden[m]}) for m in AFFECT_MODALITIES},
        description=(
            f"{name}: {len(train)} train / "
            + (f"{len(valid)} valid / " if valid is not None else "")
            + f"{len(test)} {test_split} samples, labels {labels} "
            f"({train.num_classes} classes), {shapes}"
            + (", z-normalized" if z_norm else "")
            + (f"; {dropped} sample(s) with empty text dropped" if dropped else "")
            + f"; MultiBench pickle {str(path)!r}"
        ),
        valid=valid,
    )


def _load_cmu_mosei(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    labels: str = "binary",
    z_norm: bool = False,
    drop_empty_text: bool = True,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"cmu-mosei"`` loader: ``labels`` ``"binary"`` (MultiBench) or ``"7class"``."""
    name = "cmu-mosei"
    base = require_root(root, name, CMU_MOSEI_LAYOUT)
    check_choice(labels, "labels", MOSEI_LABELS)
    path = _affect_file(base, MOSEI_FILES, name)
    return _affect_splits(
        name,
        path,
        labels=labels,
        z_norm=z_norm,
        drop_empty_text=drop_empty_text,
        test_split=test_split,
        hidden={"vision": 64, "audio": 128, "text": 512},
    )


def _load_ur_funny(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    z_norm: bool = False,
    drop_empty_text: bool = True,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"ur-funny"`` loader: humor (1) or not (0)."""
    name = "ur-funny"
    base = require_root(root, name, UR_FUNNY_LAYOUT)
    path = _affect_file(base, UR_FUNNY_FILES, name)
    return _affect_splits(
        name,
        path,
        labels="humor",
        z_norm=z_norm,
        drop_empty_text=drop_empty_text,
        test_split=test_split,
        hidden={"vision": 512, "audio": 256, "text": 600},
    )


# ----------------------------------------------------------------------------- registry

register_dataset(
    "cmu-mosei",
    _load_cmu_mosei,
    "CMU-MOSEI sentiment from vision/audio/text feature sequences, binary or 7 classes "
    "(MultiBench pickle; options labels, z_norm, drop_empty_text, test_split)",
    CMU_MOSEI_LAYOUT,
)
register_dataset(
    "ur-funny",
    _load_ur_funny,
    "UR-FUNNY humor detection from vision/audio/text feature sequences, 2 classes "
    "(MultiBench pickle; options z_norm, drop_empty_text, test_split)",
    UR_FUNNY_LAYOUT,
)
