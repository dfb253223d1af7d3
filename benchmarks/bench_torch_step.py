"""Benchmark: one multitask training step with `moo.torch.backward` against a plain step.

Two parts, both printed as Markdown (and written to ``--out``):

1. **Step.** A model with a shared trunk (an MLP of ``--width`` × ``--depth``, or a ResNet-18
   trunk written in plain torch with ``--model resnet18``) and K linear heads, one
   cross-entropy loss per head on a fixed random batch. One *step* is: forward, the backward
   replacement, ``optimizer.step()`` (SGD with learning rate 0, so every contender sees the
   same weights and the same problem at every call; ``zero_grad`` runs outside the timing).
   Contenders:

   * ``plain``: ``sum(losses).backward()``, the reference of every ratio;
   * ``moo``: ``mt.backward(losses, trunk.parameters(), rule, task_params=heads...,
     extraction=...)`` for each rule of ``--rules`` and each extraction of ``--extractions``
     (loss-only rules, MIMO and linear, take their single-backward path: one row each);
   * ``torchjd``: ``torchjd.autojac.mtl_backward(losses, features=...)`` then
     ``jac_to_grad(trunk.parameters(), Aggregator())`` for each aggregator of ``--torchjd``
     (optional: skipped when torchjd is not importable).

   Time: each round runs every contender once, in an order that rotates from round to round;
   after ``--warmup`` rounds, ``--repeats`` rounds are timed (``time.perf_counter`` around the
   step, with ``torch.cuda.synchronize`` on both sides on CUDA), and the table gives the
   median and the interquartile range, the median's ratio to ``plain``'s, and the median time
   spent in the rule (``StepInfo.rule_time``). Memory (CUDA only): one extra step per
   contender between ``torch.cuda.reset_peak_memory_stats`` and
   ``torch.cuda.max_memory_allocated``: the peak, its ratio to ``plain``'s peak, and the
   transient part (peak minus what was allocated before the step: activations, gradients,
   per-objective gradients). On CPU (Linux) the same extra step is measured by the process's
   resident-set high-water mark (``benchmarks/_cpu_memory.py``: the script restarts itself once
   with glibc set to unmap freed blocks of 64 KiB or more): the transient part is the rise of
   the resident set during the step, and the peak is that plus the parameters, buffers and
   batch (what CUDA would count as allocated before the step).

2. **Gramian.** ``G = J Jᵀ`` of a K×d float32 matrix on the device, for each d of
   ``--gramian-d``: ``mt.gramian(J)`` (dense), ``mt.gramian(blocks)`` (the same numbers as 62
   separate contiguous blocks, like a ResNet-18's parameters), ``J @ J.T``, and a reference
   chunked batched product (``torch.bmm`` over column chunks, summed), against the
   *bandwidth floor*: the time to read J once at the copy bandwidth measured in the same run
   (``dst.copy_(src)`` of a buffer of J's size moves 2× its bytes). Times are medians over
   ``--repeats`` batches of ``--inner`` back-to-back calls (CUDA events on CUDA); the error
   column is ``max |G − G64| / max diag G64`` against a float64 product.

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Run: ``python benchmarks/bench_torch_step.py [--device cpu|cuda] [--model mlp|resnet18]
[--width 512] [--depth 4] [--batch 128] [--tasks 3] [--rules mgda,cagrad,...]
[--extractions autograd,batched,representation] [--gramian-d 1000000] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import moo
import moo.torch as mt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _cpu_memory, _report
import _cpu_memory
import _report

LOSS_ONLY = ("mimo", "linear")
DEFAULT_RULES = "mgda,cagrad,nash-mtl,upgrad,mimo,linear"
MIB = _report.MIB

# --------------------------------------------------------------------------------- models


class MLPTrunk(nn.Module):
    def __init__(self, n_in: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = n_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18Trunk(nn.Module):
    """ResNet-18 without its classifier (11.2M parameters), 3×32×32 inputs, plain torch."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 3, 1, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        ]
        c = 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(c, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


@dataclass
class Setup:
    trunk: nn.Module
    heads: nn.ModuleList
    x: torch.Tensor
    y: torch.Tensor  # (batch, K) int64
    optimizer: torch.optim.Optimizer
    description: str

    def forward(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z = self.trunk(self.x)
        return z, [F.cross_entropy(h(z), self.y[:, k]) for k, h in enumerate(self.heads)]

    def shared(self) -> list[torch.Tensor]:
        return list(self.trunk.parameters())

    def state_mib(self) -> float:
        """What is allocated before a step: parameters, buffers and the batch (SGD keeps no
        state): the CPU stand-in for ``torch.cuda.memory_allocated`` before the step."""
        tensors = [*self.trunk.parameters(), *self.trunk.buffers(), *self.heads.parameters()]
        return sum(t.numel() * t.element_size() for t in [*tensors, self.x, self.y]) / MIB

    def task(self) -> list[torch.Tensor]:
        return list(self.heads.parameters())


def build_setup(args: argparse.Namespace, device: torch.device) -> Setup:
    torch.manual_seed(args.seed)
    trunk: MLPTrunk | ResNet18Trunk
    if args.model == "mlp":
        trunk = MLPTrunk(args.in_dim, args.width, args.depth)
        x = torch.randn(args.batch, args.in_dim)
        what = f"MLP trunk {args.in_dim}→{args.width}×{args.depth}"
    else:
        trunk = ResNet18Trunk()
        x = torch.randn(args.batch, 3, 32, 32)
        what = "ResNet-18 trunk (BatchNorm, 3×32×32 inputs)"
    heads = nn.ModuleList([nn.Linear(trunk.out_dim, args.classes) for _ in range(args.tasks)])
    y = torch.randint(0, args.classes, (args.batch, args.tasks))
    trunk.to(device)
    heads.to(device)
    params = [*trunk.parameters(), *heads.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.0)
    n_shared = sum(p.numel() for p in trunk.parameters())
    n_task = sum(p.numel() for p in heads.parameters())
    description = (
        f"{what}, {len(list(trunk.parameters()))} shared tensors, d = {n_shared:,} shared + "
        f"{n_task:,} head parameters; K = {args.tasks} heads of {args.classes} classes; "
        f"batch {args.batch}; float32"
    )
    return Setup(trunk, heads, x.to(device), y.to(device), optimizer, description)


# ------------------------------------------------------------------------------ contenders


@dataclass
class Contender:
    name: str
    extraction: str
    step: Callable[[], mt.StepInfo | None]  # moo's contenders return their StepInfo
    times: list[float] = field(default_factory=list)
    rule_times: list[float] = field(default_factory=list)
    passes: str = ""
    peak: float | None = None
    transient: float | None = None
    error: str | None = None


def make_contenders(setup: Setup, args: argparse.Namespace) -> list[Contender]:
    out: list[Contender] = []

    def plain() -> None:
        _, losses = setup.forward()
        torch.stack(losses).sum().backward()  # type: ignore[no-untyped-call]
        setup.optimizer.step()

    out.append(Contender("plain sum(losses).backward()", "—", plain, passes="1"))

    for rule_name in args.rules:
        # loss-only rules: with and without the gradients' finiteness check (check_finite)
        variants = (
            [("auto", True), ("auto", False)]
            if rule_name in LOSS_ONLY
            else [(ext, True) for ext in args.extractions]
        )
        for ext, check in variants:
            rule = moo.get_rule(rule_name)  # one instance per contender: state is kept

            def step(rule: moo.UpdateRule = rule, ext: str = ext, check: bool = check) -> Any:
                z, losses = setup.forward()
                info = mt.backward(
                    losses,
                    setup.trunk.parameters(),
                    rule,
                    task_params=[list(h.parameters()) for h in setup.heads],
                    extraction=ext,
                    representation=z if ext == "representation" else None,
                    check_finite=check,
                )
                setup.optimizer.step()
                return info

            if rule_name in LOSS_ONLY:
                label = "single backward" + ("" if check else ", check_finite=False")
            else:
                label = ext
            out.append(Contender(f"moo {rule_name}", label, step))

    if args.torchjd:
        try:
            from torchjd import aggregation
            from torchjd.autojac import jac_to_grad, mtl_backward
        except ImportError as exc:
            print(f"note: torchjd not importable ({exc}); its rows are skipped", file=sys.stderr)
        else:
            names = {"upgrad": "UPGrad", "mgda": "MGDA", "cagrad": "CAGrad", "mean": "Mean"}
            for agg_name in args.torchjd:
                cls = getattr(aggregation, names.get(agg_name, agg_name))
                agg = cls(c=0.4) if agg_name == "cagrad" else cls()

                def tj_step(agg: Any = agg) -> None:
                    z, losses = setup.forward()
                    mtl_backward(
                        losses,
                        features=z,
                        tasks_params=[list(h.parameters()) for h in setup.heads],
                        shared_params=setup.shared(),
                    )
                    jac_to_grad(setup.shared(), agg)
                    setup.optimizer.step()

                out.append(
                    Contender(
                        f"torchjd {cls.__name__}",
                        "mtl_backward + jac_to_grad",
                        tj_step,
                        passes="1 (vmap)",
                    )
                )
    return out


def run_step_bench(
    setup: Setup, contenders: list[Contender], args: argparse.Namespace, device: torch.device
) -> None:
    def once(c: Contender, record: bool) -> None:
        if c.error is not None:
            return
        setup.optimizer.zero_grad(set_to_none=True)
        _report.sync(device)
        t0 = time.perf_counter()
        try:
            info = c.step()
        except Exception as exc:  # a path the model does not support: report, go on
            c.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            return
        _report.sync(device)
        t = time.perf_counter() - t0
        if record:
            c.times.append(t)
            if info is not None:
                c.rule_times.append(float(info.rule_time))
        if info is not None and not c.passes:
            c.passes = str(info.info.get("backward_passes", "?"))

    n = len(contenders)
    for r in range(args.warmup + args.repeats):
        shift = r % n
        for c in contenders[shift:] + contenders[:shift]:
            once(c, record=r >= args.warmup)

    state = setup.state_mib()
    for c in contenders:
        if c.error is None:
            setup.optimizer.zero_grad(set_to_none=True)
            mem = _report.step_memory(c.step, device, state)
            c.peak, c.transient = (None, None) if mem is None else mem
    setup.optimizer.zero_grad(set_to_none=True)


def step_table(contenders: list[Contender], device: torch.device) -> str:
    ref = contenders[0]
    ref_med = statistics.median(ref.times)
    lines = [
        "| contender | extraction | backward passes | step ms (median) | IQR ms | × plain "
        "| in rule ms | peak MiB | × plain peak | transient MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c in contenders:
        if c.error is not None or not c.times:
            lines.append(f"| {c.name} | {c.extraction} | | failed: {c.error} | | | | | | |")
            continue
        med = statistics.median(c.times)
        iqr = _report.iqr_ms(c.times)
        rule = f"{1e3 * statistics.median(c.rule_times):.3f}" if c.rule_times else "—"
        if c.peak is not None and c.transient is not None and ref.peak:
            mem = f"{c.peak:,.1f} | {c.peak / ref.peak:.2f}× | {c.transient:,.1f}"
        else:
            mem = "n/a | | "
        lines.append(
            f"| {c.name} | {c.extraction} | {c.passes} | {1e3 * med:.2f} | {iqr} | "
            f"{med / ref_med:.2f}× | {rule} | {mem} |"
        )
    return "\n".join(lines)


def step_verdicts(contenders: list[Contender], device: torch.device) -> str:
    """The design targets, read off this run (no assertion)."""
    ref_med = statistics.median(contenders[0].times)
    ref_peak = contenders[0].peak
    ok = [c for c in contenders[1:] if c.error is None and c.times]
    moo_all = [c for c in ok if c.name.startswith("moo")]
    moo_grad = [c for c in moo_all if not c.extraction.startswith("single backward")]
    moo_loss = [c for c in moo_all if c.extraction.startswith("single backward")]
    lines = ["Design targets, in this run (ratios of medians to `plain`):", ""]
    if moo_grad:
        best = min(moo_grad, key=lambda c: statistics.median(c.times))
        worst = max(moo_grad, key=lambda c: statistics.median(c.times))
        r_best = statistics.median(best.times) / ref_med
        r_worst = statistics.median(worst.times) / ref_med
        lines.append(
            f"- gradient rules' step ≤ 1.8× plain: best {r_best:.2f}× ({best.name}, "
            f"{best.extraction}), worst {r_worst:.2f}× ({worst.name}, {worst.extraction}); "
            + (
                "met by every row"
                if r_worst <= 1.8
                else "met by some rows"
                if r_best <= 1.8
                else "not met"
            )
        )
    for c in moo_loss:
        r = statistics.median(c.times) / ref_med
        lines.append(
            f"- {c.name} ({c.extraction}) step ≤ 1.05× plain: {r:.2f}×, "
            + ("met" if r <= 1.05 else "not met")
        )
    peaks = [(c.peak / ref_peak, c) for c in moo_grad if c.peak is not None] if ref_peak else []
    if peaks:
        worst_mem = max(peaks, key=lambda t: t[0])
        best_mem = min(peaks, key=lambda t: t[0])
        how = "" if device.type == "cuda" else " (CPU: resident-set high-water mark)"
        lines.append(
            f"- memory of gradient rules ≤ 1.5× plain peak{how}: best {best_mem[0]:.2f}× "
            f"({best_mem[1].name}, {best_mem[1].extraction}), worst {worst_mem[0]:.2f}× "
            f"({worst_mem[1].name}, {worst_mem[1].extraction}); "
            + (
                "met by every row"
                if worst_mem[0] <= 1.5
                else "met by some rows"
                if best_mem[0] <= 1.5
                else "not met"
            )
        )
    else:
        lines.append("- memory ≤ 1.5× plain peak: not measured (see the table's note)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- Gramian


def time_calls(
    fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int, inner: int
) -> list[float]:
    """Seconds per call: ``repeats`` batches of ``inner`` back-to-back calls."""
    for _ in range(warmup):
        fn()
    _report.sync(device)
    out: list[float] = []
    for _ in range(repeats):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end) / 1e3 / inner)
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            out.append((time.perf_counter() - t0) / inner)
    return out


def block_sizes(d: int, n: int = 62) -> list[int]:
    """``n`` positive sizes summing to ``d``, geometric like a CNN's layers (small to large)."""
    n = max(1, min(n, d))
    raw = [1.08**i for i in range(n)]
    sizes = [max(1, int(d * r / sum(raw))) for r in raw]
    sizes[-1] += d - sum(sizes)
    return sizes


def chunked_gramian(j: torch.Tensor, chunk: int) -> torch.Tensor:
    """Reference: ``Σ_c J_c J_cᵀ`` as one strided batched product over column chunks."""
    k, d = j.shape
    n_full = d // chunk
    g = torch.zeros((k, k), dtype=torch.float64, device=j.device)
    if n_full:
        jc = j[:, : n_full * chunk].view(k, n_full, chunk).transpose(0, 1)  # (C, K, chunk)
        g += torch.bmm(jc, jc.transpose(1, 2)).sum(0, dtype=torch.float64)
    if d > n_full * chunk:
        tail = j[:, n_full * chunk :]
        g += (tail @ tail.T).double()
    return g


def _gramian_rows(d: int, args: argparse.Namespace, device: torch.device) -> list[str]:
    k = args.gramian_k
    gen = torch.Generator(device="cpu").manual_seed(args.seed + d)
    j = torch.randn((k, d), generator=gen, dtype=torch.float32).to(device)
    blocks = [b.contiguous() for b in torch.split(j, block_sizes(d), dim=1)]
    nbytes = j.numel() * j.element_size()
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    t_copy = statistics.median(
        time_calls(lambda: dst.copy_(src), device, 3, args.repeats, args.inner)
    )
    bw = 2 * nbytes / t_copy  # a copy reads and writes the buffer
    floor = nbytes / bw
    ref64 = (j.double() @ j.double().T).cpu()
    scale = float(ref64.diagonal().max())
    chunk = 1 << 16
    contenders: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("mt.gramian(J)", lambda: mt.gramian(j)),
        (f"mt.gramian({len(blocks)} blocks)", lambda: mt.gramian(blocks)),
        ("J @ J.T (float32)", lambda: j @ j.T),
        ("chunked bmm, chunk 2^16 (reference)", lambda: chunked_gramian(j, chunk)),
    ]
    times: dict[str, float] = {}
    errors: dict[str, float] = {}
    for name, fn in contenders:
        times[name] = statistics.median(time_calls(fn, device, 3, args.repeats, args.inner))
        errors[name] = float((fn().double().cpu() - ref64).abs().max()) / scale
    base = times["J @ J.T (float32)"]
    rows = []
    for i, (name, _) in enumerate(contenders):
        head = (
            f"| {d:,} | {k} | {nbytes / MIB:,.1f} | {1e3 * floor:.4f} | {bw / 1e9:,.1f} "
            if i == 0
            else "| | | | | "
        )
        rows.append(
            f"{head}| {name} | {1e3 * times[name]:.4f} | {times[name] / floor:.1f}× | "
            f"{times[name] / base:.2f}× | {errors[name]:.1e} |"
        )
    return rows


def gramian_bench(args: argparse.Namespace, device: torch.device) -> str:
    lines = [
        "| d | K | J MiB | floor ms (read J once) | copy GB/s | contender | ms (median) "
        "| × floor | × `J @ J.T` | rel. error |",
        "|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|",
    ]
    for d in args.gramian_d:
        lines += _gramian_rows(d, args, device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return "\n".join(lines)


# ------------------------------------------------------------------------------ machine


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=("mlp", "resnet18"), default="mlp")
    parser.add_argument("--in-dim", type=int, default=256, help="MLP input size")
    parser.add_argument("--width", type=int, default=512, help="MLP width")
    parser.add_argument("--depth", type=int, default=4, help="MLP hidden layers")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--tasks", type=int, default=3, help="K, the number of heads")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rules", default=DEFAULT_RULES)
    parser.add_argument(
        "--extractions",
        default="autograd,batched,representation",
        help="for the Gramian rules: autograd, batched, representation (MGDA-UB: the "
        "Gramian of the gradients with respect to the trunk's output)",
    )
    parser.add_argument(
        "--torchjd", default="upgrad,mgda", help="torchjd aggregators ('' for none)"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--gramian-d",
        default=None,
        help="comma-separated d for the Gramian part (default 1e5,1e6,4e6 on CPU, "
        "1e6,11.2e6 on CUDA)",
    )
    parser.add_argument("--gramian-k", type=int, default=3)
    parser.add_argument("--inner", type=int, default=None, help="calls per Gramian timing")
    parser.add_argument("--no-step", action="store_true", help="skip the step benchmark")
    parser.add_argument("--no-gramian", action="store_true", help="skip the Gramian benchmark")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: keep)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the Markdown report here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available to this torch build")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    args.rules = _report.csv(args.rules)
    unknown = [r for r in args.rules if r not in moo.available_rules()]
    if unknown:
        parser.error(f"--rules: unknown {unknown}; available: {sorted(moo.available_rules())}")
    args.extractions = _report.csv(args.extractions)
    args.torchjd = _report.csv(args.torchjd)
    if args.gramian_d is None:
        args.gramian_d = "1e6,11.2e6" if device.type == "cuda" else "1e5,1e6,4e6"
    args.gramian_d = [int(float(x)) for x in _report.csv(args.gramian_d)]
    if args.inner is None:
        args.inner = 20 if device.type == "cuda" else 1
    if min(args.repeats, args.batch, args.tasks, args.width, args.depth) < 1:
        parser.error("--repeats, --batch, --tasks, --width and --depth must be >= 1")

    parts = [f"# moo.torch step benchmark ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    if not args.no_step:
        setup = build_setup(args, device)
        contenders = make_contenders(setup, args)
        t0 = time.perf_counter()
        run_step_bench(setup, contenders, args, device)
        parts += [
            f"## One training step on {device.type}",
            "",
            setup.description + ".",
            f"Median of {args.repeats} interleaved rounds after {args.warmup} warm-up rounds "
            f"({time.perf_counter() - t0:.0f} s of measuring).",
            "",
            step_table(contenders, device),
            "",
            step_verdicts(contenders, device),
            "",
        ]
        del setup, contenders
    if not args.no_gramian:
        parts += [
            f"## Gramian of a K×d float32 matrix on {device.type}",
            "",
            f"Median of {args.repeats} batches of {args.inner} back-to-back call(s).",
            "",
            gramian_bench(args, device),
            "",
        ]
    parts += ["## Machine", "", _report.machine(device), ""]
    report = "\n".join(parts)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    return report


if __name__ == "__main__":
    _cpu_memory.reexec_with_malloc_env()  # CPU memory figures need glibc to unmap freed blocks
    main()
