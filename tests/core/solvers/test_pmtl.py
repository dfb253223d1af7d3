"""Pareto MTL: the sub-region constraints, the direction against an independent CVXPY solve
of the paper's primal QP, the initial phase, bad input, and runs that end inside their
sub-regions of catalogue problems with known fronts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import moo
from moo.indicators import distance_to_front
from moo.solvers import MGDA, PMTL, get_rule
from moo.solvers.pmtl import region_constraints
from moo.testing import gramians, loss_vectors, make_jacobian


def circle(n: int) -> np.ndarray:
    """``n`` unit preference vectors spread over the positive quadrant (the paper's)."""
    angles = np.linspace(np.pi / 20, 9 * np.pi / 20, n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_region_constraints_match_the_closest_preference() -> None:
    """``c <= 0`` exactly when ``f``'s cosine with ``u_k`` is the largest among the references."""
    rng = np.random.default_rng(0)
    refs = np.abs(rng.normal(size=(5, 3))) + 0.05
    units = refs / np.linalg.norm(refs, axis=1, keepdims=True)
    for _ in range(200):
        f = np.abs(rng.normal(size=3))
        closest = int(np.argmax(units @ f))
        for k in range(5):
            _, c = region_constraints(f, refs[k], refs)
            assert (np.max(c, initial=-1.0) <= 1e-12) == (k == closest)
    w, c = region_constraints(np.zeros(3), refs[0], refs)
    assert w.shape == (4, 3) and np.all(c == 0.0)  # the preference's own row is left out


def _paper_qp(jac: np.ndarray, w_active: np.ndarray) -> np.ndarray:
    """Lin et al.'s primal: min α + ½||d||² s.t. J d <= α, (W J) d <= α; returns −d (our
    sign: the loop steps along −(our d))."""
    cp = pytest.importorskip("cvxpy")
    rows = np.vstack([jac, w_active @ jac])
    scale = float(np.abs(rows).max())
    d = cp.Variable(jac.shape[1])
    alpha = cp.Variable()
    problem = cp.Problem(
        cp.Minimize(alpha + 0.5 * cp.sum_squares(d)), [(rows / scale) @ (d * scale) <= alpha]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return -np.asarray(d.value, dtype=float)


@pytest.mark.parametrize("family", ["gaussian", "rank-deficient", "near-parallel", "scaled"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_direction_agrees_with_the_papers_qp_in_cvxpy(family: str, k: int) -> None:
    rng = np.random.default_rng(k)
    refs = np.abs(rng.normal(size=(6, k))) + 0.1
    for seed in range(4):
        jac = make_jacobian(family, k, 7, seed=31 * k + seed)
        f = np.abs(rng.normal(size=k)) + 0.1
        pref = refs[seed]
        rule = PMTL(pref, refs, eps=0.05, find_feasible=False)
        out = rule.weights(jac @ jac.T, f)
        w, c = region_constraints(f, pref, refs)
        assert out.info["active"] == np.flatnonzero(c >= -0.05).tolist()
        ref = _paper_qp(jac, w[c >= -0.05])
        ours = jac.T @ out.weights
        unit = float(np.linalg.norm(jac, axis=1).max())
        assert np.linalg.norm(ours - ref) <= 1e-6 * unit, (ours, ref)
        # Wolfe's method stops at a Frank-Wolfe gap of ~1e-7 on the extended Gramians of the
        # "scaled" family (gradient norms 1e-1 .. 1e4, a min-norm point near 0)
        assert out.residual <= (1e-6 if family == "scaled" else 1e-9)


@given(gramians(min_objectives=1, max_objectives=6), st.data())
def test_without_references_it_is_mgda(gram: np.ndarray, data: st.DataObject) -> None:
    k = gram.shape[0]
    f = data.draw(loss_vectors(k))
    np.testing.assert_array_equal(PMTL().weights(gram, f).weights, MGDA().weights(gram, f).weights)


def test_initial_phase_decreases_every_violated_constraint() -> None:
    """From outside the sub-region the step descends the violated constraints only:
    ∇G_jᵀd >= ||d||² > 0 for each violated j (G_j decreases along −d)."""
    rng = np.random.default_rng(3)
    refs = circle(5)
    checked = 0
    for _ in range(50):
        jac = rng.normal(size=(2, 4))
        f = np.abs(rng.normal(size=2)) + 0.05
        k = int(rng.integers(5))
        w, c = region_constraints(f, refs[k], refs)
        out = PMTL(refs[k], refs).weights(jac @ jac.T, f)
        if not np.any(c > 0):
            assert out.info["phase"] == "main"
            continue
        checked += 1
        assert out.info["phase"] == "initial"
        d = jac.T @ out.weights
        slopes = w[c > 0] @ jac @ d
        assert np.all(slopes >= float(d @ d) * (1 - 1e-9) - 1e-12)
        assert float(d @ d) > 0.0
    assert checked >= 10


def test_defaults_and_repr() -> None:
    rule = get_rule("pmtl", preference=[1, 2], references=[[1, 2], [2, 1]])
    assert rule.preference == (1.0, 2.0)
    assert rule.references == ((1.0, 2.0), (2.0, 1.0))
    assert rule.eps == 0.0 and rule.find_feasible is True
    assert repr(rule).startswith("PMTL(preference=(1.0, 2.0), references=((1.0, 2.0), (2.0, 1.0))")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"preference": [1.0, -1.0]}, ValueError, r"preference must be non-negative.*\[1\]"),
        ({"preference": [0.0, 0.0]}, ValueError, "preference must have a positive entry"),
        ({"references": [[1.0, 1.0]]}, ValueError, "references were given without a preference"),
        (
            {"preference": [1.0, 1.0], "references": [[1.0, 1.0, 1.0]]},
            ValueError,
            "references must have 2 columns",
        ),
        ({"preference": [1.0, 1.0], "references": [1.0, 1.0]}, ValueError, r"\(M, K\) array"),
        (
            {"preference": [1.0, 1.0], "references": [[1.0, 0.0], [0.0, 0.0]]},
            ValueError,
            r"references\[1\] must have a positive entry",
        ),
        ({"eps": -0.1}, ValueError, "eps must be >= 0"),
        ({"find_feasible": "yes"}, TypeError, "find_feasible must be True or False"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        PMTL(**kwargs)  # type: ignore[arg-type]


def test_preference_length_must_match_the_losses() -> None:
    with pytest.raises(ValueError, match="preference has 2 entries but the losses have 3"):
        PMTL([1.0, 1.0], [[1.0, 0.0], [0.0, 1.0]]).weights(np.eye(3), np.ones(3))


# ----------------------------------------------------------------------------------------------
# runs on catalogue problems with known fronts
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"), [("quadratic", {}), ("fonseca", {}), ("zdt1", {"n_var": 5})]
)
def test_runs_end_inside_their_sub_regions_on_the_front(name: str, options: dict[str, int]) -> None:
    """Each converged end lies in its preference's sub-region (``c <= 1e-6``) and on the
    known front to 1e-3 of its extent; at least 4 of the 5 runs converge there."""
    problem = moo.get_problem(name, **options)
    prefs = circle(5)
    front = moo.pareto_front(problem, "pmtl", preferences=prefs, seed=2, steps=400)
    ref = problem.pareto_front(4000)
    extent = float(np.max(np.ptp(ref, axis=0)))
    inside = 0
    for i, run in zip(front.start_index, front.results, strict=True):
        if not run.converged:
            continue
        _, c = region_constraints(run.F, prefs[i], prefs)
        assert np.max(c) <= 1e-6, (i, run.F, c)
        if distance_to_front(run.F, ref)[0] <= 1e-3 * extent:
            inside += 1
    assert inside >= 4
