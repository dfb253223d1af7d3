"""The bridge and the multimodal trainer on every device torch offers here.

Each test runs on the CPU everywhere (so CI checks it) and on CUDA when a GPU is present (the
device run of ``benchmarks/gpu_device.sh`` runs this file first): per-objective gradients, the
Gramian and ``.grad = Jᵀw`` against a float64 reference computed on the CPU, mixed precision
(autocast), the Gramian of many blocks, the number of device synchronizations per step
(CUDA only), and a short multimodal training run.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import moo  # noqa: E402
import moo.torch as mt  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
K = 3


def _model(device: str, seed: int = 0) -> tuple[Any, Any, list[Any], list[list[Any]]]:
    """A trunk 12 → 32 → 16 and K linear heads, float32, on ``device``."""
    torch.manual_seed(seed)
    trunk = torch.nn.Sequential(
        torch.nn.Linear(12, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16), torch.nn.Tanh()
    ).to(device)
    heads = torch.nn.ModuleList(torch.nn.Linear(16, 4) for _ in range(K)).to(device)
    return trunk, heads, list(trunk.parameters()), [list(h.parameters()) for h in heads]


def _batch(device: str, n: int = 64, seed: int = 1) -> tuple[Any, list[Any]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, generator=g)
    ys = [torch.randint(0, 4, (n,), generator=g) for _ in range(K)]
    return x.to(device), [y.to(device) for y in ys]


def _losses(trunk: Any, heads: Any, x: Any, ys: list[Any]) -> tuple[Any, list[Any]]:
    h = trunk(x)
    return h, [
        torch.nn.functional.cross_entropy(head(h), y) * (i + 1)
        for i, (head, y) in enumerate(zip(heads, ys, strict=True))
    ]


def _reference() -> tuple[np.ndarray, np.ndarray]:
    """J (K×d over the trunk) and the losses in float64 on the CPU, for the weights `_model`
    draws (on the CPU, then moved: the same on every device) and the same batch."""
    trunk, heads, params, _ = _model("cpu")
    trunk.double()
    heads.double()
    x, ys = _batch("cpu")
    _, losses = _losses(trunk, heads, x.double(), ys)
    rows = []
    for loss in losses:
        gs = torch.autograd.grad(loss, params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in gs]).numpy())
    return np.stack(rows), np.array([float(v.detach()) for v in losses])


def _grads(params: list[Any]) -> np.ndarray:
    return np.concatenate([p.grad.detach().double().cpu().reshape(-1).numpy() for p in params])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("rule", "extraction"),
    [
        ("mgda", "autograd"),
        ("mgda", "batched"),
        ("cagrad", "autograd"),
        ("nash-mtl", "batched"),
        ("upgrad", "autograd"),
        ("moco", "autograd"),
        ("mimo", "auto"),
    ],
)
def test_backward_on_device_matches_a_float64_reference(
    device: str, rule: str, extraction: str
) -> None:
    ref, f = _reference()
    trunk, heads, params, task = _model(device)
    x, ys = _batch(device)
    _, losses = _losses(trunk, heads, x, ys)
    info = mt.backward(losses, params, rule, task_params=task, extraction=extraction)
    np.testing.assert_allclose(info.losses, f, rtol=1e-5)
    if info.gramian is not None:
        assert info.gramian.dtype == np.float64
        assert _rel(info.gramian, ref @ ref.T) < 1e-5
        if rule != "moco":  # MoCo's weights come from its tracked direction, not from G alone
            again = moo.get_rule(rule).weights(info.gramian, info.losses).weights
            np.testing.assert_allclose(info.weights, again, rtol=1e-9, atol=1e-12)
    if rule != "moco":
        assert _rel(_grads(params), ref.T @ info.weights) < 1e-4
    assert all(p.grad is not None and p.grad.device.type == device for p in params)
    assert all(p.grad is not None for group in task for p in group)


@pytest.mark.parametrize("extraction", ["auto", "batched"])
@pytest.mark.parametrize("device", DEVICES)
def test_declared_groups_on_device(device: str, extraction: str) -> None:
    """Two objectives on disjoint halves of the parameters: one backward serves both."""
    torch.manual_seed(0)
    a = torch.nn.Linear(6, 6).to(device)
    b = torch.nn.Linear(6, 6).to(device)
    x = torch.randn(32, 6, device=device)
    params = [*a.parameters(), *b.parameters()]

    def losses() -> list[Any]:
        return [a(x).pow(2).mean(), b(x).tanh().pow(2).mean()]

    rows = []
    for loss in losses():
        gs = torch.autograd.grad(loss, params, allow_unused=True)
        rows.append(
            np.concatenate(
                [
                    np.zeros(p.numel()) if g is None else g.double().cpu().reshape(-1).numpy()
                    for g, p in zip(gs, params, strict=True)
                ]
            )
        )
    ref = np.stack(rows)
    info = mt.backward(losses(), params, "mgda", groups=[[0, 1], [2, 3]], extraction=extraction)
    assert info.info["backward_passes"] == 1
    assert info.gramian is not None and info.gramian[0, 1] == 0.0
    assert _rel(info.gramian, ref @ ref.T) < 1e-5
    assert _rel(_grads(params), ref.T @ info.weights) < 1e-5


@pytest.mark.parametrize(
    ("device", "dtype"),
    [("cpu", "bfloat16")]
    + ([("cuda", "float16"), ("cuda", "bfloat16")] if "cuda" in DEVICES else []),
)
def test_autocast_gradients_are_upcast_for_the_gramian(device: str, dtype: str) -> None:
    ref, _ = _reference()
    trunk, heads, params, task = _model(device)
    x, ys = _batch(device)
    with torch.autocast(device_type=device, dtype=getattr(torch, dtype)):
        _, losses = _losses(trunk, heads, x, ys)
    info = mt.backward(losses, params, "mgda", task_params=task)
    assert info.gramian is not None and info.gramian.dtype == np.float64
    assert np.all(np.isfinite(info.gramian))
    assert _rel(info.gramian, ref @ ref.T) < 5e-2  # half-precision activations
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in params)
    assert _rel(_grads(params), ref.T @ info.weights) < 5e-2


@pytest.mark.skipif("cuda" not in DEVICES, reason="inductor on CUDA; CPU: torch/test_backward.py")
def test_compiled_trunk_on_cuda() -> None:
    ref, _ = _reference()
    trunk, heads, params, task = _model("cuda")
    compiled = torch.compile(trunk)
    x, ys = _batch("cuda")
    _, losses = _losses(compiled, heads, x, ys)
    info = mt.backward(losses, params, "mgda", task_params=task, extraction="autograd")
    assert _rel(_grads(params), ref.T @ info.weights) < 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_gramian_of_many_blocks_on_device(device: str) -> None:
    """62 blocks (a ResNet-18's parameter count) and one block over 2^15 columns, float32."""
    g = torch.Generator().manual_seed(3)
    sizes = [int(s) for s in torch.randint(1, 3000, (61,), generator=g)] + [70_000]
    jac = torch.randn(K, sum(sizes), generator=g, dtype=torch.float64)
    blocks = list(jac.to(device, torch.float32).split(sizes, dim=1))
    gram = mt.gramian(blocks)
    assert gram.dtype == torch.float64 and gram.device.type == device
    exact = (jac @ jac.T).numpy()
    assert _rel(gram.cpu().numpy(), exact) < 1e-6


@pytest.mark.skipif("cuda" not in DEVICES, reason="counts CUDA synchronizations")
@pytest.mark.parametrize(
    ("rule", "kwargs", "most"),
    [
        ("mgda", {"extraction": "autograd"}, 1),  # the one copy of [G | f]
        ("mgda", {"extraction": "batched"}, 1),
        ("mimo", {}, 2),  # the loss values, then the gradients' finiteness check
        ("mimo", {"check_finite": False}, 1),
    ],
)
def test_device_synchronizations_per_step(rule: str, kwargs: dict[str, Any], most: int) -> None:
    trunk, heads, params, task = _model("cuda")
    x, ys = _batch("cuda")
    rule_obj = moo.get_rule(rule)
    _, losses = _losses(trunk, heads, x, ys)
    mt.backward(losses, params, rule_obj, task_params=task, **kwargs)  # warm up
    _, losses = _losses(trunk, heads, x, ys)
    syncs = _count_syncs(lambda: mt.backward(losses, params, rule_obj, task_params=task, **kwargs))
    assert len(syncs) <= most, syncs


def _count_syncs(fn: Any) -> list[str]:
    """The CUDA synchronizations ``fn()`` makes (torch's sync debug mode, as warnings)."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message) for w in caught if "synchroniz" in str(w.message)]


@pytest.mark.skipif("cuda" not in DEVICES, reason="counts CUDA synchronizations")
@pytest.mark.parametrize(
    ("name", "options", "most"),
    [
        ("joint", {}, 1),  # the loss values for the report
        ("mgda", {}, 1),  # declared groups (row-subset blocks): the one copy of [G | f]
        ("mgda", {"extraction": "batched"}, 1),
        ("mgda", {"extraction": "representation"}, 1),
        ("mimo", {}, 2),  # the loss values, then the gradients' finiteness check
        ("ogm-ge", {}, 1),  # scores and losses in one copy
        ("mmpareto", {}, 1),  # dot products and losses in one copy
    ],
)
def test_multimodal_step_synchronizations(name: str, options: dict[str, Any], most: int) -> None:
    models = pytest.importorskip("moo_multimodal.models")
    methods = pytest.importorskip("moo_multimodal.methods")
    torch.manual_seed(0)
    model = models.build_model({"a": (12,), "b": (7,)}, 4).to("cuda")
    inputs = {"a": torch.randn(32, 12, device="cuda"), "b": torch.randn(32, 7, device="cuda")}
    labels = torch.randint(0, 4, (32,), device="cuda")
    method = methods.make_method(name, **options)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(
            inputs, detach_unimodal=method.detach_unimodal, detach_fusion=method.detach_fusion
        )
        method.backward(model, out, labels, epoch=0)

    step()  # warm up (allocations, generators)
    syncs = _count_syncs(step)
    assert len(syncs) <= most, syncs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["mimo", "mgda", "ogm-ge"])
def test_multimodal_training_on_device(device: str, method: str) -> None:
    """Two epochs of the trainer (on CUDA its step times come from CUDA events)."""
    training = pytest.importorskip("moo_multimodal.training")
    config = training.TrainConfig(
        dataset="synthetic",
        dataset_options={"n_train": 256, "n_test": 128},
        method=method,
        epochs=2,
        batch_size=64,
        device=device,
        probes=False,
    )
    result = training.train(config)
    assert len(result.history) == 2
    final = result.final
    assert final["step_ms"] > 0.0 and np.isfinite(final["train/fusion_loss"])
    assert next(result.model.parameters()).device.type == device
