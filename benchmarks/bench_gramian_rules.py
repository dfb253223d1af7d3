"""Benchmark: Gramian update rules in moo against torchjd and a CVXPY reference solve.

For each K, a few seeded random Gramians ``G = J Jᵀ`` (J of shape K×d) are drawn and each
contender computes the rule's weights from ``G``:

* ``moo``: the rule in :mod:`moo.solvers` (``Rule().weights(G, losses)``);
* ``torchjd``: the matching ``torchjd.aggregation`` Weighting, called with its defaults on a
  float64 CPU tensor of ``G`` (optional: skipped when torch/torchjd is not importable);
* ``cvxpy``: a reference convex solve with CVXPY + Clarabel (optional: skipped when cvxpy is
  not importable).

Time is the median of ``--repeats`` single calls (``time.perf_counter``) after a warm-up, per
Gramian, then the mean over the Gramians. Each contender is timed in a hot back-to-back loop
(its order rotates from Gramian to Gramian); ``--interleave`` alternates the contenders call by
call instead, which times colder calls (on small VMs this inflates the ~20 µs moo calls several
fold: compare both before reading much into a ratio). Accuracy is the rule's own certificate
(for MGDA: the scale-free KKT residual :func:`moo.solvers.kkt_residual`) and the relative
excess objective against the best of the contenders, both as the maximum over the Gramians.

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Adding a rule: write its contender factories (``k -> Solver``) and add one :class:`RuleSpec` to
:data:`RULES`; a contender that needs the Jacobian rather than the Gramian reads
``Instance.jacobian`` in its ``prepare``.

Run: ``python benchmarks/bench_gramian_rules.py [--ks 2,3,5,10] [--repeats 30] [--interleave]
[--out FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import moo
from moo.solvers import MGDA, kkt_residual

FloatArray = npt.NDArray[np.float64]

CONTENDERS: tuple[str, ...] = ("moo", "torchjd", "cvxpy")
DIM = 100  # length d of each gradient (columns of J)
FAMILIES: tuple[str, ...] = ("scaled", "near-parallel", "near-parallel-unequal", "low-rank")


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
    """A random ``J`` of one family; row scales spread over orders of magnitude.

    * ``scaled``: Gaussian rows with norms log-uniform in ``[1e-2, 1e2]`` (nearly orthogonal;
      the optimum is interior or on a face, weighted toward the short gradients);
    * ``near-parallel``: a common unit direction ``u`` plus ``1e-2`` noise orthogonal to ``u``,
      all rows times one scale log-uniform in ``[1e-2, 1e2]``: ``G ≈ s² 11ᵀ`` is
      ill-conditioned and the optimum is interior (the hard case for first-order methods);
    * ``near-parallel-unequal``: the same rows with norms log-uniform in ``[0.5, 2]``: the
      optimum is the vertex of the shortest gradient;
    * ``low-rank``: rank ``max(1, K // 2)`` rows with norms log-uniform in ``[1e-1, 1e1]``
      (singular ``G``, non-unique weights, often a zero min-norm point).
    """
    if family == "scaled":
        rows = rng.standard_normal((k, dim)) / np.sqrt(dim)
        scales = 10.0 ** rng.uniform(-2.0, 2.0, size=k)
    elif family in ("near-parallel", "near-parallel-unequal"):
        u = rng.standard_normal(dim)
        u /= np.linalg.norm(u)
        noise = rng.standard_normal((k, dim)) / np.sqrt(dim)
        noise -= np.outer(noise @ u, u)
        rows = u[None, :] + 1e-2 * noise
        if family == "near-parallel":
            scales = np.full(k, 10.0 ** rng.uniform(-2.0, 2.0))
        else:
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
        try:
            problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError:
            return None  # counted as a failure
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
                "(Frank-Wolfe from uniform weights, exact line search, stops when the step "
                "size < epsilon; at a vertex optimum the step stays 1, so it runs all 100)",
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


@dataclass(frozen=True)
class Record:
    """One Gramian: per-contender median call time (s), residual and relative excess.

    A contender whose weights are not finite (a failed solve) is in ``failed`` and has no
    residual or excess.
    """

    family: str
    time_s: dict[str, float]
    residual: dict[str, float]
    excess: dict[str, float]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class RowResult:
    """One table row: per-contender mean time (µs), worst-case accuracy.

    ``min_ratio[n]`` is the smallest per-Gramian ratio ``time(n) / time(moo)``.
    """

    rule: str
    k: int
    family: str
    time_us: dict[str, float]
    min_ratio: dict[str, float]
    max_residual: dict[str, float]
    max_excess: dict[str, float]
    failures: dict[str, int]


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
    *,
    interleave: bool = False,
) -> list[Record]:
    """Time and score every available contender of ``spec`` on each instance.

    By default each contender runs its warm-up and timed calls back to back (a hot loop, as
    ``timeit`` does). With ``interleave`` the contenders take turns call by call, so each call
    runs with caches and branch predictors disturbed by the others' work (a colder setting,
    closer to a rule called once per training step amid other work).
    """
    solvers = build_solvers(spec, k, skip)
    records = []
    names = list(solvers)
    for index, inst in enumerate(instances):
        inputs = {name: s.prepare(inst) for name, s in solvers.items()}
        outputs: dict[str, Any] = {}
        times: dict[str, list[float]] = {name: [] for name in solvers}
        if interleave:  # each timed call comes right after the other contenders' calls
            for _ in range(warmup):
                for name, s in solvers.items():
                    outputs[name] = s.solve(inputs[name])
            for _ in range(repeats):
                for name, s in solvers.items():
                    outputs[name] = _timed(s.solve, inputs[name], times[name])
        else:  # back-to-back calls per contender; the order rotates from Gramian to Gramian
            shift = index % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                s, arg = solvers[name], inputs[name]
                for _ in range(warmup):
                    outputs[name] = s.solve(arg)
                for _ in range(repeats):
                    outputs[name] = _timed(s.solve, arg, times[name])
        weights: dict[str, FloatArray] = {}
        failed: list[str] = []
        for name, s in solvers.items():
            w = s.to_weights(outputs[name]) if outputs[name] is not None else np.full(k, np.nan)
            if np.all(np.isfinite(w)):
                weights[name] = w
            else:
                failed.append(name)
        g = inst.gramian
        values = {name: spec.objective(g, w) for name, w in weights.items()}
        best = min(values.values(), default=float("nan"))
        scale = float(np.max(np.diag(g)))
        records.append(
            Record(
                family=inst.family,
                time_s={name: statistics.median(t) for name, t in times.items()},
                residual={name: spec.residual(g, w) for name, w in weights.items()},
                excess={
                    name: (v - best) / scale if scale > 0.0 else 0.0 for name, v in values.items()
                },
                failed=tuple(failed),
            )
        )
    return records


def _timed(solve: Callable[[Any], Any], arg: Any, sink: list[float]) -> Any:
    """Call ``solve(arg)``, append its wall time (s) to ``sink``, return its output."""
    t0 = time.perf_counter()
    out = solve(arg)
    sink.append(time.perf_counter() - t0)
    return out


def summarize(rule: str, k: int, family: str, records: Sequence[Record]) -> RowResult:
    """Mean over the records of the per-Gramian median times; maximum of the accuracy measures.

    The mean (the expected cost of one call on this mix of Gramians) rather than a median: the
    times of iterative solvers are often bimodal across Gramians (converged early vs. ran to
    the iteration cap), and a median then jumps between the modes from run to run.
    """
    names = [n for n in CONTENDERS if any(n in r.time_s for r in records)]
    nan = float("nan")
    return RowResult(
        rule=rule,
        k=k,
        family=family,
        time_us={n: 1e6 * statistics.fmean(r.time_s[n] for r in records) for n in names},
        max_residual={
            n: max((r.residual[n] for r in records if n in r.residual), default=nan) for n in names
        },
        max_excess={
            n: max((r.excess[n] for r in records if n in r.excess), default=nan) for n in names
        },
        min_ratio={
            n: min(r.time_s[n] / r.time_s["moo"] for r in records)
            for n in names
            if n != "moo" and "moo" in names
        },
        failures={n: sum(n in r.failed for r in records) for n in names},
    )


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
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):  # not available on this platform
        load = "unknown"
    lines = [
        f"- platform: {platform.platform()} ({platform.machine()}), "
        f"Python {platform.python_version()}",
        f"- CPUs: os.cpu_count()={os.cpu_count()}, usable by this process={affinity}; "
        f"load average (1, 5, 15 min) at the end: {load}",
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
    lines.append(f"- moo: {_moo_revision()}")
    return lines


def _moo_revision() -> str:
    """The git commit of the checkout of ``moo`` and a digest of any local changes to ``moo/``."""
    root = Path(moo.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "moo"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return f"{root} (not a git checkout)"
    if not diff:
        return f"commit {head}"
    digest = hashlib.sha256(diff).hexdigest()[:12]
    return f"commit {head} with uncommitted changes under moo/ (sha256 of the diff: {digest})"


def _fmt_time(row: RowResult, name: str) -> str:
    return f"{row.time_us[name]:,.1f}" if name in row.time_us else "—"


def _fmt_ratio(row: RowResult, name: str) -> str:
    if name not in row.time_us or "moo" not in row.time_us:
        return "—"
    text = f"{row.time_us[name] / row.time_us['moo']:.1f}×"
    if name in row.min_ratio:
        text += f" (min {row.min_ratio[name]:.1f}×)"
    return text


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


def markdown_table(rows: Sequence[RowResult], *, with_family: bool = False) -> list[str]:
    """The side-by-side Markdown table, one line per row (rule, K[, family])."""
    fam_head, fam_align = ("| family ", "|---") if with_family else ("", "")
    header = (
        f"| rule | K {fam_head}| moo µs | torchjd µs | cvxpy µs | torchjd/moo | cvxpy/moo "
        "| max KKT residual moo / torchjd / cvxpy | max rel. excess moo / torchjd / cvxpy |"
    )
    lines = [header, f"|---|--:{fam_align}|--:|--:|--:|--:|--:|---|---|"]
    for row in rows:
        fam = f"| {row.family} " if with_family else ""
        lines.append(
            f"| {row.rule} | {row.k} {fam}| {_fmt_time(row, 'moo')} "
            f"| {_fmt_time(row, 'torchjd')} | {_fmt_time(row, 'cvxpy')} "
            f"| {_fmt_ratio(row, 'torchjd')} | {_fmt_ratio(row, 'cvxpy')} "
            f"| {_fmt_acc(row.max_residual, row.failures)} "
            f"| {_fmt_acc(row.max_excess, row.failures)} |"
        )
    return lines


def report(
    results: Sequence[tuple[RuleSpec, int, list[Record]]],
    args: argparse.Namespace,
    skip: dict[str, str],
    elapsed: float,
) -> str:
    """The whole Markdown report: machine, settings, tables, contender notes."""
    overall = [summarize(spec.name, k, "all", recs) for spec, k, recs in results]
    per_family = [
        summarize(spec.name, k, fam, [r for r in recs if r.family == fam])
        for spec, k, recs in results
        for fam in FAMILIES
        if any(r.family == fam for r in recs)
    ]
    lines = ["### Machine", "", *machine_info(), ""]
    lines += [
        "### Settings",
        "",
        f"- {args.gramians} Gramians per K (families cycled: {', '.join(FAMILIES)}), "
        f"J of shape K×{DIM}, seed {args.seed}",
        f"- time: median over {args.repeats} calls (after {args.warmup} warm-up calls) per "
        "Gramian, then mean over the Gramians; ratios are of these means, with the smallest "
        "per-Gramian ratio in parentheses; "
        + (
            "contenders interleaved call by call (--interleave: cold caches)"
            if args.interleave
            else "each contender timed in a hot back-to-back loop"
        ),
        "- accuracy: max over the Gramians of the scale-free KKT residual of each contender's "
        "weights and of the relative excess objective (wᵀGw − best of the three) / max diag G",
        "",
        "### Results (all Gramians)",
        "",
        *markdown_table(overall),
        "",
        "### Results per family",
        "",
        *markdown_table(per_family, with_family=True),
        "",
        "### Contenders",
        "",
    ]
    seen: set[str] = set()
    for spec, _, _ in results:
        if spec.name in seen:
            continue
        seen.add(spec.name)
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
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="alternate the contenders call by call instead of timing each in a hot loop",
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
    results = []
    for spec in specs:
        for k in args.ks:
            instances = make_instances(args.seed, k, args.gramians)
            records = measure(
                spec, k, instances, args.repeats, args.warmup, skip, interleave=args.interleave
            )
            results.append((spec, k, records))
            print(f"measured {spec.name} K={k}", file=sys.stderr, flush=True)
    text = report(results, args, skip, time.perf_counter() - start)
    print(text, end="")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
