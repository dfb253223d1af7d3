"""Front coverage of preference-directed rules against MGDA and pymoo's NSGA-II.

For each catalogue problem with a known front it runs

- ``epo``: `moo.pareto_front` with EPO, one run per preference vector (``1/u`` for the
  directions ``u``, so that the EPO point ``f ∝ 1/(1/u) = u`` follows ``u``);
- ``pmtl``: `moo.pareto_front` with Pareto MTL and the preferences ``u``;
- ``mgda``: `moo.pareto_front` with MGDA from as many random starts;
- ``nsga2``: pymoo's NSGA-II (optional; skipped with a message when pymoo is missing) with
  the same number of evaluations as the most expensive gradient method on that problem,

and reports, side by side, the inverted generational distance to a dense sample of the
known front (IGD, smaller is better), the hypervolume with the reference point
``1.1 × the front's nadir`` (larger is better; needs moocore, the ``indicators`` extra), the
number of distinct non-dominated points and the evaluations spent.

Counting: one objective-vector evaluation and one Jacobian evaluation count one each, as the
minimize loop records them (`moo.Result.n_value_evaluations`,
`~moo.Result.n_jacobian_evaluations`); NSGA-II spends only objective evaluations. With
automatic differentiation a Jacobian costs a small multiple of an objective evaluation, so
this count favors the gradient methods less than it seems on cheap analytic problems.

Usage::

    .venv/bin/python benchmarks/bench_front_coverage.py
    .venv/bin/python benchmarks/bench_front_coverage.py --out benchmarks/results-front-coverage.md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import moo
from moo.indicators import igd, non_dominated
from moo.pareto import PlateauWarning
from moo.problems.catalogue import simplex_grid

PROBLEMS: list[tuple[str, dict[str, int]]] = [
    ("quadratic", {}),
    ("fonseca", {}),
    ("zdt1", {"n_var": 10}),
    ("zdt2", {"n_var": 10}),
    ("dtlz2", {"n_var": 7}),
]


@dataclass
class Row:
    method: str
    igd: float
    hv: float | None
    points: int
    evaluations: int
    seconds: float
    note: str = ""


def directions(k: int, n: int) -> np.ndarray:
    """``n`` unit preference directions in the positive orthant (K = 2: the angles
    π/20 .. 9π/20 of Lin et al.; K = 3: a Das-Dennis grid shifted off the boundary)."""
    if k == 2:
        angles = np.linspace(np.pi / 20, 9 * np.pi / 20, n)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    grid = simplex_grid(k, n) + 0.1
    return grid / np.linalg.norm(grid, axis=1, keepdims=True)


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float | None:
    try:
        return moo.indicators.hypervolume(F, ref)
    except ImportError:
        return None


def evaluations(front: moo.ParetoFront) -> int:
    return sum(r.n_value_evaluations + r.n_jacobian_evaluations for r in front.results)


def run_gradient(
    problem: moo.Problem, method: str, prefs: np.ndarray, seed: int, steps: int
) -> tuple[np.ndarray, int, float, str]:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlateauWarning)
        if method == "mgda":
            front = moo.pareto_front(problem, "mgda", n_starts=len(prefs), seed=seed, steps=steps)
        elif method == "epo":
            front = moo.pareto_front(
                problem, "epo", preferences=1.0 / prefs, seed=seed, steps=steps
            )
        else:
            front = moo.pareto_front(problem, "pmtl", preferences=prefs, seed=seed, steps=steps)
    seconds = time.perf_counter() - started
    note = f"{front.n_converged}/{len(front.results)} converged"
    if any(issubclass(w.category, PlateauWarning) for w in caught):
        note += f", {len(front.stalled)} stalled"
    return front.F, evaluations(front), seconds, note


def run_nsga2(
    problem: moo.Problem, budget: int, pop_size: int, seed: int
) -> tuple[np.ndarray, int, float, str]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.optimize import minimize as pymoo_minimize

    lower = problem.lower if problem.lower is not None else problem.sampling_lower
    upper = problem.upper if problem.upper is not None else problem.sampling_upper

    class Wrapped(ElementwiseProblem):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(n_var=problem.n_var, n_obj=problem.n_obj, xl=lower, xu=upper)

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            out["F"] = problem.values(x)

    n_gen = max(1, budget // pop_size)
    started = time.perf_counter()
    res = pymoo_minimize(
        Wrapped(), NSGA2(pop_size=pop_size), ("n_gen", n_gen), seed=seed, verbose=False
    )
    seconds = time.perf_counter() - started
    F = np.atleast_2d(res.F)
    return F, int(res.algorithm.evaluator.n_eval), seconds, f"pop {pop_size}, {n_gen} generations"


def distinct(F: np.ndarray) -> np.ndarray:
    F = F[non_dominated(F)]
    return np.unique(np.round(F, 12), axis=0)


def measure(
    name: str, options: dict[str, int], n_prefs: int, seed: int, steps: int, pop_size: int
) -> list[Row]:
    problem = moo.get_problem(name, **options)
    ref = problem.pareto_front(2000)
    nadir = 1.1 * ref.max(axis=0)
    prefs = directions(problem.n_obj, n_prefs)
    rows: list[Row] = []
    runs: list[tuple[str, Callable[[], tuple[np.ndarray, int, float, str]]]] = [
        (m, lambda m=m: run_gradient(problem, m, prefs, seed, steps))  # type: ignore[misc]
        for m in ("epo", "pmtl", "mgda")
    ]
    for method, call in runs:
        F, evals, seconds, note = call()
        F = distinct(F)
        rows.append(Row(method, igd(F, ref), hypervolume(F, nadir), len(F), evals, seconds, note))
    budget = max(r.evaluations for r in rows)
    try:
        import pymoo  # noqa: F401
    except ImportError:
        print(
            "pymoo is not installed: the nsga2 column is skipped (pip install pymoo)",
            file=sys.stderr,
        )
        rows.append(Row("nsga2", float("nan"), None, 0, 0, 0.0, "skipped: pymoo not installed"))
        return rows
    F, evals, seconds, note = run_nsga2(problem, budget, pop_size, seed)
    F = distinct(F)
    rows.append(Row("nsga2", igd(F, ref), hypervolume(F, nadir), len(F), evals, seconds, note))
    return rows


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:.{digits}f}"


def report(results: dict[str, list[Row]], args: argparse.Namespace, wall: float) -> str:
    versions = []
    for dist in ("numpy", "scipy", "moocore", "pymoo"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (missing)")
    lines = [
        "# Front coverage: EPO and Pareto MTL against MGDA and NSGA-II",
        "",
        f"`benchmarks/bench_front_coverage.py --prefs {args.prefs} --steps {args.steps} "
        f"--pop {args.pop} --seed {args.seed}`: {wall:.1f} s on {platform.machine()} "
        f"({platform.python_implementation()} {platform.python_version()}; "
        f"{', '.join(versions)}).",
        "",
        "IGD to 2000 points of the known front (smaller is better); hypervolume with the "
        "reference point 1.1 × the front's nadir (larger is better); points: distinct "
        "non-dominated end points; evaluations: objective + Jacobian evaluations, each "
        "counting one (NSGA-II gets the budget of the most expensive gradient method, and by "
        "default a population of as many points as there are preferences). "
        "One seeded run: these are not averages.",
        "",
    ]
    for problem, rows in results.items():
        lines += [
            f"## {problem}",
            "",
            "| method | IGD | hypervolume | points | evaluations | seconds | note |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r.method} | {fmt(r.igd)} | {fmt(r.hv)} | {r.points} | {r.evaluations} | "
            f"{r.seconds:.2f} | {r.note} |"
            for r in rows
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefs", type=int, default=10, help="preference vectors / starts")
    parser.add_argument("--steps", type=int, default=300, help="steps per gradient run")
    parser.add_argument(
        "--pop", type=int, default=None, help="NSGA-II population size (default: --prefs)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--problems", default=",".join(n for n, _ in PROBLEMS))
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.pop is None:
        args.pop = args.prefs  # as many points as the gradient methods may return
    chosen = set(args.problems.split(","))
    started = time.perf_counter()
    results: dict[str, list[Row]] = {}
    for name, options in PROBLEMS:
        if name not in chosen:
            continue
        label = name + "".join(f", {k}={v}" for k, v in options.items())
        results[label] = measure(name, options, args.prefs, args.seed, args.steps, args.pop)
        print(f"{label}: done", file=sys.stderr)
    text = report(results, args, time.perf_counter() - started)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
