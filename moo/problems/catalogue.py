"""The synthetic problem catalogue: problems with analytic Jacobians and known Pareto sets.

Each entry is a function returning a `Problem`, registered by name; build
one with `get_problem` (``get_problem("zdt1", n_var=10)``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

from moo.problems._problem import Problem
from moo.validation import FloatArray, check_int, check_real

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
        out: FloatArray = 0.5 * np.einsum("ki,kij,kj->k", r, mats, r)
        return out

    def jac(x: FloatArray) -> FloatArray:
        out: FloatArray = np.einsum("kij,kj->ki", mats, x[None, :] - centers)
        return out

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


def _copy(x: FloatArray) -> FloatArray:
    """A writable copy of a cached (read-only) reference array."""
    return np.array(x, dtype=np.float64, copy=True)


# ----------------------------------------------------------------------------------------------
# CAGrad / Nash-MTL toy problem
# ----------------------------------------------------------------------------------------------

_TOY_FLOOR = 5e-6


def _sech2(y: FloatArray) -> FloatArray:
    """``sech²(y)`` without overflow: ``4 e^{-2|y|} / (1 + e^{-2|y|})²``."""
    e = np.exp(-2.0 * np.abs(y))
    out: FloatArray = 4.0 * e / (1.0 + e) ** 2
    return out


def _toy_stationarity_x2(w1: FloatArray) -> FloatArray:
    """The ``x2 < 0`` root of the weighted-stationarity equation of the toy problem.

    With ``x1 = 7 (2 w1 − 1)`` the ``x1``-component of ``w1 ∇f1 + w2 ∇f2`` vanishes; the
    ``x2``-component ``c2'(x2) (w1 g1 + w2 g2) + c2(x2) · 0.02 (x2 + 8)`` is positive at
    ``x2 = −4`` and negative at ``x2 = −20`` for every ``w1 ∈ [0, 1]``, with a single root in
    between (checked on a fine grid); 64 vectorized bisection steps find it to machine precision.
    """
    w2 = 1.0 - w1
    x1 = 7.0 * (w1 - w2)
    lo = np.full_like(w1, -20.0)
    hi = np.full_like(w1, -4.0)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        r = 0.01 * (mid + 8.0) ** 2
        g1 = (7.0 - x1) ** 2 / 10.0 + r - 20.0
        g2 = (x1 + 7.0) ** 2 / 10.0 + r - 20.0
        h = -0.5 * _sech2(0.5 * mid) * (w1 * g1 + w2 * g2) + np.tanh(-0.5 * mid) * 0.02 * (
            mid + 8.0
        )
        positive = h > 0.0
        hi = np.where(positive, mid, hi)
        lo = np.where(positive, lo, mid)
    out: FloatArray = 0.5 * (lo + hi)
    return out


@lru_cache(maxsize=32)
def _toy_pareto_set(n: int) -> FloatArray:
    w1 = np.linspace(0.0, 1.0, n)
    x = np.stack([7.0 * (2.0 * w1 - 1.0), _toy_stationarity_x2(w1)], axis=1)
    x.flags.writeable = False
    return x


@_entry("toy")
def toy() -> Problem:
    r"""The two-objective non-convex toy problem of CAGrad and Nash-MTL, ``x ∈ R²``.

    With ``L = 5e-6``, ``c1 = max(tanh(x2/2), 0)`` and ``c2 = max(tanh(−x2/2), 0)``::

        f1' = log(max(|0.5(−x1 − 7) − tanh(−x2)|, L)) + 6
        f2' = log(max(|0.5(−x1 + 3) + tanh(−x2) + 2|, L)) + 6
        g1  = ((−x1 + 7)² + 0.1 (−x2 − 8)²) / 10 − 20
        g2  = ((−x1 − 7)² + 0.1 (−x2 − 8)²) / 10 − 20
        f1  = c1 f1' + c2 g1,    f2 = c1 f2' + c2 g2

    (as in the reference toy code of CAGrad; note the ``+ tanh(−x2)`` in ``f2'``).

    Pareto set: for ``x2 >= 0`` both objectives are ``>= log(L) + 6 ≈ −6.2`` while
    ``x = (0, −8)`` gives ``f ≈ (−15.1, −15.1)``, so the Pareto set lies in the smooth region
    ``x2 < 0``, where it is the curve of Pareto-stationary points: ``w1 ∇f1 + w2 ∇f2 = 0`` forces
    ``x1 = 7 (2 w1 − 1)``, and ``x2 ∈ (−8.44, −8.35)`` is the single root of the ``x2``-component,
    found by bisection to machine precision (`_toy_stationarity_x2`). Along the curve
    ``f1`` decreases and ``f2`` increases monotonically (the front is convex), from
    ``(−0.398, −19.989)`` at ``w1 = 0`` to ``(−19.989, −0.398)`` at ``w1 = 1``, so every point
    of it is non-dominated. ``pareto_set(n)`` uses ``n`` equally spaced ``w1`` (cached per
    process); ``pareto_front(n)`` evaluates ``f`` there.

    Jacobian: analytic, piecewise. At the kinks it takes one-sided derivatives: at ``x2 = 0``
    the right derivative (the ``x2 > 0`` branch: ``c1' = 1/2``, ``c2' = 0``), and inside the
    log floor (``|·| < L``) the derivative of the constant ``log L`` (zero); at ``|·| = L`` the
    outer branch ``1/(·)``.

    Starts are drawn from ``[−10, 10]²``; there are no bounds.

    References:
        B. Liu, X. Liu, X. Jin, P. Stone, Q. Liu, "Conflict-Averse Gradient Descent for
        Multi-task Learning", NeurIPS 2021. A. Navon, A. Shamsian, I. Achituve, H. Maron,
        K. Kawaguchi, G. Chechik, E. Fetaya, "Multi-Task Learning as a Bargaining Game",
        ICML 2022.
    """

    def fun(x: FloatArray) -> FloatArray:
        x1, x2 = float(x[0]), float(x[1])
        t = math.tanh(-x2)
        l1 = math.log(max(abs(0.5 * (-x1 - 7.0) - t), _TOY_FLOOR)) + 6.0
        l2 = math.log(max(abs(0.5 * (-x1 + 3.0) + t + 2.0), _TOY_FLOOR)) + 6.0
        c1 = max(math.tanh(0.5 * x2), 0.0)
        c2 = max(math.tanh(-0.5 * x2), 0.0)
        q = 0.1 * (-x2 - 8.0) ** 2
        g1 = ((-x1 + 7.0) ** 2 + q) / 10.0 - 20.0
        g2 = ((-x1 - 7.0) ** 2 + q) / 10.0 - 20.0
        return np.array([c1 * l1 + c2 * g1, c1 * l2 + c2 * g2])

    def jac(x: FloatArray) -> FloatArray:
        x1, x2 = float(x[0]), float(x[1])
        t = math.tanh(-x2)
        dt = -float(_sech2(np.array(x2)))  # d tanh(−x2) / dx2
        z1 = 0.5 * (-x1 - 7.0) - t
        z2 = 0.5 * (-x1 + 3.0) + t + 2.0
        l1 = math.log(max(abs(z1), _TOY_FLOOR)) + 6.0
        l2 = math.log(max(abs(z2), _TOY_FLOOR)) + 6.0
        # d log|z| = dz / z outside the floor, 0 inside it
        dl1 = np.array([-0.5, -dt]) / z1 if abs(z1) >= _TOY_FLOOR else np.zeros(2)
        dl2 = np.array([-0.5, dt]) / z2 if abs(z2) >= _TOY_FLOOR else np.zeros(2)
        s = 0.5 * float(_sech2(np.array(0.5 * x2)))
        c1, dc1 = (math.tanh(0.5 * x2), s) if x2 >= 0.0 else (0.0, 0.0)
        c2, dc2 = (math.tanh(-0.5 * x2), -s) if x2 < 0.0 else (0.0, 0.0)
        q = 0.1 * (-x2 - 8.0) ** 2
        g1 = ((-x1 + 7.0) ** 2 + q) / 10.0 - 20.0
        g2 = ((-x1 - 7.0) ** 2 + q) / 10.0 - 20.0
        dq = 0.02 * (x2 + 8.0)
        dg1 = np.array([(x1 - 7.0) / 5.0, dq])
        dg2 = np.array([(x1 + 7.0) / 5.0, dq])
        dc = np.array([0.0, 1.0])
        row1 = dc * (dc1 * l1 + dc2 * g1) + c1 * dl1 + c2 * dg1
        row2 = dc * (dc1 * l2 + dc2 * g2) + c1 * dl2 + c2 * dg2
        return np.stack([row1, row2])

    def pareto_set(n: int) -> FloatArray:
        return _copy(_toy_pareto_set(n))

    def pareto_front(n: int) -> FloatArray:
        return np.stack([fun(x) for x in _toy_pareto_set(n)])

    return Problem(
        fun,
        2,
        2,
        jacobian=jac,
        sampling_bounds=(-10.0, 10.0),
        name="toy",
        pareto_front=pareto_front,
        pareto_set=pareto_set,
        description="CAGrad/Nash-MTL 2-D non-convex toy; Pareto set = a curve near x2 = -8.4",
    )


# ----------------------------------------------------------------------------------------------
# Fonseca-Fleming
# ----------------------------------------------------------------------------------------------


FONSECA_SAMPLING_BOX = 1.5
"""Default half-width of Fonseca-Fleming's sampling box ``[-1.5, 1.5]^n`` (its bounds are
``[-4, 4]^n``)."""


@_entry("fonseca")
def fonseca(n_var: int = 2, sampling_box: float = FONSECA_SAMPLING_BOX) -> Problem:
    r"""Fonseca-Fleming (VLMOP2): two Gaussian wells, a non-convex (concave) front.

    With ``a = 1/√n``::

        f1(x) = 1 − exp(−Σ_i (x_i − a)²),    f2(x) = 1 − exp(−Σ_i (x_i + a)²)

    on the box ``[−4, 4]^n``. Pareto set: ``x_1 = ... = x_n = t`` with ``t ∈ [−a, a]``; with
    ``u = √n t ∈ [−1, 1]`` the front is ``(1 − exp(−(u − 1)²), 1 − exp(−(u + 1)²))``, i.e.
    ``f2 = 1 − exp(−(2 − √(−log(1 − f1)))²)`` for ``f1 ∈ [0, 1 − e⁻⁴]``. The front is concave,
    so linear scalarization only finds its two end points.

    Starts are drawn from ``[−h, h]^n`` with ``h = sampling_box`` (default 1.5, at most 4:
    the whole box), not from the bounds: farther out both objectives are flat to within
    ``exp(−(distance)²)``, the gradients fall below any absolute tolerance, and a gradient
    method with ``tol_mode="absolute"`` stops there as if converged (from the whole box,
    a third to a half of the starts do). ``sampling_box=4`` draws from the whole box; pair it with
    ``minimize(..., tol_mode="relative")`` and a scale-free direction
    (``MGDA(normalization="l2")``) or a large ``Armijo(initial=...)`` to leave the plateau.

    Reference:
        C. M. Fonseca, P. J. Fleming, "An overview of evolutionary algorithms in multiobjective
        optimization", Evolutionary Computation 3(1), 1995.
    """
    d = check_int(n_var, "n_var", low=1)
    h = check_real(sampling_box, "sampling_box", low=0.0, high=4.0, low_open=True)
    a = 1.0 / math.sqrt(d)

    def fun(x: FloatArray) -> FloatArray:
        return np.array(
            [
                1.0 - math.exp(-float(np.sum((x - a) ** 2))),
                1.0 - math.exp(-float(np.sum((x + a) ** 2))),
            ]
        )

    def jac(x: FloatArray) -> FloatArray:
        e1 = math.exp(-float(np.sum((x - a) ** 2)))
        e2 = math.exp(-float(np.sum((x + a) ** 2)))
        return np.stack([2.0 * e1 * (x - a), 2.0 * e2 * (x + a)])

    def pareto_set(n: int) -> FloatArray:
        t = np.linspace(-a, a, n)
        return np.repeat(t[:, None], d, axis=1)

    def pareto_front(n: int) -> FloatArray:
        u = np.linspace(-1.0, 1.0, n)
        return np.stack([1.0 - np.exp(-((u - 1.0) ** 2)), 1.0 - np.exp(-((u + 1.0) ** 2))], axis=1)

    return Problem(
        fun,
        d,
        2,
        jacobian=jac,
        bounds=(-4.0, 4.0),
        sampling_bounds=(-h, h),
        name="fonseca",
        pareto_front=pareto_front,
        pareto_set=pareto_set,
        description=(
            f"Fonseca-Fleming in [-4, 4]^{d} (starts in [-{h:g}, {h:g}]^{d}); concave front"
        ),
    )


# ----------------------------------------------------------------------------------------------
# ZDT1-3
# ----------------------------------------------------------------------------------------------

ZDT_X1_MIN = 1e-8
"""Lower bound of ``x1`` in ZDT1 and ZDT3, where ``∂f2/∂x1 = −½ √(g/x1) − ...`` is unbounded
at ``x1 = 0``; the front's end point is then ``f2 = 1 − √1e-8 = 1 − 1e-4`` instead of 1."""

