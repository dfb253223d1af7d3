"""The torch bridge: every extraction path against a float64 reference from separate backward
passes, ``.grad = Jᵀw``, the loss-only path, groups, accumulation, dtypes, every rule, state
round trips, torch.compile, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import moo  # noqa: E402
import moo.torch as mt  # noqa: E402
from moo.solvers import MIMO, LinearScalarization, MoCo, NashMTL  # noqa: E402

K = 3
REL = 1e-12


class Net(torch.nn.Module):  # type: ignore[misc]
    """A shared trunk and K linear heads (regression)."""

    def __init__(self, k: int = K, dtype: Any = torch.float64, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = torch.nn.Sequential(
            torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 6), torch.nn.Tanh()
        )
        self.heads = torch.nn.ModuleList(torch.nn.Linear(6, 1) for _ in range(k))
        self.to(dtype)

    def forward(self, x: Any) -> tuple[Any, list[Any]]:
        h = self.trunk(x)
        return h, [head(h)[:, 0] for head in self.heads]


def data(k: int = K, dtype: Any = torch.float64, n: int = 16, seed: int = 1) -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randn(n, k, generator=g, dtype=torch.float64).to(dtype)
    return x, y


def losses_of(net: Net, x: Any, y: Any) -> tuple[Any, list[Any]]:
    h, outs = net(x)
    return h, [((o - y[:, i]) ** 2).mean() * (i + 1) for i, o in enumerate(outs)]


def shared(net: Net) -> list[Any]:
    return list(net.trunk.parameters())


def task(net: Net) -> list[Any]:
    return list(net.heads.parameters())


def reference(net: Net, x: Any, y: Any, params: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """J (K×d) from K separate ``.backward()`` calls, and the losses, in float64 NumPy."""
    _, losses = losses_of(net, x, y)
    rows = []
    for loss in losses:
        for p in params:
            p.grad = None
        loss.backward(retain_graph=True)
        rows.append(
            np.concatenate(
                [
                    np.zeros(p.numel()) if p.grad is None else p.grad.double().reshape(-1).numpy()
                    for p in params
                ]
            )
        )
    for p in net.parameters():
        p.grad = None
    return np.stack(rows), np.array([float(v.detach()) for v in losses])


def grads(params: list[Any]) -> np.ndarray:
    return np.concatenate([p.grad.detach().double().reshape(-1).numpy() for p in params])


def close(a: np.ndarray, b: np.ndarray, rel: float = REL) -> None:
    scale = max(float(np.max(np.abs(b))), 1e-300)
    assert float(np.max(np.abs(np.asarray(a) - b))) <= rel * scale, (a, b)


# ------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("extraction", ["autograd", "batched"])
def test_jacobian_equals_separate_backward_passes(extraction: str) -> None:
    net = Net()
    x, y = data()
    ref, _ = reference(net, x, y, shared(net))
    _, losses = losses_of(net, x, y)
    jac = mt.jacobian(losses, shared(net), extraction)
    assert jac.shape == ref.shape and jac.dtype == torch.float64
    close(jac.numpy(), ref)
    assert all(p.grad is None for p in net.parameters())


def test_jacobian_accepts_a_loss_vector() -> None:
    net = Net()
    x, y = data()
    ref, _ = reference(net, x, y, shared(net))
    _, losses = losses_of(net, x, y)
    close(mt.jacobian(torch.stack(losses), shared(net), "batched").numpy(), ref)


def test_gramian_of_jacobian_and_of_blocks() -> None:
    net = Net()
    x, y = data()
    ref, _ = reference(net, x, y, shared(net))
    jac = torch.from_numpy(ref)
    close(mt.gramian(jac).numpy(), ref @ ref.T)
    blocks = [jac[:, :7], jac[:, 7:30], jac[:, 30:]]
    close(mt.gramian(blocks).numpy(), ref @ ref.T)
    close(mt.gramian([b.float() for b in blocks]).numpy(), ref @ ref.T, 1e-5)
    assert mt.gramian(blocks).dtype == torch.float64
    with pytest.raises(ValueError, match="block 1"):
        mt.gramian([jac, jac[:2]])


# ------------------------------------------------------------------------------ backward


@pytest.mark.parametrize("extraction", ["auto", "autograd", "batched", "groups"])
@pytest.mark.parametrize("rule", ["mgda", "cagrad", "nash-mtl", "upgrad"])
def test_backward_matches_reference(extraction: str, rule: str) -> None:
    net = Net()
    x, y = data()
    params = shared(net)
    ref, f = reference(net, x, y, params)
    ref_task, _ = reference(net, x, y, task(net))
    gram = ref @ ref.T
    _, losses = losses_of(net, x, y)
    kwargs: dict[str, Any] = {}
    if extraction == "groups":  # a true but useless declaration: every objective touches all
        kwargs["groups"] = [list(range(len(params)))] * K
    else:
        kwargs["extraction"] = extraction
    info = mt.backward(losses, params, rule, **kwargs)
    assert info.gramian is not None and info.gramian.dtype == np.float64
    close(info.gramian, gram)
    expected = moo.get_rule(rule).weights(gram, f)
    np.testing.assert_allclose(info.weights, expected.weights, rtol=1e-9, atol=1e-12)
    close(grads(params), ref.T @ info.weights)
    assert info.stationarity == pytest.approx(moo.pareto_stationarity(gram), rel=1e-9)
    assert info.rule_time >= 0.0
    # task_params not given: the heads are found from the graph and get ∇ Σ L_i
    close(grads(task(net)), ref_task.sum(0))


@pytest.mark.parametrize(
    ("rule", "kwargs"),
    [
        ("mgda", {}),
        ("mgda", {"extraction": "representation"}),
        ("mgda", {"groups": [[0, 1, 2, 3]] * K}),
        ("moco", {}),
        ("mimo", {}),
        ("mimo", {"task_params": "per-objective"}),
        ("linear", {"task_params": "flat"}),
    ],
)
def test_step_info_carries_the_loss_values_it_copied(rule: str, kwargs: dict[str, Any]) -> None:
    net = Net()
    x, y = data()
    h, losses = losses_of(net, x, y)
    expected = np.array([float(v.detach()) for v in losses])
    if kwargs.get("extraction") == "representation":
        kwargs = {**kwargs, "representation": h}
    if kwargs.get("task_params") == "per-objective":
        kwargs = {**kwargs, "task_params": [list(head.parameters()) for head in net.heads]}
    elif kwargs.get("task_params") == "flat":
        kwargs = {**kwargs, "task_params": task(net)}
    info = mt.backward(losses, shared(net), rule, **kwargs)
    assert info.losses.dtype == np.float64 and info.losses.shape == (K,)
    np.testing.assert_array_equal(info.losses, expected)


def test_numpy_entry_point_agrees_exactly_on_the_returned_gramian() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    f = np.array([float(v.detach()) for v in losses])
    info = mt.backward(losses, shared(net), "mgda")
    assert info.gramian is not None
    np.testing.assert_array_equal(moo.MGDA().weights(info.gramian, f).weights, info.weights)


def test_task_params_get_the_gradient_of_the_sum() -> None:
    for extraction in ("autograd", "batched", "representation"):
        net = Net()
        x, y = data()
        ref_task, _ = reference(net, x, y, task(net))
        h, losses = losses_of(net, x, y)
        mt.backward(
            losses,
            shared(net),
            "mgda",
            task_params=task(net),
            extraction=extraction,
            representation=h,
        )
        close(grads(task(net)), ref_task.sum(0))
    net = Net()
    ref_task, _ = reference(net, x, y, task(net))
    _, losses = losses_of(net, x, y)
    mt.backward(losses, shared(net), "mimo", task_params=task(net))
    close(grads(task(net)), ref_task.sum(0))


def test_representation_path_mgda_ub() -> None:
    net = Net()
    x, y = data()
    params = shared(net)
    ref, f = reference(net, x, y, params)
    h, losses = losses_of(net, x, y)
    rows = [torch.autograd.grad(loss, h, retain_graph=True)[0].reshape(-1) for loss in losses]
    rep = torch.stack(rows).numpy()
    info = mt.backward(losses, params, "mgda", extraction="representation", representation=h)
    assert info.gramian is not None
    close(info.gramian, rep @ rep.T)
    np.testing.assert_allclose(info.weights, moo.MGDA().weights(rep @ rep.T, f).weights)
    close(grads(params), ref.T @ info.weights)
    assert info.info["extraction"] == "representation"


def test_representation_path_with_one_tensor_per_encoder() -> None:
    """Two encoders: the fusion loss reaches both outputs, loss m only its own; G is the sum of
    the per-output Gramians (zeros where a loss does not reach an output)."""
    torch.manual_seed(0)
    enc = [torch.nn.Linear(4, 5).double(), torch.nn.Linear(3, 5).double()]
    fuse = torch.nn.Linear(10, 1).double()
    x1, x2 = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    params = [*enc[0].parameters(), *enc[1].parameters()]

    def forward() -> tuple[list[Any], list[Any]]:
        z = [enc[0](x1).tanh(), enc[1](x2).tanh()]
        fused = fuse(torch.cat(z, dim=1)).pow(2).mean()
        return z, [fused, z[0].pow(2).mean(), (z[1] - 0.5).pow(2).mean()]

    z, losses = forward()
    blocks = []
    for zr in z:
        rows = []
        for loss in losses:
            (g,) = torch.autograd.grad(loss, zr, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros(zr.numel(), dtype=torch.float64) if g is None else g.flatten())
        blocks.append(torch.stack(rows).numpy())
    gram = sum(b @ b.T for b in blocks)
    info = mt.backward(losses, params, "mgda", extraction="representation", representation=z)
    assert info.gramian is not None
    close(info.gramian, gram)
    assert info.gramian[1, 2] == 0.0
    _, losses = forward()
    w = torch.as_tensor(info.weights)
    expected = torch.autograd.grad(sum(wi * li for wi, li in zip(w, losses, strict=True)), params)
    close(grads(params), torch.cat([g.flatten() for g in expected]).numpy())

    z, losses = forward()
    with pytest.raises(ValueError, match="at least one tensor"):
        mt.backward(losses, params, "mgda", extraction="representation", representation=[])
    with pytest.raises(ValueError, match=r"representation\[1\] must be a tensor that requires"):
        mt.backward(losses, params, "mgda", extraction="representation", representation=[z[0], x2])
    with pytest.raises(ValueError, match=r"losses\[2\] does not depend on any representation"):
        mt.backward(losses, params, "mgda", extraction="representation", representation=z[:1] * 2)


class _GramianLinear(LinearScalarization):
    """Linear scalarization forced through the generic (Gramian) path."""

    uses_gramian = True


class _GramianMIMO(MIMO):
    uses_gramian = True


@pytest.mark.parametrize(
    ("fast", "generic"),
    [
        (LinearScalarization, _GramianLinear),
        (lambda: LinearScalarization([0.2, 1.0, 3.0]), lambda: _GramianLinear([0.2, 1.0, 3.0])),
        (lambda: MIMO(gamma=2.0, mu=0.3), lambda: _GramianMIMO(gamma=2.0, mu=0.3)),
    ],
)
def test_loss_only_path_equals_generic_path(
    fast: Callable[[], Any], generic: Callable[[], Any]
) -> None:
    out = []
    for make in (fast, generic):
        net = Net()
        x, y = data()
        _, losses = losses_of(net, x, y)
        info = mt.backward(losses, shared(net), make(), task_params=task(net))
        out.append((info, grads(shared(net)), grads(task(net))))
    (fast_info, fast_shared, fast_task), (gen_info, gen_shared, gen_task) = out
    assert fast_info.gramian is None and fast_info.stationarity is None
    assert fast_info.info["backward_passes"] == 2
    np.testing.assert_array_equal(fast_info.weights, gen_info.weights)
    close(fast_shared, gen_shared)
    close(fast_task, gen_task)


def test_loss_vector_input_on_every_path() -> None:
    for rule, extraction in [("mgda", "autograd"), ("mgda", "batched"), ("linear", "auto")]:
        net = Net()
        x, y = data()
        ref, _ = reference(net, x, y, shared(net))
        _, losses = losses_of(net, x, y)
        info = mt.backward(torch.stack(losses), shared(net), rule, extraction=extraction)
        close(grads(shared(net)), ref.T @ info.weights)


def test_moco_writes_its_own_direction() -> None:
    net = Net()
    x, y = data()
    ref, f = reference(net, x, y, shared(net))
    _, losses = losses_of(net, x, y)
    rule = MoCo(beta=0.5)
    info = mt.backward(losses, shared(net), rule)
    d, res = MoCo(beta=0.5).direction(ref, f)
    close(grads(shared(net)), d)
    np.testing.assert_allclose(info.weights, res.weights, rtol=1e-10)
    assert np.shape(rule.state_dict()["tracked"]) == ref.shape


class TwoBranch(torch.nn.Module):  # type: ignore[misc]
    """Objective 0 uses branch a, objective 1 branch b, objective 2 both."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.a = torch.nn.Linear(4, 3).double()
        self.b = torch.nn.Linear(4, 2).double()

    def losses(self, x: Any) -> list[Any]:
        ha, hb = torch.tanh(self.a(x)), torch.sin(self.b(x))
        return [ha.pow(2).mean(), (hb - 1.0).pow(2).mean(), (ha.sum(1) * hb.sum(1)).mean()]


