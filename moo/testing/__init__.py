"""Testing kit for update rules (needs ``hypothesis``).

- `check_update_rule`: assert the generic laws of a rule (finite output, scale law, descent
  property, permutation equivariance, determinism, ``state_dict`` round trip, clear errors).
- Strategies `jacobians`, `gramians`, `loss_vectors` covering well-conditioned,
  rank-deficient, near-parallel, wildly scaled and duplicated gradients (`FAMILIES`), and,
  opt-in, nearly weakly stationary, tiny-singular-value and float32-rounded ones
  (`HARD_FAMILIES`), and for many objectives (K up to 64) random, correlated, conflicting,
  rank-deficient and badly scaled ones (`LARGE_K_FAMILIES`).
"""

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without hypothesis only
    raise ImportError("moo.testing needs hypothesis: pip install hypothesis") from exc

from moo.testing.checks import check_update_rule
from moo.testing.strategies import (
    FAMILIES,
    HARD_FAMILIES,
    LARGE_K_FAMILIES,
    gramians,
    jacobians,
    loss_vectors,
    make_jacobian,
)

__all__ = [
    "FAMILIES",
    "HARD_FAMILIES",
    "LARGE_K_FAMILIES",
    "check_update_rule",
    "gramians",
    "jacobians",
    "loss_vectors",
    "make_jacobian",
]
