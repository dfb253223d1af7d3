"""Walk a user's copy of a dataset end to end before a long run: `check_dataset`.

A loader validates what it can cheaply when a dataset is built (the listed files exist, the
first clip decodes). A damaged file in the middle of a split would still stop training
mid-epoch, hours into a GPU run. `check_dataset` builds the splits with ``missing="skip"``
(for loaders that take it: every missing file is listed, not only the first), then opens and
decodes **every** sample of both splits, and reports the counts per split and class, the
missing files and the unreadable ones, each by name. ``moo-mm datasets check NAME --root DIR``
prints this report and exits non-zero when something is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moo.validation import require
from moo_multimodal.data._dataset import MultimodalDataset
from moo_multimodal.data._registry import load_dataset, takes_option

__all__ = ["DatasetCheck", "SplitCheck", "check_dataset"]


@dataclass(frozen=True)
class SplitCheck:
    """What walking one split found.

    Attributes:
        split: ``"train"`` or ``"test"``.
        listed: samples the split holds after the loader dropped missing files.
        per_class: decoded samples per class index, ``num_classes`` entries.
        missing: files listed by the annotations but absent on disk (skipped by the loader).
        unreadable: ``(sample index, message)`` of each sample that failed to load; the
            loaders' messages name the file.
    """

    split: str
    listed: int
    per_class: tuple[int, ...]
    missing: tuple[str, ...]
    unreadable: tuple[tuple[int, str], ...]

    @property
    def ok(self) -> bool:
        """Nothing missing, nothing unreadable."""
        return not self.missing and not self.unreadable


@dataclass(frozen=True)
class DatasetCheck:
    """The report of `check_dataset`.

    Attributes:
        name: the dataset's registry name.
        num_classes: ``C``.
        modalities: the modality names.
        splits: the train and the test split's `SplitCheck`.
    """

    name: str
    num_classes: int
    modalities: tuple[str, ...]
    splits: tuple[SplitCheck, ...]

    @property
    def ok(self) -> bool:
        """Every split is complete and readable."""
        return all(s.ok for s in self.splits)


def check_dataset(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    progress: bool = False,
    **options: Any,
) -> DatasetCheck:
    """Load ``name`` and decode every sample of both splits.

    Args:
        name: a registered dataset (see `available_datasets`).
        root: its data folder.
        progress: a tqdm progress bar per split (needs ``tqdm``).
        **options: the loader's options, as for `load_dataset`. ``missing`` defaults to
            ``"skip"`` for loaders that take it, so that every missing file is reported.

    Returns:
        The `DatasetCheck`; `DatasetCheck.ok` is ``False`` when a file is missing or
        unreadable.

    Raises:
        ValueError, FileNotFoundError: what `load_dataset` raises when the splits cannot be
            built at all (an unknown name or option, a missing root or annotation file, a
            first clip that does not decode); the message names the path.
    """
    if "missing" not in options and takes_option(name, "missing"):
        options["missing"] = "skip"
    splits = load_dataset(name, root=root, **options)
    wrap: Callable[[range, str], Any] = lambda items, _: items  # noqa: E731
    if progress:
        tqdm = require("tqdm", "progress=True", "progress").tqdm
        wrap = lambda items, split: tqdm(items, desc=f"{name} {split}", unit="sample")  # noqa: E731
    reports = tuple(
        _walk(split, data, wrap) for split, data in (("train", splits.train), ("test", splits.test))
    )
    return DatasetCheck(
        name=name,
        num_classes=splits.train.num_classes,
        modalities=tuple(splits.train.modalities),
        splits=reports,
    )


def _walk(split: str, data: MultimodalDataset, wrap: Callable[[range, str], Any]) -> SplitCheck:
    per_class = [0] * data.num_classes
    unreadable: list[tuple[int, str]] = []
    # a dataset that replaces unreadable samples during training (AudioVisualClips with
    # missing="skip") has a `decode` that never does: the check must see every failure
    load = getattr(data, "decode", data.__getitem__)
    for i in wrap(range(len(data)), split):
        try:
            _, label = load(i)
        except Exception as exc:  # any decoder failure is a finding (the loaders name the file)
            unreadable.append((i, f"{type(exc).__name__}: {exc}"))
        else:
            per_class[int(label)] += 1
    skipped = getattr(data, "skipped", ())
    return SplitCheck(
        split=split,
        listed=len(data),
        per_class=tuple(per_class),
        missing=tuple(str(p) for p in skipped),
        unreadable=tuple(unreadable),
    )