_ZDT3_GRID = 100_001


@lru_cache(maxsize=1)
def _zdt3_front_x1() -> FloatArray:
    """``x1`` of the non-dominated points of the ZDT3 curve ``g = 1`` on a dense grid.

    The curve ``f2 = 1 − √f1 − f1 sin(10π f1)`` is evaluated at ``_ZDT3_GRID`` equally spaced
    ``f1 = x1 ∈ [ZDT_X1_MIN, 1]``; sorted by ``f1``, a point is non-dominated iff its ``f2`` is
    below that of every point to its left.
    """
    x1 = np.linspace(ZDT_X1_MIN, 1.0, _ZDT3_GRID)
    f2 = 1.0 - np.sqrt(x1) - x1 * np.sin(10.0 * np.pi * x1)
    best = np.minimum.accumulate(f2)
    keep = np.ones(x1.size, dtype=bool)
    keep[1:] = f2[1:] < best[:-1]
    out = x1[keep]
    out.flags.writeable = False
    return out


def _zdt(kind: int, n_var: int) -> Problem:
    d = check_int(n_var, "n_var", low=2)
    scale = 9.0 / (d - 1)
    x1_min = 0.0 if kind == 2 else ZDT_X1_MIN
    lower = np.zeros(d)
    lower[0] = x1_min
    name = f"zdt{kind}"

    def curve(f1: FloatArray, g: FloatArray | float) -> FloatArray:
        r = f1 / g
        if kind == 1:
            h = 1.0 - np.sqrt(r)
        elif kind == 2:
            h = 1.0 - r**2
        else:
            h = 1.0 - np.sqrt(r) - r * np.sin(10.0 * np.pi * f1)
        out: FloatArray = g * h
        return out

    def fun(x: FloatArray) -> FloatArray:
        g = 1.0 + scale * float(np.sum(x[1:]))
        return np.array([x[0], float(curve(x[:1], g)[0])])

    def jac(x: FloatArray) -> FloatArray:
        x1 = float(x[0])
        g = 1.0 + scale * float(np.sum(x[1:]))
        if kind == 2:
            d1, dg = -2.0 * x1 / g, 1.0 + (x1 / g) ** 2
        else:
            if x1 <= 0.0:
                raise ValueError(
                    f"{name}: ∂f2/∂x1 is unbounded at x1 = {x1}; x1 must be >= {ZDT_X1_MIN}"
                )
            d1, dg = -0.5 * math.sqrt(g / x1), 1.0 - 0.5 * math.sqrt(x1 / g)
            if kind == 3:
                w = 10.0 * math.pi * x1
                d1 -= math.sin(w) + w * math.cos(w)
        out = np.zeros((2, d))
        out[0, 0] = 1.0
        out[1, 0] = d1
        out[1, 1:] = dg * scale
        return out

    def front_x1(n: int) -> FloatArray:
        if kind != 3:
            return np.linspace(x1_min, 1.0, n)
        ref = _zdt3_front_x1()
        if n >= ref.size:
            return _copy(ref)
        out: FloatArray = ref[np.unique(np.linspace(0, ref.size - 1, n).round().astype(np.int64))]
        return out

    def pareto_set(n: int) -> FloatArray:
        x1 = front_x1(n)
        out = np.zeros((x1.size, d))
        out[:, 0] = x1
        return out

    def pareto_front(n: int) -> FloatArray:
        f1 = front_x1(n)
        return np.stack([f1, curve(f1, 1.0)], axis=1)

    shape = {1: "convex front", 2: "concave front", 3: "disconnected front"}[kind]
    return Problem(
        fun,
        d,
        2,
        jacobian=jac,
        bounds=(lower, 1.0),
        name=name,
        pareto_front=pareto_front,
        pareto_set=pareto_set,
        description=f"ZDT{kind} in [0, 1]^{d}; {shape}",
    )


