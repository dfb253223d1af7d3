"""Tests of moo_multimodal.metrics: accuracy, macro-F1, evaluate and linear probes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import MultimodalDataset, TensorDataset  # noqa: E402
from moo_multimodal.metrics import (  # noqa: E402
    EvaluationSums,
    ProbeFeatures,
    accuracy,
    evaluate,
    evaluation_sums,
    fit_probes,
    linear_probe,
    macro_f1,
    probe_features,
)

C = 3


# ---------------------------------------------------------------- accuracy and macro-F1


def test_accuracy_hand_computed() -> None:
    pred = torch.tensor([0, 1, 2, 2])
    labels = torch.tensor([0, 1, 1, 2])
    assert accuracy(pred, labels) == 0.75
    logits = torch.nn.functional.one_hot(pred, 3).float()
    assert accuracy(logits, labels) == 0.75


def test_macro_f1_hand_computed() -> None:
    pred = torch.tensor([0, 0, 1, 2])
    labels = torch.tensor([0, 1, 1, 1])
    # class 0: TP 1, FP 1, FN 0 -> 2/3; class 1: TP 1, FP 0, FN 2 -> 1/2;
    # class 2: TP 0, FP 1 -> 0; class 3 absent from both -> skipped.
    assert macro_f1(pred, labels, 4) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert macro_f1(labels, labels, 4) == 1.0


def test_macro_f1_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    gen = torch.Generator().manual_seed(0)
    for trial in range(30):
        c = 2 + trial % 6
        n = 1 + trial * 3
        labels = torch.randint(0, c, (n,), generator=gen)
        pred = torch.where(
            torch.rand(n, generator=gen) < 0.6, labels, torch.randint(0, c, (n,), generator=gen)
        )
        expected = metrics.f1_score(labels.numpy(), pred.numpy(), average="macro")
        assert macro_f1(pred, labels, c) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("pred", "labels", "match"),
    [
        (torch.tensor([0, 1]), torch.tensor([0]), "same length"),
        (torch.tensor([], dtype=torch.int64), torch.tensor([], dtype=torch.int64), "empty"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), "integers"),
        (torch.zeros(2, 2, 2), torch.tensor([0, 1]), "shape"),
    ],
)
def test_accuracy_errors(pred: torch.Tensor, labels: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        accuracy(pred, labels)


def test_macro_f1_errors() -> None:
    with pytest.raises(ValueError, match=r"pred must lie in \[0, 2\), got pred\[1\] = 5"):
        macro_f1(torch.tensor([0, 5]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="labels must lie"):
        macro_f1(torch.tensor([0, 1]), torch.tensor([0, -1]), 2)
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        macro_f1(torch.tensor([0]), torch.tensor([0]), 0)


# ---------------------------------------------------------------- a fake model and data


def _data(n: int, seed: int) -> TensorDataset:
    """``a``: one-hot label codes (a clean, linearly separable cue); ``b``: pure noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % C
    a = 2.0 * torch.nn.functional.one_hot(labels, C).float() + 0.1 * torch.randn(
        n, C, generator=gen
    )
    b = torch.randn(n, 8, generator=gen)
    return TensorDataset({"a": a, "b": b}, labels, C)


class OneModalityModel(torch.nn.Module):
    """Fusion logits from modality ``a`` only; uni-modal heads read each modality directly."""

    modalities = ("a", "b")

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.modes: list[bool] = []

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.modes.append(self.training)
        return {"a": inputs["a"] * self.scale, "b": inputs["b"]}

    def forward(self, inputs: dict[str, torch.Tensor]) -> SimpleNamespace:
        h = self.encode(inputs)
        return SimpleNamespace(
            fusion=h["a"] + 0.0 * h["b"].sum(dim=1, keepdim=True),
            unimodal={"a": h["a"], "b": h["b"][:, :C]},
        )


