"""Tests of the ``headroom`` method: its weights on crafted loss sequences, its gradient, its
state, and a short training run with a sensor without signal."""

from __future__ import annotations

import math

import pytest
import torch

from moo_multimodal import TrainConfig, build_model, train
from moo_multimodal.data.synthetic import ModalitySpec
from moo_multimodal.methods import Headroom, available_methods, make_method
from moo_multimodal.methods.headroom import headroom_weights

C = 4
CHANCE = math.log(C)


def share(weights: list[float], i: int) -> float:
    """Modality i's share of the uni-modal weights (``weights[0]`` is the fusion weight)."""
    return weights[1 + i] / sum(weights[1:])


def test_weights_closed_form() -> None:
    # fast converged, slow behind but learning, blank at chance
    lam, gates, heads = headroom_weights([0.05, 0.9, CHANCE], CHANCE)
    assert gates == [1.0, 1.0, 0.0]
    assert heads == pytest.approx([0.05, 0.9, 0.0])
    assert lam[2] == pytest.approx(0.1 / 3)  # exactly the floor share
    assert lam[1] == pytest.approx(0.9 * 0.9 / 0.95 + 0.1 / 3)
    assert sum(lam) == pytest.approx(1.0)
    # every modality at chance: uniform
    assert headroom_weights([CHANCE] * 3, CHANCE)[0] == [1 / 3] * 3
    # the gate ramps linearly from c (1 - margin) down over ramp * c
    top = CHANCE * 0.95
    _, gates, _ = headroom_weights([top, top - 0.075 * CHANCE, top - 0.2 * CHANCE], CHANCE)
    assert gates == pytest.approx([0.0, 0.5, 1.0])
    # no floor: a modality at chance gets nothing
    assert headroom_weights([0.5, CHANCE], CHANCE, floor=0.0)[0] == [1.0, 0.0]


def test_crafted_sequences_blank_small_slow_learner_first() -> None:
    """Fast learns in 50 steps, slow in 600, blank's fresh loss stays at log C (with noise)."""
    method = Headroom()
    gen = torch.Generator().manual_seed(0)
    shares = []
    for t in range(800):
        noisy = [1 + 0.02 * float(x) for x in torch.randn(3, generator=gen)]  # batch noise
        fast = 0.02 + (CHANCE - 0.02) * math.exp(-t / 15)
        slow = CHANCE if t < 100 else 0.1 + (CHANCE - 0.1) * math.exp(-(t - 100) / 150)
        values = [fast * noisy[0], slow * noisy[1], CHANCE * noisy[2]]
        w = method.update(values, C)
        assert w[0] == 1.0 and sum(w[1:]) == pytest.approx(3.0)
        shares.append([share(w, i) for i in range(3)])
    assert shares[0] == pytest.approx([1 / 3] * 3)  # all at chance: uniform
    assert shares[30][0] > 0.5  # fast left chance first: it leads while it is behind
    assert shares[300][1] > 0.8  # slow behind and learning: priority
    assert shares[300][1] > shares[300][0] + 0.5
    for s in shares[100:]:
        assert s[2] <= 0.1  # blank: the floor share, 1/30
    assert shares[-1][2] == pytest.approx(0.1 / 3)


def test_mimo_would_chase_the_blank_modality() -> None:
    """The contrast that motivates the method: the worst loss is blank's."""
    mimo = make_method("mimo")
    losses = torch.tensor([0.5, 0.02, 0.9, CHANCE], dtype=torch.float64)
    w = mimo.rule.weights(None, losses.numpy()).weights  # type: ignore[attr-defined]
    assert w[3] / w[1:].sum() > 0.5
    head = Headroom().update([0.02, 0.9, CHANCE], C)
    assert share(head, 2) < 0.05


