"""Modality dropout (ModDrop at the input): the draw, the fill, validation, and training."""

from __future__ import annotations

import pytest
import torch

from moo_multimodal.augment import ModalityDropout
from moo_multimodal.data import TensorDataset
from moo_multimodal.training import TrainConfig, train


def _dataset(n: int = 64) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(
        {
            "a": torch.randn(n, 3, generator=g),
            "b": torch.randn(n, 2, 4, generator=g) + 5.0,
            "tokens": torch.randint(0, 9, (n, 6), generator=g),
        },
        torch.randint(0, 3, (n,), generator=g),
    )


def test_fill_is_the_mean_input_and_integer_modalities_are_kept() -> None:
    data = _dataset()
    drop = ModalityDropout.from_dataset(0.5, data)
    assert drop.modalities == ("a", "b")
    torch.testing.assert_close(drop.fill["a"], data.inputs["a"].double().mean(0))
    torch.testing.assert_close(drop.fill["b"], data.inputs["b"].double().mean(0))


def test_each_dropped_sample_loses_exactly_one_modality() -> None:
    n = 20_000
    data = _dataset(n)
    drop = ModalityDropout.from_dataset(0.3, data)
    inputs = dict(data.inputs)
    out = drop(inputs, torch.Generator().manual_seed(1))
    lost = {}
    for m in ("a", "b"):
        x, y = inputs[m].reshape(n, -1), out[m].reshape(n, -1)
        changed = (x != y).any(dim=1)
        fill = drop.fill[m].to(y.dtype).reshape(-1)
        assert torch.equal(y[changed], fill.expand(int(changed.sum()), -1))
        lost[m] = changed
    assert torch.equal(out["tokens"], inputs["tokens"])
    assert not bool((lost["a"] & lost["b"]).any())  # at most one modality per sample
    share = float((lost["a"] | lost["b"]).double().mean())
    assert abs(share - 0.3) < 0.02  # 20,000 draws: the standard deviation is 0.003
    assert abs(float(lost["a"].double().mean()) - 0.15) < 0.02
    assert all(torch.equal(inputs[m], data.inputs[m]) for m in inputs)  # inputs untouched


def test_the_draw_is_deterministic_and_p_zero_is_the_identity() -> None:
    data = _dataset()
    drop = ModalityDropout.from_dataset(0.4, data)
    one = drop(data.inputs, torch.Generator().manual_seed(3))
    two = drop(data.inputs, torch.Generator().manual_seed(3))
    assert all(torch.equal(one[m], two[m]) for m in one)
    same = ModalityDropout.from_dataset(0.0, data)(data.inputs, torch.Generator())
    assert all(torch.equal(same[m], data.inputs[m]) for m in same)


@pytest.mark.parametrize(("p", "error"), [(-0.1, ValueError), (1.0, ValueError), ("x", TypeError)])
def test_bad_probability_names_the_option(p: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="modality_dropout"):
        ModalityDropout(p, {"a": torch.zeros(3)})  # type: ignore[arg-type]
    with pytest.raises(error, match="modality_dropout"):
        TrainConfig(modality_dropout=p)  # type: ignore[arg-type]


def test_only_integer_modalities_cannot_be_dropped() -> None:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        {"u": torch.randint(0, 5, (8, 3), generator=g), "v": torch.randint(0, 5, (8, 2))},
        torch.randint(0, 2, (8,), generator=g),
    )
    with pytest.raises(ValueError, match="floating-point inputs to drop"):
        ModalityDropout.from_dataset(0.2, data)


def test_runs_saved_before_the_option_existed_still_resume(tmp_path) -> None:
    cfg = TrainConfig(
        method="joint", epochs=1, dataset_options={"n_train": 256, "n_test": 128}, probes=False
    )
    train(cfg, output_dir=tmp_path)
    path = next(tmp_path.glob("*.pt"))
    state = torch.load(path, map_location="cpu", weights_only=False)
    del state["config"]["modality_dropout"]
    torch.save(state, path)
    longer = TrainConfig(**{**cfg.to_dict(), "epochs": 2})
    assert len(train(longer, output_dir=tmp_path).history) == 2


def test_dropout_draws_have_a_stream_of_their_own() -> None:
    from moo_multimodal.training import _stream_seed

    seeds = {_stream_seed(s, e, p) for s in (0, 1) for e in (0, 1) for p in ("a", "b")}
    assert len(seeds) == 8 and all(0 <= x < 2**63 for x in seeds)
    assert _stream_seed(3, 2, "modality_dropout") == _stream_seed(3, 2, "modality_dropout")
    # not the batch order's seed (seed · 1_000_003 + epoch): the two streams are unrelated
    assert _stream_seed(0, 5, "modality_dropout") != 5