class ListDataset(MultimodalDataset):
    """A non-tensor dataset (goes through the DataLoader path)."""

    def __init__(self, base: TensorDataset) -> None:
        self.base = base
        self.modalities = base.modalities
        self.num_classes = base.num_classes
        self.input_shapes = base.input_shapes

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.base[i]


# ---------------------------------------------------------------- evaluate


def test_evaluate_drop_and_noise_follow_the_modality_used() -> None:
    data = _data(300, seed=1)
    model = OneModalityModel()
    model.train()
    result = evaluate(model, data, batch_size=64, noise_std=1.0, seed=0)
    assert model.training and model.modes and not any(model.modes)

    assert result["fusion_acc"] == 1.0 and result["fusion_f1"] == 1.0
    assert result["acc/a"] == 1.0
    expected_b = accuracy(data.inputs["b"][:, :C], data.labels)
    assert result["acc/b"] == pytest.approx(expected_b)
    assert result["worst_acc"] == pytest.approx(expected_b)
    assert result["imbalance"] == pytest.approx(1.0 / expected_b)
    # zeros for ``a`` -> argmax 0 everywhere -> one class in three right; ``b`` is unused
    assert result["drop/a"] == pytest.approx(1 / 3)
    assert result["drop/b"] == 1.0
    assert result["worst_drop"] == pytest.approx(1 / 3)
    assert 1 / 3 < result["noise/a"] < 1.0
    assert result["noise/b"] == 1.0
    assert result["worst_noise"] == result["noise/a"]
    # the mean input of ``a`` -> one constant prediction: the share of that class
    constant = int(data.inputs["a"][:, :C].double().mean(dim=0).argmax())
    assert result["absent/a"] == pytest.approx(float((data.labels == constant).double().mean()))
    assert result["absent/b"] == 1.0
    assert result["worst_absent"] == result["absent/a"]
    assert set(result) == {
        "fusion_acc", "fusion_f1", "fusion_loss", "acc/a", "acc/b", "worst_acc", "imbalance",
        "drop/a", "drop/b", "noise/a", "noise/b", "worst_drop", "worst_noise",
        "absent/a", "absent/b", "worst_absent",
    }  # fmt: skip


def test_evaluate_is_seeded_and_path_independent() -> None:
    data = _data(200, seed=2)
    model = OneModalityModel().eval()
    first = evaluate(model, data, batch_size=32, noise_std=2.0, seed=5)
    assert not model.training
    assert evaluate(model, data, batch_size=32, noise_std=2.0, seed=5) == first
    # a non-tensor dataset (DataLoader path, streamed input std) gives the same numbers
    other = evaluate(model, ListDataset(data), batch_size=32, noise_std=2.0, seed=5)
    assert other.keys() == first.keys()
    for key, value in first.items():
        assert other[key] == pytest.approx(value, abs=1e-12), key
    assert evaluate(model, data, noise_std=0.0)["noise/a"] == 1.0


@pytest.mark.parametrize("tensor_data", [True, False])
@pytest.mark.parametrize(("world", "batch"), [(2, 32), (3, 32), (5, 4)])
def test_sharded_evaluation_adds_up_to_one_process(
    tensor_data: bool, world: int, batch: int
) -> None:
    """Each process's share of every batch (some shares empty: 50 samples in batches of 4 over
    5 processes end with a batch of 2) sums to the whole: the same metrics, noise included;
    the probe features merge to the whole split's, in order."""
    data = _data(50, seed=3)
    dataset = data if tensor_data else ListDataset(data)
    model = OneModalityModel()
    whole = evaluate(model, dataset, batch_size=batch, noise_std=1.5, seed=4)
    shares = [
        evaluation_sums(
            model, dataset, batch_size=batch, noise_std=1.5, seed=4, rank=r, world_size=world
        )
        for r in range(world)
    ]
    total = EvaluationSums(
        shares[0].modalities,
        shares[0].keys,
        shares[0].num_classes,
        torch.stack([s.values for s in shares]).sum(dim=0),
    )
    merged = total.metrics()
    assert merged.keys() == whole.keys()
    for key, value in whole.items():
        assert merged[key] == pytest.approx(value, rel=1e-12), key
    assert 0.0 < whole["noise/a"] < 1.0  # the noise is not trivial
    features = ProbeFeatures.merge(
        [
            probe_features(model, dataset, batch_size=batch, rank=r, world_size=world)
            for r in range(world)
        ]
    )
    one = probe_features(model, dataset, batch_size=batch)
    assert torch.equal(features.index, torch.arange(50))
    assert torch.equal(features.labels, one.labels)
    for m in one.features:
        assert torch.equal(features.features[m], one.features[m])
    test = probe_features(model, _data(30, seed=4), batch_size=batch)
    assert fit_probes(features, test, C) == linear_probe(model, dataset, _data(30, seed=4))
    with pytest.raises(ValueError, match="rank must be below world_size = 2, got 2"):
        evaluation_sums(model, dataset, rank=2, world_size=2)