@_entry("zdt1")
def zdt1(n_var: int = 10) -> Problem:
    r"""ZDT1: convex front ``f2 = 1 − √f1``.

    On the box ``[1e-8, 1] × [0, 1]^{n−1}``::

        f1 = x1,   g = 1 + 9 Σ_{i>=2} x_i / (n − 1),   f2 = g (1 − √(f1/g))

    Pareto set: ``x_2 = ... = x_n = 0``, ``x1 ∈ [1e-8, 1]``.

    Caveat: ``∂f2/∂x1 = −½ √(g/x1)`` is unbounded at ``x1 = 0``, so the lower bound of ``x1``
    is `ZDT_X1_MIN` ``= 1e-8`` (not 0) to keep the Jacobian finite on the whole box; the
    front's end point is ``(1e-8, 1 − 1e-4)`` instead of ``(0, 1)``.

    Every point with ``x1`` at its lower bound minimizes ``f1``, so it is weakly
    Pareto-optimal and Pareto-stationary on the box whatever ``g``: gradient methods started
    at random often stop there, with ``f2 ≈ g > 1``.

    Reference:
        E. Zitzler, K. Deb, L. Thiele, "Comparison of Multiobjective Evolutionary Algorithms:
        Empirical Results", Evolutionary Computation 8(2), 2000.
    """
    return _zdt(1, n_var)


