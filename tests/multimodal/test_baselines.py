"""OGM-GE and MMPareto, the two published baselines of the multimodal adapter.

The tests run on a tiny model defined here that implements exactly the interface the methods
use (``modalities``, parameter groups, ``contributions``, a forward honouring the detach
flags), and check the methods against values computed by hand: OGM's scores, ratios and
coefficients, the GE noise, MMPareto's min-norm weights and per-tensor rescale.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from moo_multimodal.methods._base import Method, StepReport
from moo_multimodal.methods.mmpareto import MMPareto, _combine, _dots
from moo_multimodal.methods.ogm_ge import OGMGE, contribution_score, ogm_coefficients

CLASSES = 3
BATCH = 12


# -- a tiny model with the adapter's interface -----------------------------------------------


@dataclass
class Output:
    fusion: torch.Tensor
    unimodal: dict[str, torch.Tensor]
    features: dict[str, torch.Tensor]


class Encoder(nn.Module):
    """``z = lin(tanh(W4 x + b))``, W4 stored as a 4-D (1×1 "conv") weight."""

    def __init__(self, d_in: int, d: int) -> None:
        super().__init__()
        self.w4 = nn.Parameter(torch.randn(d, d_in, 1, 1) * 0.7)
        self.b = nn.Parameter(torch.randn(d) * 0.1)
        self.lin = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.w4.reshape(self.w4.shape[0], -1)
        return self.lin(torch.tanh(x @ w.T + self.b))


class TinyModel(nn.Module):
    """Linear-ish encoders, concat (additive) or gated (non-additive) fusion, linear heads."""

    def __init__(
        self,
        in_dims: Mapping[str, int],
        *,
        d: int = 4,
        fusion: str = "concat",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.modalities = tuple(in_dims)
        self.kind = fusion
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoders = nn.ModuleDict({m: Encoder(k, d) for m, k in in_dims.items()})
            if fusion == "gated":
                assert len(in_dims) == 2
                self.gate = nn.Linear(d, d)
                self.fusion_head = nn.Linear(d, CLASSES)
            else:
                self.fusion_head = nn.Linear(d * len(in_dims), CLASSES)
            self.heads = nn.ModuleDict({m: nn.Linear(d, CLASSES) for m in in_dims})
        self.to(dtype)

    def encoder_parameters(self, m: str) -> list[nn.Parameter]:
        return list(self.encoders[m].parameters())

    def fusion_parameters(self) -> list[nn.Parameter]:
        gate = list(self.gate.parameters()) if self.kind == "gated" else []
        return [*gate, *self.fusion_head.parameters()]

    def head_parameters(self, m: str) -> list[nn.Parameter]:
        return list(self.heads[m].parameters())

    def forward(
        self,
        inputs: Mapping[str, torch.Tensor],
        *,
        detach_unimodal: bool = False,
        detach_fusion: bool = False,
    ) -> Output:
        z = {m: self.encoders[m](inputs[m]) for m in self.modalities}
        zf = {m: v.detach() for m, v in z.items()} if detach_fusion else z
        if self.kind == "gated":
            a, b = (zf[m] for m in self.modalities)
            fused = a * torch.sigmoid(self.gate(b))
        else:
            fused = torch.cat([zf[m] for m in self.modalities], dim=1)
        uni = {m: self.heads[m](v.detach() if detach_unimodal else v) for m, v in z.items()}
        return Output(self.fusion_head(fused), uni, z)

    def contributions(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.kind == "gated":
            raise ValueError("fusion 'gated' is not additive")
        w, b = self.fusion_head.weight, self.fusion_head.bias
        out, start = {}, 0
        for m in self.modalities:
            width = features[m].shape[1]
            out[m] = features[m] @ w[:, start : start + width].T + b / len(self.modalities)
            start += width
        return out


def make_batch(
    in_dims: Mapping[str, int], seed: int = 1, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(BATCH, k, generator=gen, dtype=dtype) for m, k in in_dims.items()}
    labels = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    return inputs, labels


TWO = {"audio": 5, "video": 6}
THREE = {"audio": 5, "video": 6, "text": 3}


def plain_grads(
    model: TinyModel, inputs: dict[str, torch.Tensor], labels: torch.Tensor, *, detach: bool
) -> dict[str, torch.Tensor | None]:
    """Gradients of ``f_0 + Σ f_m`` on a copy of the model, by name."""
    twin = copy.deepcopy(model)
    twin.zero_grad(set_to_none=True)
    out = twin(inputs, detach_unimodal=detach)
    total = F.cross_entropy(out.fusion, labels)
    for m in twin.modalities:
        total = total + F.cross_entropy(out.unimodal[m], labels)
    total.backward()
    return {n: p.grad for n, p in twin.named_parameters()}


def step(
    method: Method,
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    epoch: int = 0,
) -> StepReport:
    """One trainer step without the optimizer: zero the grads, forward, the method's backward."""
    model.zero_grad(set_to_none=True)
    out = model(inputs, detach_unimodal=method.detach_unimodal, detach_fusion=method.detach_fusion)
    return method.backward(model, out, labels, epoch=epoch)


def grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def hand_score(logits: torch.Tensor, labels: torch.Tensor) -> float:
    total = 0.0
    for row, y in zip(logits.tolist(), labels.tolist(), strict=True):
        exps = [math.exp(v) for v in row]
        total += exps[y] / sum(exps)
    return total


def hand_coefficients(scores: list[float], alpha: float) -> tuple[list[float], list[float]]:
    ratios, coeffs = [], []
    for i, s in enumerate(scores):
        others = [t for j, t in enumerate(scores) if j != i]
        rho = s / (sum(others) / len(others))
        ratios.append(rho)
        coeffs.append(1.0 - math.tanh(alpha * rho) if rho > 1.0 else 1.0)
    return ratios, coeffs


# -- OGM-GE: scores and coefficients ---------------------------------------------------------


def test_ogm_coefficients_fixed_logits_two_modalities() -> None:
    logits_a = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    logits_v = torch.tensor([[0.0, 0.0, 0.5], [0.2, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 0])
    e = math.e
    s_a = e**3 / (e**3 + 2) + e**2 / (e**2 + 2) + e / (e + 2)
    s_v = 1 / (2 + e**0.5) + 1 / (e**0.2 + 2) + 1 / 3
    assert contribution_score(logits_a, labels).item() == pytest.approx(s_a, rel=1e-6)
    assert contribution_score(logits_v, labels).item() == pytest.approx(s_v, rel=1e-6)
    alpha = 0.3
    ratios, coeffs = ogm_coefficients([s_a, s_v], alpha)
    rho_a = s_a / s_v  # audio dominates: ρ_a > 1
    assert rho_a > 1
    assert ratios == pytest.approx([rho_a, 1 / rho_a], rel=1e-12)
    assert coeffs == pytest.approx([1 - math.tanh(alpha * rho_a), 1.0], rel=1e-12)


def test_ogm_coefficients_three_modalities() -> None:
    # ρ = 3/1.5 = 2, 2/2 = 1 (a tie is not modulated), 1/2.5 = 0.4
    ratios, coeffs = ogm_coefficients([3.0, 2.0, 1.0], 0.5)
    assert ratios == pytest.approx([2.0, 1.0, 0.4])
    assert coeffs == pytest.approx([1 - math.tanh(1.0), 1.0, 1.0])
    # two modalities above the mean of the others are both slowed down
    ratios, coeffs = ogm_coefficients([3.0, 3.0, 1.0], 0.2)
    assert ratios == pytest.approx([1.5, 1.5, 1 / 3])
    assert coeffs == pytest.approx([1 - math.tanh(0.3), 1 - math.tanh(0.3), 1.0])
    # a zero denominator: ρ = inf, k = 0
    assert ogm_coefficients([1.0, 0.0, 0.0], 0.1)[1] == [0.0, 1.0, 1.0]


def _dominated_labels(model: TinyModel, inputs: dict[str, torch.Tensor], m: str) -> torch.Tensor:
    """Labels that modality ``m``'s fusion contribution predicts: ``m`` dominates."""
    with torch.no_grad():
        out = model(inputs)
        return model.contributions(out.features)[m].argmax(dim=1)


@pytest.mark.parametrize("dims", [TWO, THREE], ids=["two", "three"])
def test_ogm_report_matches_hand_computed_scores(dims: dict[str, int]) -> None:
    model = TinyModel(dims)
    inputs, _ = make_batch(dims)
    labels = _dominated_labels(model, inputs, "audio")
    method = OGMGE(alpha=0.4, ge=False)
    rep = step(method, model, inputs, labels)
    with torch.no_grad():
        out = model(inputs)
        w, b = model.fusion_head.weight, model.fusion_head.bias
        scores, start = [], 0
        for m in model.modalities:
            z = out.features[m]
            block = z @ w[:, start : start + z.shape[1]].T + b / len(dims)
            start += z.shape[1]
            scores.append(hand_score(block, labels))
    ratios, coeffs = hand_coefficients(scores, 0.4)
    assert ratios[0] > 1  # audio dominates
    assert list(rep.weights) == list(dims)
    assert list(rep.weights.values()) == pytest.approx(coeffs, rel=1e-5)
    for m, r in zip(dims, ratios, strict=True):
        assert rep.info[f"ratio_{m}"] == pytest.approx(r, rel=1e-5)
    assert rep.info["modulated"] == 1.0
    assert rep.rule_time > 0.0
    assert rep.fusion_loss == pytest.approx(F.cross_entropy(out.fusion, labels).item())


def test_ogm_without_ge_scales_the_fusion_gradient_exactly() -> None:
    model = TinyModel(TWO)
    inputs, _ = make_batch(TWO)
    labels = _dominated_labels(model, inputs, "audio")
    plain = plain_grads(model, inputs, labels, detach=True)
    rep = step(OGMGE(alpha=0.5, ge=False), model, inputs, labels)
    k = rep.weights["audio"]
    assert 0.0 < k < 1.0 and rep.weights["video"] == 1.0
    got = grads(model)
    for name, g in got.items():
        assert g is not None
        if name.startswith("encoders.audio."):
            assert torch.equal(g, plain[name] * k), name
        else:  # the non-dominant encoder, the fusion head and the heads are untouched
            assert torch.equal(g, plain[name]), name


def test_ogm_only_conv_restricts_to_4d_tensors() -> None:
    model = TinyModel(TWO)
    inputs, _ = make_batch(TWO)
    labels = _dominated_labels(model, inputs, "audio")
    plain = plain_grads(model, inputs, labels, detach=True)
    rep = step(OGMGE(alpha=0.5, ge=False, only_conv=True), model, inputs, labels)
    k = rep.weights["audio"]
    for name, g in grads(model).items():
        assert g is not None
        expected = plain[name] * k if name == "encoders.audio.w4" else plain[name]
        assert torch.equal(g, expected), name


@pytest.mark.parametrize("epoch", [3, 9])
def test_ogm_outside_the_window_is_plain(epoch: int) -> None:
    model = TinyModel(TWO)
    inputs, _ = make_batch(TWO)
    labels = _dominated_labels(model, inputs, "audio")
    plain = plain_grads(model, inputs, labels, detach=True)
    rep = step(OGMGE(modulation_starts=4, modulation_ends=8), model, inputs, labels, epoch)
    assert rep.weights == {"audio": 1.0, "video": 1.0}
    assert rep.info["modulated"] == 0.0
    assert rep.info["ratio_audio"] > 1.0
    for name, g in grads(model).items():
        assert torch.equal(g, plain[name]), name


def test_ogm_ge_noise_matches_hand_computation() -> None:
    model = TinyModel(TWO)
    inputs, _ = make_batch(TWO)
    labels = _dominated_labels(model, inputs, "audio")
    plain = plain_grads(model, inputs, labels, detach=True)
    rep = step(OGMGE(alpha=0.5, seed=3), model, inputs, labels)
    gen = torch.Generator().manual_seed(3)
    expected = dict(plain)
    for m in model.modalities:  # modality order, then parameter order
        for name, _ in model.encoders[m].named_parameters():
            key = f"encoders.{m}.{name}"
            g = plain[key]
            assert g is not None
            noise = torch.randn(g.shape, generator=gen) * (g.std() + 1e-8)
            expected[key] = g * rep.weights[m] + noise
    for name, g in grads(model).items():
        torch.testing.assert_close(g, expected[name], rtol=1e-6, atol=1e-7)
    assert not torch.equal(model.encoders.video.lin.weight.grad, plain["encoders.video.lin.weight"])


def test_ogm_ge_is_seeded_and_resumable() -> None:
    model = TinyModel(TWO)
    inputs, labels = make_batch(TWO)

    def run(method: OGMGE) -> dict[str, torch.Tensor | None]:
        step(method, model, inputs, labels)
        return grads(model)

    first, again = run(OGMGE(seed=7)), run(OGMGE(seed=7))
    other = run(OGMGE(seed=8))
    enc = "encoders.audio.lin.weight"
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not torch.equal(first[enc], other[enc])

    method = OGMGE(seed=7)
    run(method)
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    second = run(method)
    assert not torch.equal(second[enc], first[enc])  # the stream moved on
    resumed = OGMGE(seed=123)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer))
    assert resumed.seed == 7
    assert all(torch.equal(second[n], g) for n, g in run(resumed).items())
    third = run(method)
    assert all(torch.equal(third[n], g) for n, g in run(resumed).items())