def test_evaluate_imbalance_is_inf_when_a_head_is_always_wrong() -> None:
    data = _data(30, seed=3)

    class WrongB(OneModalityModel):
        def forward(self, inputs: dict[str, torch.Tensor]) -> SimpleNamespace:
            out = super().forward(inputs)
            out.unimodal["b"] = -inputs["a"]  # never the right class
            return out

    result = evaluate(WrongB(), data)
    assert result["acc/b"] == 0.0 and math.isinf(result["imbalance"])


def test_evaluate_errors() -> None:
    data = _data(30, seed=3)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        evaluate(OneModalityModel(), data, batch_size=0)
    with pytest.raises(TypeError, match=r"batch_size must be an integer, got 2\.5"):
        evaluate(OneModalityModel(), data, batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"noise_std must be >= 0\.0, got -1"):
        evaluate(OneModalityModel(), data, noise_std=-1.0)
    only_a = TensorDataset({"a": data.inputs["a"]}, data.labels, C)
    with pytest.raises(ValueError, match=r"lacks the model's modalities \['b'\]"):
        evaluate(OneModalityModel(), only_a)


# ---------------------------------------------------------------- linear probes


def test_linear_probe_separable_vs_noise() -> None:
    train, test = _data(600, seed=4), _data(300, seed=5)
    model = OneModalityModel().train()
    result = linear_probe(model, train, test)
    assert model.training and not any(model.modes)
    assert list(result) == ["probe/a", "probe/b"]
    assert result["probe/a"] == 1.0
    assert result["probe/b"] < 0.5
    # deterministic
    assert linear_probe(model, train, test) == result


def test_linear_probe_is_fast_on_2000_by_64_features() -> None:
    gen = torch.Generator().manual_seed(6)
    labels = torch.arange(3000) % 4
    centers = torch.randn(4, 64, generator=gen)
    x = centers[labels] + 2.0 * torch.randn(3000, 64, generator=gen)
    data = TensorDataset({"a": x, "b": torch.randn(3000, 64, generator=gen)}, labels, 4)
    train, test = data.subset(range(2000)), data.subset(range(2000, 3000))

    class Identity(torch.nn.Module):
        modalities = ("a", "b")

        def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return dict(inputs)

    result = linear_probe(Identity(), train, test, max_iter=100)
    assert result["probe/a"] > 0.9
    assert result["probe/b"] < 0.35


def test_linear_probe_errors() -> None:
    data = _data(30, seed=3)
    with pytest.raises(ValueError, match="max_iter must be >= 1, got 0"):
        linear_probe(OneModalityModel(), data, data, max_iter=0)
    with pytest.raises(ValueError, match="weight_decay must be finite"):
        linear_probe(OneModalityModel(), data, data, weight_decay=float("nan"))
    other = TensorDataset(dict(data.inputs), data.labels, C + 1)
    with pytest.raises(ValueError, match="num_classes differ: 3 vs 4"):
        linear_probe(OneModalityModel(), data, other)


