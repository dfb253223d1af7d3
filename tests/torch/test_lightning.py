"""The PyTorch Lightning recipe (docs/lightning.md, examples/lightning_multitask.py).

Manual optimization with ``mt.backward`` inside ``training_step``, on the CPU, a few steps:
each step's trunk gradient is ``Jᵀw`` for the MGDA weights of that batch's Jacobian, the
logged weights are those weights, the parameters after the fit equal those of the same steps
taken by ``moo.torch`` in a plain loop (bit for bit), the losses decrease, and a stateful
rule's state travels in a Lightning checkpoint (read back with ``weights_only=True``) so that
a resumed fit equals an uninterrupted one. Skipped without Lightning (the ``lightning`` extra).
"""

from __future__ import annotations

import copy
import csv
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
try:  # the unified distribution, else the older one; skipped without either
    import lightning as L
except ImportError:
    L = pytest.importorskip("pytorch_lightning", reason="needs the lightning extra")

import moo  # noqa: E402
import moo.torch as mt  # noqa: E402

EXAMPLE = runpy.run_path(
    str(Path(__file__).resolve().parents[2] / "examples" / "lightning_multitask.py")
)
MultiTaskModule = EXAMPLE["MultiTaskModule"]
make_data = EXAMPLE["make_data"]
make_trainer = EXAMPLE["make_trainer"]

K, N, BATCH = 3, 48, 16  # 3 steps per epoch


def _loader() -> Any:
    data = make_data(N, K, seed=3)
    return torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=False)


def _module(rule: str = "mgda") -> Any:
    torch.manual_seed(0)
    return MultiTaskModule(rule=rule, tasks=K, hidden=16, lr=0.05)


def _total_losses(module: Any) -> np.ndarray:
    x, y = _loader().dataset.tensors
    with torch.no_grad():
        return np.array([float(loss) for loss in module.task_losses(x, y)])


class _CheckDirection(L.Callback):  # type: ignore[misc]
    """Before each optimizer step: the trunk's ``.grad`` is ``Jᵀw`` with ``w`` the MGDA
    weights of the batch's Jacobian (computed here independently, in float64)."""

    def __init__(self) -> None:
        self.batch: Any = None
        self.weights: list[np.ndarray] = []

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
        self.batch = batch

    def on_before_optimizer_step(self, trainer: Any, module: Any, optimizer: Any) -> None:
        x, y = self.batch
        trunk = list(module.trunk.parameters())
        jac = mt.jacobian(module.task_losses(x, y), trunk).double()
        w = (
            moo.get_rule("mgda").weights((jac @ jac.T).numpy(), np.ones(K)).weights
        )  # MGDA reads G only
        grad = torch.cat([p.grad.reshape(-1) for p in trunk]).double()
        torch.testing.assert_close(grad, jac.T @ torch.from_numpy(w), rtol=1e-5, atol=1e-7)
        for head in module.heads:  # each head: the plain gradient of its own loss
            assert head.weight.grad is not None
        self.weights.append(w)


def _plain_loop(module: Any, epochs: int) -> list[np.ndarray]:
    """The same steps without Lightning: mt.backward and the module's own optimizer."""
    opt = module.configure_optimizers()
    weights = []
    for _ in range(epochs):
        for x, y in _loader():
            opt.zero_grad()
            info = mt.backward(
                module.task_losses(x, y),
                module.trunk.parameters(),
                module.rule,
                task_params=module.heads.parameters(),
            )
            opt.step()
            weights.append(info.weights)
    return weights


def test_manual_optimization_applies_the_rule_and_logs_its_weights(tmp_path: Path) -> None:
    module = _module()
    reference = copy.deepcopy(module)
    before = _total_losses(module)
    check = _CheckDirection()
    trainer = make_trainer(2, str(tmp_path), callbacks=[check])
    trainer.fit(module, _loader())
    assert trainer.global_step == 6 and len(check.weights) == 6

    # the logged weights (one CSV row per step) are the rule's weights of each step
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("weight/0")]
    logged = np.array([[float(r[f"weight/{k}"]) for k in range(K)] for r in rows])
    np.testing.assert_allclose(logged, np.array(check.weights), rtol=1e-5, atol=1e-7)
    assert np.all(logged >= 0.0) and np.allclose(logged.sum(axis=1), 1.0, atol=1e-6)

    # the same steps done by moo.torch in a plain loop: the same parameters, bit for bit
    plain = _plain_loop(reference, 2)
    np.testing.assert_allclose(np.array(plain), logged, rtol=1e-5, atol=1e-7)
    for name, p in module.state_dict().items():
        assert torch.equal(p, reference.state_dict()[name]), name

    after = _total_losses(module)
    assert np.all(after < before), (before, after)


def test_rule_state_travels_in_a_lightning_checkpoint(tmp_path: Path) -> None:
    """Nash-MTL (stateful): fit one epoch, save, resume for a second one from the checkpoint
    (Lightning reads it with weights_only=True): the same parameters as two epochs at once."""
    straight = _module("nash-mtl")
    make_trainer(2).fit(straight, _loader())

    first = _module("nash-mtl")
    trainer = make_trainer(1)
    trainer.fit(first, _loader())
    ckpt = tmp_path / "epoch1.ckpt"
    trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True)["moo_rule"]
    assert state["calls"] == 3 and len(state["alpha"]) == K

    resumed = _module("nash-mtl")
    make_trainer(2).fit(resumed, _loader(), ckpt_path=ckpt, weights_only=True)
    assert resumed.rule.state_dict() == straight.rule.state_dict()
    for name, p in resumed.state_dict().items():
        assert torch.equal(p, straight.state_dict()[name]), name
