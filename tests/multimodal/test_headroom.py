"""Tests of the ``headroom`` method: its progress statistic and weights on crafted loss
sequences (a slow sensor against a memorizing hopeless one), its gradient, its state, and a
short training run with a sensor without signal."""

from __future__ import annotations

import json
import math

import pytest
import torch

from moo_multimodal import TrainConfig, build_model, train
from moo_multimodal.data.synthetic import ModalitySpec
from moo_multimodal.methods import Headroom, available_methods, make_method
from moo_multimodal.methods.headroom import headroom_weights, progress_statistic

CHANCE = math.log(4)


def share(weights: list[float], i: int) -> float:
    """Modality i's share of the uni-modal weights (``weights[0]`` is the fusion weight)."""
    return weights[1 + i] / sum(weights[1:])


def test_weights_closed_form() -> None:
    # fast converged and still learning a little, slow behind and learning, blank not learning
    lam, gates = headroom_weights([0.05, 0.9, CHANCE], [4.0, 2.0, -1.0])
    assert gates == [1.0, 0.5, 0.0]
    assert lam[2] == pytest.approx(0.2 / 3)  # exactly the floor share
    assert lam[1] == pytest.approx(0.8 * 0.45 / 0.5 + 0.2 / 3)
    assert sum(lam) == pytest.approx(1.0)
    # every gate closed and nothing learnt yet: uniform
    assert headroom_weights([CHANCE] * 3, [0.0] * 3)[0] == [1 / 3] * 3
    # every gate closed, but fast and slow have shown progress before: they share 1 - floor
    lam, _ = headroom_weights([0.0, 0.01, CHANCE], [0.0, 0.5, 0.2], learnt=[True, True, False])
    assert lam == pytest.approx([0.4 + 0.2 / 3, 0.4 + 0.2 / 3, 0.2 / 3])
    # an exact fit (z = ±inf) is allowed; no floor: a modality with a closed gate gets nothing
    assert headroom_weights([0.5, CHANCE], [math.inf, -math.inf], floor=0.0)[0] == [1.0, 0.0]


def _regression_z(epochs: list[list[float]]) -> float:
    """The statistic of `Headroom` after feeding one modality's loss per step, by epoch."""
    method = Headroom(memory=1.0)
    for e, values in enumerate(epochs):
        for v in values:
            method.update([v], e)
    return method.progress[0]


def test_progress_statistic_is_the_pooled_within_epoch_trend() -> None:
    gen = torch.Generator().manual_seed(1)
    noise = [0.02 * float(x) for x in torch.randn(60, generator=gen)]
    # a fresh loss falling by 0.003 per step (noise 0.02): z >> 3
    learning = [[1.3 - 0.003 * k + noise[20 * e + k] for k in range(20)] for e in range(3)]
    assert _regression_z(learning) > 5
    # memorization: flat within each epoch, a jump down at every epoch boundary (the gain of a
    # revisit); a pooled regression over epochs would see a strong trend, the within-epoch
    # one sees none
    memorizing = [[CHANCE - 0.1 * e + noise[20 * e + k] for k in range(20)] for e in range(3)]
    assert abs(_regression_z(memorizing)) < 2
    # against the closed form of ordinary least squares on one epoch
    ys = learning[0]
    ks = list(range(20))
    kbar, ybar = sum(ks) / 20, sum(ys) / 20
    sxx = sum((k - kbar) ** 2 for k in ks)
    b = -sum((k - kbar) * (y - ybar) for k, y in zip(ks, ys, strict=True)) / sxx
    ssr = sum((y - ybar + b * (k - kbar)) ** 2 for k, y in zip(ks, ys, strict=True))
    assert _regression_z([ys]) == pytest.approx(b / math.sqrt(ssr / 18 / sxx))
    # too few points: 0
    assert _regression_z([[1.0, 0.9]]) == 0.0
    sums = [0.0] * 11
    assert progress_statistic(sums) == 0.0


def _crafted(t: int, steps: int, noise: list[float]) -> list[float]:
    """Pre-step losses at step t (``steps`` per epoch) of fast, slow and blank.

    fast: learnt in about 50 steps; slow: *still near chance for 4 epochs* (its fresh loss
    falls slowly, 0.25 c over 4 epochs, then faster); blank: fresh loss at chance, but its
    encoder memorizes: every revisit lowers its loss by 0.03 (1.39 → 1.12 over 10 epochs, as
    measured in issue 17), flat within an epoch."""
    epoch = t // steps
    fast = 0.02 + (CHANCE - 0.02) * math.exp(-t / 15)
    slow = CHANCE * (1 - 0.25 * min(t, 4 * steps) / (4 * steps))
    if t > 4 * steps:
        slow = 0.1 + (slow - 0.1) * math.exp(-(t - 4 * steps) / 100)
    blank = CHANCE - 0.03 * epoch
    return [v * (1 + n) for v, n in zip((fast, slow, blank), noise, strict=True)]


