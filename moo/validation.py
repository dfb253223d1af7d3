"""Input checks: the argument checks every public entry point of moo runs.

Bad input fails early with a message that names the argument and the offending value. The
module is public so that extensions (the multimodal adapter, a user's rule or dataset loader)
check their arguments the same way, with the same messages.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from numbers import Real
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FloatArray",
    "as_vector",
    "check_bool",
    "check_choice",
    "check_gramian",
    "check_int",
    "check_jacobian",
    "check_objective_values",
    "check_real",
    "require",
]

FloatArray = NDArray[np.float64]


def require(module: str, feature: str, extra: str) -> ModuleType:
    """``import module``, or an `ImportError` saying that ``feature`` needs it and which extra
    of the package installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs {module.split('.')[0]}: pip install 'moo-toolkit[{extra}]'"
        ) from exc


def _labels(names: Sequence[str] | None, k: int) -> str:
    return repr(names[k]) if names is not None and k < len(names) else str(k)


def as_vector(value: ArrayLike, name: str, *, size: int | None = None) -> FloatArray:
    """Return ``value`` as a finite 1-D float64 array, or raise naming ``name``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got length {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {name}[{bad}] = {arr[bad]}")
    return arr


def check_objective_values(
    values: ArrayLike, n_obj: int, *, names: Sequence[str] | None = None, what: str = "values"
) -> FloatArray:
    """Check a vector of K objective values; a non-finite entry is reported by objective."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape[0] != n_obj:
        raise ValueError(
            f"{what} must have {n_obj} entries (one per objective), got {arr.shape[0]}"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{what} of objective {_labels(names, k)} is not finite: {arr[k]}")
    return arr


def check_jacobian(
    jacobian: ArrayLike,
    n_obj: int,
    n_var: int | None = None,
    *,
    names: Sequence[str] | None = None,
    name: str = "jacobian",
) -> FloatArray:
    """Check a K×d Jacobian; a non-finite row is reported by objective."""
    arr = np.asarray(jacobian, dtype=np.float64)
    if arr.ndim == 1 and n_obj == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] != n_obj or (n_var is not None and arr.shape[1] != n_var):
        expected = f"({n_obj}, {n_var if n_var is not None else 'd'})"
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    bad_rows = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
    if bad_rows.size:
        k = int(bad_rows[0])
        raise ValueError(f"{name} row of objective {_labels(names, k)} is not finite")
    return arr


def check_gramian(gramian: ArrayLike, name: str = "gramian") -> FloatArray:
    """Check a square, finite, symmetric Gramian with a non-negative diagonal.

    Kept to a few NumPy calls: it runs on every step of every rule.
    """
    arr = np.asarray(gramian, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square K×K matrix with K >= 1, got shape {arr.shape}")
    scale = float(np.abs(arr).max())
    if not math.isfinite(scale):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {name}[{i}, {j}] = {arr[i, j]}")
    asym = float(np.abs(arr - arr.T).max())
    if asym > 1e-8 * scale:
        raise ValueError(f"{name} must be symmetric, got max |G - G^T| = {asym:.3g}")
    if arr.diagonal().min() < 0.0:
        k = int(np.argmin(arr.diagonal()))
        raise ValueError(
            f"{name} must have a non-negative diagonal, got {name}[{k}, {k}] = {arr[k, k]}"
        )
    return arr


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the stated interval, or raise naming it."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {v}")
    return v


def check_int(value: Any, name: str, *, low: int | None = None) -> int:
    """Return ``value`` as an int no smaller than ``low``, or raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)
