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
    "NonFiniteValueError",
    "as_vector",
    "check_bool",
    "check_choice",
    "check_gramian",
    "check_int",
    "check_jacobian",
    "check_objective_values",
    "check_real",
    "real_array",
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


def real_array(value: ArrayLike, name: str) -> FloatArray:
    """``value`` as a float64 array: refused, naming ``name``, when it does not convert
    (a ragged list, a dict) or holds no real numbers (complex, strings, objects)."""
    if type(value) is np.ndarray and value.dtype.char == "d":
        return value
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from exc
    if raw.dtype.kind not in "biuf":
        shown = f" ({value!r})" if raw.ndim == 0 else ""
        raise ValueError(f"{name} must hold real numbers, got dtype {raw.dtype}{shown}")
    return raw.astype(np.float64, copy=False)


def as_vector(value: ArrayLike, name: str, *, size: int | None = None) -> FloatArray:
    """Return ``value`` as a finite 1-D float64 array, or raise naming ``name``."""
    arr = real_array(value, name)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got length {arr.shape[0]}")
    # a finite sum means finite entries (NaN and infinities propagate); a sum that overflows
    # goes to the entry-wise check. On Python floats below `_SMALL_K` entries (cheaper there).
    total = sum(arr.tolist()) if arr.shape[0] <= _SMALL_K else float(arr.sum())
    if not math.isfinite(total) and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {name}[{bad}] = {arr[bad]}")
    return arr


class NonFiniteValueError(ValueError):
    """Objective values that are not finite (NaN or infinite): raised by
    `check_objective_values`, so that a step-size rule can tell a step that left the region
    where the objectives are finite (a divergence) from other bad input."""


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
        raise NonFiniteValueError(
            f"{what} of objective {_labels(names, k)} is not finite: {arr[k]}"
        )
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
    arr = real_array(jacobian, name)
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
    """Check a real, square, finite, symmetric Gramian ``G = J Jᵀ``; returned as float64.

    Refused, with a message naming the entry: a complex or non-numeric dtype; a non-finite
    entry; asymmetry above the input's rounding (``1e-8`` of the largest entry for a float64
    input, ``16 eps`` of its own precision for a lower one: a float32 ``J Jᵀ`` is symmetric
    only to about ``1e-7``); a negative diagonal entry; and a pair with
    ``|G_ij| > sqrt(G_ii G_jj)`` beyond that tolerance, which no Gramian can have (the
    Cauchy-Schwarz inequality, a necessary condition of positive semi-definiteness that costs
    O(K²); the rules that factorize ``G`` check the rest).

    It runs on every step of every rule: for ``K <= 8`` the checks run on Python floats
    (several times faster than NumPy calls at that size), and only a matrix they do not pass
    goes through the NumPy checks, which name the offending entry.
    """
    arr = real_array(gramian, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square K×K matrix with K >= 1, got shape {arr.shape}")
    rtol = _GRAMIAN_RTOL
    given = getattr(gramian, "dtype", None)  # a float32 array: judged at its own precision
    if isinstance(given, np.dtype) and given.kind == "f" and given.itemsize < 8:
        rtol = 16.0 * float(np.finfo(given).eps)
    if arr.shape[0] <= _SMALL_K and _small_gramian_passes(arr.tolist(), rtol):
        return arr
    magnitude = np.abs(arr)
    scale = float(magnitude.max())
    if not math.isfinite(scale):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {name}[{i}, {j}] = {arr[i, j]}")
    tol = rtol * scale
    asym = float(np.abs(arr - arr.T).max())
    if asym > tol:
        raise ValueError(f"{name} must be symmetric, got max |G - G^T| = {asym:.3g}")
    diag = arr.diagonal()
    if diag.min() < 0.0:
        k = int(np.argmin(diag))
        raise ValueError(
            f"{name} must have a non-negative diagonal, got {name}[{k}, {k}] = {arr[k, k]}"
        )
    root = np.sqrt(diag)
    excess = magnitude - np.multiply.outer(root, root)
    if float(excess.max()) > tol:
        i, j = (int(v) for v in np.unravel_index(int(np.argmax(excess)), excess.shape))
        raise ValueError(
            f"{name} is not a Gramian (not positive semi-definite): |{name}[{i}, {j}]| = "
            f"{abs(arr[i, j]):.6g} exceeds sqrt({name}[{i}, {i}] {name}[{j}, {j}]) = "
            f"{root[i] * root[j]:.6g}"
        )
    return arr


def _small_gramian_passes(rows: list[list[float]], rtol: float) -> bool:
    """The checks of `check_gramian` on a small matrix as Python floats: ``True`` when all
    pass (``False`` sends the matrix to the NumPy checks, which say what failed)."""
    if len(rows) == 2:  # the commonest case, unrolled
        (a, c), (c2, b) = rows
        scale = max(abs(a), abs(b), abs(c), abs(c2))
        if not math.isfinite(scale + a + b + c + c2) or a < 0.0 or b < 0.0:  # NaN, infinity
            return False
        tol = rtol * scale
        return abs(c - c2) <= tol and abs(c) - math.sqrt(a) * math.sqrt(b) <= tol
    flat = [v for row in rows for v in row]
    scale = max(max(flat), -min(flat))
    if not math.isfinite(scale + sum(flat)):  # NaN, infinity
        return False
    tol = rtol * scale
    root = []
    for i, row in enumerate(rows):
        if row[i] < 0.0:
            return False
        root.append(math.sqrt(row[i]))
    for i, row in enumerate(rows):
        ri = root[i]
        for j in range(i + 1, len(rows)):
            v = row[j]
            if abs(v - rows[j][i]) > tol or abs(v) - ri * root[j] > tol:
                return False
    return True


_SMALL_K = 8
"""Largest K whose Gramian is checked on Python floats first (see `check_gramian`)."""

_GRAMIAN_RTOL = 1e-8
"""Relative symmetry tolerance of a float64 Gramian (of an integer one too)."""


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
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)
