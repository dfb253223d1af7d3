"""Approximate a Pareto front by running the minimize loop from several starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.indicators import non_dominated
from moo.loop import Result, _deprecated_names, _draw_start, minimize
from moo.problems import Problem
from moo.solvers import UpdateRule
from moo.validation import FloatArray, check_int, require


@dataclass(frozen=True)
class ParetoFront:
    """The non-dominated final points of several runs.

    Attributes:
        X: non-dominated final points, ``(m, d)``.
        F: their objective values, ``(m, K)``, sorted by the first objective.
        results: every run's `Result`, in start order.
    """

    X: FloatArray
    F: FloatArray
    results: list[Result]

    @property
    def n_converged(self) -> int:
        """How many runs stopped with ``||d|| <= tol``."""
        return sum(r.converged for r in self.results)


def pareto_front(
    problem: Problem,
    rule: str | UpdateRule = "mgda",
    *,
    n_starts: int = 20,
    seed: int = 0,
    starts: ArrayLike | None = None,
    progress: bool = False,
    **minimize_options: Any,
) -> ParetoFront:
    """Run `minimize` from ``n_starts`` starts, keep the non-dominated ends.

    Args:
        problem: the problem.
        rule: rule name or instance (reset before every run).
        n_starts: number of starts drawn uniformly from the sampling box with ``seed``.
        seed: seed of the starts.
        starts: explicit starting points ``(n, d)`` instead of drawn ones.
        progress: show a progress bar over the runs (needs ``tqdm``: the ``progress`` extra).
        **minimize_options: passed to `minimize` (``steps``, ``tol``,
            ``step_size``, ``rule_options``; the deprecated ``method``/``method_options``).
    """
    if starts is None:
        n = check_int(n_starts, "n_starts", low=1)
        rng = np.random.default_rng(seed)
        x0s: Sequence[FloatArray] = [_draw_start(problem, rng) for _ in range(n)]
    else:
        arr = np.asarray(starts, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise ValueError(f"starts must be a non-empty (n, d) array, got shape {arr.shape}")
        x0s = [problem.check_point(x, f"starts[{i}]") for i, x in enumerate(arr)]
    iterator: Any = x0s
    if progress:
        tqdm = require("tqdm", "progress=True", "progress").tqdm
        iterator = tqdm(x0s, desc=f"{problem.name}", unit="run", leave=False)
    former: dict[str, Any] = {
        k: minimize_options.pop(k) for k in ("method", "method_options") if k in minimize_options
    }
    if former:
        rule, options = _deprecated_names(
            "pareto_front", rule, minimize_options.pop("rule_options", None), former
        )
        minimize_options["rule_options"] = options
    results = [minimize(problem, rule, x0=x0, **minimize_options) for x0 in iterator]
    X = np.asarray([r.x for r in results])
    F = np.asarray([r.F for r in results])
    keep = non_dominated(F)
    order = np.argsort(F[keep][:, 0], kind="stable")
    return ParetoFront(X[keep][order], F[keep][order], results)
