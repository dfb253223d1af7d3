"""Many tasks: 40 binary tasks on one shared trunk, trained with several multi-objective rules.

Run: python examples/many_tasks.py [--rules linear,mgda,upgrad] [--tasks 40] [--epochs 3]
[--seed 0] [--extraction batched] [--device cpu]

A CelebA-like setting (40 binary attributes of one image is the classic many-task benchmark),
with generated data so that nothing is downloaded: inputs ``x ~ N(0, I)`` of ``--in-dim``
features, a random "teacher" representation ``h = tanh(W x)`` of 16 features, and for each
task ``t`` a label ``y_t = [v_tᵀ h + noise > q_t]`` with a random direction ``v_t`` and a
threshold ``q_t`` that makes between 15 % and 50 % of the labels positive (unbalanced, as face
attributes are). The tasks share the teacher's 16 features, so their gradients are correlated
(and some conflict): 40 objectives in a 16-dimensional space of explanations.

The student is an MLP trunk shared by all tasks and one linear head with 40 outputs (row
``t`` of its weight is task ``t``'s head). For each rule the same initial network (same seed)
is trained with Adam over all parameters; the step replaces ``losses.sum().backward()`` by

    mt.backward(losses, trunk.parameters(), rule, task_params=head.parameters())

where ``losses`` is the 1-D tensor of the 40 mean binary cross-entropies. The rule's weights
``w`` (40 of them) combine the per-task gradients on the trunk; the head receives the plain
gradient of ``Σ_t L_t`` (each row only its own task's).

At the end a table lists, per rule, the mean and worst test accuracy over the tasks (next to
the mean majority-class rate, "chance"), the median wall time of a training step and the part
of it spent in the rule's weight computation on the host (``StepInfo.rule_time``: for MGDA and
UPGrad an exact solve on the 40×40 Gramian).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import moo
import moo.torch as mt

DEFAULT_RULES = ("linear", "mgda", "upgrad")
TEACHER_WIDTH = 16  # features of the teacher representation the tasks share


@dataclass(frozen=True)
class Data:
    """Train and test splits: inputs ``(n, p)`` and labels ``(n, K)`` in {0, 1} (float)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def make_data(
    n_tasks: int, n_train: int, n_test: int, in_dim: int, seed: int, device: torch.device
) -> Data:
    """Generated multi-label data (see the module docstring), seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.standard_normal((n, in_dim))
    teacher = np.tanh(x @ rng.standard_normal((in_dim, TEACHER_WIDTH)) / np.sqrt(in_dim) * 2.0)
    scores = teacher @ rng.standard_normal((TEACHER_WIDTH, n_tasks))
    scores += 0.3 * scores.std(axis=0) * rng.standard_normal(scores.shape)  # label noise
    positive = rng.uniform(0.15, 0.5, size=n_tasks)  # share of positive labels per task
    thresholds = np.array([np.quantile(scores[:, t], 1.0 - positive[t]) for t in range(n_tasks)])
    labels = (scores > thresholds).astype(np.float32)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    return Data(
        tensor(x[:n_train]), tensor(labels[:n_train]), tensor(x[n_train:]), tensor(labels[n_train:])
    )


class ManyTaskNet(nn.Module):
    """A shared MLP trunk and one linear head with one output (logit) per task."""

    def __init__(self, in_dim: int, hidden: int, depth: int, n_tasks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))  # type: ignore[no-any-return]


def train_one(rule_name: str, data: Data, args: argparse.Namespace) -> dict[str, Any]:
    """Train a fresh network with one rule; return test accuracies, timings, last weights."""
    torch.manual_seed(args.seed)
    n_tasks = data.y_train.shape[1]
    model = ManyTaskNet(data.x_train.shape[1], args.hidden, args.depth, n_tasks)
    model.to(data.x_train.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    rule = moo.get_rule(rule_name)
    shuffle = torch.Generator().manual_seed(args.seed)
    n = data.x_train.shape[0]
    step_times: list[float] = []
    rule_times: list[float] = []
    residuals: list[float] = []
    last_weights = np.full(n_tasks, np.nan)
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=shuffle).to(data.x_train.device)
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = model(data.x_train[idx])
            losses = F.binary_cross_entropy_with_logits(
                logits, data.y_train[idx], reduction="none"
            ).mean(dim=0)  # (K,): one loss per task
            info = mt.backward(
                losses,
                model.trunk.parameters(),
                rule,
                task_params=model.head.parameters(),
                extraction=args.extraction,
            )
            optimizer.step()
            if data.x_train.device.type == "cuda":
                torch.cuda.synchronize(data.x_train.device)
            step_times.append(time.perf_counter() - t0)
            rule_times.append(float(info.rule_time))
            residuals.append(float(info.residual))
            last_weights = np.asarray(info.weights, dtype=np.float64)
    model.eval()
    with torch.no_grad():
        predicted = model(data.x_test) > 0.0
        accuracy = (predicted == data.y_test.bool()).float().mean(dim=0).cpu().numpy()
    # the first step includes one-off costs (allocations, lazy imports): leave it out
    timed_steps = step_times[1:] or step_times
    timed_rule = rule_times[1:] or rule_times
    return {
        "accuracy": accuracy.astype(np.float64),
        "mean": float(accuracy.mean()),
        "worst": float(accuracy.min()),
        "step_ms": 1e3 * float(np.median(timed_steps)),
        "rule_ms": 1e3 * float(np.median(timed_rule)),
        "max_residual": float(max(residuals)),
        "steps": len(step_times),
        "last_weights": last_weights,
    }


def format_table(chance: float, results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: rule | mean acc | worst acc | step ms | in rule ms | max residual."""
    lines = [
        "| rule | mean acc | worst acc | step ms | in rule ms | max residual |",
        "|---|--:|--:|--:|--:|--:|",
        f"| *chance (majority class)* | {chance:.3f} | | | | |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['mean']:.3f} | {r['worst']:.3f} | {r['step_ms']:.2f} | "
            f"{r['rule_ms']:.3f} | {r['max_residual']:.1e} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", default=",".join(DEFAULT_RULES), help="comma-separated")
    parser.add_argument("--tasks", type=int, default=40, help="number of binary tasks (K)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--in-dim", type=int, default=32, help="input features")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2, help="hidden layers in the trunk")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--extraction",
        default="batched",
        choices=["auto", "autograd", "batched"],
        help="how moo.torch.backward gets the K per-task gradients (default batched: one "
        "backward vectorized over the K tasks; auto = autograd: K backward passes, several "
        "times slower here)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the network is tiny); 0 keeps torch's setting",
    )
    args = parser.parse_args(argv)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = [r for r in rules if r not in moo.available_rules()]
    if unknown or not rules:
        parser.error(f"--rules: unknown {unknown}; available: {sorted(moo.available_rules())}")
    for name in ("tasks", "epochs", "n_train", "n_test", "in_dim", "batch_size", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.tasks < 2:
        parser.error(f"--tasks must be >= 2, got {args.tasks}")
    return args, rules


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train one network per rule and print the table.

    Returns:
        ``{"tasks": K, "chance": mean majority-class test rate, "chance_per_task": (K,),
        "rules": {rule: {"accuracy": (K,) test accuracy per task, "mean", "worst",
        "step_ms", "rule_ms", "max_residual", "steps", "last_weights": (K,)}}, "table": str}``.
    """
    args, rules = parse_args(argv)
    threads_before = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        device = torch.device(args.device)
        data = make_data(args.tasks, args.n_train, args.n_test, args.in_dim, args.seed, device)
        rate = data.y_test.mean(dim=0).cpu().numpy().astype(np.float64)
        chance_per_task = np.maximum(rate, 1.0 - rate)
        print(
            f"{args.tasks} binary tasks, {args.n_train} train / {args.n_test} test examples, "
            f"{args.epochs} epochs, batch {args.batch_size}, extraction {args.extraction}, "
            f"device {device}"
        )
        results: dict[str, dict[str, Any]] = {}
        for name in rules:
            results[name] = train_one(name, data, args)
            r = results[name]
            print(
                f"  {name}: mean acc {r['mean']:.3f}, worst {r['worst']:.3f}, "
                f"{r['rule_ms']:.3f} ms in the rule per step ({r['steps']} steps)"
            )
        chance = float(chance_per_task.mean())
        table = format_table(chance, results)
        print()
        print(table)
        return {
            "tasks": args.tasks,
            "chance": chance,
            "chance_per_task": chance_per_task,
            "rules": results,
            "table": table,
        }
    finally:
        torch.set_num_threads(threads_before)


if __name__ == "__main__":
    main()
