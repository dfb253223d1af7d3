"""Benchmark: Gramian update rules in moo against torchjd and a CVXPY reference solve.

For each K, a few seeded random Gramians ``G = J Jᵀ`` (J of shape K×d) are drawn and each
contender computes the rule's weights from ``G``:

* ``moo``: the rule in :mod:`moo.solvers` (``Rule().weights(G, losses)``);
* ``torchjd``: the matching ``torchjd.aggregation`` Weighting, called with its defaults on a
  float64 CPU tensor of ``G`` (optional: skipped when torch/torchjd is not importable);
* ``cvxpy``: a reference convex solve with CVXPY + Clarabel (optional: skipped when cvxpy is
  not importable).

Time is the median of ``--repeats`` single calls (``time.perf_counter``) after a warm-up, per
Gramian, then the median over the Gramians; the contenders are called interleaved so that
machine drift hits all of them alike. Accuracy is the rule's own certificate (for MGDA: the
scale-free KKT residual :func:`moo.solvers.kkt_residual`) and the relative excess objective
against the best of the contenders, both as the maximum over the Gramians.

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Adding a rule: write its contender factories and add one :class:`RuleSpec` to :data:`RULES`.

Run: ``python benchmarks/bench_gramian_rules.py [--ks 2,3,5,10] [--repeats 30] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moo.solvers import MGDA, kkt_residual

FloatArray = npt.NDArray[np.float64]

CONTENDERS: tuple[str, ...] = ("moo", "torchjd", "cvxpy")
DIM = 100  # length d of each gradient (columns of J)
FAMILIES: tuple[str, ...] = ("scaled", "near-parallel", "low-rank")


# --------------------------------------------------------------------------------------------
# Problem instances
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One benchmark input: the Jacobian, its Gramian and loss values."""

    family: str
    jacobian: FloatArray  # K×d
    gramian: FloatArray  # K×K, exactly symmetric
    losses: FloatArray  # K, positive


def make_instance(rng: np.random.Generator, k: int, family: str, dim: int = DIM) -> Instance:
    """A random ``J`` of one family; its rows have scales spread over orders of magnitude.

    * ``scaled``: Gaussian rows with norms log-uniform in ``[1e-2, 1e2]`` (nearly orthogonal,
      interior optimum weighted toward the short gradients);
    * ``near-parallel``: a common unit direction plus ``1e-3`` noise, norms within a factor
      2 (ill-conditioned ``G``, the hard case for first-order methods);
    * ``low-rank``: rank ``max(1, K // 2)`` rows with norms log-uniform in ``[1e-1, 1e1]``
      (singular ``G``, non-unique weights, often a zero min-norm point).
    """
    if family == "scaled":
        rows = rng.standard_normal((k, dim)) / np.sqrt(dim)
        scales = 10.0 ** rng.uniform(-2.0, 2.0, size=k)
    elif family == "near-parallel":
        u = rng.standard_normal(dim)
        u /= np.linalg.norm(u)
        rows = u[None, :] + 1e-3 * rng.standard_normal((k, dim)) / np.sqrt(dim)
        scales = 10.0 ** rng.uniform(-0.3, 0.3, size=k)
    elif family == "low-rank":
        rank = max(1, k // 2)
        rows = rng.standard_normal((k, rank)) @ rng.standard_normal((rank, dim))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        scales = 10.0 ** rng.uniform(-1.0, 1.0, size=k)
    else:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    jac = scales[:, None] * rows
    gram = jac @ jac.T
    gram = 0.5 * (gram + gram.T)
    losses = rng.uniform(0.5, 2.0, size=k)
    return Instance(family, jac, gram, losses)


def make_instances(seed: int, k: int, count: int) -> list[Instance]:
    """``count`` instances for this K, cycling through :data:`FAMILIES`; seeded by (seed, K)."""
    rng = np.random.default_rng([seed, k])
    return [make_instance(rng, k, FAMILIES[i % len(FAMILIES)]) for i in range(count)]


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solver:
    """One contender for one K.

    ``prepare`` (untimed) turns an instance into the solver's input (e.g. a torch tensor),
    ``solve`` is what is timed, ``to_weights`` (untimed) turns its output into NumPy weights.
    """

    prepare: Callable[[Instance], Any]
    solve: Callable[[Any], Any]
    to_weights: Callable[[Any], FloatArray]


# A factory builds a contender's solver for one K (so per-K setup, e.g. compiling a CVXPY
# problem, is done once and not timed).
SolverFactory = Callable[[int], Solver]


@dataclass(frozen=True)
class RuleSpec:
    """A rule and its three contenders (``None`` where a contender has no such rule).

    Attributes:
        name: the rule's row label.
        moo: factory of moo's solver.
        torchjd: factory of torchjd's solver; needs torch and torchjd.
        reference: factory of the reference (CVXPY) solver; needs cvxpy.
        objective: ``(G, w) -> value`` the rule minimizes (for the relative excess).
        residual: ``(G, w) -> certificate`` (0 at the optimum, scale-free).
        notes: one line per contender describing settings (shown under the table).
    """

    name: str
    moo: SolverFactory
    torchjd: SolverFactory | None
    reference: SolverFactory | None
    objective: Callable[[FloatArray, FloatArray], float]
    residual: Callable[[FloatArray, FloatArray], float]
    notes: dict[str, str] = field(default_factory=dict)


def _optional(module: str) -> tuple[Any, str | None]:
    """Import ``module`` if possible; return ``(module or None, reason it is missing)``."""
    try:
        return importlib.import_module(module), None
    except Exception as exc:  # any import failure means "skip this contender"
        return None, f"{type(exc).__name__}: {exc}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _simplex(w: FloatArray) -> FloatArray:
    """Project tiny negative solver noise away: clip at 0 and renormalize to sum 1."""
    w = np.clip(np.asarray(w, dtype=np.float64), 0.0, None)
    total = float(w.sum())
    return w / total if total > 0.0 else np.full(w.shape, 1.0 / w.size)


def _as_numpy(out: Any) -> FloatArray:
    return np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out, np.float64)


