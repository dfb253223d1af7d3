"""Solve a user-defined two-objective problem with exact MGDA from several starts.

Run: python examples/custom_problem.py [--plot front.png]

The problem trades off distance to two anchor points under a smooth penalty; its Pareto set
is a curve between the anchors. The script prints the non-dominated end points and the
worst Pareto-stationarity of the runs, and optionally plots the front (needs matplotlib).
"""

from __future__ import annotations

import argparse

import numpy as np

import moo

A = np.array([1.0, 0.0, 0.5])
B = np.array([-1.0, 0.5, 0.0])


def objectives(x: np.ndarray) -> np.ndarray:
    """f1 = |x - a|² + 0.1 Σ x⁴,  f2 = |x - b|² + 0.1 Σ x⁴."""
    penalty = 0.1 * np.sum(x**4)
    return np.array([np.sum((x - A) ** 2) + penalty, np.sum((x - B) ** 2) + penalty])


def jacobian(x: np.ndarray) -> np.ndarray:
    dpenalty = 0.4 * x**3
    return np.stack([2 * (x - A) + dpenalty, 2 * (x - B) + dpenalty])


def main(argv: list[str] | None = None) -> moo.ParetoFront:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=12)
    parser.add_argument("--plot", default=None, help="write the front to this PNG")
    args = parser.parse_args(argv)

    problem = moo.Problem(
        objectives, 3, 2, jacobian=jacobian, sampling_bounds=(-2.0, 2.0), name="anchors"
    )
    front = moo.pareto_front(problem, "mgda", n_starts=args.starts, seed=0)
    worst = max(r.stationarity for r in front.results)
    print(
        f"{len(front.F)} non-dominated points of {args.starts} runs; "
        f"{front.n_converged} converged; worst stationarity {worst:.2e}"
    )
    for f in front.F:
        print(f"  f1 = {f[0]:.4f}   f2 = {f[1]:.4f}")
    if args.plot:
        from moo.plotting import plot_front, save_figure

        save_figure(plot_front(problem, front), args.plot)
        print(f"plot written to {args.plot}")
    return front


if __name__ == "__main__":
    main()
