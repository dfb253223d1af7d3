"""The synthetic problem catalogue: problems with analytic Jacobians and known Pareto sets.

Each entry is a function returning a :class:`~moo.problems.Problem`, registered by name; build
one with :func:`get_problem` (``get_problem("zdt1", n_var=10)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from moo._validation import FloatArray, check_int
from moo.problems._problem import Problem

_CATALOGUE: dict[str, Callable[..., Problem]] = {}

P = TypeVar("P", bound=Callable[..., Problem])


def _entry(name: str) -> Callable[[P], P]:
    def deco(fn: P) -> P:
        _CATALOGUE[name] = fn
        return fn

    return deco


def available_problems() -> dict[str, Callable[..., Problem]]:
    """Catalogue entries by name (sorted): name -> factory function."""
    return dict(sorted(_CATALOGUE.items()))


def get_problem(name: str, **parameters: Any) -> Problem:
    """Build a catalogue problem by name with keyword parameters.

    Raises:
        ValueError: unknown name or parameter; the message lists the valid ones.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _CATALOGUE:
        raise ValueError(f"unknown problem {name!r}; available: {', '.join(sorted(_CATALOGUE))}")
    factory = _CATALOGUE[key]
    valid = list(inspect.signature(factory).parameters)
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for problem {key!r}; "
            f"valid: {', '.join(valid) if valid else '(none)'}"
        )
    return factory(**parameters)


def simplex_grid(n_obj: int, n_points: int) -> FloatArray:
    """About ``n_points`` weight vectors on the probability simplex in ``R^{n_obj}``.

    A Das-Dennis lattice ``{w : w_i = k_i / H, Σ k_i = H}`` with the largest ``H`` whose size
    does not exceed ``n_points`` (at least the K vertices).
    """
    k = check_int(n_obj, "n_obj", low=1)
    if k == 1:
        return np.ones((1, 1))
    from math import comb

    h = 1
    while comb(h + 1 + k - 1, k - 1) <= n_points:
        h += 1
    points: list[list[int]] = []

    def rec(prefix: list[int], left: int, slots: int) -> None:
        if slots == 1:
            points.append([*prefix, left])
            return
        for v in range(left, -1, -1):
            rec([*prefix, v], left - v, slots - 1)

    rec([], h, k)
    return np.asarray(points, dtype=np.float64) / h


@_entry("quadratic")
def convex_quadratics(n_obj: int = 2, n_var: int = 2, seed: int = 0) -> Problem:
    """Convex quadratics ``f_i(x) = ½ (x − a_i)ᵀ A_i (x − a_i)`` with random SPD ``A_i``.

    The Pareto set is the set of weighted minimizers
    ``x(w) = (Σ w_i A_i)⁻¹ Σ w_i A_i a_i`` for ``w`` on the simplex (every Pareto-stationary
    point is Pareto-optimal: the problem is convex). Centers ``a_i`` are drawn in ``[-1, 1]^d``;
    ``A_i = Q_i diag(λ) Q_iᵀ`` with eigenvalues ``λ`` in ``[0.5, 2]`` (condition number <= 4).
    Starts are drawn from ``[-2, 2]^d``; there are no bounds.
    """
    k = check_int(n_obj, "n_obj", low=1)
    d = check_int(n_var, "n_var", low=1)
    rng = np.random.default_rng(check_int(seed, "seed", low=0))
    centers = rng.uniform(-1.0, 1.0, size=(k, d))
    mats = np.empty((k, d, d))
    for i in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        mats[i] = (q * rng.uniform(0.5, 2.0, size=d)) @ q.T
    mats = 0.5 * (mats + mats.transpose(0, 2, 1))

    def fun(x: FloatArray) -> FloatArray:
        r = x[None, :] - centers
        return 0.5 * np.einsum("ki,kij,kj->k", r, mats, r)

    def jac(x: FloatArray) -> FloatArray:
        return np.einsum("kij,kj->ki", mats, x[None, :] - centers)

    def pareto_set(n: int) -> FloatArray:
        w = simplex_grid(k, n)
        a = np.einsum("nk,kij->nij", w, mats)
        b = np.einsum("nk,kij,kj->ni", w, mats, centers)
        return np.linalg.solve(a, b[..., None])[..., 0]

    def pareto_front(n: int) -> FloatArray:
        return np.stack([fun(x) for x in pareto_set(n)])

    return Problem(
        fun,
        d,
        k,
        jacobian=jac,
        sampling_bounds=(-2.0, 2.0),
        name="quadratic",
        pareto_front=pareto_front,
        pareto_set=pareto_set,
        description=f"{k} convex quadratics in R^{d}; Pareto set = weighted minimizers",
    )