@pytest.mark.parametrize("extraction", ["auto", "batched"])
def test_groups_equal_the_full_computation(extraction: str) -> None:
    x = data(n=10)[0][:, :4]
    results = []
    for groups in (None, [[0, 1], [2, 3], [0, 1, 2, 3]]):
        model = TwoBranch()
        params = [model.a.weight, model.a.bias, model.b.weight, model.b.bias]
        task_p = torch.full((3,), 0.5, dtype=torch.float64, requires_grad=True)  # loss 2 only
        losses = model.losses(x)
        losses[2] = losses[2] + task_p.pow(2).sum() * 0.1
        info = mt.backward(
            losses,
            params,
            "mgda",
            groups=groups,
            extraction=extraction if groups else "auto",
            task_params=[task_p],
        )
        results.append((info, grads(params), task_p.grad.clone()))
    (full, g_full, t_full), (grouped, g_grouped, t_grouped) = results
    assert full.gramian is not None and grouped.gramian is not None
    close(grouped.gramian, full.gramian)
    assert grouped.gramian[0, 1] == 0.0  # a known zero, never computed
    np.testing.assert_allclose(grouped.weights, full.weights, rtol=1e-10, atol=1e-14)
    close(g_grouped, g_full)
    torch.testing.assert_close(t_grouped, t_full)
    assert full.info["backward_passes"] == 3
    if extraction == "batched":  # the two rounds are the rows of one batched backward
        assert grouped.info["backward_passes"] == 1
        assert grouped.info["extraction"] == "groups+batched"
    else:
        assert grouped.info["backward_passes"] == 2  # objectives 0 and 1 share one backward
        assert grouped.info["extraction"] == "groups"


