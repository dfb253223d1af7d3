"""Plots of fronts, trajectories and weights (needs matplotlib: the ``plot`` extra).

matplotlib is imported inside the functions, so ``import moo.plotting`` works without it; a
call without it raises ``ImportError`` with the install command. Figures are built directly as
`matplotlib.figure.Figure` objects, without pyplot: nothing opens a window and nothing
is added to pyplot's global figure list. Return a figure from a notebook cell to display it,
or write it with `save_figure` (PNG rendered by the non-interactive Agg backend).

Every function takes an optional ``ax`` to draw into an existing axes (for panels) and returns
the `Figure` it drew on.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from moo.io import atomic_write_bytes
from moo.loop import Result
from moo.pareto import ParetoFront
from moo.problems import Problem
from moo.validation import FloatArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_front", "plot_trajectories", "plot_weights", "save_figure"]

_INSTALL = "pip install 'moo-toolkit[plot]'"
_FRONT_COLOR = "0.55"  # grey for the known front
_FOUND_COLOR = "C3"


def _new_figure(figsize: tuple[float, float] = (6.0, 4.5)) -> Figure:
    """A pyplot-free figure (never shown, garbage-collected like any object)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"plotting needs matplotlib: {_INSTALL}") from exc
    return Figure(figsize=figsize, layout="constrained")


def _figure_of(ax: Any) -> Figure:
    """The root figure of ``ax`` (``.figure`` of a subfigure is its root figure)."""
    parent = getattr(ax, "figure", None)
    if parent is None:
        raise ValueError("ax is not attached to a figure")
    root: Figure = parent.figure
    return root


def _front_points(problem: Problem, front: ParetoFront | ArrayLike) -> FloatArray:
    F = front.F if isinstance(front, ParetoFront) else front
    arr = np.asarray(F, dtype=np.float64)
    if arr.ndim == 1 and arr.size == problem.n_obj:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != problem.n_obj:
        raise ValueError(
            f"front must be a ParetoFront or an (n, {problem.n_obj}) array for problem "
            f"{problem.name!r}, got shape {arr.shape}"
        )
    return arr


def _known_front(problem: Problem, n_points: int) -> FloatArray | None:
    return problem.pareto_front(n_points) if problem.has_pareto_front else None