def _torch_gramian(inst: Instance) -> Any:
    import torch

    return torch.from_numpy(inst.gramian.copy())  # float64, CPU, contiguous


def _factor(gramian: FloatArray) -> FloatArray:
    """``Lᵀ`` with ``G / max diag(G) ≈ L Lᵀ`` (eigendecomposition, eigenvalues clipped at 0)."""
    scaled = gramian / max(float(np.max(np.diag(gramian))), 1e-300)
    eigvals, eigvecs = np.linalg.eigh(scaled)
    factor_t: FloatArray = np.sqrt(np.clip(eigvals, 0.0, None))[:, None] * eigvecs.T
    return factor_t


# --- MGDA -------------------------------------------------------------------------------------


def moo_mgda(k: int) -> Solver:
    rule = MGDA()
    ones = np.ones(k)
    return Solver(
        prepare=lambda inst: inst.gramian,
        solve=lambda g: rule.weights(g, ones),
        to_weights=lambda res: np.asarray(res.weights, dtype=np.float64),
    )


def torchjd_mgda(k: int) -> Solver:
    from torchjd.aggregation import MGDAWeighting

    weighting = MGDAWeighting()  # defaults: epsilon=1e-3, max_iters=100
    return Solver(prepare=_torch_gramian, solve=weighting, to_weights=_as_numpy)


def cvxpy_mgda(k: int) -> Solver:
    import cvxpy

    cp: Any = cvxpy  # cvxpy is only partly typed
    factor_t = cp.Parameter((k, k))
    w = cp.Variable(k, nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(factor_t @ w)), [cp.sum(w) == 1])

    def solve(gramian: FloatArray) -> Any:
        factor_t.value = _factor(gramian)
        problem.solve(solver=cp.CLARABEL)
        return w.value

    return Solver(prepare=lambda inst: inst.gramian, solve=solve, to_weights=_simplex)


def _quadratic(gramian: FloatArray, w: FloatArray) -> float:
    return float(w @ gramian @ w)


