"""Benchmark: Gramian update rules in moo against torchjd and a reference solve.

For each K, a few seeded random Gramians ``G = J Jᵀ`` (J of shape K×d, d = ``--dim``, from
the families ``--families``) are drawn and each contender computes the rule's weights from
``G``:

* ``moo``: the rule in :mod:`moo.solvers` (``Rule().weights(G, losses)``);
* ``torchjd``: the matching ``torchjd.aggregation`` weighting, called on a float64 CPU tensor of
  ``G`` (of ``J`` for Nash-MTL, whose torchjd weighting takes the matrix; optional: skipped when
  torch/torchjd is not importable);
* ``reference``: a reference solve, per rule: CVXPY + Clarabel for MGDA, Nash-MTL and UPGrad,
  the CAGrad authors' SciPy SLSQP formulation for CAGrad, and this project's own MGDA for MIMO
  (whose target is stated against it); optional: skipped when its library is not importable.

Rules: MGDA, CAGrad, Nash-MTL, MIMO, UPGrad, IMTL-G, PCGrad (see :data:`RULES`). Nash-MTL has
no solution at Pareto-stationary points, so a Gramian on which ``moo``'s ``NashMTL`` raises
``ParetoStationaryError`` is redrawn (same family, a derived seed) and the redraws are counted
in the report.

Time is the median of ``--repeats`` single calls (``time.perf_counter``) after a warm-up, per
Gramian, then the mean over the Gramians. A slow contender stops early once its timed calls
(and, separately, its warm-up calls) have taken ``--budget`` seconds on a Gramian, after at
least 3 timed calls and 1 warm-up call. Each contender is timed in a hot back-to-back loop (its
order rotates from Gramian to Gramian); ``--interleave`` alternates the contenders call by
call instead, which times colder calls (on small VMs this inflates the ~20 µs moo calls several
fold: compare both before reading much into a ratio). Accuracy is each rule's own certificate
or residual of each contender's weights and, where the rule minimizes an objective of the
weights, the excess objective against the best of the contenders, both as the maximum over the
Gramians (:class:`RuleSpec` and ``benchmarks/README.md`` say which, per rule).

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Adding a rule: write its contender factories (``k -> Solver``) and add one :class:`RuleSpec` to
:data:`RULES`; a contender that needs the Jacobian rather than the Gramian reads
``Instance.jacobian`` in its ``prepare``.

``--plot FILE`` also draws time against K on log–log axes, one colour per rule, moo solid and
torchjd dashed (needs matplotlib).

Run: ``python benchmarks/bench_gramian_rules.py [--ks 2,3,5,10] [--repeats 30] [--rules MGDA]
[--families scaled,low-rank] [--dim 100] [--interleave] [--out FILE] [--plot FILE]``. Many
objectives, in the setting of issue 15 (correlated gradients, d = 4000): ``--ks
2,3,5,10,20,40,64 --families correlated --dim 4000`` (the full command is in
``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import moo
from moo.solvers import (
    IMTLG,
    MGDA,
    MIMO,
    CAGrad,
    NashMTL,
    ParetoStationaryError,
    PCGrad,
    UPGrad,
    kkt_residual,
)
from moo.solvers.cagrad import cagrad_residual
from moo.solvers.nash_mtl import nash_residual
from moo.solvers.upgrad import upgrad_weights

FloatArray = npt.NDArray[np.float64]

CONTENDERS: tuple[str, ...] = ("moo", "torchjd", "reference")
DIM = 100  # default length d of each gradient (columns of J; --dim)
# the families cycled by default (--families), and every family make_instance knows
FAMILIES: tuple[str, ...] = ("scaled", "near-parallel", "near-parallel-unequal", "low-rank")
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, "correlated")
CAGRAD_C = 0.4  # CAGrad's radius factor c for every contender (moo's default)
MIN_REPEATS = 3  # timed calls per Gramian at least, whatever --budget says
MAX_REDRAWS = 1000  # redraws of one rejected Gramian before it is left out


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
      (singular ``G``, non-unique weights, often a zero min-norm point);
    * ``correlated``: a shared component plus task noise, ``ρ u + √(1 − ρ²) n_i`` with
      Gaussian ``u, n_i`` (entries of variance ``1/d``), one ``ρ`` uniform in ``[0.5, 0.99]``
      and norms times a factor uniform in ``[0.5, 2]``: the gradients of tasks that share a
      trunk (``moo.testing``'s ``"correlated"`` family; the setting of issue 15 with d = 4000).
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
    elif family == "correlated":
        rho = float(rng.uniform(0.5, 0.99))
        shared = rng.standard_normal(dim)
        rows = (rho * shared + math.sqrt(1.0 - rho * rho) * rng.standard_normal((k, dim))) / (
            np.sqrt(dim)
        )
        scales = rng.uniform(0.5, 2.0, size=k)
    elif family == "low-rank":
        rank = max(1, k // 2)
        rows = rng.standard_normal((k, rank)) @ rng.standard_normal((rank, dim))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        scales = 10.0 ** rng.uniform(-1.0, 1.0, size=k)
    else:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(ALL_FAMILIES)}")
    jac = scales[:, None] * rows
    gram = jac @ jac.T
    gram = 0.5 * (gram + gram.T)
    losses = rng.uniform(0.5, 2.0, size=k)
    return Instance(family, jac, gram, losses)


def make_instances(
    seed: int,
    k: int,
    count: int,
    families: Sequence[str] = FAMILIES,
    dim: int = DIM,
) -> list[Instance]:
    """``count`` instances for this K, cycling through ``families``; seeded by (seed, K)."""
    rng = np.random.default_rng([seed, k])
    return [make_instance(rng, k, families[i % len(families)], dim) for i in range(count)]


@dataclass(frozen=True)
class Draw:
    """The instances of one (rule, K) and what was redrawn to get them.

    ``redrawn[family]`` counts rejected draws (each replaced by a redraw of the same family);
    ``dropped[family]`` counts instances left out after :data:`MAX_REDRAWS` rejected redraws.
    """

    instances: list[Instance]
    redrawn: Counter[str]
    dropped: Counter[str]


def draw_instances(
    seed: int,
    k: int,
    count: int,
    accept: Callable[[Instance], bool] | None = None,
    families: Sequence[str] = FAMILIES,
    dim: int = DIM,
) -> Draw:
    """:func:`make_instances`, with each instance that ``accept`` rejects redrawn.

    Instance ``i`` is redrawn from its own generator seeded by ``(seed, K, i, attempt)``, in the
    same family, so that every accepted instance is the same as for a rule without ``accept``.
    """
    redrawn: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    out: list[Instance] = []
    for i, inst in enumerate(make_instances(seed, k, count, families, dim)):
        attempt = 0
        candidate: Instance | None = inst
        while candidate is not None and accept is not None and not accept(candidate):
            redrawn[inst.family] += 1
            attempt += 1
            if attempt > MAX_REDRAWS:
                dropped[inst.family] += 1
                candidate = None
            else:
                rng = np.random.default_rng([seed, k, i, attempt])
                candidate = make_instance(rng, k, inst.family, dim)
        if candidate is not None:
            out.append(candidate)
    return Draw(out, redrawn, dropped)


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
Measure = Callable[[FloatArray, FloatArray], float]

TORCHJD_MODULES: tuple[str, ...] = ("torch", "torchjd.aggregation")


@dataclass(frozen=True)
class RuleSpec:
    """A rule and its three contenders (``None`` where a contender has no such rule).

    Attributes:
        name: the rule's row label (and its name for ``--rules``).
        moo: factory of moo's solver.
        torchjd: factory of torchjd's solver.
        reference: factory of the reference solver.
        objective: ``(G, w) -> value`` the rule minimizes (for the excess over the best of the
            contenders), or ``None`` where the weights minimize no such objective.
        residual: ``(G, w) -> certificate`` (0 at the exact weights, scale-free), or ``None``.
        notes: one line per contender describing settings (shown under the table).
        labels: column label of each contender (default: moo, torchjd, cvxpy).
        residual_label: what the residual column holds (``max <label>``).
        objective_label: what the excess column holds (``max <label>``).
        relative_excess: divide the excess by ``max_i G_ii`` (objectives that scale like
            ``G``); ``False`` for objectives whose differences are already scale-free.
        accuracy: one line saying what the accuracy columns measure (shown under the table).
        requires: modules each contender imports (its columns are skipped when one fails).
        accept: instances the rule is defined on; others are redrawn (see `draw_instances`).
    """

    name: str
    moo: SolverFactory
    torchjd: SolverFactory | None
    reference: SolverFactory | None
    objective: Measure | None
    residual: Measure | None
    notes: dict[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(
        default_factory=lambda: {"moo": "moo", "torchjd": "torchjd", "reference": "cvxpy"}
    )
    residual_label: str = "KKT residual"
    objective_label: str = "rel. excess"
    relative_excess: bool = True
    accuracy: str = ""
    requires: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"torchjd": TORCHJD_MODULES, "reference": ("cvxpy",)}
    )
    accept: Callable[[Instance], bool] | None = None

    def factories(self) -> dict[str, SolverFactory | None]:
        return {"moo": self.moo, "torchjd": self.torchjd, "reference": self.reference}

    def label(self, name: str) -> str:
        return self.labels.get(name, name)


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


def _result_weights(res: Any) -> FloatArray:
    return np.asarray(res.weights, dtype=np.float64)


def _torch_gramian(inst: Instance) -> Any:
    import torch

    return torch.from_numpy(inst.gramian.copy())  # float64, CPU, contiguous


def _gramian(inst: Instance) -> FloatArray:
    return inst.gramian


def _factor(gramian: FloatArray) -> FloatArray:
    """``Lᵀ`` with ``G / max diag(G) ≈ L Lᵀ`` (eigendecomposition, eigenvalues clipped at 0)."""
    scaled = gramian / max(float(np.max(np.diag(gramian))), 1e-300)
    eigvals, eigvecs = np.linalg.eigh(scaled)
    factor_t: FloatArray = np.sqrt(np.clip(eigvals, 0.0, None))[:, None] * eigvecs.T
    return factor_t


def _moo_solver(rule: Any, k: int) -> Solver:
    """``rule.weights(G, 1)`` on the Gramian (rules that ignore the losses)."""
    ones = np.ones(k)
    return Solver(
        prepare=_gramian,
        solve=lambda g: rule.weights(g, ones),
        to_weights=_result_weights,
    )


def _torchjd_gramian_solver(weighting: Any) -> Solver:
    """A torchjd Gramian weighting called on a float64 CPU tensor of ``G``."""
    return Solver(prepare=_torch_gramian, solve=weighting, to_weights=_as_numpy)


def _scale(gramian: FloatArray) -> float:
    return float(np.max(np.diag(gramian)))


# --- MGDA -------------------------------------------------------------------------------------


def moo_mgda(k: int) -> Solver:
    return _moo_solver(MGDA(), k)


def torchjd_mgda(k: int) -> Solver:
    from torchjd.aggregation import MGDAWeighting

    return _torchjd_gramian_solver(MGDAWeighting())  # defaults: epsilon=1e-3, max_iters=100


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

    return Solver(prepare=_gramian, solve=solve, to_weights=_simplex)


def _quadratic(gramian: FloatArray, w: FloatArray) -> float:
    return float(w @ gramian @ w)


# --- CAGrad -----------------------------------------------------------------------------------
# Every contender returns the weights 1/K + μ of d = g0 + Jᵀμ (moo's rescale=0, torchjd's and
# the reference's scale); the implied dual weights are μ / Σμ.


def moo_cagrad(k: int) -> Solver:
    return _moo_solver(CAGrad(c=CAGRAD_C, rescale=0), k)


def torchjd_cagrad(k: int) -> Solver:
    from torchjd.aggregation import CAGradWeighting

    return _torchjd_gramian_solver(CAGradWeighting(c=CAGRAD_C))  # norm_eps=1e-4 (default)


def slsqp_cagrad(k: int) -> Solver:
    """The CAGrad authors' solve (Cranial-XIX/CAGrad, ``cagrad`` in their trainers): SciPy
    SLSQP with its defaults on ``xᵀ G b + c' √(xᵀGx + ε)`` over the simplex from ``x = b =
    1/K``, ``c' = c √(mean(G) + ε) + ε``, ``ε = 1e-8``; then ``1/K + c' / (||Jᵀx|| + ε) x``.

    As in the project's test copy (tests/core/solvers/test_cagrad.py), ``G`` is first divided by
    ``max_i G_ii`` (so that ``ε`` acts at the same relative size on every Gramian) and ``x`` is
    clipped at 0 and renormalized; unlike the test, ``ftol`` stays at SciPy's default 1e-6.
    """
    from scipy.optimize import minimize

    eps = 1e-8
    x_start = np.full(k, 1.0 / k)
    bounds = [(0.0, 1.0)] * k
    constraints = ({"type": "eq", "fun": lambda x: 1.0 - float(np.sum(x))},)

    def solve(gramian: FloatArray) -> FloatArray:
        gram = gramian / max(_scale(gramian), 1e-300)
        radius = CAGRAD_C * math.sqrt(float(gram.mean()) + eps) + eps
        gb = gram @ x_start

        def objective(x: FloatArray) -> float:
            return float(x @ gb + radius * math.sqrt(float(x @ gram @ x) + eps))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(
                objective, x_start, bounds=bounds, constraints=constraints, method="SLSQP"
            )
        x = _simplex(res.x)
        lam = radius / (math.sqrt(max(float(x @ gram @ x), 0.0)) + eps)
        weights: FloatArray = 1.0 / k + lam * x
        return weights

    return Solver(prepare=_gramian, solve=solve, to_weights=lambda w: np.asarray(w, np.float64))


def _cagrad_split(w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(μ, dual)`` from weights ``1/K + μ``: ``dual = μ / Σμ`` (uniform when ``Σμ <= 0``)."""
    k = w.shape[0]
    mu = w - 1.0 / k
    total = float(mu.sum())
    dual = mu / total if total > 0.0 else np.full(k, 1.0 / k)
    return mu, dual


