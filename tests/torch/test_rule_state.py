"""A rule's saved state loads with ``torch.load(weights_only=True)``.

Every registered stateful rule (``stateful = True`` in `moo.solvers.available_rules()`) returns
its `state_dict` as plain Python values (lists of floats, ints, strings, ``None``, dicts), which
torch's weights-only unpickler reads without running anything. For each rule and a few
hyperparameter sets that fill every state field: run some steps, ``torch.save`` the state,
``torch.load(..., weights_only=True)`` it, load it into a fresh rule and check that the next
weights (and a direction rule's direction) are bit-identical to the original rule's. A state
written before (NumPy arrays, e.g. read from an old checkpoint) still loads. The same holds
through `moo.torch.backward` in a training loop checkpointed with the model and optimizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import moo.torch as mt  # noqa: E402
from moo.solvers import (  # noqa: E402
    DirectionRule,
    UpdateRule,
    Weighting,
    available_rules,
    get_rule,
)

K, D = 3, 5

# hyperparameter sets per stateful rule, chosen so that every field of the state is used; the
# last set of each rule is the one the array-compatibility and training-loop tests use
STATE_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "mimo": [
        {},
        {"tracking": 0.5},
        {"update": "ascent", "smoothing": "quadratic", "mu": 2.0, "ascent_lr": 0.2},
        {"gamma_schedule": "linear-warmup", "warmup_steps": 3},
        {"update": "ascent", "tracking": 0.3, "relative": True},  # every field: kept last
    ],
    "moco": [{}, {"beta": 0.3, "gamma": 0.5, "rho": 0.01}],
    "modo": [{}, {"gamma": 0.5, "rho": 0.0}],
    "nash-mtl": [{}, {"update_weights_every": 2, "max_norm": 1.0}],
    "pcgrad": [{}, {"order": "shared"}, {"reduction": "mean", "seed": 7}],
}

STATEFUL = sorted(name for name, cls in available_rules().items() if cls.stateful)
CASES = [(name, hp) for name in STATEFUL for hp in STATE_CONFIGS.get(name, [{}])]
CASE_IDS = [f"{name}-{i}" for name in STATEFUL for i in range(len(STATE_CONFIGS.get(name, [{}])))]
PLAIN = (type(None), bool, int, float, str)


def test_every_stateful_rule_has_state_configs() -> None:
    """A new stateful rule gets an entry here (the generic test runs it with ``{}`` until
    then, which may leave fields of its state unused)."""
    assert STATEFUL, "no registered rule declares stateful = True"
    missing = sorted(set(STATEFUL) - set(STATE_CONFIGS))
    assert not missing, f"add hyperparameter sets for {missing} to STATE_CONFIGS"
    stale = sorted(set(STATE_CONFIGS) - set(STATEFUL))
    assert not stale, f"{stale} are not registered stateful rules"


def _plain_problems(value: Any, where: str = "state") -> list[str]:
    """Where ``value`` holds something other than plain Python values and containers."""
    if isinstance(value, PLAIN):
        return []
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _plain_problems(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        out = [f"{where} has a non-str key {k!r}" for k in value if not isinstance(k, str)]
        return out + [p for k, v in value.items() for p in _plain_problems(v, f"{where}[{k!r}]")]
    return [f"{where} is a {type(value).__module__}.{type(value).__name__}"]


def _inputs(step: int) -> tuple[np.ndarray, np.ndarray]:
    """A Jacobian that drifts and conflicts, and positive losses, for step ``step``."""
    rng = np.random.default_rng(100 + step)
    jac = rng.normal(size=(K, D))
    jac[1] -= 0.8 * jac[0]  # a conflict, so PCGrad projects and its random order matters
    losses = 1.0 + rng.uniform(size=K) * (1.0 + 0.3 * step)
    return jac, losses


def _step(rule: UpdateRule, step: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The rule's weights (and direction, for a direction rule) at step ``step``."""
    jac, losses = _inputs(step)
    if isinstance(rule, Weighting):
        gram = jac @ jac.T if rule.uses_gramian else None
        return rule.weights(gram, losses).weights, None
    assert isinstance(rule, DirectionRule)
    direction, result = rule.direction(jac, losses)
    return result.weights, direction