def test_groups_bad_declarations() -> None:
    model = TwoBranch()
    params = [model.a.weight, model.a.bias, model.b.weight, model.b.bias]
    x = data(n=4)[0][:, :4]
    with pytest.raises(ValueError, match="one entry per objective"):
        mt.backward(model.losses(x), params, groups=[[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"groups\[1\] holds index 7, out of range"):
        mt.backward(model.losses(x), params, groups=[[0, 1], [7], [0, 1, 2, 3]])
    with pytest.raises(ValueError, match=r"shared_params\[3\] is in no group"):
        mt.backward(model.losses(x), params, groups=[[0, 1], [2], [0, 1, 2]])
    with pytest.raises(TypeError, match="integer indices"):
        mt.backward(model.losses(x), params, groups=[[0, 1.5], [2, 3], [0, 1, 2, 3]])
    stray = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"shared_params\[4\] \(shape \(2,\).*reached by no loss"):
        mt.backward(model.losses(x), [*params, stray], groups=[[0, 1, 4], [2, 3], [0, 1, 2, 3]])


def test_wrong_group_declaration_is_not_detected() -> None:
    """Documented limitation: objective 2 reaches branch b outside its declared group [0, 1];
    it shares a backward with objective 1, whose gradient on b then includes objective 2's."""
    x = data(n=6)[0][:, :4]
    model = TwoBranch()
    params = [model.a.weight, model.a.bias, model.b.weight, model.b.bias]
    info = mt.backward(model.losses(x), params, "mgda", groups=[[0, 1, 2, 3], [2, 3], [0, 1]])
    model_ref = TwoBranch()
    params_ref = [model_ref.a.weight, model_ref.a.bias, model_ref.b.weight, model_ref.b.bias]
    full = mt.backward(model_ref.losses(x), params_ref, "mgda")
    assert info.gramian is not None and full.gramian is not None
    assert not np.allclose(info.gramian, full.gramian)


def test_grad_accumulates_like_loss_backward() -> None:
    net = Net()
    x, y = data()
    params = shared(net)
    ref, _ = reference(net, x, y, params)
    for p in params:
        p.grad = torch.ones_like(p)
    _, losses = losses_of(net, x, y)
    info = mt.backward(losses, params, "mgda")
    close(grads(params), 1.0 + ref.T @ info.weights)
    _, losses = losses_of(net, x, y)
    mt.backward(losses, params, "linear")
    close(grads(params), 1.0 + ref.T @ info.weights + ref.mean(0))


def test_retain_graph() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    mt.backward(losses, shared(net), "mgda", retain_graph=True)
    mt.backward(losses, shared(net), "mgda")
    with pytest.raises(RuntimeError):
        mt.backward(losses, shared(net), "mgda")


# ------------------------------------------------------------------------- dtypes, compile


@pytest.mark.parametrize(("dtype", "rel"), [("float32", 1e-5), ("bfloat16", 5e-2)])
def test_low_precision_gramian_close_to_float64(dtype: str, rel: float) -> None:
    net64 = Net()
    x, y = data()
    ref, _ = reference(net64, x, y, shared(net64))
    net = Net(dtype=getattr(torch, dtype))
    xl, yl = data(dtype=getattr(torch, dtype))
    _, losses = losses_of(net, xl, yl)
    info = mt.backward(losses, shared(net), "mgda")
    assert info.gramian is not None and info.gramian.dtype == np.float64
    close(info.gramian, ref @ ref.T, rel)
    assert all(p.grad.dtype == getattr(torch, dtype) for p in shared(net))


@pytest.mark.parametrize("name", sorted(moo.available_rules()))
def test_every_rule_runs_one_step(name: str) -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    info = mt.backward(losses, shared(net), name, task_params=task(net))
    assert info.weights.shape == (K,)
    assert np.all(np.isfinite(grads(shared(net))))
    assert np.all(np.isfinite(grads(task(net))))
    torch.optim.SGD(net.parameters(), lr=0.01).step()


def test_torch_compiled_model() -> None:
    net = Net()
    x, y = data()
    ref, _ = reference(net, x, y, shared(net))
    compiled = torch.compile(net, backend="aot_eager")
    _, outs = compiled(x)
    losses = [((o - y[:, i]) ** 2).mean() * (i + 1) for i, o in enumerate(outs)]
    info = mt.backward(losses, shared(net), "mgda")
    close(grads(shared(net)), ref.T @ info.weights, 1e-10)


def test_torch_compiled_model_inductor() -> None:
    net = Net()
    x, y = data()
    ref, _ = reference(net, x, y, shared(net))
    compiled = torch.compile(net)
    try:
        _, outs = compiled(x)
    except Exception as exc:  # pragma: no cover - depends on the machine's C++ toolchain
        pytest.skip(f"torch.compile (inductor) is unavailable here: {exc!r}")
    losses = [((o - y[:, i]) ** 2).mean() * (i + 1) for i, o in enumerate(outs)]
    info = mt.backward(losses, shared(net), "mgda", extraction="autograd")
    close(grads(shared(net)), ref.T @ info.weights, 1e-10)


# --------------------------------------------------------------------------------- state


@pytest.mark.parametrize(
    "make", [lambda: NashMTL(), lambda: MIMO(tracking=0.3, update="ascent", ascent_lr=1.0)]
)
def test_rule_state_round_trip_through_torch_save(make: Callable[[], Any], tmp_path: Path) -> None:
    net = Net()
    rule = make()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for step in range(3):
        x, y = data(seed=step)
        opt.zero_grad()
        _, losses = losses_of(net, x, y)
        mt.backward(losses, shared(net), rule, task_params=task(net))
        opt.step()
    path = tmp_path / "ckpt.pt"
    # NumPy arrays stored as tensors, so that weights_only=True reads the checkpoint (docs)
    state = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        for k, v in rule.state_dict().items()
    }
    torch.save({"model": net.state_dict(), "rule": state}, path)

    restored_net = Net(seed=99)
    restored = make()
    ckpt = torch.load(path, weights_only=True)
    restored_net.load_state_dict(ckpt["model"])
    restored.load_state_dict(
        {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in ckpt["rule"].items()}
    )
    x, y = data(seed=10)
    infos = []
    for model, r in ((net, rule), (restored_net, restored)):
        _, losses = losses_of(model, x, y)
        infos.append(mt.backward(losses, shared(model), r))
    np.testing.assert_array_equal(infos[0].weights, infos[1].weights)