def test_ogm_load_state_dict_rejects_bad_state() -> None:
    method = OGMGE()
    with pytest.raises(ValueError, match="keys"):
        method.load_state_dict({})
    with pytest.raises(ValueError, match="uint8"):
        method.load_state_dict({"seed": 0, "generators": {"cpu": torch.zeros(3)}})


def test_ogm_scores_from_heads() -> None:
    model = TinyModel(TWO)
    inputs, labels = make_batch(TWO)
    rep = step(OGMGE(alpha=0.6, scores="heads", ge=False), model, inputs, labels)
    with torch.no_grad():
        out = model(inputs)
    scores = [hand_score(out.unimodal[m], labels) for m in model.modalities]
    _, coeffs = hand_coefficients(scores, 0.6)
    assert list(rep.weights.values()) == pytest.approx(coeffs, rel=1e-5)
    assert rep.info["scores_from_heads"] == 1.0


def test_ogm_non_additive_fusion() -> None:
    model = TinyModel(TWO, fusion="gated")
    inputs, labels = make_batch(TWO)
    with pytest.raises(ValueError, match="scores='heads'"):
        step(OGMGE(scores="fusion"), model, inputs, labels)
    auto = step(OGMGE(scores="auto", ge=False), model, inputs, labels)
    heads = step(OGMGE(scores="heads", ge=False), model, inputs, labels)
    assert auto.weights == heads.weights
    assert auto.info["scores_from_heads"] == 1.0