@_entry("zdt2")
def zdt2(n_var: int = 10) -> Problem:
    r"""ZDT2: concave front ``f2 = 1 − f1²``.

    On the box ``[0, 1]^n``::

        f1 = x1,   g = 1 + 9 Σ_{i>=2} x_i / (n − 1),   f2 = g (1 − (f1/g)²)

    Pareto set: ``x_2 = ... = x_n = 0``, ``x1 ∈ [0, 1]``. The Jacobian is finite everywhere
    (the lower bound of ``x1`` stays 0). The front is concave: linear scalarization only finds
    its end points.

    Every point with ``x1`` at its lower bound minimizes ``f1``, so it is weakly
    Pareto-optimal and Pareto-stationary on the box whatever ``g``: gradient methods started
    at random often stop there, with ``f2 ≈ g > 1``.

    Reference:
        E. Zitzler, K. Deb, L. Thiele, "Comparison of Multiobjective Evolutionary Algorithms:
        Empirical Results", Evolutionary Computation 8(2), 2000.
    """
    return _zdt(2, n_var)


@_entry("zdt3")
def zdt3(n_var: int = 10) -> Problem:
    r"""ZDT3: disconnected front, five pieces of ``f2 = 1 − √f1 − f1 sin(10π f1)``.

    On the box ``[1e-8, 1] × [0, 1]^{n−1}``::

        f1 = x1,   g = 1 + 9 Σ_{i>=2} x_i / (n − 1),
        f2 = g (1 − √(f1/g) − (f1/g) sin(10π f1))

    Pareto set: ``x_2 = ... = x_n = 0`` and ``x1`` in the five intervals where the curve
    ``g = 1`` is non-dominated (approximately ``[0, 0.0830]``, ``[0.1822, 0.2578]``,
    ``[0.4093, 0.4539]``, ``[0.6184, 0.6525]``, ``[0.8233, 0.8518]``). ``pareto_front(n)`` and
    ``pareto_set(n)`` subsample the non-dominated points of the curve evaluated on a grid of
    100 001 equally spaced ``x1`` (computed once per process), so the ends of the pieces are
    resolved to about ``1e-5`` in ``x1``.

    Stationary vs optimal: gradient methods converge to Pareto-*stationary* points, not
    necessarily Pareto-optimal ones. On the face ``x_2 = ... = x_n = 0`` every ``x1`` where the
    curve decreases (``∂f2/∂x1 <= 0``) is Pareto-stationary, including the descending stretches
    just before each piece that are dominated by the previous piece; such limits are local, not
    global, Pareto optima.

    Caveat: as in ZDT1, the lower bound of ``x1`` is `ZDT_X1_MIN` ``= 1e-8`` so that
    ``∂f2/∂x1`` stays finite; the first front point is ``(1e-8, 1 − 1e-4)``.

    Every point with ``x1`` at its lower bound minimizes ``f1``, so it is weakly
    Pareto-optimal and Pareto-stationary on the box whatever ``g``: gradient methods started
    at random often stop there, with ``f2 ≈ g > 1``.

    Reference:
        E. Zitzler, K. Deb, L. Thiele, "Comparison of Multiobjective Evolutionary Algorithms:
        Empirical Results", Evolutionary Computation 8(2), 2000.
    """
    return _zdt(3, n_var)