# ------------------------------------------------------------------------------ bad input


def test_bad_losses() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    with pytest.raises(ValueError, match=r"losses\[1\] must be a scalar tensor, got shape \(16,\)"):
        mt.backward([losses[0], (net(x)[1][1] - y[:, 1]) ** 2], shared(net))
    with pytest.raises(ValueError, match="K = 0"):
        mt.backward([], shared(net))
    with pytest.raises(ValueError, match="K = 0"):
        mt.backward(torch.zeros(0, requires_grad=True), shared(net))
    with pytest.raises(ValueError, match=r"losses\[2\] does not require grad"):
        mt.backward([losses[0], losses[1], losses[2].detach()], shared(net))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        mt.backward(torch.ones(2, 2, requires_grad=True), shared(net))
    with pytest.raises(TypeError, match=r"losses\[0\] must be a torch.Tensor"):
        mt.backward([1.0], shared(net))


def test_bad_params() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    frozen = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"shared_params\[4\] \(shape \(2, 3\).*does not require"):
        mt.backward(losses, [*shared(net), frozen], "mgda")
    with pytest.raises(ValueError, match="at least one tensor"):
        mt.backward(losses, [], "mgda")
    stray = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    for rule, extraction in [("mgda", "autograd"), ("mgda", "batched"), ("mimo", "auto")]:
        _, losses = losses_of(net, x, y)
        with pytest.raises(ValueError, match=r"shared_params\[4\] \(shape \(2, 3\).*no loss"):
            mt.backward(losses, [*shared(net), stray], rule, extraction=extraction)
    _, losses = losses_of(net, x, y)
    with pytest.raises(ValueError, match=r"task_params\[0\] is also shared_params\[0\]"):
        mt.backward(losses, shared(net), task_params=shared(net)[:1])
    with pytest.raises(ValueError, match=r"shared_params\[1\] is the same tensor"):
        mt.backward(losses, [shared(net)[0], shared(net)[0]])