def test_ogm_accumulates_into_existing_grads() -> None:
    model = TinyModel(TWO)
    inputs, _ = make_batch(TWO)
    labels = _dominated_labels(model, inputs, "audio")
    method = OGMGE(alpha=0.5, ge=False)
    step(method, model, inputs, labels)
    fresh = grads(model)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    out = model(inputs, detach_unimodal=True)
    method.backward(model, out, labels, epoch=0)
    for name, g in grads(model).items():
        torch.testing.assert_close(g, fresh[name] + 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": -0.1}, ValueError, "alpha"),
        ({"alpha": float("nan")}, ValueError, "alpha"),
        ({"alpha": "0.1"}, TypeError, "alpha"),
        ({"modulation_starts": -1}, ValueError, "modulation_starts"),
        ({"modulation_ends": -2}, ValueError, "modulation_ends"),
        ({"modulation_starts": 5, "modulation_ends": 4}, ValueError, "modulation_ends"),
        ({"modulation_ends": 2.5}, TypeError, "modulation_ends"),
        ({"ge": 1}, TypeError, "ge"),
        ({"only_conv": "no"}, TypeError, "only_conv"),
        ({"scores": "probes"}, ValueError, "scores"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.0}, TypeError, "seed"),
        ({"seed": 2**64}, ValueError, "seed"),
    ],
)
def test_ogm_rejects_bad_hyperparameters(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        OGMGE(**kwargs)  # type: ignore[arg-type]


# -- MMPareto --------------------------------------------------------------------------------


def _conflict_model() -> TinyModel:
    """Audio's head is the negative of its fusion block (its uni-modal loss pulls the other
    way: conflict); video's head is its fusion block (agreement)."""
    model = TinyModel(TWO, dtype=torch.float64)
    w, b = model.fusion_head.weight.data, model.fusion_head.bias.data
    with torch.no_grad():
        model.heads.audio.weight.copy_(-w[:, :4])
        model.heads.audio.bias.zero_()
        model.heads.video.weight.copy_(w[:, 4:])
        model.heads.video.bias.copy_(b)
    return model


def _hand_pareto(
    model: TinyModel, inputs: dict[str, torch.Tensor], labels: torch.Tensor, gamma: float
) -> tuple[dict[str, float], dict[str, float], dict[str, torch.Tensor], dict[str, list[float]]]:
    """(cos, α_1, expected encoder grads by name, per-tensor r) from separate autograd passes."""
    twin = copy.deepcopy(model)
    out = twin(inputs)
    f0 = F.cross_entropy(out.fusion, labels)
    cos, alpha1, expected, ratios = {}, {}, {}, {}
    for m in twin.modalities:
        params = list(twin.encoders[m].named_parameters())
        fm = F.cross_entropy(out.unimodal[m], labels)
        a = torch.autograd.grad(f0, [p for _, p in params], retain_graph=True)
        b = torch.autograd.grad(fm, [p for _, p in params], retain_graph=True)
        va, vb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
        c = float(va @ vb / (va.norm() * vb.norm()))
        if c > 0:
            a0 = 0.5
        else:  # closed-form 2×2 min-norm weights
            a0 = min(max(float((vb @ vb - va @ vb) / (va - vb).square().sum()), 0.0), 1.0)
        cos[m], alpha1[m], ratios[m] = c, 1.0 - a0, []
        for (name, _), ga, gb in zip(params, a, b, strict=True):
            new = 2 * (a0 * ga + (1 - a0) * gb)
            r = float((ga + gb).norm() / new.norm())
            ratios[m].append(r)
            expected[f"encoders.{m}.{name}"] = gamma * (r if r > 1 else 1.0) * new
    return cos, alpha1, expected, ratios


@pytest.mark.parametrize("gamma", [1.5, 0.7])
def test_mmpareto_matches_hand_computation(gamma: float) -> None:
    model = _conflict_model()
    inputs, labels = make_batch(TWO, dtype=torch.float64)
    cos, alpha1, expected, ratios = _hand_pareto(model, inputs, labels, gamma)
    assert cos["audio"] < 0 < cos["video"]  # one conflicting, one aligned encoder
    assert 0.0 < alpha1["audio"] < 1.0 and alpha1["video"] == 0.5
    rep = step(MMPareto(gamma=gamma), model, inputs, labels)
    assert rep.weights == pytest.approx(alpha1, rel=1e-10)
    assert rep.info["cos_audio"] == pytest.approx(cos["audio"], rel=1e-10)
    assert rep.info["cos_video"] == pytest.approx(cos["video"], rel=1e-10)
    got = grads(model)
    for name, g in expected.items():
        torch.testing.assert_close(got[name], g, rtol=1e-10, atol=1e-12)
    assert any(r > 1 for r in ratios["audio"])  # the rescale is active in the conflict


def test_mmpareto_rescale_and_min_norm_properties() -> None:
    model = _conflict_model()
    inputs, labels = make_batch(TWO, dtype=torch.float64)
    twin = copy.deepcopy(model)
    out = twin(inputs)
    params = list(twin.encoders.audio.parameters())
    a = torch.autograd.grad(F.cross_entropy(out.fusion, labels), params, retain_graph=True)
    b = torch.autograd.grad(F.cross_entropy(out.unimodal["audio"], labels), params)
    rep = step(MMPareto(gamma=1.0), model, inputs, labels)
    a1 = rep.weights["audio"]
    d = [2 * ((1 - a1) * x + a1 * y) for x, y in zip(a, b, strict=True)]
    va, vb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    vd = torch.cat([t.flatten() for t in d]) / 2
    # the min-norm point: equal projections on both gradients (interior solution)
    assert float(va @ vd) == pytest.approx(float(vb @ vd), rel=1e-9)
    for p, x, y, new in zip(model.encoders.audio.parameters(), a, b, d, strict=True):
        # γ = 1: the written norm is max(||g_mm + g_u||, ||new||) per tensor
        assert float(p.grad.norm()) == pytest.approx(
            max(float((x + y).norm()), float(new.norm())), rel=1e-10
        )


def test_mmpareto_aligned_and_zero_gradients() -> None:
    model = TinyModel(TWO, dtype=torch.float64)
    with torch.no_grad():  # fusion logits = audio head logits; video's fusion block is zero
        model.fusion_head.weight[:, 4:] = 0.0
        model.fusion_head.bias.zero_()
        model.heads.audio.weight.copy_(model.fusion_head.weight[:, :4])
        model.heads.audio.bias.zero_()
    inputs, labels = make_batch(TWO, dtype=torch.float64)
    plain = plain_grads(model, inputs, labels, detach=False)
    rep = step(MMPareto(), model, inputs, labels)
    assert rep.weights == {"audio": 0.5, "video": 0.5}
    assert rep.info["cos_audio"] == pytest.approx(1.0)
    assert rep.info["cos_video"] == 0.0  # g_mm = 0 on video: cos undefined, reported as 0
    for name, g in grads(model).items():
        if name.startswith("encoders."):  # α = (1/2, 1/2), r = 1: γ times the plain sum
            torch.testing.assert_close(g, 1.5 * plain[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dims", [TWO, THREE], ids=["two", "three"])
def test_mmpareto_heads_and_fusion_get_the_plain_gradient(dims: dict[str, int]) -> None:
    model = TinyModel(dims)
    inputs, labels = make_batch(dims)
    plain = plain_grads(model, inputs, labels, detach=False)
    step(MMPareto(), model, inputs, labels)
    for name, g in grads(model).items():
        assert g is not None
        if not name.startswith("encoders."):
            torch.testing.assert_close(g, plain[name], rtol=1e-6, atol=1e-7)


def test_mmpareto_uses_two_autograd_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"grad": 0, "backward": 0}
    real_grad, real_backward = torch.autograd.grad, torch.autograd.backward

    def counting_grad(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["grad"] += 1
        return real_grad(*args, **kwargs)

    def counting_backward(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["backward"] += 1
        return real_backward(*args, **kwargs)

    model = TinyModel(THREE)
    inputs, labels = make_batch(THREE)
    model.zero_grad(set_to_none=True)
    out = model(inputs)
    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    monkeypatch.setattr(torch.autograd, "backward", counting_backward)
    MMPareto().backward(model, out, labels, epoch=0)
    assert calls == {"grad": 2, "backward": 0}
    assert all(p.grad is not None for p in model.parameters())


def test_mmpareto_accumulates_and_is_stateless() -> None:
    model = TinyModel(TWO)
    inputs, labels = make_batch(TWO)
    method = MMPareto()
    step(method, model, inputs, labels)
    fresh = grads(model)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    method.backward(model, model(inputs), labels, epoch=0)
    for name, g in grads(model).items():
        torch.testing.assert_close(g, fresh[name] + 1.0)
    assert method.state_dict() == {}
    method.load_state_dict({})


def test_mmpareto_none_gradients_count_as_zero() -> None:
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([1.0, -2.0])
    # (a·a, b·b, a·b) over tensor pairs (a, b), (None, b), (None, None)
    dots = _dots([a, None, None], [b, b, None], a.device)
    assert dots.dtype == torch.float64
    assert dots.tolist() == [25.0, 10.0, -5.0]
    assert _combine(None, None, 0.3, 0.7, 1.5) is None
    # new = 2·0.7·b, r = ||b|| / ||1.4 b|| < 1: γ·new
    torch.testing.assert_close(_combine(None, b, 0.3, 0.7, 1.5), 1.5 * 1.4 * b)
    # new = 2·0.3·a, r = 1 / 0.6 > 1: γ·r·new = γ·a
    torch.testing.assert_close(_combine(a, None, 0.3, 0.7, 1.5), 1.5 * a)
    # new = 2(0.25·[3, 6] + 0.75·[-1, -2]) = 0 while g_mm + g_u ≠ 0: r = 1, no division by 0
    zero = _combine(torch.tensor([3.0, 6.0]), torch.tensor([-1.0, -2.0]), 0.25, 0.75, 1.5)
    assert zero is not None and zero.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("method", [OGMGE(), MMPareto()], ids=["ogm-ge", "mmp"])
def test_unused_encoder_parameters_keep_no_grad(method: Method) -> None:
    model = TinyModel(TWO)
    model.encoders.audio.unused = nn.Parameter(torch.zeros(2))
    inputs, labels = make_batch(TWO)
    step(method, model, inputs, labels)
    assert model.encoders.audio.unused.grad is None
    assert model.encoders.audio.w4.grad is not None


def test_mmpareto_rejects_parameters_outside_the_groups() -> None:
    model = TinyModel(TWO)
    model.extra = nn.Parameter(torch.zeros(2))
    inputs, labels = make_batch(TWO)
    with pytest.raises(ValueError, match="extra"):
        step(MMPareto(), model, inputs, labels)


@pytest.mark.parametrize(
    ("gamma", "error"),
    [
        (0.0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1.5", TypeError),
        (True, TypeError),
    ],
)
def test_mmpareto_rejects_bad_gamma(gamma: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="gamma"):
        MMPareto(gamma=gamma)  # type: ignore[arg-type]


# -- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", [OGMGE(alpha=0.5, seed=0), OGMGE(ge=False), MMPareto()], ids=["ogm-ge", "ogm", "mmp"]
)
def test_steps_reduce_the_fusion_loss(method: OGMGE | MMPareto) -> None:
    model = TinyModel(THREE)
    inputs, labels = make_batch(THREE)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first = None
    for _ in range(25):
        rep = step(method, model, inputs, labels)
        first = rep.fusion_loss if first is None else first
        opt.step()
    with torch.no_grad():
        last = F.cross_entropy(model(inputs).fusion, labels).item()
    assert last < 0.7 * first


def test_with_the_adapter_model() -> None:
    models = pytest.importorskip("moo_multimodal.models")
    inputs, labels = make_batch({"a": 6, "b": 5})
    for fusion in ("concat", "gated"):
        model = models.build_model({"a": (6,), "b": (5,)}, CLASSES, fusion=fusion)
        for method in (OGMGE(), MMPareto()):
            rep = step(method, model, inputs, labels)
            assert set(rep.weights) == {"a", "b"}
            assert all(
                p.grad is not None and bool(torch.isfinite(p.grad).all())
                for p in model.parameters()
            )
