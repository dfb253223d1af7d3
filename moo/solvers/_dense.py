"""Small dense linear algebra on Python lists, shared by the exact solvers whose active sets
are a few objectives: a Cholesky factor and triangular solves with it (CAGrad's solution
path, UPGrad's dual-cone QPs, the min-norm corral's affine minimizer) and Gaussian elimination
(for indefinite systems).

At the sizes of multi-objective problems (K up to a few dozen) list arithmetic is several times
faster than NumPy calls. A factor ``L`` is given by its rows, lower triangle only (row ``i`` may
stop at its diagonal entry ``L[i][i]`` or run on with zeros). Every solve takes the matrix
first and the right-hand side after it (`solve`: in the matrix's last column). A pivot
``L[i][i] <= 0`` marks a dependent direction whose coordinate is set to ``0``.
"""

from __future__ import annotations

import math
from operator import mul


def forward(low: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve ``L y = rhs``; a zero pivot (dependent direction) gives ``y_i = 0``."""
    y: list[float] = []
    for i, row in enumerate(low):
        piv = row[i]
        y.append((rhs[i] - sum(map(mul, row, y))) / piv if piv > 0.0 else 0.0)
    return y


def backward(low: list[list[float]], y: list[float]) -> list[float]:
    """Solve ``Lᵀ x = y``; a zero pivot gives ``x_i = 0``."""
    n = len(low)
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        piv = low[i][i]
        if piv > 0.0:
            acc = y[i]
            for j in range(i + 1, n):
                acc -= low[j][i] * x[j]
            x[i] = acc / piv
    return x


def cholesky(a: list[list[float]], tol: float) -> list[list[float]]:
    """Lower factor ``L`` (rows, each ending at its diagonal) of a symmetric PSD ``A``; a pivot
    ``<= tol · A_ii`` marks a dependent direction: its column is left 0 (`forward` and
    `backward` then set that coordinate to 0, which solves a consistent singular system)."""
    low: list[list[float]] = []
    for i, row in enumerate(a):
        li: list[float] = []
        for j in range(i):
            lj = low[j]
            piv = lj[j]
            li.append((row[j] - sum(map(mul, li, lj))) / piv if piv > 0.0 else 0.0)
        d = row[i] - sum(v * v for v in li)
        li.append(math.sqrt(d) if d > tol * row[i] else 0.0)
        low.append(li)
    return low


def solve(a: list[list[float]]) -> list[float]:
    """Solve ``A x = b`` given the augmented matrix ``[A | b]`` (rows of length n + 1, changed
    in place): Gaussian elimination with partial pivoting.

    A pivot that vanishes (a singular, affinely dependent corral) is skipped, which returns
    one solution of the consistent singular system.
    """
    n = len(a)
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        if abs(a[p][c]) <= 1e-300:
            continue
        a[c], a[p] = a[p], a[c]
        pivot = a[c]
        inv = 1.0 / pivot[c]
        for r in range(c + 1, n):
            row = a[r]
            factor = row[c] * inv
            if factor != 0.0:
                for q in range(c, n + 1):
                    row[q] -= factor * pivot[q]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        row = a[r]
        acc = row[n] - sum(row[q] * x[q] for q in range(r + 1, n))
        x[r] = acc / row[r] if abs(row[r]) > 1e-300 else 0.0
    return x