def test_bad_options() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    with pytest.raises(ValueError, match="unknown extraction 'fast'; valid: 'auto'"):
        mt.backward(losses, shared(net), extraction="fast")
    with pytest.raises(ValueError, match="needs representation="):
        mt.backward(losses, shared(net), extraction="representation")
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        mt.backward(losses, shared(net), "nope")
    with pytest.raises(ValueError, match="needs the full Jacobian"):
        mt.backward(
            losses, shared(net), "moco", extraction="representation", representation=net(x)[0]
        )


def test_non_finite_losses_and_gradients_name_the_objective() -> None:
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    good = (p - 2.0).pow(2).sum()
    with pytest.raises(ValueError, match="loss of objective 1 is not finite"):
        mt.backward([good, p.sum() / 0.0], [p], "mgda", retain_graph=True)
    for rule in ("mgda", "moco"):
        bad = p.abs().sqrt().sum()  # finite value, infinite slope at 0
        with pytest.raises(ValueError, match="gradient of objective 1 is not finite"):
            mt.backward([good, bad], [p], rule, retain_graph=True)
    with pytest.raises(ValueError, match=r"gradient of shared_params\[0\].*not finite"):
        mt.backward([good, p.abs().sqrt().sum()], [p], "linear", retain_graph=True)
    with pytest.raises(ValueError, match="loss of objective 0 is not finite"):
        mt.backward([p.sum() * float("nan"), good], [p], "mimo")