def _round_trip(state: dict[str, Any], path: Path) -> Any:
    torch.save(state, path)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(("name", "hp"), CASES, ids=CASE_IDS)
def test_state_loads_weights_only_and_continues_identically(
    name: str, hp: dict[str, Any], tmp_path: Path
) -> None:
    rule = get_rule(name, **hp)
    fresh = rule.state_dict()
    assert _round_trip(fresh, tmp_path / "fresh.pt") == fresh  # the initial state too
    for step in range(4):
        _step(rule, step)
    state = rule.state_dict()
    assert not _plain_problems(state), _plain_problems(state)
    loaded = _round_trip(state, tmp_path / "rule.pt")
    assert loaded == state  # exact: a float64 is a Python float
    restored = get_rule(name, **hp)
    restored.load_state_dict(loaded)
    for step in range(4, 8):
        (wa, da), (wb, db) = _step(rule, step), _step(restored, step)
        np.testing.assert_array_equal(wa, wb, err_msg=f"{name} {hp}: step {step}")
        if da is not None or db is not None:
            np.testing.assert_array_equal(da, db)
    assert rule.state_dict() == restored.state_dict()


@pytest.mark.parametrize("name", [n for n in STATEFUL if n != "pcgrad"])
def test_a_state_saved_with_arrays_still_loads(name: str) -> None:
    """States returned before (NumPy arrays, as old checkpoints hold them once decoded) load
    and continue like the list form."""
    hp = STATE_CONFIGS[name][-1]
    rule = get_rule(name, **hp)
    for step in range(3):
        _step(rule, step)
    state = rule.state_dict()
    as_arrays = {k: np.array(v) if isinstance(v, list) else v for k, v in state.items()}
    a, b = get_rule(name, **hp), get_rule(name, **hp)
    a.load_state_dict(state)
    b.load_state_dict(as_arrays)
    for step in range(3, 6):
        np.testing.assert_array_equal(_step(a, step)[0], _step(b, step)[0])


def test_moo_torch_holds_no_other_state() -> None:
    """`moo.torch`'s public objects keep no state between steps (the rule does): nothing
    there has a `state_dict` that a checkpoint would need. A new one must be added above."""
    with_state = [name for name in mt.__all__ if hasattr(getattr(mt, name), "state_dict")]
    assert with_state == []


# ----------------------------------------------------------------- through a training loop


class _Net(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
        self.heads = torch.nn.ModuleList(torch.nn.Linear(8, 1) for _ in range(K))

    def losses(self, x: Any, y: Any) -> list[Any]:
        h = self.trunk(x)
        return [((head(h)[:, 0] - y[:, i]) ** 2).mean() for i, head in enumerate(self.heads)]


def _train(net: _Net, opt: Any, rule: UpdateRule, steps: range) -> list[np.ndarray]:
    out = []
    for step in steps:
        g = torch.Generator().manual_seed(step)
        x, y = torch.randn(16, 4, generator=g), torch.randn(16, K, generator=g)
        opt.zero_grad()
        info = mt.backward(net.losses(x, y), net.trunk.parameters(), rule)
        opt.step()
        out.append(info.weights)
    return out


@pytest.mark.parametrize("name", STATEFUL)
def test_a_training_checkpoint_with_the_rule_state_resumes_exactly(
    name: str, tmp_path: Path
) -> None:
    """Model, optimizer and rule state in one ``torch.save``, read back with
    ``weights_only=True``: the resumed run's weights and parameters equal the uninterrupted
    run's bit for bit."""
    hp = STATE_CONFIGS[name][-1]
    net, rule = _Net(), get_rule(name, **hp)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    _train(net, opt, rule, range(3))
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"model": net.state_dict(), "opt": opt.state_dict(), "rule": rule.state_dict()}, path
    )
    after = _train(net, opt, rule, range(3, 6))

    ckpt = torch.load(path, weights_only=True)
    net2, rule2 = _Net(), get_rule(name, **hp)
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.05, momentum=0.9)
    net2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    rule2.load_state_dict(ckpt["rule"])
    resumed = _train(net2, opt2, rule2, range(3, 6))
    for a, b in zip(after, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(p, q)
