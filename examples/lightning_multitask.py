"""PyTorch Lightning with a multi-objective step: manual optimization and ``moo.torch``.

Run: python examples/lightning_multitask.py [--rule mgda] [--epochs 5] [--tasks 3]
[--batch-size 32] [--lr 0.05] [--seed 0] [--log-dir DIR]

Needs ``pip install "moo-toolkit[lightning]"`` (Lightning 2.x, imported as ``lightning`` or,
for the older distribution, ``pytorch_lightning``).

A LightningModule with a shared trunk and one head per task switches Lightning's automatic
optimization off (``self.automatic_optimization = False``); its ``training_step`` computes the
K task losses, calls

    mt.backward(losses, self.trunk.parameters(), self.rule, task_params=self.heads.parameters())

in place of ``self.manual_backward(sum(losses))``, then ``opt.step()``, and logs the rule's
weights with ``self.log_dict``. The rule is built once in ``__init__`` (a stateful rule such as
Nash-MTL keeps its state across steps) and its state travels in Lightning's checkpoints
(``on_save_checkpoint`` / ``on_load_checkpoint``): plain Python values, which
``torch.load(weights_only=True)`` reads.

The data are generated (nothing is downloaded): inputs ``x ~ N(0, I)``, a random "teacher"
representation ``h = tanh(W x)`` that the tasks share, and for task ``k`` a regression target
``y_k = v_kᵀ h + noise``. The script trains on the CPU and prints, per task, the mean loss of
the first and of the last epoch and the rule's last weights. ``--log-dir`` writes Lightning's
CSV log (``metrics.csv``: one row per step with ``weight/k`` and ``loss/k``) there.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

try:  # the unified "lightning" distribution; "pytorch_lightning" is the older name
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger
except ImportError:  # pragma: no cover - depends on what is installed
    import pytorch_lightning as L  # type: ignore[no-redef]
    from pytorch_lightning.loggers import CSVLogger  # type: ignore[no-redef]

import moo
import moo.torch as mt

TEACHER_WIDTH = 6


class MultiTaskModule(L.LightningModule):  # type: ignore[misc]
    """A shared MLP trunk and one linear head per task, trained with a multi-objective rule.

    Args:
        rule: a registry name (``moo rules`` lists them).
        rule_options: the rule's hyperparameters (plain values, so that the checkpoint's
            saved hyperparameters load with ``weights_only=True``).
        tasks: the number of tasks K.
        in_features: input features.
        hidden: the trunk's width.
        lr: SGD learning rate (momentum 0.9).
    """

    def __init__(
        self,
        rule: str = "mgda",
        rule_options: Mapping[str, Any] | None = None,
        tasks: int = 3,
        in_features: int = 8,
        hidden: int = 32,
        lr: float = 0.05,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False  # training_step does the backward and the step
        self.save_hyperparameters()
        self.trunk = nn.Sequential(
            nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.heads = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(tasks))
        # one instance for the whole run: a rule given by name to mt.backward would be
        # rebuilt at every step and lose its state (Nash-MTL's warm start, MoCo, MIMO, ...)
        self.rule = moo.get_rule(rule, **dict(rule_options or {}))

    def task_losses(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """The K mean squared errors."""
        h = self.trunk(x)
        return [F.mse_loss(head(h)[:, 0], y[:, k]) for k, head in enumerate(self.heads)]

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        opt = self.optimizers()
        opt.zero_grad()
        losses = self.task_losses(x, y)
        # replaces self.manual_backward(sum(losses)): .grad of the trunk = Jᵀw, of each head
        # the gradient of its own loss; outside autocast (mixed precision), like a backward
        with torch.autocast(self.device.type, enabled=False):
            info = mt.backward(
                losses, self.trunk.parameters(), self.rule, task_params=self.heads.parameters()
            )
        opt.step()
        n = len(x)
        self.log_dict({f"weight/{k}": float(w) for k, w in enumerate(info.weights)}, batch_size=n)
        self.log_dict({f"loss/{k}": float(f) for k, f in enumerate(info.losses)}, batch_size=n)
        self.log("loss", float(info.losses.sum()), prog_bar=True, batch_size=n)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)

    # the rule's state (plain Python values) travels in Lightning's checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["moo_rule"] = self.rule.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.rule.load_state_dict(checkpoint["moo_rule"])


def make_data(
    n: int, tasks: int, in_features: int = 8, seed: int = 0
) -> torch.utils.data.TensorDataset:
    """Generated multitask regression data (see the module docstring), seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, in_features))
    h = np.tanh(x @ rng.standard_normal((in_features, TEACHER_WIDTH)) / np.sqrt(in_features))
    y = h @ rng.standard_normal((TEACHER_WIDTH, tasks)) + 0.1 * rng.standard_normal((n, tasks))
    return torch.utils.data.TensorDataset(
        torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    )


def make_trainer(max_epochs: int, log_dir: str | None = None, **options: Any) -> L.Trainer:
    """A quiet CPU trainer: no checkpoint callback, a CSV log only when ``log_dir`` is given."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    return L.Trainer(
        **{
            "max_epochs": max_epochs,
            "accelerator": "cpu",
            "devices": 1,
            "logger": CSVLogger(log_dir, name="", version="") if log_dir else False,
            "log_every_n_steps": 1,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            **options,
        }
    )


def _epoch_losses(module: MultiTaskModule, data: torch.utils.data.TensorDataset) -> np.ndarray:
    with torch.no_grad():
        x, y = data.tensors
        return np.array([float(loss) for loss in module.task_losses(x, y)])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="mgda", help="a rule name (`moo rules`); default mgda")
    parser.add_argument("--epochs", type=int, default=5, help="default 5")
    parser.add_argument("--tasks", type=int, default=3, help="K, default 3")
    parser.add_argument("--n", type=int, default=512, help="training examples, default 512")
    parser.add_argument("--batch-size", type=int, default=32, help="default 32")
    parser.add_argument("--lr", type=float, default=0.05, help="default 0.05")
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    parser.add_argument("--log-dir", default=None, help="write Lightning's CSV log here")
    args = parser.parse_args(argv)

    L.seed_everything(args.seed, verbose=False)
    data = make_data(args.n, args.tasks, seed=args.seed)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    module = MultiTaskModule(rule=args.rule, tasks=args.tasks, lr=args.lr)
    before = _epoch_losses(module, data)
    trainer = make_trainer(args.epochs, args.log_dir)
    trainer.fit(module, loader)
    after = _epoch_losses(module, data)
    weights = [float(trainer.callback_metrics[f"weight/{k}"]) for k in range(args.tasks)]
    print(f"rule {args.rule}, {trainer.global_step} steps")
    print("| task | loss before | loss after | last weight |")
    print("| --- | ---: | ---: | ---: |")
    for k in range(args.tasks):
        print(f"| {k} | {before[k]:.4f} | {after[k]:.4f} | {weights[k]:.4f} |")
    return {
        "module": module,
        "steps": trainer.global_step,
        "before": before,
        "after": after,
        "weights": weights,
    }


if __name__ == "__main__":
    main()
