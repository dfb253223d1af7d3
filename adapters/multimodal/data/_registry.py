"""The dataset registry: names -> loaders returning `DatasetSplits`.

A loader is called as ``loader(root=root, seed=seed, **options)``. Loaders that read files
resolve ``root`` with `require_root`, so a missing path fails the same way for every dataset.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moo_multimodal.data._dataset import DatasetSplits
from moo_multimodal.data.npz import is_npz_name, load_npz_dataset


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset, for listings.

    Attributes:
        name: the registry name (what `load_dataset` takes).
        summary: one line describing it.
        layout: the expected on-disk layout under ``root`` (``"generated (no files)"`` for
            generated data).
    """

    name: str
    summary: str
    layout: str


_REGISTRY: dict[str, tuple[Callable[..., DatasetSplits], DatasetInfo]] = {}


def register_dataset(
    name: str, loader: Callable[..., DatasetSplits], summary: str, layout: str
) -> None:
    """Add ``loader`` to the registry under ``name``.

    Raises:
        ValueError: an empty or non-string name, a non-callable loader, or a name already
            registered with another loader.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(loader):
        raise ValueError(f"loader of dataset {name!r} must be callable, got {loader!r}")
    if name in _REGISTRY and _REGISTRY[name][0] is not loader:
        raise ValueError(f"a dataset named {name!r} is already registered")
    _REGISTRY[name] = (loader, DatasetInfo(name=name, summary=summary, layout=layout))


def available_datasets() -> list[DatasetInfo]:
    """The registered datasets, sorted by name."""
    return [info for _, (_, info) in sorted(_REGISTRY.items())]


def _loader_options(loader: Callable[..., DatasetSplits]) -> list[str] | None:
    """The options a loader takes by keyword (not ``root`` and ``seed``), sorted; ``None`` when
    it takes any (``**kwargs``) or has no signature to read (the call then decides)."""
    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return sorted(
        p
        for p, spec in params.items()
        if spec.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p not in ("root", "seed")
    )


def takes_option(name: str, option: str) -> bool:
    """Whether the registered dataset ``name`` takes ``option`` by name (``False`` for an
    unknown name, or a loader whose signature cannot be read)."""
    if name not in _REGISTRY:
        return False
    accepted = _loader_options(_REGISTRY[name][0])
    return accepted is not None and option in accepted


def _check_options(
    name: str, loader: Callable[..., DatasetSplits], options: dict[str, Any]
) -> None:
    accepted = _loader_options(loader)
    if accepted is None:
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for dataset {name!r}; accepted: "
            f"{', '.join(accepted) or '(none)'}"
        )


def load_dataset(
    name: str, *, root: str | os.PathLike[str] | None = None, seed: int = 0, **options: Any
) -> DatasetSplits:
    """Load the registered dataset ``name``: ``loader(root=root, seed=seed, **options)``.

    Args:
        name: a registry name (see `available_datasets`), or the path of an ``.npz`` archive
            of one's own data (a name ending in ``.npz``; relative to ``root`` when given and
            the path is relative; layout: `moo_multimodal.data.npz`).
        root: the folder holding the dataset's files (ignored by generated datasets).
        seed: seeds generation, splits or subsampling, whatever the loader randomizes.
        **options: loader-specific options (e.g. ``n_train`` for the synthetic data).

    Raises:
        ValueError: an unknown name (the message lists the registered ones), an unknown option
            (the message lists the accepted ones) or a bad option value.
        FileNotFoundError: a loader that reads files got no ``root`` or a missing path.
    """
    if isinstance(name, str) and name not in _REGISTRY and is_npz_name(name):
        return load_npz_dataset(name, root=root, seed=seed, **options)
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"unknown dataset {name!r}; available: {', '.join(sorted(_REGISTRY)) or '(none)'}, "
            "or the path of an .npz file (a name ending in .npz)"
        )
    loader, _ = _REGISTRY[name]
    _check_options(name, loader, options)
    return loader(root=root, seed=seed, **options)


def require_root(root: str | os.PathLike[str] | None, dataset: str, layout: str = "") -> Path:
    """``root`` as an existing folder `Path`, for loaders that read files.

    Raises:
        FileNotFoundError: ``root`` is ``None`` or does not exist; the message names the path
            (and the expected ``layout`` when given).
    """
    hint = f" (expected layout: {layout})" if layout else ""
    if root is None:
        raise FileNotFoundError(f"dataset {dataset!r} reads files: pass root=<folder>{hint}")
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"dataset {dataset!r}: root {str(path)!r} does not exist{hint}")
    return path
