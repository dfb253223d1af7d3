"""Testing kit for update rules: hypothesis strategies (needs ``hypothesis``).

``from moo.testing import jacobians, gramians`` gives strategies that cover well-conditioned,
rank-deficient, near-parallel, wildly scaled and duplicated gradients.
"""

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without hypothesis only
    raise ImportError("moo.testing needs hypothesis: pip install hypothesis") from exc

from moo.testing.strategies import FAMILIES, gramians, jacobians, loss_vectors, make_jacobian

__all__ = ["FAMILIES", "gramians", "jacobians", "loss_vectors", "make_jacobian"]
