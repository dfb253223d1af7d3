"""Quality indicators for approximation sets of a Pareto front.

- `non_dominated`: mask of the non-dominated rows of an objective matrix (NumPy).
- `distance_to_front`: distance of each point to a (densely sampled) reference front.
- `igd`: inverted generational distance (NumPy/SciPy, no extra needed).
- `igd_plus`, `hypervolume`: computed by the well-kept
  [moocore](https://multi-objective.github.io/moocore/python/) library (the ``indicators``
  extra: ``pip install 'moo-toolkit[indicators]'``).
- `pareto_stationarity`: the first-order measure ``min_{w∈Δ} ||Jᵀw||``.

All objectives are minimized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from moo.solvers._min_norm import pareto_stationarity
from moo.validation import FloatArray

__all__ = [
    "distance_to_front",
    "hypervolume",
    "igd",
    "igd_plus",
    "non_dominated",
    "pareto_stationarity",
]


def _matrix(points: ArrayLike, name: str, n_obj: int | None = None) -> FloatArray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, K) array, got shape {arr.shape}")
    if n_obj is not None and arr.shape[1] != n_obj:
        raise ValueError(f"{name} must have {n_obj} columns (objectives), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _moocore() -> Any:
    try:
        import moocore
    except ImportError as exc:
        raise ImportError(
            "this indicator needs moocore: pip install 'moo-toolkit[indicators]'"
        ) from exc
    return moocore


def non_dominated(F: ArrayLike) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Boolean mask of the rows of ``F`` (n×K) that no other row dominates.

    Row ``a`` dominates ``b`` when ``a <= b`` everywhere and ``a < b`` somewhere. Duplicated
    rows are all kept.
    """
    arr = _matrix(F, "F")
    le = np.all(arr[:, None, :] <= arr[None, :, :], axis=2)
    lt = np.any(arr[:, None, :] < arr[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return np.asarray(~dominated, dtype=np.bool_)


def distance_to_front(F: ArrayLike, front: ArrayLike) -> FloatArray:
    """Euclidean distance from each row of ``F`` to the nearest point of ``front``.

    ``front`` is a dense sample of the reference front (e.g. ``problem.pareto_front(2000)``);
    the result is an upper bound on the distance to the continuous front, tight up to the
    sampling resolution.
    """
    arr = _matrix(F, "F")
    ref = _matrix(front, "front", arr.shape[1])
    dist, _ = cKDTree(ref).query(arr)
    return np.asarray(dist, dtype=np.float64)


def igd(F: ArrayLike, front: ArrayLike) -> float:
    """Inverted generational distance: mean Euclidean distance from each point of the
    reference ``front`` to its nearest point of ``F`` (moocore's definition; computed here with
    a k-d tree, so it needs no extra)."""
    arr = _matrix(F, "F")
    ref = _matrix(front, "front", arr.shape[1])
    return float(distance_to_front(ref, arr).mean())


def igd_plus(F: ArrayLike, front: ArrayLike) -> float:
    """IGD+ (Ishibuchi et al. 2015), weakly Pareto-compliant variant of IGD."""
    arr = _matrix(F, "F")
    ref = _matrix(front, "front", arr.shape[1])
    return float(_moocore().igd_plus(arr, ref=ref))


def hypervolume(F: ArrayLike, reference_point: ArrayLike) -> float:
    """Hypervolume dominated by ``F`` and bounded by ``reference_point`` (larger is better).

    Points that do not strictly dominate the reference point contribute nothing.
    """
    arr = _matrix(F, "F")
    ref = np.asarray(reference_point, dtype=np.float64).reshape(-1)
    if ref.shape[0] != arr.shape[1] or not np.all(np.isfinite(ref)):
        raise ValueError(
            f"reference_point must be {arr.shape[1]} finite numbers, got {ref.tolist()}"
        )
    return float(_moocore().hypervolume(arr, ref=ref))