def test_tracking_smooths_and_memorization_within_the_margin_is_ignored() -> None:
    method = Headroom(tracking=0.5)
    method.update([1.0, CHANCE], C)
    method.update([0.0, CHANCE], C)
    assert method.tracked == pytest.approx([0.5, CHANCE])
    # a blank sensor whose training loss dips by less than the margin (memorization) stays
    # at the floor
    method = Headroom(tracking=1.0)
    w = method.update([0.3, CHANCE * 0.96], C)
    assert share(w, 1) == pytest.approx(0.05)
    assert method.gates == [1.0, 0.0]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"gamma": -1.0}, "gamma"),
        ({"tracking": 0.0}, "tracking"),
        ({"margin": 1.0}, "margin"),
        ({"ramp": 0.0}, "ramp"),
        ({"floor": 1.5}, "floor"),
        ({"chance_loss": 0.0}, "chance_loss"),
    ],
)
def test_bad_hyperparameters_are_named(options: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Headroom(**options)


def test_bad_losses_and_state() -> None:
    method = Headroom()
    method.update([1.0, 1.0], C)
    with pytest.raises(ValueError, match="tracks 2 modalities, got 3 losses"):
        method.update([1.0, 1.0, 1.0], C)
    with pytest.raises(ValueError, match=r"unimodal\[1\]"):
        method.update([1.0, math.nan], C)
    with pytest.raises(ValueError, match="must have keys"):
        method.load_state_dict({"step": 1})
    with pytest.raises(ValueError, match="tracked must hold at least one loss"):
        headroom_weights([], CHANCE)


def test_state_round_trip_continues_identically() -> None:
    a = Headroom()
    seq = [[1.3, 1.38, 1.39], [0.9, 1.3, 1.38], [0.5, 1.2, 1.4], [0.3, 1.0, 1.37]]
    for values in seq[:2]:
        a.update(values, C)
    b = Headroom()
    b.load_state_dict(a.state_dict())
    for values in seq[2:]:
        assert a.update(values, C) == b.update(values, C)
    a.reset()
    assert a.tracked is None and a.step == 0


def test_registered_and_built_by_name() -> None:
    assert "headroom" in available_methods()
    method = make_method("headroom", floor=0.2, run_seed=3)
    assert isinstance(method, Headroom) and method.floor == 0.2


def test_gradient_is_that_of_the_weighted_sum() -> None:
    """One backward of f_0 + Σ w_m f_m with the reported weights."""
    torch.manual_seed(0)
    model = build_model({"a": (6,), "b": (5,)}, num_classes=3)
    inputs = {"a": torch.randn(16, 6), "b": torch.randn(16, 5)}
    labels = torch.randint(0, 3, (16,))
    method = Headroom(tracking=1.0)
    step = method.backward(model, model(inputs), labels, epoch=0)
    got = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    model.zero_grad()
    out = model(inputs)
    ce = torch.nn.functional.cross_entropy
    total = step.weights["fusion"] * ce(out.fusion, labels)
    for m in ("a", "b"):
        total = total + step.weights[m] * ce(out.unimodal[m], labels)
    total.backward()  # type: ignore[no-untyped-call]
    for g, p in zip(got, model.parameters(), strict=True):
        assert torch.allclose(g, p.grad)  # type: ignore[arg-type]
    assert set(step.info) == {"gate/a", "gate/b"}


def test_training_gives_a_sensor_without_signal_a_small_share() -> None:
    """Tiny seeded run: a fast linear, a slow xor and a blank (``none``) sensor; the blank
    one's final share of the uni-modal weights is at most 10 % (the floor: 1/30)."""
    specs = [
        ModalitySpec("fast", "linear", dim=32),
        ModalitySpec("slow", "xor", dim=8),
        ModalitySpec("blank", "none", dim=32),
    ]
    config = TrainConfig(
        method="headroom",
        dataset_options={"modalities": specs, "n_train": 384, "n_test": 64},
        epochs=3,
        probes=False,
        valid_fraction=0.0,
        seed=0,
    )
    result = train(config)
    weights = {m: result.final[f"weight/{m}"] for m in ("fast", "slow", "blank")}
    assert weights["blank"] / sum(weights.values()) <= 0.1
    assert weights["slow"] > weights["blank"]
