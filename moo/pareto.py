"""Approximate a Pareto front by running the minimize loop from several starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.indicators import non_dominated
from moo.loop import Result, _deprecated_names, _draw_start, _seed, minimize
from moo.problems import Problem
from moo.solvers import UpdateRule
from moo.validation import FloatArray, check_int, require


@dataclass(frozen=True)
class ParetoFront:
    """The non-dominated final points of several runs.

    Attributes:
        X: non-dominated final points, ``(m, d)``.
        F: their objective values, ``(m, K)``, sorted by the first objective.
        results: the `Result` of every run that finished, in start order.
        failed: ``(start index, message)`` of each run that raised (an objective turning
            non-finite along the way, for example); its start is left out of ``results``.
    """

    X: FloatArray
    F: FloatArray
    results: list[Result]
    failed: tuple[tuple[int, str], ...] = ()

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

    A run that raises ``ValueError`` or ``ArithmeticError`` (an objective that turns
    non-finite far from its start, say) is recorded in `ParetoFront.failed` and the other
    runs go on; when every run fails, the first error is raised (bad arguments fail every run).

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
        rng = np.random.default_rng(_seed(seed))
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
    results: list[Result] = []
    failed: list[tuple[int, str]] = []
    first_error: Exception | None = None
    for i, x0 in enumerate(iterator):
        try:
            results.append(minimize(problem, rule, x0=x0, **minimize_options))
        except (ValueError, ArithmeticError) as exc:  # the finished runs are kept
            failed.append((i, f"{type(exc).__name__}: {exc}"))
            first_error = first_error or exc
    if not results:
        assert first_error is not None
        raise first_error  # every start failed: bad arguments, or a problem that cannot run
    X = np.asarray([r.x for r in results])
    F = np.asarray([r.F for r in results])
    keep = non_dominated(F)
    order = np.argsort(F[keep][:, 0], kind="stable")
    return ParetoFront(X[keep][order], F[keep][order], results, tuple(failed))
