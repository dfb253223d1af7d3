"""The multimodal methods through the trainer: gradients, structure, runs, resume, bad input."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moo.solvers import min_norm_weights
from moo_multimodal.data import TensorDataset, load_dataset
from moo_multimodal.methods import RuleMethod, available_methods, make_method
from moo_multimodal.models import build_model
from moo_multimodal.training import TrainConfig, build_run, fit, train
from tests.multimodal._runs import assert_same_model, crash_then_resume

ALL_METHODS = sorted(available_methods())
SMALL = {"n_train": 256, "n_test": 128}


def _batch(m: int = 3, n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shapes = {f"s{i}": (5 + i,) for i in range(m)}
    inputs = {k: torch.randn(n, *s, generator=g) for k, s in shapes.items()}
    labels = torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(seed)
    model = build_model(
        shapes, 3, encoder="mlp", encoder_options={k: {"hidden": (8,)} for k in shapes}
    )
    return model, inputs, labels


def _grads(model):
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def test_available_methods_lists_baselines_and_rules() -> None:
    names = set(available_methods())
    assert {"joint", "uniform", "unimodal", "ogm-ge", "mmpareto"} <= names
    assert {"mimo", "mgda", "cagrad", "nash-mtl", "moco", "modo"} <= names
    assert "linear" not in names


def _assert_mgda_optimal(w: np.ndarray, gram: np.ndarray) -> None:
    """``w`` solves MGDA on ``gram`` up to what float32 gradients determine: each Gramian entry
    is known to ~ (a few ulps) eps32 ||g_i|| ||g_j||, so the Frank-Wolfe gap
    ``wᵀGw − min_i (Gw)_i`` (which bounds ``wᵀGw − w*ᵀGw*``) and the optimal value hold to
    that; the weights themselves do not (ill-determined when gradients are nearly parallel)."""
    delta = 16 * float(np.finfo(np.float32).eps) * float(np.max(np.diag(gram)))
    assert np.all(w >= 0.0) and abs(float(w.sum()) - 1.0) <= 1e-12
    value = float(w @ gram @ w)
    assert value - float(np.min(gram @ w)) <= delta
    assert abs(value - min_norm_weights(gram).value) <= delta


@pytest.mark.parametrize("extraction", ["groups", "batched"])
@pytest.mark.parametrize("m", [2, 3])
def test_rule_method_writes_jt_w_with_two_backward_passes(m: int, extraction: str) -> None:
    """Structured extraction (groups: two backward passes; batched: the same two as one
    batched backward) equals separate backward passes, for any M."""
    model, inputs, labels = _batch(m)
    method = RuleMethod("mgda", extraction=extraction)
    out = model(inputs)
    rep = method.backward(model, out, labels, epoch=0)
    assert rep.info["backward_passes"] == (2 if extraction == "groups" else 1)
    got = {id(p): p.grad.clone() for p in model.parameters()}

    model.zero_grad(set_to_none=True)
    out = model(inputs)
    f = [F.cross_entropy(out.fusion, labels)] + [
        F.cross_entropy(out.unimodal[k], labels) for k in model.modalities
    ]
    enc = [p for k in model.modalities for p in model.encoder_parameters(k)]
    rows = []
    for loss in f:
        gs = torch.autograd.grad(loss, enc, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(enc, gs, strict=True)
                ]
            )
        )
    jac = torch.stack(rows).double()
    w = np.array([rep.weights[n] for n in ("fusion", *model.modalities)])
    _assert_mgda_optimal(w, (jac @ jac.T).numpy())
    d = jac.T @ torch.as_tensor(w)
    offset = 0
    for p in enc:
        n = p.numel()
        torch.testing.assert_close(
            got[id(p)].double().reshape(-1), d[offset : offset + n], atol=1e-6, rtol=1e-5
        )
        offset += n
    plain = torch.autograd.grad(
        sum(f),
        [
            *model.fusion_parameters(),
            *[q for k in model.modalities for q in model.head_parameters(k)],
        ],
    )
    heads = [
        *model.fusion_parameters(),
        *[q for k in model.modalities for q in model.head_parameters(k)],
    ]
    for p, g in zip(heads, plain, strict=True):
        torch.testing.assert_close(got[id(p)], g, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("m", [2, 3])
def test_rule_method_representation_extraction_is_mgda_ub_per_modality(m: int) -> None:
    """extraction="representation": G from the gradients at the encoder outputs (summed over
    the modalities), one backward of Σ w_i f_i over the encoders, plain gradients elsewhere."""
    model, inputs, labels = _batch(m)
    method = make_method("mgda", extraction="representation")
    out = model(inputs)
    rep = method.backward(model, out, labels, epoch=0)
    assert rep.info["backward_passes"] == (m + 1) + 2  # to the outputs, task, encoders
    got = {id(p): p.grad.clone() for p in model.parameters()}

    model.zero_grad(set_to_none=True)
    out = model(inputs)
    f = [F.cross_entropy(out.fusion, labels)] + [
        F.cross_entropy(out.unimodal[k], labels) for k in model.modalities
    ]
    gram = np.zeros((m + 1, m + 1))
    for k in model.modalities:
        rows = []
        for loss in f:
            (g,) = torch.autograd.grad(loss, out.features[k], retain_graph=True, allow_unused=True)
            rows.append(np.zeros(out.features[k].numel()) if g is None else g.double().flatten())
        block = np.stack(rows)
        gram += block @ block.T
    w = np.array([rep.weights[n] for n in ("fusion", *model.modalities)])
    _assert_mgda_optimal(w, gram)
    enc = [p for k in model.modalities for p in model.encoder_parameters(k)]
    heads = [
        *model.fusion_parameters(),
        *[q for k in model.modalities for q in model.head_parameters(k)],
    ]
    weighted = sum(float(wi) * fi for wi, fi in zip(w, f, strict=True))
    expected = torch.autograd.grad(weighted, enc, retain_graph=True)
    for p, g in zip(enc, expected, strict=True):
        torch.testing.assert_close(got[id(p)], g, atol=1e-6, rtol=1e-5)
    for p, g in zip(heads, torch.autograd.grad(sum(f), heads), strict=True):
        torch.testing.assert_close(got[id(p)], g, atol=1e-6, rtol=1e-5)


def test_rule_method_extraction_errors() -> None:
    with pytest.raises(ValueError, match="extraction must be one of 'groups', 'batched', 'repr"):
        make_method("mgda", extraction="fast")
    with pytest.raises(ValueError, match="'moco' needs the whole Jacobian"):
        make_method("moco", extraction="representation")
    make_method("mimo", extraction="representation")  # loss-only: accepted, unused
    variant = make_method("mgda@batched")
    assert isinstance(variant, RuleMethod) and variant.extraction == "batched"
    assert variant.name == "mgda@batched" and make_method("mgda").name == "mgda"
    with pytest.raises(ValueError, match="only moo rules take an extraction"):
        make_method("joint@batched")
    with pytest.raises(ValueError, match="names its extraction"):
        make_method("mgda@batched", extraction="groups")
    with pytest.raises(ValueError, match="extraction must be one of"):
        make_method("mgda@fast")


def test_mimo_method_is_one_weighted_backward() -> None:
    model, inputs, labels = _batch(3)
    method = make_method("mimo", gamma=2.0, mu=0.5)
    out = model(inputs)
    rep = method.backward(model, out, labels, epoch=0)
    f = torch.tensor([rep.fusion_loss, *rep.unimodal_losses.values()], dtype=torch.float64)
    lam = torch.softmax(f[1:] / 0.5, 0)
    assert rep.weights["fusion"] == pytest.approx(1.0)
    np.testing.assert_allclose(
        [rep.weights[k] for k in model.modalities], 2.0 * lam.numpy(), rtol=1e-9
    )
    assert rep.info["backward_passes"] == 1


@pytest.mark.parametrize("name", ALL_METHODS)
def test_each_method_reports_the_batch_losses(name: str) -> None:
    """The reported losses (one host copy per step, shared with the method's own numbers) are
    the cross-entropies of the heads on the batch."""
    model, inputs, labels = _batch(3)
    method = make_method(name)
    out = model(inputs, detach_unimodal=method.detach_unimodal, detach_fusion=method.detach_fusion)
    rep = method.backward(model, out, labels, epoch=0)
    assert rep.fusion_loss == pytest.approx(F.cross_entropy(out.fusion, labels).item(), rel=1e-6)
    for m in model.modalities:
        expected = F.cross_entropy(out.unimodal[m], labels).item()
        assert rep.unimodal_losses[m] == pytest.approx(expected, rel=1e-6)


def test_report_checks_the_values_it_is_given() -> None:
    from moo_multimodal.methods._base import losses, report

    model, inputs, labels = _batch(2)
    fusion, uni = losses(model, model(inputs), labels)
    with pytest.raises(ValueError, match="3 loss values, got 2"):
        report(model, fusion, uni, values=[0.1, 0.2])
    with pytest.raises(ValueError, match="s0 loss is not finite"):
        report(model, fusion, uni, values=[0.1, math.nan, 0.2])


def test_joint_never_moves_encoders_with_unimodal_losses() -> None:
    model, inputs, labels = _batch(2)
    method = make_method("joint")
    out = model(inputs, detach_unimodal=True)
    method.backward(model, out, labels, epoch=0)
    got = {id(p): p.grad.clone() for p in model.parameters()}
    model.zero_grad(set_to_none=True)
    out = model(inputs)
    F.cross_entropy(out.fusion, labels).backward()
    for k in model.modalities:
        for p in model.encoder_parameters(k):
            torch.testing.assert_close(got[id(p)], p.grad)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_each_method_trains_and_lowers_the_loss(name: str) -> None:
    """A few full-batch steps on a fixed batch lower the fusion loss, for every method."""
    model, inputs, labels = _batch(2, n=64)
    method = make_method(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def fusion_loss() -> float:
        with torch.no_grad():
            return float(F.cross_entropy(model(inputs).fusion, labels))

    before = fusion_loss()
    for _ in range(30):
        opt.zero_grad(set_to_none=True)
        out = model(
            inputs, detach_unimodal=method.detach_unimodal, detach_fusion=method.detach_fusion
        )
        rep = method.backward(model, out, labels, epoch=0)
        assert math.isfinite(rep.fusion_loss)
        opt.step()
    assert fusion_loss() < before


def test_train_writes_logs_and_metrics(tmp_path) -> None:
    cfg = TrainConfig(method="mimo", epochs=2, dataset_options=SMALL)
    result = train(cfg, output_dir=tmp_path)
    assert len(result.history) == 2
    final = result.final
    for key in (
        "fusion_acc",
        "fusion_f1",
        "worst_acc",
        "worst_probe",
        "step_ms",
        "rule_us",
        "weight/fusion",
        "train/fusion_loss",
    ):
        assert key in final
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert (tmp_path / "metrics.csv").read_text().startswith("epoch,")
    assert json.loads((tmp_path / "config.json").read_text())["method"] == "mimo"


@pytest.mark.parametrize("method", ["ogm-ge", "mimo", "mgda", "uniform+dropout"])
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, method: str) -> None:
    options = {"tracking": 0.5} if method == "mimo" else {}
    method, _, extra = method.partition("+")
    cfg = TrainConfig(
        method=method,
        method_options=options,
        epochs=3,
        dataset_options=SMALL,
        probes=False,
        modality_dropout=0.3 if extra == "dropout" else 0.0,
    )
    full = train(cfg, output_dir=tmp_path / "full")
    resumed = crash_then_resume(cfg, tmp_path / "crashed")
    assert len(resumed.history) == 3
    assert_same_model(full.model, resumed.model)
    keep = [k for k in full.final if not k.endswith(("_ms", "_us"))]
    assert {k: full.final[k] for k in keep} == {k: resumed.final[k] for k in keep}


def test_resume_refuses_another_configuration(tmp_path) -> None:
    train(
        TrainConfig(method="joint", epochs=1, dataset_options=SMALL, probes=False),
        output_dir=tmp_path,
    )
    with pytest.raises(ValueError, match=r"different configuration.*method"):
        train(
            TrainConfig(method="mimo", epochs=1, dataset_options=SMALL, probes=False),
            output_dir=tmp_path,
        )


def test_checkpoint_is_never_torn(tmp_path) -> None:
    train(
        TrainConfig(method="joint", epochs=1, dataset_options=SMALL, probes=False),
        output_dir=tmp_path,
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1


def test_bad_inputs_get_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown method .nope.*joint"):
        make_method("nope")
    with pytest.raises(ValueError, match="unknown"):
        load_dataset("no-such-dataset")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="empty"):
        TensorDataset(
            {"a": torch.zeros(0, 2), "b": torch.zeros(0, 2)}, torch.zeros(0, dtype=torch.long), 2
        )
    with pytest.raises(ValueError, match="'b'"):
        TensorDataset(
            {"a": torch.zeros(4, 2), "b": torch.tensor([[0.0, math.nan]] * 4)},
            torch.zeros(4, dtype=torch.long),
            2,
        )


def test_mismatched_modalities_between_model_and_data() -> None:
    splits = load_dataset("synthetic", **SMALL)
    shapes = {"x": (3,), "y": (3,)}
    model = build_model(shapes, splits.train.num_classes)
    with pytest.raises(ValueError, match="modalities"):
        fit(model, make_method("joint"), splits.train, splits.test, TrainConfig(epochs=1))


def test_non_finite_loss_is_reported_by_objective() -> None:
    model, inputs, labels = _batch(2)
    with torch.no_grad():
        next(iter(model.heads[model.modalities[1]].parameters())).fill_(math.inf)
    out = model(inputs)
    with pytest.raises(ValueError, match="s1"):
        make_method("uniform").backward(model, out, labels, epoch=0)


def test_progress_bar_and_tensorboard_options(tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(method="joint", epochs=1, dataset_options=SMALL, probes=False)
    assert len(train(cfg, progress=True).history) == 1
    with pytest.raises(ValueError, match="output_dir"):
        train(cfg, tensorboard=True)
    # without the tensorboard package: a clear ImportError (the writer is optional)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        train(cfg, output_dir=tmp_path, tensorboard=True)
    # without tqdm: the error names the option and the extra that installs it
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"progress=True needs tqdm: .*moo-toolkit\[progress\]"):
        train(cfg, progress=True)


# -- frozen parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mgda", "mgda@batched", "mgda@representation", "mmpareto"])
def test_a_frozen_encoder_layer_trains_with_rules_and_mmpareto(name: str) -> None:
    """Frozen parameters are left out once, by `MultimodalModel.parameter_groups`: they keep no
    gradient and do not move, everything else trains."""
    torch.manual_seed(0)
    splits = load_dataset("synthetic", **SMALL)
    model = build_model(splits.train.input_shapes, splits.train.num_classes)
    frozen = list(model.encoders[model.modalities[0]].parameters())[:2]  # its first layer
    for p in frozen:
        p.requires_grad_(False)
    before = {id(p): p.detach().clone() for p in model.parameters()}
    config = TrainConfig(epochs=1, batch_size=64, probes=False, dataset_options=SMALL)
    result = fit(model, make_method(name), splits.train, splits.test, config)
    assert math.isfinite(result.final["train/fusion_loss"])
    for p in model.parameters():
        if any(p is q for q in frozen):
            assert p.grad is None
            torch.testing.assert_close(p, before[id(p)], rtol=0, atol=0)
        else:
            assert not torch.equal(p, before[id(p)])


def test_freezing_between_steps_is_seen_by_rule_methods() -> None:
    model, inputs, labels = _batch(2)
    method = make_method("mgda")
    layer = list(model.encoders["s0"].parameters())[:1]  # its weight (the bias trains)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        method.backward(model, model(inputs), labels, epoch=0)

    step()
    assert all(p.grad is not None for p in layer)
    for p in layer:
        p.requires_grad_(False)
    step()
    assert all(p.grad is None for p in layer)
    for p in layer:
        p.requires_grad_(True)
    step()
    assert all(p.grad is not None for p in layer)


def test_a_wholly_frozen_encoder_is_named_for_gradient_rules() -> None:
    model, inputs, labels = _batch(2)
    model.encoders["s1"].requires_grad_(False)
    out = model(inputs)
    with pytest.raises(ValueError, match=r"encoder 's1' has no trainable parameter"):
        make_method("mgda").backward(model, out, labels, epoch=0)
    rep = make_method("mimo").backward(model, out, labels, epoch=0)  # loss-only: fine
    assert math.isfinite(rep.fusion_loss)
    assert all(p.grad is None for p in model.encoders["s1"].parameters())


# -- the seed protocol --------------------------------------------------------------------------


def _noise_splits(m: int = 4):
    """Pure-noise data with four modalities: five objectives that conflict often, so PCGrad's
    projection order changes its weights."""
    from moo_multimodal.data import DatasetSplits

    def split(n: int, seed: int) -> TensorDataset:
        g = torch.Generator().manual_seed(seed)
        inputs = {f"s{i}": torch.randn(n, 4, generator=g) for i in range(m)}
        return TensorDataset(inputs, torch.randint(0, 3, (n,), generator=g), 3)

    encoders = {f"s{i}": ("mlp", {"hidden": (8,)}) for i in range(m)}
    return DatasetSplits("noise", split(64, 0), split(32, 1), encoders, "noise")


def _without_timings(history):
    return [{k: v for k, v in r.items() if not k.endswith(("_ms", "_us"))} for r in history]


@pytest.mark.parametrize("name", ["pcgrad", "pcgrad@batched"])
def test_rule_methods_draw_from_the_run_seed(name: str) -> None:
    """PCGrad through RuleMethod: seeds 0 and 1 draw different projection orders (the same
    model, data and batches give different weights), and a seed reproduces bit for bit."""
    splits = _noise_splits()
    config = TrainConfig(method=name, epochs=2, batch_size=16, probes=False)
    runs = {}
    for seed in (0, 1):
        _, model, method = build_run(replace(config, seed=seed), splits)
        assert isinstance(method, RuleMethod) and method.rule.seed == seed
        # same initialization and batch order for both: only the projection orders differ
        runs[seed] = fit(model, method, splits.train, splits.test, config)
    weights = [[r["weight/fusion"] for r in runs[s].history] for s in (0, 1)]
    assert weights[0] != weights[1]

    again = [train(replace(config, seed=1), splits=splits) for _ in range(2)]
    assert _without_timings(again[0].history) == _without_timings(again[1].history)
    assert_same_model(again[0].model, again[1].model)
    assert again[0].method.state_dict() == again[1].method.state_dict()


@pytest.mark.parametrize(("name", "attribute"), [("pcgrad", "rule"), ("ogm-ge", None)])
def test_an_explicit_seed_in_the_method_options_wins(name: str, attribute: str | None) -> None:
    splits = load_dataset("synthetic", **SMALL)
    for options, expected in (({}, 3), ({"seed": 7}, 7)):
        config = TrainConfig(method=name, seed=3, method_options=options)
        _, _, method = build_run(config, splits)
        target = method if attribute is None else getattr(method, attribute)
        assert target.seed == expected
        assert config.method_options == options  # the run's seed is not written into them
    assert make_method("pcgrad").rule.seed == 0  # no run seed: the rule's default
    assert make_method("pcgrad", run_seed=5, seed=None).rule.seed is None
    assert make_method("mgda", run_seed=5).name == "mgda"  # no seed declared: none given


def test_the_run_folder_records_the_data_it_was_trained_on(tmp_path: Path) -> None:
    """dataset.txt holds the loaded splits' description (for a published layout: the label
    order it was read in), next to config.json."""
    from moo_multimodal.data import load_dataset

    config = TrainConfig(epochs=1, probes=False, dataset_options={"n_train": 64, "n_test": 32})
    train(config, output_dir=tmp_path)
    expected = load_dataset("synthetic", n_train=64, n_test=32).description
    assert (tmp_path / "dataset.txt").read_text() == expected.rstrip() + "\n"
