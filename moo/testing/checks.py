"""`check_update_rule`: the generic laws every update rule must obey, checked with hypothesis.

Call it from a test with a rule instance (it is deep-copied, never mutated) or a factory::

    from moo.testing import check_update_rule

    def test_my_rule():
        check_update_rule(MyRule(alpha=0.5))
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moo.solvers._base import RuleResult, UpdateRule, Weighting
from moo.testing.strategies import FAMILIES, jacobians, loss_vectors
from moo.validation import FloatArray

RuleSource = UpdateRule | Callable[[], UpdateRule]


def _fresh(source: RuleSource) -> UpdateRule:
    if isinstance(source, UpdateRule):
        return copy.deepcopy(source)
    rule = source()
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule factory must return an UpdateRule, got {rule!r}")
    return rule


def _call(rule: UpdateRule, jac: FloatArray, losses: FloatArray) -> tuple[FloatArray, RuleResult]:
    """The direction and the result through the entry point of the rule's kind: `weights`
    of ``G = J Jᵀ`` (or of the losses alone) and ``d = Jᵀw`` for a weighting, `direction`
    for a direction rule."""
    if isinstance(rule, Weighting):
        result = rule.weights(jac @ jac.T if rule.uses_gramian else None, losses)
        return jac.T @ result.weights, result
    return rule.direction(jac, losses)


def check_update_rule(
    rule: RuleSource,
    *,
    min_objectives: int = 1,
    max_objectives: int = 8,
    max_dim: int = 12,
    families: Sequence[str] = FAMILIES,
    max_examples: int = 25,
    steps: int = 3,
    descent_tol: float = 1e-7,
    equivariance_tol: float = 1e-6,
) -> None:
    """Assert the generic laws of an update rule on hypothesis-drawn Jacobians and losses.

    Laws, each on a fresh copy of the rule:

    The rule is called through the entry point of its kind: a `Weighting`'s
    ``weights(G, f)`` with ``G = J Jᵀ`` (``None`` when it reads the losses alone) and
    ``d = Jᵀw``; a `DirectionRule`'s ``direction(J, f)``.

    1. finite weights of shape ``(K,)``, a finite direction of shape ``(d,)`` and a finite,
       non-negative ``residual``;
    2. the rule's declared scale law (`UpdateRule.scale_error` returns ``None``);
    3. its declared descent property: ``common_descent`` → ``J d >= 0``; ``average_descent``
       → ``ḡᵀd >= 0`` (tolerance ``descent_tol · max ||g_i||²``);
    4. permutation equivariance when declared: permuting objectives permutes ``J d`` (the
       direction is compared, not ``w``, which may be non-unique);
    5. determinism: two fresh copies fed the same inputs for ``steps`` calls agree exactly
       (weights and direction);
    6. ``state_dict`` round trip: a fresh copy loaded with the state after ``steps`` calls
       continues exactly like the original;
    7. clear errors: a non-finite Jacobian or losses of the wrong length raise ``ValueError``.

    Args:
        rule: an `UpdateRule` (deep-copied for each check) or a zero-argument factory.
        min_objectives: smallest K drawn (e.g. 2 for rules that need a group of objectives).
        max_objectives: largest K drawn.
        max_dim: largest gradient dimension d drawn.
        families: Jacobian families of `moo.testing.jacobians`.
        max_examples: hypothesis examples per law group.
        steps: calls per example for the determinism and state checks.
        descent_tol: relative tolerance of the descent laws.
        equivariance_tol: relative tolerance of permutation equivariance.

    Raises:
        AssertionError: a law is violated; hypothesis reports the smallest failing example.
    """
    _fresh(rule)  # fail early on a bad factory
    config = settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    objectives = jacobians(
        min_objectives=min_objectives,
        max_objectives=max_objectives,
        max_dim=max_dim,
        families=families,
    )

    @config
    @given(objectives, st.data())
    def single_call_laws(jac: FloatArray, data: st.DataObject) -> None:
        k = jac.shape[0]
        losses = data.draw(loss_vectors(k))
        r = _fresh(rule)
        d, result = _call(r, jac, losses)
        w = result.weights
        assert w.shape == (k,), f"weights shape {w.shape} != ({k},)"
        assert np.all(np.isfinite(w)), f"non-finite weights {w}"
        assert np.isfinite(result.residual) and result.residual >= 0.0, result.residual
        gram = jac @ jac.T
        problem = r.scale_error(w, gram, losses)
        assert problem is None, f"scale law violated: {problem}"
        assert d.shape == (jac.shape[1],), f"direction shape {d.shape} != ({jac.shape[1]},)"
        assert np.all(np.isfinite(d)), f"non-finite direction {d}"
        scale = float(np.max(np.diag(gram))) if k else 0.0
        tol = descent_tol * max(scale, 1e-300)
        if r.common_descent:
            jd = jac @ d
            assert np.all(jd >= -tol), f"not a common descent direction: J d = {jd}"
        if r.average_descent:
            g0d = float(jac.mean(axis=0) @ d)
            assert g0d >= -tol, f"not a descent direction for the average: g0ᵀd = {g0d}"
        if r.permutation_equivariant and k > 1:
            perm = np.random.default_rng(k).permutation(k)
            d_perm = _call(_fresh(rule), jac[perm], losses[perm])[0]
            np.testing.assert_allclose(
                jac[perm] @ d_perm,
                (jac @ d)[perm],
                atol=equivariance_tol * max(scale, 1e-300),
                err_msg="permuting the objectives does not permute J d",
            )

    @config
    @given(objectives, st.data())
    def sequence_laws(jac: FloatArray, data: st.DataObject) -> None:
        k = jac.shape[0]
        seq = [data.draw(loss_vectors(k)) for _ in range(steps + 1)]
        jacs = [jac * (1.0 + 0.1 * i) for i in range(steps + 1)]
        a, b = _fresh(rule), _fresh(rule)
        for jac_i, f in zip(jacs[:steps], seq[:steps], strict=True):
            (da, ra), (db, rb) = _call(a, jac_i, f), _call(b, jac_i, f)
            np.testing.assert_array_equal(ra.weights, rb.weights, "two fresh copies disagree")
            np.testing.assert_array_equal(da, db, err_msg="two fresh copies disagree")
        restored = _fresh(rule)
        restored.load_state_dict(copy.deepcopy(a.state_dict()))
        np.testing.assert_array_equal(
            _call(restored, jacs[steps], seq[steps])[0],
            _call(a, jacs[steps], seq[steps])[0],
            err_msg="a copy restored from state_dict() continues differently",
        )

    single_call_laws()
    sequence_laws()
    _bad_input_laws(rule)


def _bad_input_laws(rule: RuleSource) -> None:
    jac = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]])
    bad = jac.copy()
    bad[1, 0] = np.nan
    for name, args in {
        "non-finite Jacobian": (bad, np.ones(3)),
        "losses of the wrong length": (jac, np.ones(2)),
        "non-finite losses": (jac, np.array([1.0, np.inf, 1.0])),
    }.items():
        try:
            _fresh(rule).direction(*args)
        except ValueError:
            continue
        raise AssertionError(f"{name} was accepted without a ValueError")
