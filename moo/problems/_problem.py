"""The `Problem` type: K objectives over ``x ∈ R^d`` with optional box bounds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.gradients import AnalyticJacobian, FiniteDifferences, GradientProvider
from moo.validation import FloatArray, as_vector, check_int, check_jacobian, check_objective_values

Front = Callable[[int], ArrayLike]


class Problem:
    """A multi-objective problem ``min_x (f_1(x), ..., f_K(x))`` over ``x ∈ R^d``.

    Args:
        fun: vector function ``x -> (K,)`` of objective values.
        n_var: dimension ``d`` of ``x``.
        n_obj: number of objectives ``K`` (checked on every evaluation).
        jacobian: how to differentiate: a function ``x -> (K, d)`` (analytic Jacobian), a
            `GradientProvider` (e.g.
            `TorchAutograd`), or ``None`` for central finite differences
            (`FiniteDifferences`).
        bounds: ``(lower, upper)`` box bounds, each a scalar or a length-``d`` array; the
            minimize loop projects onto the box. ``None`` for an unconstrained problem.
            Read back as length-``d`` arrays with `bounds` (``xl, xu = problem.bounds()``,
            as in pymoo) or the attributes ``lower`` and ``upper`` (aliases `xl`, `xu`).
        sampling_bounds: box from which `minimize` (without ``x0``) and `pareto_front`
            draw starting points; defaults to ``bounds``. Read back with
            `sampling_bounds` (the method) or ``sampling_lower``, ``sampling_upper``.
        name: short name used in tables and plots.
        objective_names: one name per objective (default ``f1 .. fK``), used in error messages.
        pareto_front: function ``n -> (≈n, K)`` sampling the known Pareto front, if known.
        pareto_set: function ``n -> (≈n, d)`` sampling the known Pareto set, if known.
        description: one line shown by ``moo problems``.
    """

    def __init__(
        self,
        fun: Callable[[FloatArray], ArrayLike],
        n_var: int,
        n_obj: int,
        *,
        jacobian: Callable[[FloatArray], ArrayLike] | GradientProvider | None = None,
        bounds: tuple[ArrayLike, ArrayLike] | None = None,
        sampling_bounds: tuple[ArrayLike, ArrayLike] | None = None,
        name: str = "problem",
        objective_names: Sequence[str] | None = None,
        pareto_front: Front | None = None,
        pareto_set: Front | None = None,
        description: str = "",
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {fun!r}")
        self.fun = fun
        self.n_var = check_int(n_var, "n_var", low=1)
        self.n_obj = check_int(n_obj, "n_obj", low=1)
        if jacobian is None:
            self.gradients: GradientProvider = FiniteDifferences()
        elif isinstance(jacobian, GradientProvider):
            self.gradients = jacobian
        elif callable(jacobian):
            self.gradients = AnalyticJacobian(jacobian)
        else:
            raise TypeError(
                f"jacobian must be a function, a GradientProvider or None, got {jacobian!r}"
            )
        self.lower, self.upper = self._box(bounds, "bounds")
        if sampling_bounds is None:
            self.sampling_lower, self.sampling_upper = self.lower, self.upper
        else:
            self.sampling_lower, self.sampling_upper = self._box(sampling_bounds, "sampling_bounds")
        self.name = name
        if objective_names is None:
            objective_names = [f"f{i + 1}" for i in range(self.n_obj)]
        if len(objective_names) != self.n_obj:
            raise ValueError(
                f"objective_names must have {self.n_obj} entries, got {len(objective_names)}"
            )
        self.objective_names = [str(n) for n in objective_names]
        self._front = pareto_front
        self._set = pareto_set
        self.description = description
        self.n_value_evaluations = 0
        self.n_jacobian_evaluations = 0

    @classmethod
    def from_functions(
        cls,
        functions: Sequence[Callable[[FloatArray], float]],
        n_var: int,
        *,
        gradients: Sequence[Callable[[FloatArray], ArrayLike]] | None = None,
        **kwargs: Any,
    ) -> Problem:
        """Build a problem from K scalar functions (and optionally their K gradients).

        Without ``gradients`` the Jacobian comes from central finite differences. Other keyword
        arguments are those of `Problem`.
        """
        funcs = list(functions)
        if not funcs:
            raise ValueError("functions must hold at least one objective, got an empty list")
        for i, f in enumerate(funcs):
            if not callable(f):
                raise TypeError(f"functions[{i}] must be callable, got {f!r}")

        def fun(x: FloatArray) -> FloatArray:
            return np.array([float(f(x)) for f in funcs])

        jac: Callable[[FloatArray], ArrayLike] | None = None
        if gradients is not None:
            grads = list(gradients)
            if len(grads) != len(funcs):
                raise ValueError(
                    f"gradients must have one entry per function ({len(funcs)}), got {len(grads)}"
                )

            def jac(x: FloatArray) -> FloatArray:
                return np.stack([np.asarray(g(x), dtype=np.float64).reshape(-1) for g in grads])

        return cls(fun, n_var, len(funcs), jacobian=jac, **kwargs)

    def _box(
        self, bounds: tuple[ArrayLike, ArrayLike] | None, name: str
    ) -> tuple[FloatArray | None, FloatArray | None]:
        if bounds is None:
            return None, None
        if len(bounds) != 2:
            raise ValueError(f"{name} must be a pair (lower, upper), got {bounds!r}")
        lower, upper = (self._bound(v, f"{name}[{i}]") for i, v in enumerate(bounds))
        if np.any(np.isnan(lower)) or np.any(np.isnan(upper)):
            raise ValueError(f"{name} must not contain NaN")
        if np.any(lower > upper):
            j = int(np.flatnonzero(lower > upper)[0])
            raise ValueError(f"{name}: lower[{j}] = {lower[j]} exceeds upper[{j}] = {upper[j]}")
        return lower, upper

    def _bound(self, value: ArrayLike, name: str) -> FloatArray:
        """One side of a box: a scalar or a length-``n_var`` vector, as a float64 vector."""
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != self.n_var):
            raise ValueError(
                f"{name} must be a scalar or have length n_var = {self.n_var}, got shape "
                f"{arr.shape}"
            )
        out: FloatArray = np.broadcast_to(arr, (self.n_var,)).copy()
        return out

    @property
    def bounded(self) -> bool:
        """Whether the problem has box bounds."""
        return self.lower is not None

    def bounds(self) -> tuple[FloatArray, FloatArray] | tuple[None, None]:
        """The box bounds ``(lower, upper)`` as length-``d`` float64 arrays (copies), or
        ``(None, None)`` for an unbounded problem.

        The accessor of pymoo's ``Problem.bounds()``: ``xl, xu = problem.bounds()``.
        ``lower`` and ``upper`` (pymoo: ``xl``, ``xu``) are the same arrays as attributes.
        """
        if self.lower is None or self.upper is None:
            return None, None
        return self.lower.copy(), self.upper.copy()

    def sampling_bounds(self) -> tuple[FloatArray, FloatArray] | tuple[None, None]:
        """The box ``(lower, upper)`` from which `minimize` (without ``x0``) and
        `pareto_front` draw starting points, as length-``d`` float64 arrays (copies):
        the ``sampling_bounds`` given to the constructor, else the `bounds`;
        ``(None, None)`` when the problem has neither."""
        if self.sampling_lower is None or self.sampling_upper is None:
            return None, None
        return self.sampling_lower.copy(), self.sampling_upper.copy()

    @property
    def xl(self) -> FloatArray | None:
        """pymoo's name of `lower`: the lower bounds (d,), ``None`` when unbounded."""
        return self.lower

    @property
    def xu(self) -> FloatArray | None:
        """pymoo's name of `upper`: the upper bounds (d,), ``None`` when unbounded."""
        return self.upper

    def check_point(self, x: ArrayLike, name: str = "x") -> FloatArray:
        """Validate a point: finite, length ``n_var``, inside the bounds."""
        arr = as_vector(x, name, size=self.n_var)
        if self.lower is not None and self.upper is not None:
            out = (arr < self.lower) | (arr > self.upper)
            if np.any(out):
                j = int(np.flatnonzero(out)[0])
                raise ValueError(
                    f"{name} is outside the bounds of problem {self.name!r}: {name}[{j}] = "
                    f"{arr[j]} not in [{self.lower[j]}, {self.upper[j]}]"
                )
        return arr

    def project(self, x: FloatArray) -> FloatArray:
        """Euclidean projection onto the box bounds (identity when unbounded)."""
        if self.lower is None or self.upper is None:
            return x
        return np.clip(x, self.lower, self.upper)

    def values(self, x: ArrayLike) -> FloatArray:
        """Objective values ``f(x)`` (K,); a non-finite value raises naming the objective."""
        xv = np.asarray(x, dtype=np.float64)
        self.n_value_evaluations += 1
        out = self.gradients.values(self.fun, xv)
        return check_objective_values(out, self.n_obj, names=self.objective_names)

    def jacobian(self, x: ArrayLike) -> FloatArray:
        """Jacobian ``J(x)`` (K×d, row ``i`` is ``∇f_i(x)``); a non-finite row raises naming
        the objective."""
        xv = np.asarray(x, dtype=np.float64)
        self.n_jacobian_evaluations += 1
        jac = self.gradients.jacobian(self.fun, xv, lower=self.lower, upper=self.upper)
        return check_jacobian(jac, self.n_obj, self.n_var, names=self.objective_names)

    @property
    def has_pareto_front(self) -> bool:
        """Whether the problem knows its Pareto front."""
        return self._front is not None

    def pareto_front(self, n_points: int = 500) -> FloatArray:
        """About ``n_points`` points sampled on the known Pareto front, shape ``(n, K)``."""
        if self._front is None:
            raise ValueError(f"problem {self.name!r} has no known Pareto front")
        n = check_int(n_points, "n_points", low=1)
        return np.asarray(self._front(n), dtype=np.float64).reshape(-1, self.n_obj)

    def pareto_set(self, n_points: int = 500) -> FloatArray:
        """About ``n_points`` points sampled on the known Pareto set, shape ``(n, d)``."""
        if self._set is None:
            raise ValueError(f"problem {self.name!r} has no known Pareto set")
        n = check_int(n_points, "n_points", low=1)
        return np.asarray(self._set(n), dtype=np.float64).reshape(-1, self.n_var)

    def __repr__(self) -> str:
        bounds = "bounded" if self.bounded else "unbounded"
        return f"Problem({self.name!r}, n_var={self.n_var}, n_obj={self.n_obj}, {bounds})"