def _cagrad_dual_objective(gramian: FloatArray, w: FloatArray) -> float:
    """``F(w') = w'ᵀG1/K + c ||g0|| ||Jᵀw'||`` at the implied dual weights ``w' = μ / Σμ``."""
    _, dual = _cagrad_split(w)
    k = int(w.shape[0])
    sqrt_phi = CAGRAD_C * math.sqrt(max(float(gramian.sum()) / (k * k), 0.0))
    quad = max(float(dual @ gramian @ dual), 0.0)
    return float(dual @ gramian.sum(axis=1)) / k + sqrt_phi * math.sqrt(quad)


def _cagrad_certificate(gramian: FloatArray, w: FloatArray) -> float:
    """``cagrad_residual`` of ``(μ, μ / Σμ)``: primal-dual gap plus ball violation, scale-free."""
    mu, dual = _cagrad_split(w)
    return cagrad_residual(gramian, CAGRAD_C, mu, dual)


# --- Nash-MTL ---------------------------------------------------------------------------------


def _nash_accepts(inst: Instance) -> bool:
    """Whether ``G α = 1/α`` has a solution (moo's NashMTL does not raise)."""
    try:
        NashMTL().weights(inst.gramian, np.ones(inst.gramian.shape[0]))
    except ParetoStationaryError:
        return False
    return True


