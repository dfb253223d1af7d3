"""moo.plotting: each function returns a Figure with the expected axes and artists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from moo import ParetoFront, Problem, get_problem, minimize, pareto_front  # noqa: E402
from moo.plotting import plot_front, plot_trajectories, plot_weights, save_figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def quadratic_front() -> tuple[Problem, ParetoFront]:
    problem = get_problem("quadratic")
    return problem, pareto_front(problem, n_starts=4, seed=0)


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG


def test_plot_front_k2(quadratic_front: tuple[Problem, ParetoFront], tmp_path: Path) -> None:
    problem, front = quadratic_front
    fig = plot_front(problem, front, title="my title")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "my title"
    assert len(ax.lines) == 1  # the known front
    assert len(ax.collections) == 1  # the found points
    assert isinstance(ax.collections[0], PathCollection)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(offsets), front.F)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["known front", "found"]
    out = save_figure(fig, tmp_path / "sub" / "dir" / "front.png")
    assert out == tmp_path / "sub" / "dir" / "front.png"
    assert _is_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["front.png"]  # no temp file left


def test_plot_front_accepts_array_and_existing_ax(
    quadratic_front: tuple[Problem, ParetoFront],
) -> None:
    problem, front = quadratic_front
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_front(problem, front.F, ax=right) is fig
    assert len(left.collections) == 0
    assert len(right.collections) == 1
    assert right.get_title() == "quadratic"


def test_plot_front_wrong_columns(quadratic_front: tuple[Problem, ParetoFront]) -> None:
    problem, _ = quadratic_front
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot_front(problem, np.zeros((3, 3)))


def test_plot_front_without_known_front() -> None:
    problem = Problem(lambda x: np.array([x[0] ** 2, (x[0] - 1) ** 2]), 1, 2, name="plain")
    fig = plot_front(problem, np.array([[0.0, 1.0], [1.0, 0.0]]))
    (ax,) = fig.axes
    assert len(ax.lines) == 0
    assert len(ax.collections) == 1


def test_plot_front_k3(tmp_path: Path) -> None:
    problem = get_problem("quadratic", n_obj=3, n_var=3)
    front = pareto_front(problem, n_starts=3, seed=1)
    fig = plot_front(problem, front)
    (ax,) = fig.axes
    assert ax.name == "3d"
    assert len(ax.collections) == 2  # faint known front + found points
    assert ax.get_zlabel() == "f3"
    assert _is_png(save_figure(fig, tmp_path / "front3.png"))


def test_plot_front_k3_needs_3d_ax() -> None:
    problem = get_problem("quadratic", n_obj=3, n_var=3)
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match="3D"):
        plot_front(problem, np.ones((2, 3)), ax=ax)


def test_plot_front_parallel_coordinates(tmp_path: Path) -> None:
    problem = get_problem("quadratic", n_obj=4, n_var=4)
    front = pareto_front(problem, n_starts=3, seed=2, steps=50)
    fig = plot_front(problem, front)
    (ax,) = fig.axes
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines) == 2
    assert len(lines[1].get_segments()) == front.F.shape[0]
    assert len(ax.get_xticks()) == 4
    assert _is_png(save_figure(fig, tmp_path / "front4.png"))


def test_plot_trajectories(quadratic_front: tuple[Problem, ParetoFront], tmp_path: Path) -> None:
    problem, front = quadratic_front
    fig = plot_trajectories(problem, front.results)
    (ax,) = fig.axes
    n = len(front.results)
    # known front + (path, start, end) per run + two legend proxies
    assert len(ax.lines) == 1 + 3 * n + 2
    path = ax.lines[1]
    np.testing.assert_allclose(path.get_xydata(), front.results[0].history.F)
    assert "start" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert plot_trajectories(problem, front) is not fig  # a ParetoFront works too
    assert _is_png(save_figure(fig, tmp_path / "traj.png"))


def test_plot_trajectories_needs_two_objectives() -> None:
    problem = get_problem("quadratic", n_obj=3, n_var=3)
    front = pareto_front(problem, n_starts=2, steps=5)
    with pytest.raises(ValueError, match="n_obj=3"):
        plot_trajectories(problem, front.results)


def test_plot_weights(tmp_path: Path) -> None:
    problem = get_problem("quadratic")
    result = minimize(problem, seed=0)
    fig = plot_weights(result, problem=problem)
    assert len(fig.axes) == 2  # weights + stationarity twin
    ax, twin = fig.axes
    assert len(ax.lines) == problem.n_obj
    assert len(ax.lines[0].get_xdata()) == result.n_steps
    assert len(twin.lines) == 1
    assert len(twin.lines[0].get_xdata()) == result.n_steps + 1
    assert twin.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["w[f1]", "w[f2]", "stationarity"]
    assert _is_png(save_figure(fig, tmp_path / "weights.png"))


def test_plot_weights_zero_steps_and_problem_mismatch() -> None:
    problem = get_problem("quadratic")
    result = minimize(problem, seed=0, steps=0)
    fig = plot_weights(result)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="n_obj=3"):
        plot_weights(result, problem=get_problem("quadratic", n_obj=3))


def test_save_figure_replaces_existing(tmp_path: Path) -> None:
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    save_figure(fig, str(target))
    assert _is_png(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