# ---------------------------------------------------------------- balance against "alone"


def test_balance_metrics_skip_a_modality_at_chance_alone() -> None:
    from moo_multimodal.metrics import balance_metrics, informative_modalities

    alone = {"fast": 0.92, "slow": 0.95, "blank": 0.27}
    record = {"probe/fast": 0.9, "probe/slow": 0.6, "probe/blank": 0.25, "fusion_acc": 0.9}
    out = balance_metrics(record, alone, 4)
    assert out["balance/fast"] == pytest.approx(0.9 / 0.92)
    assert out["balance/slow"] == pytest.approx(0.6 / 0.95)
    assert out["balance/blank"] == pytest.approx(0.25 / 0.27)  # reported ...
    assert out["informative/blank"] == 0.0 and out["informative/slow"] == 1.0
    assert out["worst_informative"] == 0.6  # ... but not minimized over
    assert out["worst_informative_balance"] == pytest.approx(0.6 / 0.95)
    assert out["n_informative"] == 2.0
    # the margin decides: 0.27 is informative with margin 0.01
    assert informative_modalities(alone, 4, margin=0.01) == ("fast", "slow", "blank")
    assert informative_modalities(alone, 4, margin=0.7) == ()
    none = balance_metrics(record, {"blank": 0.27}, 4)
    assert math.isnan(none["worst_informative"]) and none["n_informative"] == 0.0
    zero = balance_metrics({"acc/a": 0.0}, {"a": 0.0}, 2, prefix="acc")
    assert math.isnan(zero["balance/a"])


def test_balance_metrics_errors() -> None:
    from moo_multimodal.metrics import balance_metrics, chance_level, reference_accuracies

    with pytest.raises(ValueError, match="record lacks 'probe/b'"):
        balance_metrics({"probe/a": 0.5}, {"a": 0.9, "b": 0.9}, 4)
    with pytest.raises(ValueError, match="prefix must be 'probe' or 'acc', got 'head'"):
        balance_metrics({"probe/a": 0.5}, {"a": 0.9}, 4, prefix="head")
    with pytest.raises(ValueError, match="margin"):
        balance_metrics({"probe/a": 0.5}, {"a": 0.9}, 4, margin=-0.1)
    with pytest.raises(ValueError, match=r"alone\['a'\]"):
        balance_metrics({"probe/a": 0.5}, {"a": 1.5}, 4)
    with pytest.raises(ValueError, match="num_classes"):
        chance_level(1)
    with pytest.raises(ValueError, match="record has no 'probe/<m>' key"):
        reference_accuracies({"fusion_acc": 0.9})
    assert reference_accuracies({"probe/a": 0.5, "acc/a": 0.4, "fusion_acc": 0.9}) == {"a": 0.5}


def test_reference_run_flags_the_sensor_without_signal() -> None:
    """The documented reference: a ``unimodal`` run's probes. A ``none`` sensor is at chance
    alone, so it is not informative; the worst informative modality is a real one."""
    from moo_multimodal import TrainConfig, train
    from moo_multimodal.data.synthetic import ModalitySpec
    from moo_multimodal.metrics import balance_metrics, reference_accuracies

    specs = [ModalitySpec("a", "linear", dim=16), ModalitySpec("blank", "none", dim=16)]
    options = {"modalities": specs, "n_train": 400, "n_test": 1000}
    base = dict(dataset_options=options, epochs=2, valid_fraction=0.0, seed=0)
    alone = reference_accuracies(train(TrainConfig(method="unimodal", **base)).final)
    joint = train(TrainConfig(method="joint", **base)).final
    out = balance_metrics(joint, alone, 4)
    assert alone["a"] > 0.6 and abs(alone["blank"] - 0.25) < 0.05
    assert out["informative/a"] == 1.0 and out["informative/blank"] == 0.0
    assert out["worst_informative"] == joint["probe/a"]
    assert joint["worst_probe"] == min(joint["probe/a"], joint["probe/blank"])