def moo_nash(k: int) -> Solver:
    rule = NashMTL()  # max_norm=None: the weights are α itself
    ones = np.ones(k)

    def solve(gramian: FloatArray) -> Any:
        rule.reset()  # a cold start on every call (no warm start from the previous α)
        return rule.weights(gramian, ones)

    return Solver(prepare=_gramian, solve=solve, to_weights=_result_weights)


def torchjd_nash(k: int) -> Solver:
    import torch
    from torchjd.aggregation import NashMTL as TorchjdNashMTL

    # torchjd's NashMTL is an Aggregator of the Jacobian; its weighting (a matrix weighting)
    # forms J Jᵀ itself, divides it by its Frobenius norm and solves for α on that scale.
    weighting: Any = TorchjdNashMTL(n_tasks=k, max_norm=0.0).weighting

    def prepare(inst: Instance) -> tuple[Any, float]:
        jac = torch.from_numpy(inst.jacobian.copy())
        frobenius = float(torch.norm(torch.mm(jac, jac.t())).item())
        return jac, 1.0 / math.sqrt(frobenius)  # α for G is α for G/||G||_F times this

    def solve(arg: tuple[Any, float]) -> tuple[Any, float]:
        weighting.prvs_alpha = np.ones(k, dtype=np.float32)  # cold start, as reset() sets it
        return weighting(arg[0]), arg[1]

    return Solver(prepare=prepare, solve=solve, to_weights=lambda out: _as_numpy(out[0]) * out[1])