def _front_line(front: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A K=2 front as a polyline sorted by f1, broken (NaN) across gaps of disconnected fronts.

    A gap is a segment longer than 5% of the front's bounding-box diagonal and 10 times the
    median segment: far more than the spacing of a dense sample of one connected piece.
    """
    pts = front[np.argsort(front[:, 0], kind="stable")]
    if pts.shape[0] < 3:
        return pts[:, 0], pts[:, 1]
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    gap = (seg > 0.05 * diag) & (seg > 10.0 * float(np.median(seg)))
    x, y = pts[:, 0].tolist(), pts[:, 1].tolist()
    for i in np.flatnonzero(gap)[::-1]:
        x.insert(int(i) + 1, np.nan)
        y.insert(int(i) + 1, np.nan)
    return np.asarray(x), np.asarray(y)


def plot_front(
    problem: Problem,
    front: ParetoFront | ArrayLike,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Objective-space plot of found points against the problem's known Pareto front.

    K=2: scatter of the found points over the known front drawn as a line (broken across the
    gaps of a disconnected front). K=3: 3D scatter over the known front as faint points (``ax``,
    if given, must be a 3D axes: ``fig.add_subplot(projection="3d")``). K>3: parallel
    coordinates, each objective scaled to ``[0, 1]`` by the range of the found and known points
    (the tick labels give the ranges); the known front is drawn as faint grey lines.

    Args:
        problem: the problem (its ``n_obj``, ``objective_names`` and known front are used).
        front: a `ParetoFront` or an ``(n, K)`` array of objective values.
        ax: axes to draw into; by default a new figure.
        title: axes title; by default the problem's name.

    Returns:
        The figure drawn on.

    Raises:
        ValueError: ``front`` does not have ``K`` columns, ``K < 2``, or a K=3 plot is asked
            into a 2D ``ax``.
        ImportError: matplotlib is not installed.
    """
    k = problem.n_obj
    if k < 2:
        raise ValueError(f"plot_front needs at least 2 objectives, problem has n_obj={k}")
    found = _front_points(problem, front)
    names = problem.objective_names
    if k == 2:
        fig, axes = _axes_with_known_front(problem, ax)
        axes.scatter(found[:, 0], found[:, 1], s=28, color=_FOUND_COLOR, label="found", zorder=2)
        axes.set_xlabel(names[0])
        axes.set_ylabel(names[1])
    elif k == 3:
        fig = _figure_of(ax) if ax is not None else _new_figure((6.0, 5.5))
        ax3: Any = ax if ax is not None else fig.add_subplot(projection="3d")
        if getattr(ax3, "name", "") != "3d":
            raise ValueError('a 3-objective front needs a 3D ax: fig.add_subplot(projection="3d")')
        known = _known_front(problem, 2000)
        if known is not None:
            kx, ky, kz = known.T
            ax3.scatter(kx, ky, kz, s=2, color=_FRONT_COLOR, alpha=0.15, label="known front")
        ax3.scatter(*found.T, s=20, color=_FOUND_COLOR, label="found")
        ax3.set_xlabel(names[0])
        ax3.set_ylabel(names[1])
        ax3.set_zlabel(names[2])
        axes = ax3
    else:
        fig = _figure_of(ax) if ax is not None else _new_figure((max(6.0, 1.2 * k), 4.5))
        axes = ax if ax is not None else fig.add_subplot()
        _parallel_coordinates(axes, problem, found, _known_front(problem, 300))
    axes.set_title(problem.name if title is None else title)
    axes.legend(loc="best", fontsize="small")
    return fig


def _parallel_coordinates(
    axes: Any, problem: Problem, found: FloatArray, known: FloatArray | None
) -> None:
    from matplotlib.collections import LineCollection

    k = problem.n_obj
    everything = found if known is None else np.vstack([found, known])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    xs = np.arange(k, dtype=np.float64)

    def lines(F: FloatArray) -> FloatArray:
        scaled = (F - lo) / span
        return np.stack([np.broadcast_to(xs, scaled.shape), scaled], axis=-1)

    if known is not None:
        axes.add_collection(
            LineCollection(
                list(lines(known)), colors=_FRONT_COLOR, alpha=0.15, lw=0.8, label="known front"
            )
        )
    axes.add_collection(
        LineCollection(list(lines(found)), colors=_FOUND_COLOR, alpha=0.8, lw=1.2, label="found")
    )
    for x in xs:
        axes.axvline(x, color="0.2", lw=0.8)
    axes.set_xlim(-0.1, k - 0.9)
    axes.set_ylim(-0.05, 1.05)
    axes.set_xticks(
        xs,
        [
            f"{n}\n[{a:.3g}, {b:.3g}]"
            for n, a, b in zip(problem.objective_names, lo, hi, strict=True)
        ],
    )
    axes.set_ylabel("scaled objective value")


def plot_trajectories(
    problem: Problem,
    results: Sequence[Result] | ParetoFront,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Objective-space trajectories ``history.F`` of runs, over the known front (K=2 only).

    Each run is a line from its start (open circle) to its end (filled circle).

    Args:
        problem: the problem the runs solved.
        results: the runs' `Result` objects, or a
            `ParetoFront` (all of its runs).
        ax: axes to draw into; by default a new figure.

    Returns:
        The figure drawn on.

    Raises:
        ValueError: the problem does not have 2 objectives, or a result's values do not have
            ``K`` columns.
        ImportError: matplotlib is not installed.
    """
    if problem.n_obj != 2:
        raise ValueError(
            f"plot_trajectories needs 2 objectives, problem {problem.name!r} has "
            f"n_obj={problem.n_obj}"
        )
    runs = results.results if isinstance(results, ParetoFront) else list(results)
    paths = []
    for i, r in enumerate(runs):
        F = np.asarray(r.history.F, dtype=np.float64)
        if F.ndim != 2 or F.shape[1] != 2:
            raise ValueError(f"results[{i}].history.F must be (n, 2), got shape {F.shape}")
        paths.append(F)
    fig, axes = _axes_with_known_front(problem, ax)
    for i, F in enumerate(paths):
        color = f"C{i % 10}"
        axes.plot(F[:, 0], F[:, 1], color=color, lw=1.0, alpha=0.8, zorder=2)
        axes.plot(F[0, 0], F[0, 1], "o", mfc="none", color=color, ms=5, zorder=3)
        axes.plot(F[-1, 0], F[-1, 1], "o", color=color, ms=5, zorder=3)
    if paths:  # legend proxies for the markers
        axes.plot([], [], "o", mfc="none", color="0.3", label="start")
        axes.plot([], [], "o", color="0.3", label="end")
    names = problem.objective_names
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"{problem.name}: {len(paths)} trajectories")
    axes.legend(loc="best", fontsize="small")
    return fig


def plot_weights(
    result: Result,
    *,
    problem: Problem | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The rule's weights over the steps of a run, with the stationarity on a log twin axis.

    Weights ``history.weights[t]`` (one line per objective) are drawn against step ``t`` on
    ``ax``; the Pareto-stationarity ``history.stationarity`` (one more entry: it is also
    measured at the final point) is drawn dashed on a log-scale twin axis (``ax.twinx()``),
    so the figure gains one axes. Exact zeros of the stationarity are not drawn (log scale).

    Args:
        result: a run of `minimize`.
        problem: the problem solved, for the objective names (default ``f1 .. fK``).
        ax: axes to draw into; by default a new figure.

    Returns:
        The figure drawn on.

    Raises:
        ValueError: ``problem`` has a different number of objectives than the run.
        ImportError: matplotlib is not installed.
    """
    hist = result.history
    weights = np.asarray(hist.weights, dtype=np.float64)
    k = int(np.asarray(result.F).shape[0])
    if problem is not None and problem.n_obj != k:
        raise ValueError(
            f"problem {problem.name!r} has n_obj={problem.n_obj} but the result has {k} objectives"
        )
    names = problem.objective_names if problem is not None else [f"f{i + 1}" for i in range(k)]
    fig = _figure_of(ax) if ax is not None else _new_figure()
    axes = ax if ax is not None else fig.add_subplot()
    steps = np.arange(weights.shape[0])
    for i in range(k):
        axes.plot(steps, weights[:, i], label=f"w[{names[i]}]")
    axes.set_xlabel("step")
    axes.set_ylabel("weight")
    twin = axes.twinx()
    stat = np.asarray(hist.stationarity, dtype=np.float64)
    shown = np.where(stat > 0.0, stat, np.nan)
    twin.plot(np.arange(stat.shape[0]), shown, "k--", lw=1.0, label="stationarity")
    if np.any(stat > 0.0):
        twin.set_yscale("log")
    twin.set_ylabel("stationarity")
    handles, labels = axes.get_legend_handles_labels()
    handles2, labels2 = twin.get_legend_handles_labels()
    axes.legend(handles + handles2, labels + labels2, loc="best", fontsize="small")
    axes.set_title(f"{result.rule}: {result.n_steps} steps ({result.reason})")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG at ``path``, creating parent directories, atomically.

    The image is rendered with the Agg backend into a temporary file in the same directory,
    which then replaces ``path`` (``os.replace``): a reader never sees a partial file.

    Returns:
        The path written.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", backend="agg", dpi=120)
    return atomic_write_bytes(path, buf.getvalue())


def _axes_with_known_front(problem: Problem, ax: Any) -> tuple[Figure, Any]:
    """The figure and 2-D axes to draw on (new ones when ``ax`` is None), with the problem's
    known front drawn as a line when it has one."""
    fig = _figure_of(ax) if ax is not None else _new_figure()
    axes = ax if ax is not None else fig.add_subplot()
    known = _known_front(problem, 1000)
    if known is not None:
        x, y = _front_line(known)
        axes.plot(x, y, color=_FRONT_COLOR, lw=1.5, label="known front", zorder=1)
    return fig, axes