# ----------------------------------------------------------------------------------------------
# DTLZ2
# ----------------------------------------------------------------------------------------------


@_entry("dtlz2")
def dtlz2(n_obj: int = 3, n_var: int | None = None) -> Problem:
    r"""DTLZ2: the front is the unit sphere in the positive orthant of ``R^M``.

    With ``M = n_obj``, ``n = n_var`` (default ``M + 9``), ``θ_j = x_j π/2`` and
    ``g = Σ_{i=M}^{n} (x_i − 0.5)²`` on the box ``[0, 1]^n``::

        f_1     = (1 + g) cos θ_1 ... cos θ_{M−2} cos θ_{M−1}
        f_2     = (1 + g) cos θ_1 ... cos θ_{M−2} sin θ_{M−1}
        ...
        f_{M−1} = (1 + g) cos θ_1 sin θ_2
        f_M     = (1 + g) sin θ_1

    Pareto set: ``x_M = ... = x_n = 0.5`` (``g = 0``) with any position variables
    ``x_1 .. x_{M−1} ∈ [0, 1]``; front: ``Σ f_i² = 1``, ``f >= 0``. ``pareto_front(n)``
    normalizes the `simplex_grid` weight vectors onto the sphere and ``pareto_set(n)``
    holds the matching angles.

    Reference:
        K. Deb, L. Thiele, M. Laumanns, E. Zitzler, "Scalable Multi-Objective Optimization
        Test Problems", CEC 2002.
    """
    k = check_int(n_obj, "n_obj", low=2)
    d = k + 9 if n_var is None else check_int(n_var, "n_var", low=k)
    half_pi = 0.5 * math.pi

    def parts(x: FloatArray) -> tuple[FloatArray, FloatArray, float]:
        theta = half_pi * x[: k - 1]
        return np.cos(theta), np.sin(theta), float(np.sum((x[k - 1 :] - 0.5) ** 2))

    def sphere(cos: FloatArray, sin: FloatArray) -> FloatArray:
        # f_i (1-based) = Π_{j < M−i+1} cos θ_j · (sin θ_{M−i+1} if i > 1)
        out = np.empty(k)
        for i in range(k):
            m = k - 1 - i  # number of cosine factors
            out[i] = float(np.prod(cos[:m])) * (float(sin[m]) if i > 0 else 1.0)
        return out

    def fun(x: FloatArray) -> FloatArray:
        cos, sin, g = parts(x)
        return (1.0 + g) * sphere(cos, sin)

    def jac(x: FloatArray) -> FloatArray:
        cos, sin, g = parts(x)
        base = sphere(cos, sin)
        out = np.zeros((k, d))
        for i in range(k):
            m = k - 1 - i
            for j in range(k - 1):
                if j < m:  # d cos θ_j = −sin θ_j · π/2
                    factors = cos[:m].copy()
                    factors[j] = -sin[j]
                    tail = float(sin[m]) if i > 0 else 1.0
                    out[i, j] = float(np.prod(factors)) * tail
                elif j == m and i > 0:  # d sin θ_m = cos θ_m · π/2
                    out[i, j] = float(np.prod(cos[:m])) * float(cos[m])
            out[i, : k - 1] *= (1.0 + g) * half_pi
            out[i, k - 1 :] = base[i] * 2.0 * (x[k - 1 :] - 0.5)
        return out

    def directions(n: int) -> FloatArray:
        w = simplex_grid(k, n)
        out: FloatArray = w / np.linalg.norm(w, axis=1, keepdims=True)
        return out

    def pareto_set(n: int) -> FloatArray:
        f = directions(n)
        out = np.full((f.shape[0], d), 0.5)
        for j in range(k - 1):  # θ_{j+1} = atan2(f_{M−j}, ‖(f_1, ..., f_{M−j−1})‖)
            m = k - 1 - j
            out[:, j] = np.arctan2(f[:, m], np.linalg.norm(f[:, :m], axis=1)) / half_pi
        out[:, : k - 1] = np.clip(out[:, : k - 1], 0.0, 1.0)
        return out

    return Problem(
        fun,
        d,
        k,
        jacobian=jac,
        bounds=(0.0, 1.0),
        name="dtlz2",
        pareto_front=directions,
        pareto_set=pareto_set,
        description=f"DTLZ2 with {k} objectives in [0, 1]^{d}; spherical front",
    )


