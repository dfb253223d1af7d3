"""Approximate a Pareto front by running the minimize loop from several starts.

`pareto_front` runs `minimize` from many starts (or once per preference vector of a
preference-directed rule: `EPO`, `PMTL`) and keeps the distinct non-dominated end points.
Two end points count as one when they agree within a tolerance relative to the spread of
the objective values (`ParetoFront.scale`), and runs that claim convergence at a point that
another run's end dominates are reported as *stalled* (a plateau, or a local front).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.indicators import non_dominated
from moo.loop import CONVERGED_REASONS, Result, _deprecated_names, _draw_start, _seed, minimize
from moo.problems import Problem
from moo.solvers import UpdateRule, available_rules, get_rule
from moo.validation import FloatArray, check_int, check_real, real_array, require

__all__ = ["FLAT_RATIO", "ParetoFront", "PlateauWarning", "pareto_front"]

FLAT_RATIO = 1e-3
"""A run that ran out of steps counts as stalled (`ParetoFront.stalled`) when its end is
dominated and its Pareto stationarity there is at most this fraction of the largest
stationarity measured at any start: it was crawling on a flat region."""


class PlateauWarning(UserWarning):
    """Most runs of `pareto_front` stopped as converged at points that other runs' ends
    dominate (see `ParetoFront.on_plateau`)."""


@dataclass(frozen=True)
class ParetoFront:
    """The distinct non-dominated final points of several runs.

    Attributes:
        X: distinct non-dominated final points, ``(m, d)``.
        F: their objective values, ``(m, K)``, sorted by the first objective.
        results: the `Result` of every run that finished, in start order (all of them:
            duplicates and dominated ends included).
        failed: ``(start index, message)`` of each run that raised (an objective turning
            non-finite along the way, for example); its start is left out of ``results``.
        index: for each row of ``X``/``F``, the position in ``results`` of the run that
            ended there (the first one, when several ended at the same point).
        multiplicity: for each row of ``F``, how many finished runs ended at that point
            (within ``duplicate_tol``).
        stalled: positions in ``results`` of the runs whose end another run's end
            dominates beyond the tolerance and that either stopped with a converged reason
            (`moo.loop.CONVERGED_REASONS`: the certificate ``||d|| <= tol`` held at a point
            that is not Pareto-optimal) or ran out of steps while crawling (Pareto
            stationarity at the end ``<= FLAT_RATIO`` times the largest measured at any
            start). Typical causes: a plateau where the gradients fall below ``tol``, or a
            local front.
        scale: ``s`` (K,), the per-objective unit of the tolerance: the range of each
            objective over the start and end values of every finished run (where that is
            zero, the largest absolute value; where that is zero too, 1).
        duplicate_tol: ``τ``: two ends ``a``, ``b`` are one point when
            ``|F_a,i − F_b,i| <= τ s_i`` for every objective ``i``; ``b`` dominates ``a``
            beyond the tolerance when ``F_b <= F_a + τ s`` everywhere and
            ``F_b < F_a − τ s`` somewhere.
        preferences: the preference vector of each start, ``(n, K)``, when the runs were
            preference-directed (``pareto_front(..., preferences=...)``), else ``None``.
        start_index: for each entry of ``results``, the index of its start (and
            preference); it differs from the position when some start failed.
    """

    X: FloatArray
    F: FloatArray
    results: list[Result]
    failed: tuple[tuple[int, str], ...] = ()
    index: tuple[int, ...] = ()
    multiplicity: tuple[int, ...] = ()
    stalled: tuple[int, ...] = ()
    scale: FloatArray | None = None
    duplicate_tol: float = 0.0
    preferences: FloatArray | None = None
    start_index: tuple[int, ...] = ()

    @property
    def n_converged(self) -> int:
        """How many runs stopped with a converged reason (``||d|| <= tol``, stationary, or at
        the rounding floor)."""
        return sum(r.converged for r in self.results)

    @property
    def n_distinct(self) -> int:
        """How many distinct end points the finished runs reached (dominated ones included),
        with the tolerance of ``duplicate_tol``."""
        if not self.results or self.scale is None:
            return len(self.results)
        ends = np.asarray([r.F for r in self.results])
        return len(_clusters(ends, self.duplicate_tol * self.scale))

    @property
    def plateau_fraction(self) -> float:
        """The share of the finished runs that stalled (`stalled`)."""
        return len(self.stalled) / len(self.results) if self.results else 0.0

    @property
    def on_plateau(self) -> bool:
        """``True`` when most finished runs (more than half) stalled (`stalled`): they stopped,
        or crawled, at points another run's end dominates beyond the tolerance. Typical
        cause: starts on a flat region, where every gradient is below the minimize loop's
        absolute ``tol`` (Fonseca-Fleming far from its wells); draw starts from a smaller
        box, lower ``tol``, or rescale the objectives. `pareto_front` then emits a
        `PlateauWarning`."""
        return self.plateau_fraction > 0.5


def pareto_front(
    problem: Problem,
    rule: str | UpdateRule = "mgda",
    *,
    n_starts: int | None = None,
    seed: int = 0,
    starts: ArrayLike | None = None,
    preferences: ArrayLike | None = None,
    duplicate_tol: float = 1e-6,
    progress: bool = False,
    **minimize_options: Any,
) -> ParetoFront:
    """Run `minimize` from several starts and keep the distinct non-dominated ends.

    Without ``preferences``: ``n_starts`` runs of ``rule`` (default 20) from starts drawn
    uniformly from the problem's sampling box with ``seed``, or from ``starts``.

    With ``preferences`` (an ``(n, K)`` array, one row per run): a preference-directed rule
    (one with a ``preference`` hyperparameter: ``"epo"``, ``"pmtl"``) is built once per row
    with ``preference=preferences[i]`` and run from its own start, so that the ends spread
    along the front on purpose. A rule with a ``references`` hyperparameter left at ``None``
    (`PMTL`) gets the whole array as ``references`` (the sub-regions). Each rule reads a
    preference as its paper does: `EPO` ends where ``f ∝ 1/preference`` (a larger entry asks
    for a smaller loss), `PMTL` in the sub-region of the loss directions closest to the
    preference (a larger entry allows a larger loss).

    End points that agree within ``duplicate_tol`` (relative to `ParetoFront.scale`) count
    as one (the first run's is kept; `ParetoFront.multiplicity` counts them); ``results``
    keeps every run. When most runs stopped as converged at points that other runs'
    ends dominate (`ParetoFront.on_plateau`), a `PlateauWarning` says so.

    A run that raises ``ValueError`` or ``ArithmeticError`` (an objective that turns
    non-finite far from its start, say) is recorded in `ParetoFront.failed` and the other
    runs go on; when every run fails, the first error is raised (bad arguments fail every run).

    Args:
        problem: the problem.
        rule: rule name or instance (reset before every run).
        n_starts: number of starts drawn uniformly from the sampling box with ``seed``
            (default 20; with ``preferences``, one per preference: give it only to repeat
            that number).
        seed: seed of the starts.
        starts: explicit starting points ``(n, d)`` instead of drawn ones; with
            ``preferences``, one per preference or a single one shared by all.
        preferences: ``(n, K)`` preference vectors, finite, non-negative, each with a
            positive entry (the rule may ask more: `EPO` needs positive entries).
        duplicate_tol: relative tolerance ``τ >= 0`` under which two ends are one point
            (``0``: only identical ends merge); see `ParetoFront.duplicate_tol`.
        progress: show a progress bar over the runs (needs ``tqdm``: the ``progress`` extra).
        **minimize_options: passed to `minimize` (``steps``, ``tol``,
            ``step_size``, ``rule_options``; the deprecated ``method``/``method_options``).

    Raises:
        ValueError: bad ``preferences`` (shape, sign, length K), a rule without a
            ``preference`` hyperparameter given ``preferences``, ``starts`` or ``n_starts``
            that do not match the preferences.
    """
    tol_dup = check_real(duplicate_tol, "duplicate_tol", low=0.0)
    former: dict[str, Any] = {
        k: minimize_options.pop(k) for k in ("method", "method_options") if k in minimize_options
    }
    if former:
        rule, options = _deprecated_names(
            "pareto_front", rule, minimize_options.pop("rule_options", None), former
        )
        minimize_options["rule_options"] = options
    prefs: FloatArray | None = None
    rules: Sequence[str | UpdateRule] | None = None
    if preferences is not None:
        prefs = _check_preferences(preferences, problem.n_obj)
        rules = _preference_rules(rule, minimize_options.pop("rule_options", None), prefs)
        if n_starts is not None and check_int(n_starts, "n_starts", low=1) != prefs.shape[0]:
            raise ValueError(
                f"n_starts={n_starts} does not match the {prefs.shape[0]} preference vectors "
                "(one run per preference): leave n_starts out"
            )
    n_runs = prefs.shape[0] if prefs is not None else None
    x0s = _starts(problem, n_starts, seed, starts, n_runs)
    iterator: Any = x0s
    if progress:
        tqdm = require("tqdm", "progress=True", "progress").tqdm
        iterator = tqdm(x0s, desc=f"{problem.name}", unit="run", leave=False)
    results: list[Result] = []
    started: list[int] = []
    failed: list[tuple[int, str]] = []
    first_error: Exception | None = None
    for i, x0 in enumerate(iterator):
        run_rule = rule if rules is None else rules[i]
        try:
            results.append(minimize(problem, run_rule, x0=x0, **minimize_options))
            started.append(i)
        except (ValueError, ArithmeticError) as exc:  # the finished runs are kept
            failed.append((i, f"{type(exc).__name__}: {exc}"))
            first_error = first_error or exc
    if not results:
        assert first_error is not None
        raise first_error  # every start failed: bad arguments, or a problem that cannot run
    front = _front(results, tol_dup, tuple(failed), prefs, tuple(started))
    if front.on_plateau:
        stalled_ends = np.asarray([results[i].F for i in front.stalled])
        assert front.scale is not None
        n_spots = len(_clusters(stalled_ends, tol_dup * front.scale))
        warnings.warn(
            f"pareto_front on {problem.name!r}: {len(front.stalled)} of {len(results)} runs "
            f"stalled at {n_spots} distinct point(s) that other runs' ends dominate, converged "
            "or crawling (a plateau where the gradients fall below tol, a local front, or "
            "weakly Pareto-stationary points on a bound); "
            f"{front.F.shape[0]} distinct non-dominated point(s) remain. Draw starts from a "
            "smaller box, lower tol, or rescale the objectives (see ParetoFront.stalled)",
            PlateauWarning,
            stacklevel=2,
        )
    return front


def _starts(
    problem: Problem,
    n_starts: int | None,
    seed: int,
    starts: ArrayLike | None,
    n_runs: int | None,
) -> list[FloatArray]:
    """The starting points: drawn (``n_runs`` or ``n_starts``, default 20) or checked."""
    if starts is None:
        n = n_runs if n_runs is not None else 20 if n_starts is None else n_starts
        n = check_int(n, "n_starts", low=1)
        rng = np.random.default_rng(_seed(seed))
        return [_draw_start(problem, rng) for _ in range(n)]
    arr = np.asarray(starts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"starts must be a non-empty (n, d) array, got shape {arr.shape}")
    if n_runs is not None and arr.shape[0] not in (1, n_runs):
        raise ValueError(
            f"starts must have one row per preference ({n_runs}) or a single row, got "
            f"{arr.shape[0]} rows"
        )
    points = [problem.check_point(x, f"starts[{i}]") for i, x in enumerate(arr)]
    return points * n_runs if n_runs is not None and len(points) == 1 else points


def _check_preferences(preferences: ArrayLike, n_obj: int) -> FloatArray:
    arr = real_array(preferences, "preferences")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != n_obj:
        raise ValueError(
            f"preferences must be an (n, {n_obj}) array (one preference vector of the "
            f"{n_obj} objectives per run), got shape {np.shape(preferences)}"
        )
    if not np.all(np.isfinite(arr)):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"preferences must be finite, got preferences[{i}, {j}] = {arr[i, j]}")
    if np.any(arr < 0.0):
        i, j = (int(v) for v in np.argwhere(arr < 0.0)[0])
        raise ValueError(
            f"preferences must be non-negative, got preferences[{i}, {j}] = {arr[i, j]}"
        )
    empty = np.flatnonzero(~np.any(arr > 0.0, axis=1))
    if empty.size:
        i = int(empty[0])
        raise ValueError(f"preferences[{i}] needs a positive entry, got {arr[i].tolist()}")
    return np.array(arr, dtype=np.float64)


def _preference_rules(
    rule: str | UpdateRule, rule_options: Any, prefs: FloatArray
) -> list[UpdateRule]:
    """One rule per preference vector, built (and validated) before any run."""
    if rule_options is not None and not isinstance(rule_options, Mapping):
        raise TypeError(f"rule_options must be a mapping (or None), got {rule_options!r}")
    base = get_rule(rule, **dict(rule_options or {}))
    params = base.hyperparameters()
    if "preference" not in inspect.signature(type(base).__init__).parameters:
        directed = [
            name
            for name, cls in available_rules().items()
            if "preference" in inspect.signature(cls.__init__).parameters
        ]
        raise ValueError(
            f"rule {base.name!r} takes no preference; preferences= needs a "
            f"preference-directed rule: {', '.join(directed)}"
        )
    fill_references = "references" in params and params["references"] is None
    rules = []
    for i, p in enumerate(prefs):
        changes: dict[str, Any] = {"preference": p}
        if fill_references:
            changes["references"] = prefs
        try:
            rules.append(base.replace(**changes))
        except ValueError as exc:
            raise ValueError(f"preferences[{i}] = {p.tolist()}: {exc}") from exc
    return rules


def _front(
    results: list[Result],
    tol: float,
    failed: tuple[tuple[int, str], ...],
    prefs: FloatArray | None,
    started: tuple[int, ...],
) -> ParetoFront:
    """Distinct non-dominated ends, multiplicities and stalled runs of finished runs."""
    X = np.asarray([r.x for r in results])
    F = np.asarray([r.F for r in results])
    scale = _scale(results)
    slack = tol * scale
    labels = _labels(F, slack)
    keep = non_dominated(F)
    # one end per cluster of non-dominated ends: its first non-dominated member
    seen: set[int] = set()
    representatives: list[int] = []
    for i in np.flatnonzero(keep):
        if int(labels[i]) not in seen:
            seen.add(int(labels[i]))
            representatives.append(int(i))
    rep = np.asarray(representatives, dtype=np.int64)
    order = np.argsort(F[rep, 0], kind="stable")
    rep = rep[order]
    counts = tuple(int(np.sum(labels == labels[i])) for i in rep)
    # b dominates a beyond the tolerance: F_b <= F_a + τs everywhere, F_b < F_a − τs somewhere
    weak = np.all(F[None, :, :] <= F[:, None, :] + slack, axis=2)  # [a, b]: b weakly below a
    strict = np.any(F[None, :, :] < F[:, None, :] - slack, axis=2)
    dominated = np.any(weak & strict, axis=1)
    # flat: Pareto stationarity at the end a small fraction of the largest seen at a start
    flat = FLAT_RATIO * max(float(r.history.stationarity[0]) for r in results)
    stalled = tuple(
        int(i)
        for i in np.flatnonzero(dominated)
        if results[i].reason in CONVERGED_REASONS or results[i].stationarity <= flat
    )
    return ParetoFront(
        X[rep],
        F[rep],
        results,
        failed,
        index=tuple(int(i) for i in rep),
        multiplicity=counts,
        stalled=stalled,
        scale=scale,
        duplicate_tol=tol,
        preferences=prefs,
        start_index=started,
    )


def _scale(results: list[Result]) -> FloatArray:
    """Per-objective range of the start and end values of the runs (fallbacks: the largest
    absolute value, then 1)."""
    values = np.asarray([row for r in results for row in (r.history.F[0], r.F)])
    spread = np.ptp(values, axis=0)
    size = np.max(np.abs(values), axis=0)
    out: FloatArray = np.where(spread > 0.0, spread, np.where(size > 0.0, size, 1.0))
    return out


def _labels(F: FloatArray, slack: FloatArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Cluster label (the first member's row) of each row: rows join the cluster of the first
    earlier representative within ``slack`` in every objective."""
    labels = np.arange(F.shape[0])
    reps: list[int] = []
    for i in range(F.shape[0]):
        for j in reps:
            if np.all(np.abs(F[i] - F[j]) <= slack):
                labels[i] = j
                break
        else:
            reps.append(i)
    return labels


def _clusters(F: FloatArray, slack: FloatArray) -> list[int]:
    """Representatives of the clusters of `_labels`."""
    labels = _labels(F, slack)
    return [i for i in range(F.shape[0]) if labels[i] == i]
