"""Triangular solves on small dense factors held as Python lists, shared by the exact solvers
whose active sets are a few objectives (CAGrad's solution path, UPGrad's dual-cone QPs).

At the sizes of multi-objective problems (K up to a few dozen) list arithmetic is several times
faster than NumPy calls. A factor ``L`` is given by its rows, lower triangle only (row ``i`` may
stop at its diagonal entry ``L[i][i]`` or run on with zeros). Both solves take the factor first.
A pivot ``L[i][i] <= 0`` marks a dependent direction whose coordinate is set to ``0``.
"""

from __future__ import annotations

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
