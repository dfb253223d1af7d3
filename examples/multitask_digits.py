"""Multitask learning on scikit-learn's 8×8 digits with several multi-objective rules.

Run: python examples/multitask_digits.py [--rules mgda,cagrad,nash-mtl,mimo,linear]
[--epochs 10] [--seed 0] [--device cpu]

The 1797 digit images (shipped inside scikit-learn, no download) are split into K tasks of
unequal difficulty that share one input, by default:

* ``parity``: is the digit even or odd (2 classes);
* ``high``: is the digit >= 5 (2 classes);
* ``digit``: the digit itself (10 classes).

A small MLP trunk is shared by the tasks and each task has its own linear head. For each rule
the same initial network (same seed) is trained with one Adam optimizer over all parameters; the
training step replaces ``sum(losses).backward()`` by

    mt.backward(losses, trunk.parameters(), rule, task_params=[list(h.parameters()) for h in heads])

which writes the rule's combined gradient ``Jᵀw`` into the trunk's ``.grad`` and the ordinary
gradient of each head's own loss into the head's ``.grad``; then ``optimizer.step()``.

At the end a table lists, per rule, the test accuracy of every task, their mean and worst, the
wall time of one training step (forward, ``mt.backward``, optimizer) and the part of it spent
in the rule's weight computation. ``mimo`` uses its defaults: objective 0 (the first task) is
the nominal objective and the other tasks form the group whose worst loss it penalizes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import moo
import moo.torch as mt


@dataclass(frozen=True)
class Task:
    """A classification task derived from the digit label."""

    name: str
    n_classes: int
    target: Callable[[np.ndarray], np.ndarray]
    description: str


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("parity", 2, lambda y: y % 2, "even / odd"),
        Task("high", 2, lambda y: (y >= 5).astype(np.int64), "digit >= 5"),
        Task("digit", 10, lambda y: y, "the 10-class label"),
        Task("mod3", 3, lambda y: y % 3, "digit mod 3"),
        Task("prime", 2, lambda y: np.isin(y, (2, 3, 5, 7)).astype(np.int64), "2, 3, 5 or 7"),
    )
}
DEFAULT_TASKS = ("parity", "high", "digit")
DEFAULT_RULES = ("mgda", "cagrad", "nash-mtl", "mimo", "linear")


class MultitaskNet(nn.Module):
    """A shared MLP trunk and one linear head per task."""

    def __init__(self, n_in: int, hidden: int, depth: int, n_classes: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Linear(width, c) for c in n_classes])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.trunk(x)
        return [head(z) for head in self.heads]


@dataclass
class Data:
    x_train: torch.Tensor
    y_train: torch.Tensor  # (n, K) int64, one column per task
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(tasks: Sequence[Task], seed: int, test_size: float, device: torch.device) -> Data:
    """Digits scaled to [0, 1], split (stratified on the digit) with ``seed``."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16.0
    targets = np.stack([t.target(y) for t in tasks], axis=1).astype(np.int64)
    x_tr, x_te, t_tr, t_te = train_test_split(
        x, targets, test_size=test_size, random_state=seed, stratify=y
    )
    return Data(
        torch.as_tensor(x_tr, device=device),
        torch.as_tensor(t_tr, device=device),
        torch.as_tensor(x_te, device=device),
        torch.as_tensor(t_te, device=device),
    )