# ----------------------------------------------------------------------------------------------
# Multi-task linear regression
# ----------------------------------------------------------------------------------------------


@_entry("mtl-regression")
def mtl_regression(n_obj: int = 3, n_var: int = 5, n_samples: int = 30, seed: int = 0) -> Problem:
    r"""Multi-task linear regression with one shared weight vector ``x ∈ R^d``.

    Task ``k`` has data ``A_k`` (``n_samples × d``, entries ``N(0, 1)``) and targets
    ``b_k = A_k w_k + 0.1 ε_k`` (``ε_k ~ N(0, I)``), where the true weights
    ``w_k = s + 0.5 δ_k`` share a common part ``s ~ N(0, I)`` and differ by a task-specific
    ``δ_k ~ N(0, I)``, so the tasks conflict moderately. The objectives are the mean squared
    errors::

        f_k(x) = ‖A_k x − b_k‖² / (2 n_samples),    ∇f_k(x) = A_kᵀ (A_k x − b_k) / n_samples

    Pareto set: the problem is convex, so it is the set of weighted least-squares solutions
    ``x(w) = (Σ w_k A_kᵀA_k)⁻¹ Σ w_k A_kᵀ b_k`` for ``w`` on the simplex (sampled with
    `simplex_grid`); ``n_samples >= n_var`` makes every ``A_kᵀA_k`` invertible (almost
    surely). Starts are drawn from ``[−3, 3]^d``; there are no bounds.
    """
    k = check_int(n_obj, "n_obj", low=1)
    d = check_int(n_var, "n_var", low=1)
    m = check_int(n_samples, "n_samples", low=1)
    if m < d:
        raise ValueError(
            f"n_samples must be >= n_var = {d} (each task needs a unique least-squares "
            f"solution), got {m}"
        )
    rng = np.random.default_rng(check_int(seed, "seed", low=0))
    shared = rng.normal(size=d)
    weights = shared + 0.5 * rng.normal(size=(k, d))
    data = rng.normal(size=(k, m, d))
    targets = np.einsum("kmd,kd->km", data, weights) + 0.1 * rng.normal(size=(k, m))
    grams = np.einsum("kmi,kmj->kij", data, data)
    moments = np.einsum("kmi,km->ki", data, targets)

    def fun(x: FloatArray) -> FloatArray:
        r = data @ x - targets
        out: FloatArray = np.einsum("km,km->k", r, r) / (2.0 * m)
        return out

    def jac(x: FloatArray) -> FloatArray:
        r = data @ x - targets
        out: FloatArray = np.einsum("kmd,km->kd", data, r) / m
        return out

    def pareto_set(n: int) -> FloatArray:
        w = simplex_grid(k, n)
        a = np.einsum("nk,kij->nij", w, grams)
        b = w @ moments
        out: FloatArray = np.linalg.solve(a, b[..., None])[..., 0]
        return out

    def pareto_front(n: int) -> FloatArray:
        return np.stack([fun(x) for x in pareto_set(n)])

    return Problem(
        fun,
        d,
        k,
        jacobian=jac,
        sampling_bounds=(-3.0, 3.0),
        name="mtl-regression",
        objective_names=[f"task{i + 1}" for i in range(k)],
        pareto_front=pareto_front,
        pareto_set=pareto_set,
        description=f"{k}-task linear regression in R^{d}; Pareto set = weighted least squares",
    )