RULES: dict[str, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec(
            name="MGDA",
            moo=moo_mgda,
            torchjd=torchjd_mgda,
            reference=cvxpy_mgda,
            objective=_quadratic,
            residual=kkt_residual,
            notes={
                "moo": "MGDA() (normalization='none'): Wolfe active-set, closed form at K = 2",
                "torchjd": "MGDAWeighting() defaults: epsilon=1e-3, max_iters=100 "
                "(Frank-Wolfe from uniform weights, stops when the step size < epsilon)",
                "cvxpy": "min ||Lᵀw||² s.t. w ≥ 0, Σw = 1 with L from eigh(G / max diag G), "
                "eigenvalues clipped at 0; parametrized problem compiled once per K, "
                "timed = eigh + solve (Clarabel defaults); weights clipped at 0, renormalized",
            },
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass
class RowResult:
    """One (rule, K) row: per-contender median time (µs) and worst-case accuracy."""

    rule: str
    k: int
    time_us: dict[str, float] = field(default_factory=dict)
    max_residual: dict[str, float] = field(default_factory=dict)
    max_excess: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


def build_solvers(spec: RuleSpec, k: int, skip: dict[str, str]) -> dict[str, Solver]:
    """The available contenders of ``spec`` for this K (those in ``skip`` are left out)."""
    factories: dict[str, SolverFactory | None] = {
        "moo": spec.moo,
        "torchjd": spec.torchjd,
        "cvxpy": spec.reference,
    }
    return {
        name: factory(k)
        for name, factory in factories.items()
        if factory is not None and name not in skip
    }


def measure(
    spec: RuleSpec,
    k: int,
    instances: Sequence[Instance],
    repeats: int,
    warmup: int,
    skip: dict[str, str],
) -> RowResult:
    """Time and score every available contender of ``spec`` on ``instances``."""
    solvers = build_solvers(spec, k, skip)
    row = RowResult(spec.name, k)
    medians: dict[str, list[float]] = {name: [] for name in solvers}
    residuals: dict[str, list[float]] = {name: [] for name in solvers}
    excesses: dict[str, list[float]] = {name: [] for name in solvers}
    failures = dict.fromkeys(solvers, 0)
    for inst in instances:
        inputs = {name: s.prepare(inst) for name, s in solvers.items()}
        outputs: dict[str, Any] = {}
        times: dict[str, list[float]] = {name: [] for name in solvers}
        for _ in range(warmup):
            for name, s in solvers.items():
                outputs[name] = s.solve(inputs[name])
        for _ in range(repeats):
            for name, s in solvers.items():  # interleaved: drift hits every contender alike
                solve, arg = s.solve, inputs[name]
                t0 = time.perf_counter()
                out = solve(arg)
                t1 = time.perf_counter()
                times[name].append(t1 - t0)
                outputs[name] = out
        weights: dict[str, FloatArray] = {}
        for name, s in solvers.items():
            medians[name].append(statistics.median(times[name]))
            try:
                w = s.to_weights(outputs[name])
            except (TypeError, ValueError):  # e.g. a failed CVXPY solve returns None
                w = np.full(k, np.nan)
            if not np.all(np.isfinite(w)):
                failures[name] += 1
                continue
            weights[name] = w
        g = inst.gramian
        values = {name: spec.objective(g, w) for name, w in weights.items()}
        best = min(values.values()) if values else float("nan")
        scale = float(np.max(np.diag(g)))
        for name, w in weights.items():
            residuals[name].append(spec.residual(g, w))
            excesses[name].append((values[name] - best) / scale if scale > 0.0 else 0.0)
    for name in solvers:
        row.time_us[name] = 1e6 * statistics.median(medians[name])
        row.max_residual[name] = max(residuals[name], default=float("nan"))
        row.max_excess[name] = max(excesses[name], default=float("nan"))
        row.failures[name] = failures[name]
    return row


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def machine_info() -> list[str]:
    """Lines describing the machine and library versions (Markdown bullet list)."""
    np_config: Any = np.show_config(mode="dicts")
    blas = np_config.get("Build Dependencies", {}).get("blas", {})
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count() or 0
    env = {
        var: os.environ.get(var, "unset")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    lines = [
        f"- platform: {platform.platform()} ({platform.machine()}), "
        f"Python {platform.python_version()}",
        f"- CPUs: os.cpu_count()={os.cpu_count()}, usable by this process={affinity}",
        f"- numpy {np.__version__} (BLAS: {blas.get('name', '?')} {blas.get('version', '')}), "
        f"scipy {_version('scipy')}",
        "- thread env: " + ", ".join(f"{k}={v}" for k, v in env.items()),
    ]
    torch, _ = _optional("torch")
    if torch is not None:
        lines.append(
            f"- torch {torch.__version__}: get_num_threads()={torch.get_num_threads()}, "
            f"get_num_interop_threads()={torch.get_num_interop_threads()}; "
            f"torchjd {_version('torchjd')}"
        )
    else:
        lines.append("- torch: not importable")
    lines.append(f"- cvxpy {_version('cvxpy')}, clarabel {_version('clarabel')}")
    return lines


def _fmt_time(row: RowResult, name: str) -> str:
    return f"{row.time_us[name]:,.1f}" if name in row.time_us else "—"


def _fmt_ratio(row: RowResult, name: str) -> str:
    if name not in row.time_us or "moo" not in row.time_us:
        return "—"
    return f"{row.time_us[name] / row.time_us['moo']:.1f}×"


def _fmt_acc(values: dict[str, float], failures: dict[str, int]) -> str:
    cells = []
    for name in CONTENDERS:
        if name not in values:
            cells.append("—")
            continue
        cell = f"{values[name]:.1e}"
        if failures.get(name):
            cell += f" ({failures[name]} failed)"
        cells.append(cell)
    return " / ".join(cells)


def markdown_table(rows: Sequence[RowResult]) -> list[str]:
    """The side-by-side Markdown table, one line per (rule, K)."""
    header = (
        "| rule | K | moo µs | torchjd µs | cvxpy µs | torchjd/moo | cvxpy/moo "
        "| max KKT residual moo / torchjd / cvxpy | max rel. excess moo / torchjd / cvxpy |"
    )
    lines = [header, "|---|--:|--:|--:|--:|--:|--:|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.rule} | {row.k} | {_fmt_time(row, 'moo')} | {_fmt_time(row, 'torchjd')} "
            f"| {_fmt_time(row, 'cvxpy')} | {_fmt_ratio(row, 'torchjd')} "
            f"| {_fmt_ratio(row, 'cvxpy')} | {_fmt_acc(row.max_residual, row.failures)} "
            f"| {_fmt_acc(row.max_excess, row.failures)} |"
        )
    return lines


def report(
    rows: Sequence[RowResult],
    specs: Sequence[RuleSpec],
    args: argparse.Namespace,
    skip: dict[str, str],
    elapsed: float,
) -> str:
    """The whole Markdown report: machine, settings, table, contender notes."""
    lines = ["### Machine", "", *machine_info(), ""]
    lines += [
        "### Settings",
        "",
        f"- {args.gramians} Gramians per K (families cycled: {', '.join(FAMILIES)}), "
        f"J of shape K×{DIM}, seed {args.seed}",
        f"- time: median over {args.repeats} calls (after {args.warmup} warm-up calls) per "
        "Gramian, then median over the Gramians; ratios are of these medians",
        "- accuracy: max over the Gramians of the scale-free KKT residual of each contender's "
        "weights and of the relative excess objective (wᵀGw − best of the three) / max diag G",
        "",
        "### Results",
        "",
        *markdown_table(rows),
        "",
        "### Contenders",
        "",
    ]
    for spec in specs:
        for name in CONTENDERS:
            if name in skip:
                lines.append(f"- {spec.name} / {name}: skipped ({skip[name]})")
            elif name in spec.notes:
                lines.append(f"- {spec.name} / {name}: {spec.notes[name]}")
    lines += ["", f"Total benchmark time: {elapsed:.1f} s. Timings are noisy; no assertions."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time moo's Gramian rules against torchjd and a CVXPY reference solve."
    )
    parser.add_argument("--ks", type=_int_list, default=[2, 3, 5, 10], help="numbers of objectives")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per Gramian")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per Gramian")
    parser.add_argument("--gramians", type=int, default=20, help="random Gramians per K")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--rules",
        default=",".join(RULES),
        help=f"comma-separated rules to run (available: {', '.join(RULES)})",
    )
    parser.add_argument("--out", default=None, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    for name in ("repeats", "gramians"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    unknown = [r for r in args.rules.split(",") if r not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {', '.join(unknown)}; available: {', '.join(RULES)}")
    return args


def missing_contenders() -> dict[str, str]:
    """Contenders whose libraries cannot be imported, with the reason."""
    skip: dict[str, str] = {}
    for contender, modules in (
        ("torchjd", ("torch", "torchjd.aggregation")),
        ("cvxpy", ("cvxpy",)),
    ):
        for module in modules:
            _, reason = _optional(module)
            if reason is not None:
                skip[contender] = f"cannot import {module}: {reason}"
                break
    return skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    skip = missing_contenders()
    for name, reason in skip.items():
        print(f"note: skipping the {name} column ({reason})", file=sys.stderr)
    specs = [RULES[r] for r in args.rules.split(",")]
    start = time.perf_counter()
    rows = []
    for spec in specs:
        for k in args.ks:
            instances = make_instances(args.seed, k, args.gramians)
            rows.append(measure(spec, k, instances, args.repeats, args.warmup, skip))
            print(f"  done: {spec.name} K={k}", file=sys.stderr, flush=True)
    text = report(rows, specs, args, skip, time.perf_counter() - start)
    print(text, end="")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