def test_host_step_checks_what_the_rule_reads_and_times_only_the_rule() -> None:
    """`run_rule`, the one host-side step of every path: a non-finite loss or Gramian is named
    before the rule runs; ``rule_time`` is the rule's call alone."""
    import time

    from moo.solvers import Weighting
    from moo.torch._host import run_rule

    class Slow(Weighting):
        name = "slow-test"
        summary = "sleeps, then the uniform weights"

        def _weights(self, gramian: Any, losses: Any) -> moo.RuleResult:
            time.sleep(0.02)
            return moo.RuleResult(np.full(losses.shape[0], 1.0 / losses.shape[0]))

    f = torch.tensor([1.0, 2.0], dtype=torch.float64)
    g = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    run = run_rule(Slow(), f, gramian=g)
    np.testing.assert_array_equal(run.gramian, g.numpy())
    np.testing.assert_array_equal(run.losses, f.numpy())
    assert run.direction is None and 0.02 <= run.rule_time < 1.0
    bad_g = g.clone()
    bad_g[1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"the gradient of objective 1 is not finite .* nan\)"):
        run_rule(Slow(), f, gramian=bad_g)
    bad_g = g.clone()
    bad_g[0, 1] = bad_g[1, 0] = float("inf")
    with pytest.raises(ValueError, match="the Gramian of the gradients is not finite"):
        run_rule(Slow(), f, gramian=bad_g)
    with pytest.raises(ValueError, match="gradient with respect to the representation of obj"):
        run_rule(
            Slow(),
            f,
            gramian=g.diag().diag() * float("inf"),
            what="gradient with respect to the representation",
        )
    with pytest.raises(ValueError, match=r"loss of objective 0 is not finite: losses\[0\] = inf"):
        run_rule(Slow(), torch.tensor([float("inf"), 1.0], dtype=torch.float64), gramian=bad_g)
    j = torch.tensor([[1.0, 1.0, 2.0], [1.0, float("inf"), 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="the gradient of objective 1 is not finite"):
        run_rule(MoCo(), f, jacobian=j)
    run = run_rule(MoCo(), f, jacobian=j.nan_to_num(posinf=0.0))
    assert run.direction is not None and run.gramian is not None
    np.testing.assert_array_equal(run.gramian, [[6.0, 3.0], [3.0, 2.0]])


def test_check_finite_false_skips_only_the_loss_only_gradient_check() -> None:
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    good = (p - 2.0).pow(2).sum()
    mt.backward([good, p.abs().sqrt().sum()], [p], "linear", retain_graph=True, check_finite=False)
    assert p.grad is not None and not bool(torch.isfinite(p.grad).all())
    p.grad = None
    with pytest.raises(ValueError, match="gradient of objective 1 is not finite"):  # G: free
        mt.backward([good, p.abs().sqrt().sum()], [p], "mgda", check_finite=False)
    with pytest.raises(ValueError, match="loss of objective 0 is not finite"):
        mt.backward([p.sum() * float("nan"), good], [p], "mimo", check_finite=False)
    with pytest.raises(TypeError, match="check_finite must be True or False, got 'yes'"):
        mt.backward([good], [p], "mimo", check_finite="yes")  # type: ignore[arg-type]


def test_batched_failure_is_reported_not_silently_replaced() -> None:
    class NoVmap(torch.autograd.Function):  # type: ignore[misc]
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2.0

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return torch.from_numpy(grad.detach().numpy() * 2.0)  # leaves torch: no vmap

    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    h = NoVmap.apply(p)
    losses = [h.sum(), h.pow(2).sum()]
    with pytest.raises(RuntimeError, match=r"extraction='batched' failed.*extraction='autograd'"):
        mt.backward(losses, [p], "mgda", extraction="batched", retain_graph=True)
    info = mt.backward(losses, [p], "mgda", extraction="autograd")
    assert info.info["extraction"] == "autograd"


def test_gramian_of_a_long_block_is_chunked_and_accurate() -> None:
    """A float32 block much longer than a chunk: float64 accumulation over the chunks."""
    import moo.torch as mt
    from moo.torch._gramian import _CHUNK

    gen = torch.Generator().manual_seed(0)
    jac = torch.randn((3, 5 * _CHUNK + 123), generator=gen)
    exact = jac.double() @ jac.double().T
    got = mt.gramian(jac)
    assert got.dtype == torch.float64
    rel = float((got - exact).abs().max() / exact.abs().max())
    assert rel < 1e-6


def test_gramian_packs_small_blocks_and_keeps_large_ones() -> None:
    import moo.torch as mt
    from moo.torch._gramian import _SMALL_BLOCK

    gen = torch.Generator().manual_seed(1)
    widths = [3, 17, _SMALL_BLOCK + 5, 1, 2 * _SMALL_BLOCK, 40]
    blocks = [torch.randn((4, w), generator=gen, dtype=torch.float64) for w in widths]
    dense = torch.cat(blocks, dim=1)
    torch.testing.assert_close(mt.gramian(blocks), dense @ dense.T, rtol=1e-12, atol=0.0)


def _grads_after(
    rule: Any, per_objective: bool, k: int = K, **kwargs: Any
) -> tuple[list[Any], mt.StepInfo]:
    net = Net(k)
    x, y = data(k)
    _, losses = losses_of(net, x, y)
    heads = [list(h.parameters()) for h in net.heads] if per_objective else task(net)
    info = mt.backward(losses, shared(net), rule, task_params=heads, **kwargs)
    return [p.grad.clone() for p in net.parameters()], info


@pytest.mark.parametrize(
    "rule",
    [lambda: MIMO(), lambda: LinearScalarization([0.2, 0.5, 0.3]), lambda: moo.MGDA()],
    ids=["mimo", "linear", "mgda"],
)
def test_task_params_per_objective_give_the_same_gradients(rule: Callable[[], Any]) -> None:
    flat, info_flat = _grads_after(rule(), per_objective=False)
    heads, info_heads = _grads_after(rule(), per_objective=True)
    for a, b in zip(flat, heads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    if not rule().uses_gramian:
        assert info_flat.info["backward_passes"] == 2
        assert info_heads.info["backward_passes"] == 1  # one weighted backward serves all


@pytest.mark.parametrize("form", ["flat", "per-objective", "vector"])
@pytest.mark.parametrize("rule", [lambda: MIMO(), lambda: LinearScalarization([0.2, 0.5, 0.3])])
def test_loss_only_in_place_path_writes_what_accumulation_writes(
    rule: Callable[[], Any], form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every ``.grad`` unset the loss-only path lets autograd write ``.grad`` itself; with
    ``.grad`` already set it adds its gradients in Python. Adding to zeros is exact, so both
    must give the same bits and the same weights."""
    from moo.torch import _paths

    taken: list[bool] = []
    in_place = _paths._loss_only_in_place
    monkeypatch.setattr(
        _paths, "_loss_only_in_place", lambda call, w: taken.append(True) or in_place(call, w)
    )
    out = []
    for preset in (False, True):
        net = Net()
        x, y = data()
        _, losses = losses_of(net, x, y)
        if preset:
            for p in net.parameters():
                p.grad = torch.zeros_like(p)
        heads = [list(h.parameters()) for h in net.heads] if form == "per-objective" else task(net)
        given = torch.stack(losses) if form == "vector" else losses
        info = mt.backward(given, shared(net), rule(), task_params=heads)
        out.append((info, [p.grad.clone() for p in net.parameters()]))
    assert taken == [True]  # the unset .grad took the in-place path, the preset ones not
    (info_a, grads_a), (info_b, grads_b) = out
    np.testing.assert_array_equal(info_a.weights, info_b.weights)
    assert info_a.info["backward_passes"] == info_b.info["backward_passes"]
    for a, b in zip(grads_a, grads_b, strict=True):
        assert torch.equal(a, b)


def test_loss_only_in_place_path_leaves_grad_unset_on_an_error() -> None:
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    head = torch.ones(2, dtype=torch.float64, requires_grad=True)
    unused = torch.ones(2, dtype=torch.float64, requires_grad=True)
    good = ((p - 2.0) * head).pow(2).sum()  # every .grad unset: the in-place path
    with pytest.raises(ValueError, match=r"gradient of shared_params\[0\].*not finite"):
        mt.backward([good, p.abs().sqrt().sum()], [p], "mimo", task_params=[head])
    assert p.grad is None and head.grad is None
    good = ((p - 2.0) * head).pow(2).sum()
    with pytest.raises(ValueError, match=r"shared_params\[1\].*reached by no loss"):
        mt.backward([good, p.sum()], [p, unused], "mimo", task_params=[[head], []])
    assert p.grad is None and head.grad is None and unused.grad is None


def test_task_params_per_objective_with_a_zero_weight() -> None:
    flat, _ = _grads_after(LinearScalarization([1.0, 0.0, 2.0]), per_objective=False)
    heads, info = _grads_after(LinearScalarization([1.0, 0.0, 2.0]), per_objective=True)
    for a, b in zip(flat, heads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert info.info["backward_passes"] == 2  # the zero-weight head needs its own pass


def test_task_params_per_objective_bad_input() -> None:
    net = Net()
    x, y = data()
    _, losses = losses_of(net, x, y)
    heads = [list(h.parameters()) for h in net.heads]
    with pytest.raises(ValueError, match=r"one entry per objective \(K = 3\), got 2"):
        mt.backward(losses, shared(net), "mimo", task_params=heads[:2])
    with pytest.raises(ValueError, match=r"task_params\[.*\] is the same tensor"):
        mt.backward(losses, shared(net), "mimo", task_params=[heads[0], heads[0], heads[2]])


@pytest.mark.parametrize("extraction", ["autograd", "batched"])
def test_a_loss_that_reaches_no_shared_parameter_is_an_error(extraction: str) -> None:
    """It used to get its weight and a zero row, silently (MGDA: "Pareto-stationary"); the
    batched mode went on doing so after the separate passes were fixed (one behaviour now)."""
    w = torch.nn.Parameter(torch.randn(3))
    v = torch.nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match=r"losses\[1\] reaches none of its shared parameters"):
        mt.backward([(w**2).sum(), (v**2).sum()], [w], "mgda", extraction=extraction)
    # a loss whose gradient is zero but that does reach the parameters is fine
    info = mt.backward([(w**2).sum(), (0.0 * w).sum()], [w], "mgda", extraction=extraction)
    assert info.gramian is not None and info.gramian[1, 1] == 0.0


@pytest.mark.parametrize("extraction", ["autograd", "batched"])
def test_a_loss_reaching_no_shared_parameter_is_found_on_every_batched_form(
    extraction: str,
) -> None:
    """The batched mode's check (from the graph, only when a row is exactly zero) covers a
    direction rule, groups and `mt.jacobian`, and runs before the rule: a stateful rule's
    state is unchanged by the refused step. (Losses given as one 1-D tensor share one node of
    the graph, through which each reaches what any reaches: neither mode can tell there.)"""
    net = Net()
    x, y = data()
    stray = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))

    def make() -> list[Any]:
        _, losses = losses_of(net, x, y)
        return [*losses, (stray**2).sum()]  # objective 3 reaches no trunk parameter

    match = r"losses\[3\] reaches none of its shared parameters"
    nash = NashMTL()
    for rule in (nash, "mgda", MoCo()):
        with pytest.raises(ValueError, match=match):
            mt.backward(make(), shared(net), rule, extraction=extraction)
    assert nash.state_dict()["calls"] == 0
    with pytest.raises(ValueError, match=match):
        mt.jacobian(make(), shared(net), extraction)
    # groups: objective 1 declares the first layer only, but reaches it; objective 0 declares
    # the second layer and reaches nothing (a stray loss); 2 shares a round with 1
    a, b = torch.nn.Linear(2, 2).double(), torch.nn.Linear(2, 2).double()
    params = [*a.parameters(), *b.parameters()]
    z = torch.randn(4, 2, dtype=torch.float64)
    good = [(stray**2).sum(), a(z).pow(2).mean(), b(z).pow(2).mean()]
    with pytest.raises(ValueError, match=r"losses\[0\] reaches none of its shared parameters"):
        mt.backward(good, params, "mgda", groups=[[2, 3], [0, 1], [2, 3]], extraction=extraction)
    # numerically zero gradients (a dead unit) stay legitimate in every form
    zeros = [a(z).pow(2).mean(), 0.0 * b(z).sum()]
    info = mt.backward(zeros, params, "mgda", groups=[[0, 1], [2, 3]], extraction=extraction)
    assert info.gramian is not None and info.gramian[1, 1] == 0.0


def test_a_parameter_on_the_meta_device_is_refused_by_name() -> None:
    m = torch.nn.Parameter(torch.empty(3, device="meta"))
    with pytest.raises(ValueError, match=r"shared_params\[0\] .* is on the meta device"):
        mt.backward([(m * 2).sum()], [m], "mgda")


# ------------------------------------------------------- task parameters found from the graph


@pytest.mark.parametrize("rule", ["mgda", "mimo", "moco", "mgda-ub"])
def test_task_params_not_given_are_found_from_the_graph(rule: str) -> None:
    """Without task_params the heads get exactly the gradients they get when declared (they
    used to get none, silently); task_params=[] still means "none"."""
    results = []
    for how in ("declared", "found", "none"):
        net = Net()
        x, y = data()
        h, losses = losses_of(net, x, y)
        kwargs: dict[str, Any] = {}
        if rule == "mgda-ub":
            kwargs = {"extraction": "representation", "representation": h}
        if how == "declared":
            kwargs["task_params"] = task(net)
        elif how == "none":
            kwargs["task_params"] = []
        info = mt.backward(losses, shared(net), "mgda" if rule == "mgda-ub" else rule, **kwargs)
        results.append(([p.grad for p in net.parameters()], info))
    (declared, info_d), (found, info_f), (none, _) = results
    for a, b in zip(declared, found, strict=True):
        assert a is not None and b is not None
        assert torch.equal(a, b)
    np.testing.assert_array_equal(info_d.weights, info_f.weights)
    assert info_d.info["backward_passes"] == info_f.info["backward_passes"]
    n_trunk = len(list(Net().trunk.parameters()))
    assert all(g is None for g in none[n_trunk:])
    for a, b in zip(declared[:n_trunk], none[:n_trunk], strict=True):
        assert torch.equal(a, b)


def test_found_task_params_leave_out_shared_and_frozen_parameters() -> None:
    """Every trainable leaf a loss reaches that is not shared: frozen parameters and tensors
    no loss reaches get nothing; a loss vector and a leaf reached by one loss only work too."""
    net = Net()
    net.heads[0].bias.requires_grad_(False)
    unused = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    x, y = data()
    _, losses = losses_of(net, x, y)
    mt.backward(torch.stack(losses), shared(net), "mgda")
    assert net.heads[0].bias.grad is None and unused.grad is None
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)

    net2 = Net()
    net2.heads[0].bias.requires_grad_(False)
    _, losses2 = losses_of(net2, x, y)
    torch.autograd.backward(sum(losses2), inputs=[p for p in task(net2) if p.requires_grad])
    for p, q in zip(task(net), task(net2), strict=True):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-15)


# ------------------------------------------------- Nash-MTL: a zero gradient in a batch


def _masked_losses(net: Net, x: Any, y: Any, dead: int | None) -> list[Any]:
    """The K losses, objective ``dead`` masked out (its gradient exactly zero)."""
    _, outs = net(x)
    out = []
    for i, o in enumerate(outs):
        mask = torch.zeros_like(o) if i == dead else torch.ones_like(o)
        out.append((((o - y[:, i]) ** 2) * mask).mean())
    return out


def test_nash_mtl_keeps_its_previous_weights_on_a_zero_gradient_in_training() -> None:
    """A masked task (gradient exactly zero) used to abort the loop with ParetoStationaryError;
    under mt.backward the rule keeps its last weights for the step, as the reference does."""
    net = Net()
    rule = NashMTL()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = data()
    opt.zero_grad()
    first = mt.backward(_masked_losses(net, x, y, None), shared(net), rule)
    assert first.info["stationary"] is False
    opt.step()
    state = rule.state_dict()

    opt.zero_grad()
    ref = _jacobian_masked(net, x, y, dead=1)
    info = mt.backward(_masked_losses(net, x, y, 1), shared(net), rule)
    assert info.info["stationary"] is True and info.info["kept"] is True
    assert info.gramian is not None and info.gramian[1, 1] == 0.0
    np.testing.assert_array_equal(info.weights, state["alpha"])
    close(grads(shared(net)), ref.T @ info.weights, 1e-10)
    np.testing.assert_array_equal(rule.state_dict()["alpha"], state["alpha"])  # not replaced

    # by name (a fresh rule per call, no previous weights): the reference's first weights, 1
    for p in net.parameters():
        p.grad = None
    info = mt.backward(_masked_losses(net, x, y, 1), shared(net), "nash-mtl")
    np.testing.assert_array_equal(info.weights, np.ones(K))
    close(grads(shared(net)), ref.T @ np.ones(K), 1e-10)

    # the policy is the default's: an explicit on_stationary="raise" still raises
    with pytest.raises(moo.ParetoStationaryError, match=r"objective\(s\) \[1\] is zero"):
        mt.backward(_masked_losses(net, x, y, 1), shared(net), NashMTL(on_stationary="raise"))


def _jacobian_masked(net: Net, x: Any, y: Any, dead: int) -> np.ndarray:
    """J (K×d) of the masked losses from K separate gradient calls."""
    rows = []
    for i in range(K):
        loss = _masked_losses(net, x, y, dead)[i]
        g = torch.autograd.grad(loss, shared(net), allow_unused=True)
        rows.append(
            np.concatenate(
                [
                    np.zeros(p.numel()) if gi is None else gi.reshape(-1).numpy()
                    for p, gi in zip(shared(net), g, strict=True)
                ]
            )
        )
    return np.stack(rows)