def cvxpy_nash(k: int) -> Solver:
    import cvxpy

    cp: Any = cvxpy
    factor_t = cp.Parameter((k, k))
    a = cp.Variable(k)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(factor_t @ a) - cp.sum(cp.log(a))))

    def solve(gramian: FloatArray) -> Any:
        factor_t.value = _factor(gramian)  # G / s, s = max diag G
        try:
            problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError:
            return None
        if a.value is None:
            return None
        return a.value / math.sqrt(_scale(gramian))  # α for G from α for G / s

    return Solver(prepare=_gramian, solve=solve, to_weights=lambda w: np.asarray(w, np.float64))


def _nash_objective(gramian: FloatArray, alpha: FloatArray) -> float:
    """``φ(α) = ½αᵀGα − Σ log α_i`` (``inf`` unless ``α > 0``); differences are scale-free."""
    if not np.all(alpha > 0.0):
        return math.inf
    return 0.5 * float(alpha @ gramian @ alpha) - float(np.sum(np.log(alpha)))


# --- MIMO -------------------------------------------------------------------------------------


def moo_mimo(k: int) -> Solver:
    rule = MIMO()  # defaults: gamma 1, mu 0.5, logsumexp, closed form, nominal 0
    return Solver(
        prepare=lambda inst: inst.losses,
        solve=lambda losses: rule.weights(None, losses),
        to_weights=_result_weights,
    )


def moo_mgda_with_losses(k: int) -> Solver:
    rule = MGDA()
    return Solver(
        prepare=lambda inst: (inst.gramian, inst.losses),
        solve=lambda arg: rule.weights(arg[0], arg[1]),
        to_weights=_result_weights,
    )


# --- UPGrad -----------------------------------------------------------------------------------


def moo_upgrad(k: int) -> Solver:
    return _moo_solver(UPGrad(), k)


def torchjd_upgrad(k: int) -> Solver:
    from torchjd.aggregation import UPGradWeighting

    # defaults: mean preference vector, QuadprogProjector(norm_eps=1e-4, reg_eps=1e-4)
    return _torchjd_gramian_solver(UPGradWeighting())


def cvxpy_upgrad(k: int) -> Solver:
    import cvxpy

    cp: Any = cvxpy
    factor_t = cp.Parameter((k, k))
    v = cp.Variable((k, k))  # row i: v^(i) = argmin_{v >= e_i} vᵀGv
    problem = cp.Problem(cp.Minimize(cp.sum_squares(factor_t @ v.T)), [v >= np.eye(k)])

    def solve(gramian: FloatArray) -> Any:
        factor_t.value = _factor(gramian)
        try:
            problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError:
            return None
        return None if v.value is None else v.value.sum(axis=0) / k

    return Solver(prepare=_gramian, solve=solve, to_weights=lambda w: np.asarray(w, np.float64))


def _upgrad_distance(gramian: FloatArray, w: FloatArray) -> float:
    """``||Jᵀ(w − w_moo)|| / max_i ||g_i||`` with ``w_moo`` from moo's exact solver."""
    delta = w - upgrad_weights(gramian).weights
    scale = _scale(gramian)
    if scale <= 0.0:
        return 0.0
    return math.sqrt(max(float(delta @ gramian @ delta), 0.0) / scale)


# --- IMTL-G -----------------------------------------------------------------------------------


def moo_imtlg(k: int) -> Solver:
    return _moo_solver(IMTLG(), k)


def torchjd_imtlg(k: int) -> Solver:
    from torchjd.aggregation import IMTLGWeighting

    return _torchjd_gramian_solver(IMTLGWeighting())


def _projection_spread(gramian: FloatArray, w: FloatArray) -> float:
    """``(max_i u_iᵀd − min_i u_iᵀd) / ||d||`` with ``u_i = g_i / ||g_i||``, ``d = Jᵀw``.

    When ``d`` vanishes (``||d|| <= 1e-8 max_i ||g_i||``: the unit gradients cancel and equal
    projections hold only at ``d = 0``) it is ``||d|| / max_i ||g_i||`` instead, as in moo's
    certificate for that case.
    """
    norms = np.sqrt(np.maximum(np.diag(gramian), 0.0))
    nonzero = norms > 0.0
    top = float(norms.max()) if norms.size else 0.0
    d_norm = math.sqrt(max(float(w @ gramian @ w), 0.0))
    if top <= 0.0:
        return 0.0
    if d_norm <= 1e-8 * top:
        return d_norm / top
    proj = (gramian @ w)[nonzero] / norms[nonzero]
    return float(proj.max() - proj.min()) / d_norm


# --- PCGrad -----------------------------------------------------------------------------------


def moo_pcgrad(k: int) -> Solver:
    return _moo_solver(PCGrad(), k)  # reduction "sum", per-task random orders, seed 0