def make_rule(name: str) -> moo.UpdateRule:
    """A fresh rule instance (stateful rules such as Nash-MTL keep state across steps)."""
    return moo.get_rule(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_one(
    rule_name: str,
    data: Data,
    tasks: Sequence[Task],
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """Train a fresh network with one rule; return test accuracies and timings."""
    torch.manual_seed(args.seed)
    model = MultitaskNet(
        data.x_train.shape[1], args.hidden, args.depth, [t.n_classes for t in tasks]
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    rule = make_rule(rule_name)
    shuffle = torch.Generator().manual_seed(args.seed)
    n = data.x_train.shape[0]
    step_times: list[float] = []
    rule_times: list[float] = []
    last_weights = np.full(len(tasks), np.nan)
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            _sync(device)
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = model(data.x_train[idx])
            losses = [F.cross_entropy(out, data.y_train[idx, k]) for k, out in enumerate(logits)]
            info = mt.backward(
                losses,
                model.trunk.parameters(),
                rule,
                task_params=[list(h.parameters()) for h in model.heads],
            )
            optimizer.step()
            _sync(device)
            step_times.append(time.perf_counter() - t0)
            rule_times.append(float(info.rule_time))
            last_weights = np.asarray(info.weights, dtype=np.float64)
    model.eval()
    with torch.no_grad():
        logits = model(data.x_test)
        acc = {
            t.name: float((out.argmax(dim=1) == data.y_test[:, k]).float().mean())
            for k, (t, out) in enumerate(zip(tasks, logits, strict=True))
        }
    # the first step includes one-off costs (allocations, lazy imports): leave it out
    timed_steps = step_times[1:] or step_times
    timed_rule = rule_times[1:] or rule_times
    return {
        "accuracy": acc,
        "mean": float(np.mean(list(acc.values()))),
        "worst": float(min(acc.values())),
        "step_ms": 1e3 * float(np.median(timed_steps)),
        "rule_ms": 1e3 * float(np.median(timed_rule)),
        "steps": len(step_times),
        "last_weights": last_weights,
    }


def format_table(
    tasks: Sequence[Task], chance: dict[str, float], results: dict[str, dict[str, Any]]
) -> str:
    """A Markdown table: rule | accuracy per task | mean | worst | step ms | rule ms."""
    head = ["rule", *[f"{t.name} acc" for t in tasks], "mean", "worst", "step ms", "in rule ms"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|" + "--:|" * (len(head) - 1),
        "| *chance (majority class)* | "
        + " | ".join(f"{chance[t.name]:.3f}" for t in tasks)
        + " | | | | |",
    ]
    for name, r in results.items():
        cells = [
            name,
            *[f"{r['accuracy'][t.name]:.3f}" for t in tasks],
            f"{r['mean']:.3f}",
            f"{r['worst']:.3f}",
            f"{r['step_ms']:.2f}",
            f"{r['rule_ms']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train one network per rule and print the per-task table.

    Returns:
        ``{"tasks": [names], "chance": {task: majority-class test accuracy},
        "rules": {rule: {"accuracy": {task: acc}, "mean", "worst", "step_ms", "rule_ms",
        "steps", "last_weights"}}, "table": str}``.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", default=",".join(DEFAULT_RULES), help="comma-separated")
    parser.add_argument(
        "--tasks",
        default=",".join(DEFAULT_TASKS),
        help=f"comma-separated, at least 2, from {', '.join(TASKS)}",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2, help="hidden layers in the trunk")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the network is tiny, and more threads only add "
        "synchronization, badly so on a busy machine); 0 keeps torch's setting",
    )
    args = parser.parse_args(argv)

    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = [r for r in rules if r not in moo.available_rules()]
    if unknown or not rules:
        parser.error(f"--rules: unknown {unknown}; available: {sorted(moo.available_rules())}")
    task_names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if len(task_names) < 2 or any(t not in TASKS for t in task_names):
        parser.error(f"--tasks: give at least 2 of {sorted(TASKS)}, got {task_names}")
    if args.epochs < 1 or args.batch_size < 1 or args.depth < 1 or args.hidden < 1:
        parser.error("--epochs, --batch-size, --depth and --hidden must be >= 1")
    tasks = [TASKS[t] for t in task_names]
    device = torch.device(args.device)

    threads_before = torch.get_num_threads()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, rules, tasks, device)
    finally:
        torch.set_num_threads(threads_before)


def _run(
    args: argparse.Namespace, rules: list[str], tasks: list[Task], device: torch.device
) -> dict[str, Any]:
    data = load_data(tasks, args.seed, args.test_size, device)
    chance = {
        t.name: float(torch.bincount(data.y_test[:, k]).max()) / data.y_test.shape[0]
        for k, t in enumerate(tasks)
    }
    print(
        f"digits: {data.x_train.shape[0]} train / {data.x_test.shape[0]} test images, "
        f"tasks: {', '.join(f'{t.name} ({t.description})' for t in tasks)}; "
        f"{args.epochs} epochs, batch {args.batch_size}, device {device}"
    )
    results: dict[str, dict[str, Any]] = {}
    for name in rules:
        results[name] = train_one(name, data, tasks, args, device)
        r = results[name]
        print(f"  {name}: mean acc {r['mean']:.3f}, worst {r['worst']:.3f} ({r['steps']} steps)")
    table = format_table(tasks, chance, results)
    print()
    print(table)
    return {"tasks": [t.name for t in tasks], "chance": chance, "rules": results, "table": table}


if __name__ == "__main__":
    main()