def test_crafted_slow_versus_hopeless() -> None:
    """The slow sensor gets the priority while it is still near chance; the memorizing blank
    one gets the floor share, although its training loss falls by more than the slow one's
    distance from chance would suggest."""
    steps, epochs = 32, 10
    method = Headroom()
    gen = torch.Generator().manual_seed(0)
    shares = []
    for t in range(steps * epochs):
        noise = [0.01 * float(x) for x in torch.randn(3, generator=gen)]  # batch noise
        w = method.update(_crafted(t, steps, noise), t // steps)
        assert w[0] == 1.0 and sum(w[1:]) == pytest.approx(3.0)
        shares.append([share(w, i) for i in range(3)])
        if t == 20:
            method_gates_at_20 = list(method.gates)
    assert shares[0] == pytest.approx([1 / 3] * 3)  # no evidence yet: uniform
    # within the first epoch both fast and slow show fresh progress; slow, further behind,
    # leads; blank shows none and is at the floor
    assert method_gates_at_20 == [1.0, 1.0, 0.0]
    assert shares[20][1] > shares[20][0] > shares[20][2]
    # slow: its loss is within 0.25 c of chance for 4 epochs, yet it leads from epoch 2 on
    for t in range(2 * steps, steps * epochs):
        assert shares[t][1] > 0.6
        assert shares[t][2] <= 0.1  # blank: the floor share, 1/15
    assert shares[-1][2] == pytest.approx(0.2 / 3)


def test_mimo_would_chase_the_blank_modality() -> None:
    """The contrast that motivates the method: the worst loss is blank's."""
    mimo = make_method("mimo")
    losses = torch.tensor([0.5, 0.02, 0.9, CHANCE], dtype=torch.float64)
    w = mimo.rule.weights(None, losses.numpy()).weights  # type: ignore[attr-defined]
    assert w[3] / w[1:].sum() > 0.5
    lam, _ = headroom_weights([0.02, 0.9, CHANCE], [3.0, 3.0, 0.0])
    assert lam[2] < 0.1


def test_tracking_smooths_and_epochs_fold() -> None:
    method = Headroom(tracking=0.5)
    method.update([1.0, CHANCE], 0)
    method.update([0.0, CHANCE], 0)
    assert method.tracked == pytest.approx([0.5, CHANCE])
    assert method.index == 2 and method.epoch == 0
    method.update([0.0, CHANCE], 2)  # a skipped epoch is allowed (decay ρ²)
    assert method.index == 1 and method.epoch == 2
    assert method.sums[0][9] == pytest.approx(2 * 0.25)  # the decayed count of points


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"gamma": -1.0}, "gamma"),
        ({"tracking": 0.0}, "tracking"),
        ({"threshold": math.nan}, "threshold"),
        ({"ramp": 0.0}, "ramp"),
        ({"floor": 1.5}, "floor"),
        ({"memory": 2.0}, "memory"),
    ],
)
def test_bad_hyperparameters_are_named(options: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Headroom(**options)


def test_bad_losses_and_state() -> None:
    method = Headroom()
    method.update([1.0, 1.0], 1)
    with pytest.raises(ValueError, match="tracks 2 modalities, got 3 losses"):
        method.update([1.0, 1.0, 1.0], 1)
    with pytest.raises(ValueError, match=r"unimodal\[1\]"):
        method.update([1.0, math.nan], 1)
    with pytest.raises(ValueError, match=r"unimodal\[0\] must be >= 0.0, got -1.0"):
        method.update([-1.0, 1.0], 1)
    with pytest.raises(ValueError, match=r"unimodal\[1\] must be finite, got inf"):
        method.update([1.0, math.inf], 1)
    with pytest.raises(TypeError, match=r"unimodal\[1\] must be a real number"):
        method.update([1.0, "1.0"], 1)
    weights = method.update([1, 1], 1)  # integers go through check_real and are accepted
    assert len(weights) == 3 and all(math.isfinite(w) for w in weights)
    with pytest.raises(ValueError, match="epoch must not go back: got 0 after 1"):
        method.update([1.0, 1.0], 0)
    with pytest.raises(ValueError, match="epoch"):
        method.update([1.0, 1.0], -1)
    with pytest.raises(ValueError, match="must have keys"):
        method.load_state_dict({"step": 1})
    state = method.state_dict()
    state["sums"] = state["sums"][:1]
    with pytest.raises(ValueError, match="must hold 2 rows of 11 sums"):
        method.load_state_dict(state)
    with pytest.raises(ValueError, match="tracked must hold at least one loss"):
        headroom_weights([], [])
    with pytest.raises(ValueError, match="progress must hold 2 statistics"):
        headroom_weights([1.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="learnt must hold 2 flags"):
        headroom_weights([1.0, 1.0], [0.0, 0.0], learnt=[True])


def test_state_round_trip_continues_identically() -> None:
    a = Headroom()
    seq = [[1.3, 1.38, 1.39], [0.9, 1.3, 1.38], [0.5, 1.2, 1.4], [0.3, 1.0, 1.37]] * 3
    for i, values in enumerate(seq[:5]):
        a.update(values, i // 4)
    b = Headroom()
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for i, values in enumerate(seq[5:], start=5):
        assert a.update(values, i // 4) == b.update(values, i // 4)
    a.reset()
    assert a.tracked is None and a.step == 0


def test_registered_and_built_by_name() -> None:
    assert "headroom" in available_methods()
    method = make_method("headroom", floor=0.1, run_seed=3)
    assert isinstance(method, Headroom) and method.floor == 0.1


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
    assert set(step.info) == {"gate/a", "gate/b", "progress/a", "progress/b"}


def test_training_gives_a_sensor_without_signal_a_small_share() -> None:
    """Tiny seeded run: a fast linear, a slow xor and a blank (``none``) sensor; the blank
    one's final share of the uni-modal weights is at most 10 % (the floor: 1/15)."""
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
