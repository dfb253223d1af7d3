"""Model selection on a validation split (issue 18): the seeded stratified hold-out, the
selected checkpoint, early stopping, and both surviving a resume; what `fit` records; the
warm-up of `compare`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from moo_multimodal.data import (
    DatasetSplits,
    SubsetDataset,
    TensorDataset,
    holdout_split,
    load_dataset,
    stratified_indices,
)
from moo_multimodal.methods import Method, StepReport, losses, make_method, register_method, report
from moo_multimodal.training import (
    RESULTS,
    SELECTED_MODEL,
    ResumeRefusedError,
    TrainConfig,
    _Selection,
    build_run,
    fit,
    train,
    warm_up,
)
from tests.multimodal._runs import assert_same_model, crash_then_resume

SMALL = {"n_train": 128, "n_test": 64}


@register_method
class AscentAfterFirstEpoch(Method):
    """Descends ``f_0 + Σ f_m`` in epoch 0 and ascends it afterwards: the validation loss is
    best after epoch 1, whatever the seed (a test method)."""

    name = "test-ascent-after-first"
    summary = "test only: descent in epoch 0, ascent after"

    def backward(self, model, output, labels, *, epoch: int) -> StepReport:
        fusion, uni = losses(model, output, labels)
        total = fusion + torch.stack(uni).sum()
        torch.autograd.backward(total if epoch == 0 else -total)
        return report(model, fusion, uni)


def _config(**kw) -> TrainConfig:
    base = {
        "method": AscentAfterFirstEpoch.name,
        "epochs": 3,
        "dataset_options": SMALL,
        "probes": False,
        "select_metric": "fusion_loss",
        "lr": 0.01,
    }
    return TrainConfig(**{**base, **kw})


# -- the hold-out -----------------------------------------------------------------------------


def test_the_holdout_is_stratified_seeded_and_disjoint() -> None:
    labels = np.repeat(np.arange(4), [40, 20, 10, 3])
    kept, held = stratified_indices(labels, 0.25, seed=7)
    assert np.intersect1d(kept, held).size == 0
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(labels.size))
    # round(0.25 n_c) per class, at most n_c - 1: 10, 5, 2 (2.5 rounds to even), 1
    assert np.bincount(labels[held], minlength=4).tolist() == [10, 5, 2, 1]
    again = stratified_indices(labels, 0.25, seed=7)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(stratified_indices(labels, 0.25, seed=8)[1], held)
    with pytest.raises(ValueError, match="fraction"):
        stratified_indices(labels, 1.0)
    assert np.bincount(labels[stratified_indices(labels, 0.01)[1]]).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="holds out no sample"):
        stratified_indices(np.arange(3), 0.2)


def test_holdout_split_of_tensor_and_other_datasets() -> None:
    splits = load_dataset("synthetic", **SMALL)
    rest, held = holdout_split(splits.train, 0.25, seed=1)
    assert isinstance(held, TensorDataset) and len(rest) + len(held) == len(splits.train)
    assert held.labels.bincount().tolist() == [8, 8, 8, 8]  # 32 per class in n_train=128
    # a dataset that is not a TensorDataset: the same indices, as a SubsetDataset
    other = SubsetDataset(splits.train, range(len(splits.train)))
    _, held2 = holdout_split(other, 0.25, seed=1)
    assert isinstance(held2, SubsetDataset)
    assert [int(held2[i][1]) for i in range(len(held2))] == held.labels.tolist()


def test_train_holds_out_of_the_training_split_unless_the_data_have_their_own() -> None:
    result = train(_config(method="joint", epochs=1, valid_fraction=0.25))
    assert any(k.startswith("val/") for k in result.final)
    assert result.config is not None and result.config.valid_fraction == 0.25
    none = train(_config(method="joint", epochs=1, valid_fraction=0.0))
    assert not any(k.startswith("val/") for k in none.final)
    assert none.selected_epoch == 1 and none.selected is none.final
    # the data's own validation split: used whatever valid_fraction says
    splits = load_dataset("synthetic", **SMALL)
    own = DatasetSplits("own", splits.train, splits.test, splits.encoders, "d", valid=splits.test)
    result = train(_config(method="joint", epochs=1, valid_fraction=0.0), splits=own)
    assert result.final["val/fusion_acc"] == result.final["fusion_acc"]  # valid = test here
    with pytest.raises(ValueError, match=r"patience=2 .* needs a validation split"):
        train(_config(method="joint", epochs=1, valid_fraction=0.0, patience=2))


# -- selection and early stopping ---------------------------------------------------------------


def test_selection_takes_the_first_best_epoch_in_the_metrics_direction() -> None:
    high = _Selection("fusion_acc", lower=False)
    for epoch, value in enumerate([0.5, 0.7, 0.7, float("nan"), 0.6], start=1):
        high.update({"epoch": epoch, "val/fusion_acc": value}, None)
    assert (high.epoch, high.value) == (2, 0.7)
    low = _Selection("fusion_loss", lower=True)
    for epoch, value in enumerate([1.0, 0.8, 0.9], start=1):
        low.update({"epoch": epoch, "val/fusion_loss": value}, None)
    assert low.epoch == 2 and low.since(3) == 1


def test_the_selected_checkpoint_is_the_best_validation_epoch(tmp_path: Path) -> None:
    result = train(_config(), output_dir=tmp_path)
    losses_ = [r["val/fusion_loss"] for r in result.history]
    assert result.selected_epoch == 1 == int(np.argmin(losses_)) + 1
    assert result.selected is result.history[0] and not result.stopped_early
    saved = json.loads((tmp_path / RESULTS).read_text())
    assert saved["selected_epoch"] == 1 and saved["select_metric"] == "val/fusion_loss"
    assert saved["selected"] == result.history[0] and saved["last"] == result.history[-1]
    weights = torch.load(tmp_path / SELECTED_MODEL, weights_only=True)
    assert result.selected_state is not None
    for key, value in result.selected_state.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0)
    # the selected model scores the selected epoch's test metrics
    from moo_multimodal.metrics import evaluate

    splits = load_dataset("synthetic", **SMALL)
    scored = evaluate(result.selected_model(), splits.test)
    assert scored["fusion_acc"] == result.selected["fusion_acc"]


def test_early_stopping_stops_and_a_rerun_returns_at_once(tmp_path: Path) -> None:
    lines: list[str] = []
    config = _config(epochs=5, patience=1)
    result = train(config, output_dir=tmp_path, log=lines.append)
    assert len(result.history) == 2 and result.stopped_early and result.selected_epoch == 1
    assert any("early stop after epoch 2" in line for line in lines)
    again = train(config, output_dir=tmp_path, log=lines.append)
    assert len(again.history) == 2 and again.stopped_early and again.selected_epoch == 1
    assert "stopped early after epoch 2" in lines[-1]
    assert_same_model(again.selected_model(), result.selected_model())


def test_a_resumed_run_keeps_the_best_model_so_far(tmp_path: Path) -> None:
    config = _config()
    whole = train(config)
    resumed = crash_then_resume(config, tmp_path, epoch=2)
    assert resumed.resumed_from == 2
    assert resumed.selected_epoch == whole.selected_epoch == 1
    assert_same_model(resumed.selected_model(), whole.selected_model())
    assert_same_model(resumed.model, whole.model)


# -- what is recorded -------------------------------------------------------------------------


def test_fit_records_the_method_and_data_it_trained(tmp_path: Path) -> None:
    config = TrainConfig(method="uniform", epochs=1, dataset_options=SMALL, probes=False)
    splits, model, _ = build_run(config)
    method = make_method("mimo", gamma=2.0)
    result = fit(model, method, splits.train, splits.test, config, output_dir=tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["method"] == "mimo" and saved["method_options"]["gamma"] == 2.0
    assert saved["dataset"] == "custom"
    assert "custom data given to fit" in (tmp_path / "dataset.txt").read_text()
    assert result.config is not None and result.config.method == "mimo"
    # train() records the dataset by name, and a method built from the config unchanged
    named = train(config, output_dir=tmp_path / "named")
    assert json.loads((tmp_path / "named" / "config.json").read_text())["method"] == "uniform"
    assert named.config is not None and named.config.dataset == "synthetic"


def test_refusals_name_resume_false_or_the_cli_flag(tmp_path: Path) -> None:
    train(_config(method="joint", epochs=1), output_dir=tmp_path)
    with pytest.raises(ResumeRefusedError) as info:
        train(_config(method="joint", epochs=1, lr=0.5), output_dir=tmp_path)
    assert "resume=False" in str(info.value) and "--no-resume" not in str(info.value)
    assert "--no-resume" in info.value.cli_message()
    assert "another --out" in info.value.cli_message()


# -- compare warms every method up before timing any ------------------------------------------


def test_compare_warms_every_method_up_before_the_first_run(tmp_path, monkeypatch) -> None:
    import importlib

    # the module (the package's attribute `compare` is the function)
    compare_module = importlib.import_module("moo_multimodal.compare")

    events: list[tuple[str, str]] = []
    real_warm_up, real_train = compare_module.warm_up, compare_module.train

    def spy_warm_up(config, splits, steps):
        events.append(("warm", config.method))
        assert real_warm_up(config, splits, steps) == steps
        return steps

    def spy_train(config, **kw):
        events.append(("train", config.method))
        return real_train(config, **kw)

    monkeypatch.setattr(compare_module, "warm_up", spy_warm_up)
    monkeypatch.setattr(compare_module, "train", spy_train)
    base = TrainConfig(epochs=1, dataset_options=SMALL, probes=False)
    result = compare_module.compare(
        ["joint", "uniform"], seeds=(0,), base=base, output_dir=tmp_path, plots=False
    )
    assert events == [
        ("warm", "joint"),
        ("warm", "uniform"),
        ("train", "joint"),
        ("train", "uniform"),
    ]
    assert "## Selected checkpoints" in result.table and "## Last epoch" in result.table
    assert result.selected["joint"][0]["epoch"] == 1


def test_warm_up_changes_no_run() -> None:
    config = TrainConfig(method="mimo", epochs=1, dataset_options=SMALL, probes=False)
    splits = load_dataset("synthetic", **SMALL)
    before = train(config, splits=splits)
    state = torch.get_rng_state()
    assert warm_up(config, splits, 2) == 2
    assert torch.equal(torch.get_rng_state(), state)
    after = train(config, splits=splits)
    assert_same_model(before.model, after.model)
    with pytest.raises(ValueError, match="steps"):
        warm_up(config, splits, -1)