def torchjd_pcgrad(k: int) -> Solver:
    from torchjd.aggregation import PCGradWeighting

    return _torchjd_gramian_solver(PCGradWeighting())


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
            accuracy="residual: moo.solvers.kkt_residual(G, w) (Frank-Wolfe gap / max diag G); "
            "excess: (wᵀGw − best of the contenders) / max diag G",
            notes={
                "moo": "MGDA() (normalization='none'): Wolfe active-set, closed form at K = 2",
                "torchjd": "MGDAWeighting() defaults: epsilon=1e-3, max_iters=100 "
                "(Frank-Wolfe from uniform weights, exact line search, stops when the step "
                "size < epsilon; at a vertex optimum the step stays 1, so it runs all 100)",
                "reference": "min ||Lᵀw||² s.t. w ≥ 0, Σw = 1 with L from eigh(G / max diag G), "
                "eigenvalues clipped at 0; parametrized problem compiled once per K, "
                "timed = eigh + solve (Clarabel defaults); weights clipped at 0, renormalized",
            },
        ),
        RuleSpec(
            name="CAGrad",
            moo=moo_cagrad,
            torchjd=torchjd_cagrad,
            reference=slsqp_cagrad,
            objective=_cagrad_dual_objective,
            residual=_cagrad_certificate,
            labels={"moo": "moo", "torchjd": "torchjd", "reference": "SLSQP"},
            residual_label="certificate",
            objective_label="rel. excess dual F",
            accuracy=f"c = {CAGRAD_C}; weights 1/K + μ, implied dual weights w' = μ/Σμ; "
            "certificate: moo.solvers.cagrad.cagrad_residual(G, c, μ, w') (primal-dual gap of "
            "d = g0 + Jᵀμ and w', plus the violation of ||d − g0|| <= c||g0||, over max diag G); "
            "excess: (F(w') − best of the contenders) / max diag G, F(w) = wᵀG1/K + c||g0|| "
            "||Jᵀw|| the dual objective",
            requires={"torchjd": (*TORCHJD_MODULES, "cvxpy"), "reference": ("scipy.optimize",)},
            notes={
                "moo": f"CAGrad(c={CAGRAD_C}, rescale=0): exact homotopy on G, with its "
                "certificate computed on every call",
                "torchjd": f"CAGradWeighting(c={CAGRAD_C}) (norm_eps=1e-4 default): SVD of "
                "G / trace G, then a CVXPY + Clarabel problem built and solved on every call",
                "reference": "the CAGrad authors' formulation (Cranial-XIX/CAGrad): SciPy "
                "minimize(method='SLSQP') with its defaults (ftol 1e-6, finite-difference "
                "gradients) on xᵀG1/K + c'√(xᵀGx + 1e-8), c' = c√(mean G + 1e-8) + 1e-8, over "
                "the simplex from uniform x, then 1/K + c'x/(||Jᵀx|| + 1e-8); G divided by "
                "max diag G first, x clipped at 0 and renormalized (as in tests/core/solvers/"
                "test_cagrad.py)",
            },
        ),
        RuleSpec(
            name="Nash-MTL",
            moo=moo_nash,
            torchjd=torchjd_nash,
            reference=cvxpy_nash,
            objective=_nash_objective,
            residual=nash_residual,
            residual_label="nash_residual",
            objective_label="excess φ",
            relative_excess=False,
            accuracy="weights α (unclipped, on the scale of G); residual: "
            "moo.solvers.nash_mtl.nash_residual(G, α) = ||α ∘ (Gα) − 1||₂ (scale-free; inf "
            "unless α > 0); excess: φ(α) − best of the contenders, φ(α) = ½αᵀGα − Σ log α_i "
            "(differences of φ are scale-free, so not divided by max diag G)",
            requires={"torchjd": (*TORCHJD_MODULES, "cvxpy", "ecos"), "reference": ("cvxpy",)},
            accept=_nash_accepts,
            notes={
                "moo": "NashMTL() (max_norm=None, damped Newton); reset() before every call, "
                "so every call starts cold (inside the timing; it sets two attributes)",
                "torchjd": "NashMTL(n_tasks=K, max_norm=0.0).weighting, a matrix weighting called "
                "on the float64 Jacobian J (K×d; it forms J Jᵀ itself): the "
                "reference code's sequential convex iteration, up to optim_niter=20 ECOS solves "
                "on G / ||G||_F; prvs_alpha reset to ones before every call (cold start, as "
                "reset() does, without rebuilding the CVXPY problem); its α is mapped back to "
                "the scale of G (times ||G||_F^(-1/2)) before scoring",
                "reference": "min ½||Lᵀa||² − Σ log a_i with L from eigh(G / s), s = max diag G "
                "(eigenvalues clipped at 0), CVXPY + Clarabel defaults (exponential cone), "
                "compiled once per K; α = a / √s",
            },
        ),
        RuleSpec(
            name="MIMO",
            moo=moo_mimo,
            torchjd=None,
            reference=moo_mgda_with_losses,
            objective=None,
            residual=None,
            labels={"moo": "MIMO", "torchjd": "torchjd", "reference": "moo MGDA"},
            accuracy="none: MIMO's weights are a closed form of the losses (no solve to check) "
            "and the MGDA column is a timing comparison, not the same rule",
            requires={"reference": ()},
            notes={
                "moo": "MIMO().weights(None, losses) (gamma 1, mu 0.5, logsumexp, closed form): "
                "weights from the K loss values only, no Gramian",
                "reference": "this project's MGDA().weights(G, losses) on the same K and "
                "Gramians (the subroutine the MIMO target is stated against)",
            },
        ),
        RuleSpec(
            name="UPGrad",
            moo=moo_upgrad,
            torchjd=torchjd_upgrad,
            reference=cvxpy_upgrad,
            objective=None,
            residual=_upgrad_distance,
            residual_label="dist. to moo d",
            accuracy="residual: ||Jᵀ(w − w_moo)|| / max_i ||g_i||, the distance of d to moo's "
            "exact d relative to the largest gradient (0 for moo by construction; the CVXPY "
            "column is the independent check of moo)",
            requires={
                "torchjd": (*TORCHJD_MODULES, "qpsolvers", "quadprog"),
                "reference": ("cvxpy",),
            },
            notes={
                "moo": "UPGrad(): K exact active-set QPs on the correlation matrix",
                "torchjd": "UPGradWeighting() defaults: mean preference, QuadprogProjector("
                "norm_eps=1e-4, reg_eps=1e-4): G / trace G plus 1e-4 on the diagonal, K QPs "
                "through qpsolvers + quadprog",
                "reference": "the K QPs as one: min Σ_i ||Lᵀv_i||² s.t. v_i >= e_i (L from "
                "eigh(G / max diag G)), CVXPY + Clarabel defaults, compiled once per K; "
                "w = mean of the v_i",
            },
        ),
        RuleSpec(
            name="IMTL-G",
            moo=moo_imtlg,
            torchjd=torchjd_imtlg,
            reference=None,
            objective=None,
            residual=_projection_spread,
            residual_label="proj. spread",
            accuracy="residual: (max_i u_iᵀd − min_i u_iᵀd) / ||d||, u_i = g_i/||g_i||, "
            "d = Jᵀw (||d|| / max_i ||g_i|| when ||d|| <= 1e-8 max_i ||g_i||): 0 when the "
            "projections are equal; equal projections are not attainable on most low-rank G, "
            "where both return a least-squares compromise, each its own",
            notes={
                "moo": "IMTLG(): β = C⁺1 on the correlation matrix C, α ∝ N⁻¹β",
                "torchjd": "IMTLGWeighting(): pinv(G) · sqrt(diag G), normalized to sum 1",
            },
        ),
        RuleSpec(
            name="PCGrad",
            moo=moo_pcgrad,
            torchjd=torchjd_pcgrad,
            reference=None,
            objective=None,
            residual=None,
            accuracy="none: both draw random projection orders (numpy vs torch generators), so "
            "their weights differ by design; both are exact for their orders",
            notes={
                "moo": "PCGrad() (reduction 'sum', per-task random orders, seed 0): on Python "
                "floats from G",
                "torchjd": "PCGradWeighting(): torch.randperm per objective, a K×K loop of "
                "tensor ops",
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
    calls: dict[str, int] = field(default_factory=dict)


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
    min_calls: dict[str, int] = field(default_factory=dict)


def build_solvers(spec: RuleSpec, k: int, skip: Mapping[str, str]) -> dict[str, Solver]:
    """The available contenders of ``spec`` for this K (those in ``skip`` are left out)."""
    return {
        name: factory(k)
        for name, factory in spec.factories().items()
        if factory is not None and name not in skip
    }


def measure(
    spec: RuleSpec,
    k: int,
    instances: Sequence[Instance],
    repeats: int,
    warmup: int,
    skip: Mapping[str, str],
    *,
    interleave: bool = False,
    budget: float = math.inf,
) -> list[Record]:
    """Time and score every available contender of ``spec`` on each instance.

    By default each contender runs its warm-up and timed calls back to back (a hot loop, as
    ``timeit`` does). With ``interleave`` the contenders take turns call by call, so each call
    runs with caches and branch predictors disturbed by the others' work (a colder setting,
    closer to a rule called once per training step amid other work). A contender stops its
    warm-up once it has taken ``budget`` seconds (after 1 call) and its timed calls once they
    have taken ``budget`` seconds (after :data:`MIN_REPEATS` calls).
    """
    solvers = build_solvers(spec, k, skip)
    records = []
    names = list(solvers)
    min_timed = min(MIN_REPEATS, repeats)
    for index, inst in enumerate(instances):
        inputs = {name: s.prepare(inst) for name, s in solvers.items()}
        outputs: dict[str, Any] = {}
        times: dict[str, list[float]] = {name: [] for name in solvers}
        if interleave:  # each timed call comes right after the other contenders' calls
            spent = dict.fromkeys(names, 0.0)
            for n in range(warmup):
                for name, s in solvers.items():
                    if n == 0 or spent[name] < budget:
                        t0 = time.perf_counter()
                        outputs[name] = s.solve(inputs[name])
                        spent[name] += time.perf_counter() - t0
            for n in range(repeats):
                for name, s in solvers.items():
                    if n < min_timed or sum(times[name]) < budget:
                        outputs[name] = _timed(s.solve, inputs[name], times[name])
        else:  # back-to-back calls per contender; the order rotates from Gramian to Gramian
            shift = index % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                s, arg = solvers[name], inputs[name]
                start = time.perf_counter()
                for n in range(warmup):
                    if n > 0 and time.perf_counter() - start >= budget:
                        break
                    outputs[name] = s.solve(arg)
                for n in range(repeats):
                    if n >= min_timed and sum(times[name]) >= budget:
                        break
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
        excess: dict[str, float] = {}
        if spec.objective is not None:
            objective = spec.objective
            values = {name: objective(g, w) for name, w in weights.items()}
            best = min(values.values(), default=float("nan"))
            scale = _scale(g) if spec.relative_excess else 1.0
            excess = {
                name: (v - best) / scale if v != best and scale > 0.0 else 0.0
                for name, v in values.items()
            }
        residual: dict[str, float] = {}
        if spec.residual is not None:
            residual_fn = spec.residual
            residual = {name: residual_fn(g, w) for name, w in weights.items()}
        records.append(
            Record(
                family=inst.family,
                time_s={name: statistics.median(t) for name, t in times.items()},
                residual=residual,
                excess=excess,
                failed=tuple(failed),
                calls={name: len(t) for name, t in times.items()},
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
        min_calls={n: min(r.calls.get(n, 0) for r in records) for n in names},
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
    lines.append(
        f"- cvxpy {_version('cvxpy')}, clarabel {_version('clarabel')}, ecos {_version('ecos')}, "
        f"qpsolvers {_version('qpsolvers')}, quadprog {_version('quadprog')}"
    )
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


def _fmt_acc(values: dict[str, float], failures: dict[str, int], names: Sequence[str]) -> str:
    cells = []
    for name in names:
        if name not in values:
            cells.append("—")
            continue
        cell = f"{values[name]:.1e}"
        if failures.get(name):
            cell += f" ({failures[name]} failed)"
        cells.append(cell)
    return " / ".join(cells)


def markdown_table(
    spec: RuleSpec, rows: Sequence[RowResult], *, with_family: bool = False
) -> list[str]:
    """The side-by-side Markdown table of one rule, one line per row (K[, family]).

    Columns are shown for the contenders the rule has (a skipped one shows ``—``), and the
    accuracy columns for the measures it defines.
    """
    names = [n for n, f in spec.factories().items() if f is not None]
    others = [n for n in names if n != "moo"]
    labels = [spec.label(n) for n in names]
    moo_label = spec.label("moo")
    head = ["rule", "K"] + (["family"] if with_family else [])
    align = ["---", "--:"] + (["---"] if with_family else [])
    head += [f"{label} µs" for label in labels]
    head += [f"{spec.label(n)}/{moo_label}" for n in others]
    align += ["--:"] * (len(names) + len(others))
    joined = " / ".join(labels)
    if spec.residual is not None:
        head.append(f"max {spec.residual_label} {joined}")
        align.append("---")
    if spec.objective is not None:
        head.append(f"max {spec.objective_label} {joined}")
        align.append("---")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [row.rule, str(row.k)] + ([row.family] if with_family else [])
        cells += [_fmt_time(row, n) for n in names]
        cells += [_fmt_ratio(row, n) for n in others]
        if spec.residual is not None:
            cells.append(_fmt_acc(row.max_residual, row.failures, names))
        if spec.objective is not None:
            cells.append(_fmt_acc(row.max_excess, row.failures, names))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True)
class RunResult:
    """The measurements of one (rule, K)."""

    spec: RuleSpec
    k: int
    draw: Draw
    records: list[Record]
    skip: dict[str, str]


def _budget_lines(results: Sequence[RunResult], repeats: int) -> list[str]:
    """Where the --budget cut the timed calls below --repeats (fewest calls per Gramian)."""
    lines = []
    for res in results:
        for name in CONTENDERS:
            calls = [r.calls[name] for r in res.records if name in r.calls]
            if calls and min(calls) < repeats:
                lines.append(
                    f"- {res.spec.name} K={res.k} {res.spec.label(name)}: "
                    f"{min(calls)}–{max(calls)} timed calls per Gramian"
                )
    return lines


def _redraw_lines(results: Sequence[RunResult]) -> list[str]:
    lines = []
    for res in results:
        if not res.draw.redrawn and not res.draw.dropped:
            continue
        parts = [f"{fam} {n}" for fam, n in sorted(res.draw.redrawn.items())]
        text = f"- {res.spec.name} K={res.k}: redrawn " + ", ".join(parts)
        if res.draw.dropped:
            dropped = ", ".join(f"{fam} {n}" for fam, n in sorted(res.draw.dropped.items()))
            text += f"; left out after {MAX_REDRAWS} redraws: {dropped}"
        lines.append(text)
    return lines


def report(results: Sequence[RunResult], args: argparse.Namespace, elapsed: float) -> str:
    """The whole Markdown report: machine, settings, per-rule tables, contender notes."""
    lines = ["### Machine", "", *machine_info(), ""]
    lines += [
        "### Settings",
        "",
        f"- {args.gramians} Gramians per K (families cycled: {', '.join(args.families)}), "
        f"J of shape K×{args.dim}, seed {args.seed}",
        f"- time: median over up to {args.repeats} calls (after up to {args.warmup} warm-up "
        f"calls; a contender stops once its timed calls, or its warm-up calls, have taken "
        f"{args.budget:g} s on a Gramian, after at least {MIN_REPEATS} timed calls) per "
        "Gramian, then mean over the Gramians; ratios are of these means, with the smallest "
        "per-Gramian ratio in parentheses; "
        + (
            "contenders interleaved call by call (--interleave: cold caches)"
            if args.interleave
            else "each contender timed in a hot back-to-back loop"
        ),
        "- accuracy: max over the Gramians of each rule's residual of each contender's weights "
        "and of the excess objective over the best of the contenders (per rule, below)",
    ]
    budget = _budget_lines(results, args.repeats)
    if budget:
        lines += ["- timed calls cut by --budget:", *[f"  {line}" for line in budget]]
    redraws = _redraw_lines(results)
    if redraws:
        lines += [
            "- Gramians redrawn because the rule is undefined on them (moo raised "
            "ParetoStationaryError: Pareto-stationary to its tolerance):",
            *[f"  {line}" for line in redraws],
        ]
    lines.append("")
    specs: list[RuleSpec] = []
    for res in results:
        if res.spec not in specs:
            specs.append(res.spec)
    for spec in specs:
        mine = [res for res in results if res.spec is spec]
        overall = [summarize(spec.name, res.k, "all", res.records) for res in mine]
        per_family = [
            summarize(spec.name, res.k, fam, [r for r in res.records if r.family == fam])
            for res in mine
            for fam in args.families
            if any(r.family == fam for r in res.records)
        ]
        lines += [f"### {spec.name}", "", "All Gramians:", "", *markdown_table(spec, overall)]
        lines += ["", "Per family:", "", *markdown_table(spec, per_family, with_family=True), ""]
        if spec.accuracy:
            lines += [f"Accuracy: {spec.accuracy}.", ""]
        skip = mine[0].skip if mine else {}
        for name, factory in spec.factories().items():
            if factory is None:
                continue
            if name in skip:
                lines.append(f"- {spec.label(name)}: skipped ({skip[name]})")
            elif name in spec.notes:
                lines.append(f"- {spec.label(name)}: {spec.notes[name]}")
        lines.append("")
    lines += [f"Total benchmark time: {elapsed:.1f} s. Timings are noisy; no assertions."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------

PLOTTED: dict[str, str] = {"moo": "-", "torchjd": "--"}  # contender: line style


def time_curves(results: Sequence[RunResult]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """``(rule, contender) -> [(K, mean µs), ...]`` sorted by K, for the contenders of
    :data:`PLOTTED` (moo and torchjd) that were measured (the table's "all Gramians" times)."""
    curves: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for res in results:
        if not res.records:
            continue
        row = summarize(res.spec.name, res.k, "all", res.records)
        for name in PLOTTED:
            if name in row.time_us and res.spec.factories().get(name) is not None:
                curves.setdefault((res.spec.name, name), []).append((res.k, row.time_us[name]))
    return {key: sorted(points) for key, points in curves.items()}


def plot_times(results: Sequence[RunResult], path: str, subtitle: str) -> None:
    """Time per call against K on log–log axes: one colour per rule, moo solid, torchjd
    dashed; written to ``path`` (the format from its suffix, e.g. ``.png`` or ``.svg``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = time_curves(results)
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    colours: dict[str, Any] = {}
    for (rule, name), points in curves.items():
        if rule not in colours:
            colours[rule] = f"C{len(colours) % 10}"
        ks, times = zip(*points, strict=True)
        ax.plot(
            ks,
            times,
            PLOTTED[name],
            color=colours[rule],
            marker="o" if name == "moo" else "s",
            markersize=4,
            label=f"{rule} ({name})",
        )
    ks_all = sorted({k for points in curves.values() for k, _ in points})
    ax.set_xscale("log")
    ax.set_yscale("log")
    if ks_all:
        ax.set_xticks(ks_all)
        ax.set_xticklabels([str(k) for k in ks_all])
        ax.minorticks_off()
    ax.set_xlabel("K (objectives)")
    ax.set_ylabel("time per call (µs, mean over Gramians)")
    ax.set_title(f"Weights from a K×K Gramian: moo (solid) vs torchjd (dashed)\n{subtitle}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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


def _name_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time moo's Gramian rules against torchjd and a reference solve."
    )
    parser.add_argument("--ks", type=_int_list, default=[2, 3, 5, 10], help="numbers of objectives")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per Gramian")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per Gramian")
    parser.add_argument("--gramians", type=int, default=20, help="random Gramians per K")
    parser.add_argument(
        "--budget",
        type=float,
        default=0.25,
        help="seconds of timed calls (and, separately, of warm-up calls) per contender and "
        f"Gramian after which a contender stops early (after {MIN_REPEATS} timed calls)",
    )
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
    parser.add_argument("--dim", type=int, default=DIM, help="length d of each gradient (J is K×d)")
    parser.add_argument(
        "--families",
        type=_name_list,
        default=list(FAMILIES),
        help=f"comma-separated Gramian families to cycle through (default: {','.join(FAMILIES)}; "
        f"available: {', '.join(ALL_FAMILIES)})",
    )
    parser.add_argument("--out", default=None, help="also write the Markdown report to this file")
    parser.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help="also draw time against K (log-log; moo solid, torchjd dashed) into this image "
        "file (needs matplotlib)",
    )
    args = parser.parse_args(argv)
    for name in ("repeats", "gramians"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if not args.budget > 0.0:
        parser.error(f"--budget must be > 0, got {args.budget}")
    if args.dim < 1:
        parser.error(f"--dim must be >= 1, got {args.dim}")
    unknown_families = [f for f in args.families if f not in ALL_FAMILIES]
    if unknown_families:
        parser.error(
            f"unknown famil(ies) {', '.join(unknown_families)}; available: "
            f"{', '.join(ALL_FAMILIES)}"
        )
    if args.plot is not None:
        _, reason = _optional("matplotlib")
        if reason is not None:
            parser.error(
                f"--plot needs matplotlib ({reason}); install it (pip install matplotlib, or "
                "the 'plot' extra) or leave --plot out"
            )
    unknown = [r for r in args.rules.split(",") if r not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {', '.join(unknown)}; available: {', '.join(RULES)}")
    return args


def missing_contenders(spec: RuleSpec) -> dict[str, str]:
    """Contenders of ``spec`` whose libraries cannot be imported, with the reason."""
    skip: dict[str, str] = {}
    for contender, modules in spec.requires.items():
        if spec.factories().get(contender) is None:
            continue
        for module in modules:
            _, reason = _optional(module)
            if reason is not None:
                skip[contender] = f"cannot import {module}: {reason}"
                break
    return skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # CVXPY's notes on torchjd's Nash-MTL problem (not DPP; ECOS "may be inaccurate"): the
    # accuracy columns measure what they warn about
    for message in ("You are solving a parameterized problem that is not DPP", "Solution may"):
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
    specs = [RULES[r] for r in args.rules.split(",")]
    start = time.perf_counter()
    results = []
    for spec in specs:
        skip = missing_contenders(spec)
        for name, reason in skip.items():
            print(
                f"note: {spec.name}: skipping the {spec.label(name)} column ({reason})",
                file=sys.stderr,
            )
        for k in args.ks:
            draw = draw_instances(args.seed, k, args.gramians, spec.accept, args.families, args.dim)
            records = measure(
                spec,
                k,
                draw.instances,
                args.repeats,
                args.warmup,
                skip,
                interleave=args.interleave,
                budget=args.budget,
            )
            results.append(RunResult(spec, k, draw, records, skip))
            print(
                f"measured {spec.name} K={k} ({time.perf_counter() - start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    text = report(results, args, time.perf_counter() - start)
    print(text, end="")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if args.plot:
        plot_times(results, args.plot, f"d = {args.dim}, families: {', '.join(args.families)}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
