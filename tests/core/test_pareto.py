"""`pareto_front`: duplicate end points, stalled runs (plateaus), preference-directed runs
(EPO, PMTL) and their coverage of known fronts against MGDA from random starts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import moo
from moo import Problem
from moo.indicators import hypervolume, igd
from moo.pareto import PlateauWarning, pareto_front


def _scaled(problem: Problem, factors: np.ndarray) -> Problem:
    """``problem`` with objective i multiplied by ``factors[i]``."""
    return Problem(
        lambda x: factors * problem.values(x),
        problem.n_var,
        problem.n_obj,
        jacobian=lambda x: factors[:, None] * problem.jacobian(x),
        bounds=None if problem.lower is None else (problem.lower, problem.upper),
        sampling_bounds=(problem.sampling_lower, problem.sampling_upper),
        name=f"scaled {problem.name}",
    )


# ----------------------------------------------------------------------------------------------
# duplicates
# ----------------------------------------------------------------------------------------------


def test_identical_ends_count_once_and_results_stay_complete() -> None:
    """CAGrad on Fonseca-Fleming ends at the two ends of the front from 40 starts: two
    distinct points (not 40), with multiplicities summing to 40."""
    front = pareto_front(moo.get_problem("fonseca"), "cagrad", n_starts=40, seed=0)
    assert len(front.results) == 40
    assert front.F.shape == (2, 2) and front.X.shape == (2, 2)
    assert sum(front.multiplicity) == 40 and front.n_distinct == 2
    assert front.F[0, 0] < front.F[1, 0]  # sorted by the first objective
    for row, i in enumerate(front.index):
        np.testing.assert_array_equal(front.F[row], front.results[i].F)
    exact = pareto_front(moo.get_problem("fonseca"), "cagrad", n_starts=40, seed=0, duplicate_tol=0)
    assert exact.F.shape[0] > 2  # the ends differ in the last digits


def test_the_tolerance_is_relative_to_each_objectives_spread() -> None:
    """Runs of 0 steps end at their starts: ends 1e-9 apart merge, ends 1e-3 apart do not,
    and scaling one objective by 1e6 changes neither (the unit is each objective's spread)."""
    problem = moo.get_problem("quadratic")
    base = np.random.default_rng(5).uniform(-1.0, 1.0, size=(6, 2))
    starts = np.vstack([base, base + 1e-9, base[:2] + 1e-3])
    plain = pareto_front(problem, "mgda", starts=starts, steps=0)
    factors = np.array([1e6, 1.0])
    scaled = pareto_front(_scaled(problem, factors), "mgda", starts=starts, steps=0)
    assert plain.n_distinct == 8 == scaled.n_distinct
    assert plain.multiplicity == scaled.multiplicity and plain.index == scaled.index
    assert all(plain.index[r] < 6 or plain.index[r] >= 12 for r in range(plain.F.shape[0]))
    assert plain.scale is not None and scaled.scale is not None
    np.testing.assert_allclose(scaled.scale, factors * plain.scale, rtol=1e-9)


def test_duplicate_tol_is_validated() -> None:
    with pytest.raises(ValueError, match="duplicate_tol must be >= 0"):
        pareto_front(moo.get_problem("quadratic"), n_starts=2, duplicate_tol=-1.0)


# ----------------------------------------------------------------------------------------------
# plateaus
# ----------------------------------------------------------------------------------------------


def test_starts_on_a_plateau_are_reported() -> None:
    """Fonseca-Fleming from its whole box [-4, 4]²: most starts sit where both Gaussian
    wells are flat below tol, stop (or crawl) there, and another run's end dominates theirs."""
    problem = moo.get_problem("fonseca")
    starts = np.random.default_rng(0).uniform(-4.0, 4.0, size=(32, 2))
    with pytest.warns(PlateauWarning, match=r"of 32 runs stalled"):
        front = pareto_front(problem, "mgda", starts=starts, steps=300)
    assert front.on_plateau and front.plateau_fraction > 0.5
    stalled = np.asarray([front.results[i].F for i in front.stalled])
    assert np.all(stalled > 0.9)  # ends on the plateau near f = (1, 1)
    kept = {front.index[r] for r in range(front.F.shape[0])}
    assert not kept & set(front.stalled)  # no stalled end is on the front
    # from the documented sampling box the same rule does not stall
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlateauWarning)
        good = pareto_front(problem, "mgda", n_starts=16, seed=0, steps=300)
    assert not good.on_plateau and good.stalled == ()


# ----------------------------------------------------------------------------------------------
# preferences
# ----------------------------------------------------------------------------------------------


def _circle(n: int) -> np.ndarray:
    angles = np.linspace(np.pi / 20, 9 * np.pi / 20, n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_one_run_per_preference_with_the_rule_built_for_it() -> None:
    problem = moo.get_problem("quadratic")
    prefs = np.array([[1.0, 3.0], [1.0, 1.0], [3.0, 1.0]])
    front = pareto_front(problem, "epo", preferences=prefs, steps=50)
    assert [r.rule for r in front.results] == [
        f"EPO(preference={tuple(float(v) for v in p)}, eps=1e-05, step_control=True)" for p in prefs
    ]
    np.testing.assert_array_equal(front.preferences, prefs)
    assert front.start_index == (0, 1, 2)
    # PMTL gets the whole array as its references; an instance keeps its options
    rule = moo.solvers.PMTL(eps=0.01)
    front = pareto_front(problem, rule, preferences=prefs, steps=5)
    assert "references=((1.0, 3.0), (1.0, 1.0), (3.0, 1.0)), eps=0.01" in front.results[0].rule
    # rule_options reach the rule built for each preference
    front = pareto_front(problem, "epo", preferences=prefs, steps=5, rule_options={"eps": 0.1})
    assert all("eps=0.1" in r.rule for r in front.results)


def test_a_shared_start() -> None:
    problem = moo.get_problem("quadratic")
    prefs = np.array([[1.0, 3.0], [3.0, 1.0]])
    front = pareto_front(problem, "epo", preferences=prefs, starts=[[1.5, -1.5]], steps=5)
    for run in front.results:
        np.testing.assert_array_equal(run.history.x[0], [1.5, -1.5])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"preferences": [[1.0, 2.0, 3.0]]}, ValueError, r"preferences must be an \(n, 2\)"),
        ({"preferences": np.ones((2, 2, 2))}, ValueError, r"preferences must be an \(n, 2\)"),
        ({"preferences": np.zeros((0, 2))}, ValueError, r"preferences must be an \(n, 2\)"),
        ({"preferences": [[1.0, np.nan]]}, ValueError, r"preferences\[0, 1\] = nan"),
        ({"preferences": [[1.0, 1.0], [1.0, -1.0]]}, ValueError, r"preferences\[1, 1\] = -1.0"),
        ({"preferences": [[0.0, 0.0]]}, ValueError, r"preferences\[0\] needs a positive entry"),
        ({"preferences": [["a", "b"]]}, ValueError, "preferences must hold real numbers"),
        (
            {"preferences": [[1.0, 0.0]]},
            ValueError,
            r"preferences\[0\] = \[1.0, 0.0\]: preference must be positive",
        ),
        (
            {"preferences": [[1.0, 1.0]], "rule": "mgda"},
            ValueError,
            "rule 'mgda' takes no preference; .*: epo, pmtl",
        ),
        (
            {"preferences": [[1.0, 1.0]], "n_starts": 3},
            ValueError,
            "n_starts=3 does not match the 1 preference",
        ),
        ({"preferences": [[1.0, 1.0]], "n_starts": 0}, ValueError, "n_starts must be >= 1"),
        (
            {"preferences": [[1.0, 1.0]] * 3, "starts": np.zeros((2, 2))},
            ValueError,
            r"starts must have one row per preference \(3\) or a single row",
        ),
        (
            {"preferences": [[1.0, 1.0]], "rule_options": [1]},
            TypeError,
            "rule_options must be a mapping",
        ),
    ],
)
def test_bad_preferences(kwargs: dict[str, object], error: type, message: str) -> None:
    rule = kwargs.pop("rule", "epo")
    with pytest.raises(error, match=message):
        pareto_front(moo.get_problem("quadratic"), rule, steps=2, **kwargs)  # type: ignore[arg-type]


def test_a_failed_run_keeps_its_preference_index() -> None:
    """A run that raises (EPO refuses negative losses) is left out of results; start_index
    maps the others to their preferences."""
    base = moo.get_problem("quadratic")
    shifted = Problem(
        lambda x: base.values(x) - np.array([0.0, 100.0]) * (x[0] > 1.0),
        2,
        2,
        jacobian=base.jacobian,
        sampling_bounds=(-2.0, 2.0),
        name="shifted",
    )
    prefs = np.array([[1.0, 2.0], [1.0, 1.0], [2.0, 1.0]])
    starts = np.array([[0.0, 0.0], [1.9, 1.9], [0.0, 0.5]])
    front = pareto_front(shifted, "epo", preferences=prefs, starts=starts, steps=3)
    assert [i for i, _ in front.failed] == [1] and "non-negative losses" in front.failed[0][1]
    assert front.start_index == (0, 2)


# ----------------------------------------------------------------------------------------------
# coverage of known fronts
# ----------------------------------------------------------------------------------------------

N = 8


@pytest.mark.parametrize(
    ("rule", "name", "options"),
    [
        ("epo", "fonseca", {}),
        ("epo", "zdt1", {"n_var": 10}),
        ("pmtl", "quadratic", {}),
        ("pmtl", "zdt1", {"n_var": 10}),
    ],
)
def test_preference_rules_cover_the_front_better_than_mgda_from_random_starts(
    rule: str, name: str, options: dict[str, int]
) -> None:
    """With 8 runs each, from the same 8 starts: EPO (preferences 1/u, so that f ∝ u) or
    PMTL (preferences u) reach a lower IGD and a larger hypervolume than MGDA. (On Fonseca
    PMTL only ties with MGDA: runs that start on its flat part crawl in the initial phase.)"""
    pytest.importorskip("moocore")
    problem = moo.get_problem(name, **options)
    ref = problem.pareto_front(2000)
    nadir = 1.1 * ref.max(axis=0)
    prefs = _circle(N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlateauWarning)  # MGDA on ZDT1 stalls at x1's bound
        mgda = pareto_front(problem, "mgda", n_starts=N, seed=1, steps=400)
    directed = pareto_front(
        problem, rule, preferences=1.0 / prefs if rule == "epo" else prefs, seed=1, steps=400
    )
    assert igd(directed.F, ref) < 0.8 * igd(mgda.F, ref)
    assert hypervolume(directed.F, nadir) > hypervolume(mgda.F, nadir)
    if rule == "epo":
        assert directed.F.shape[0] == N  # every preference its own point
