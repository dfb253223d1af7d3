"""Tests of moo_multimodal.data: datasets, batching, the synthetic benchmark and the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import (  # noqa: E402
    DatasetSplits,
    ModalitySpec,
    MultimodalDataset,
    TensorDataset,
    available_datasets,
    iterate_batches,
    load_dataset,
    make_synthetic,
    register_dataset,
    require_root,
)
from moo_multimodal.data import _registry as registry  # noqa: E402


def _tensor_data(n: int = 10, c: int = 3) -> TensorDataset:
    return TensorDataset(
        {
            "idx": torch.arange(n, dtype=torch.float32)[:, None],
            "img": torch.arange(n * 4, dtype=torch.float32).reshape(n, 2, 2),
        },
        torch.arange(n) % c,
    )


class ListDataset(MultimodalDataset):
    """A tiny non-tensor dataset: samples built one at a time."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.modalities = ("idx", "img")
        self.num_classes = 3
        self.input_shapes = {"idx": (1,), "img": (2, 2)}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        idx = torch.tensor([float(i)])
        img = torch.arange(4 * i, 4 * i + 4, dtype=torch.float32).reshape(2, 2)
        return {"idx": idx, "img": img}, torch.tensor(i % 3)


# ---------------------------------------------------------------- TensorDataset


def test_tensor_dataset_basics() -> None:
    data = _tensor_data()
    assert len(data) == 10
    assert data.modalities == ("idx", "img")
    assert data.num_classes == 3
    assert data.input_shapes == {"idx": (1,), "img": (2, 2)}
    inputs, label = data[4]
    assert inputs["idx"].item() == 4.0 and inputs["img"].shape == (2, 2)
    assert label.dtype == torch.int64 and label.ndim == 0 and int(label) == 1
    assert TensorDataset({"a": torch.zeros(3, 2)}, torch.tensor([0, 0, 1]), 5).num_classes == 5
    # integer inputs (token ids) are accepted, labels of any integer dtype become int64
    ids = TensorDataset({"t": torch.zeros(2, 7, dtype=torch.int64)}, torch.tensor([0, 1]).int())
    assert ids.labels.dtype == torch.int64


@pytest.mark.parametrize(
    ("inputs", "labels", "match"),
    [
        ({}, torch.tensor([0]), "non-empty mapping"),
        ({"a": torch.zeros(0, 3)}, torch.zeros(0, dtype=torch.int64), "dataset is empty"),
        ({"a": torch.zeros(3, 2), "b": torch.zeros(2, 2)}, torch.tensor([0, 1, 0]),
         r"inputs\['b'\] has 2 samples but labels has 3"),
        ({"a": torch.zeros(3)}, torch.tensor([[0, 1, 0]]), "labels must be 1-D"),
        ({"a": torch.zeros(3)}, torch.tensor([0.0, 1.0, 0.0]), "integer dtype"),
        ({"a": [1, 2, 3]}, torch.tensor([0, 1, 0]), "must be a torch.Tensor"),
        ({"a": torch.zeros(3)}, torch.tensor([0, -1, 0]), r"got labels\[1\] = -1"),
    ],
)  # fmt: skip
def test_tensor_dataset_errors(inputs: dict, labels: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TensorDataset(inputs, labels)


def test_tensor_dataset_names_the_first_non_finite_sample() -> None:
    b = torch.zeros(6, 2, 2)
    b[3, 1, 0] = float("nan")
    b[5, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"inputs\['b'\] has non-finite values, first at sample 3"):
        TensorDataset({"a": torch.zeros(6, 1), "b": b}, torch.zeros(6, dtype=torch.int64))


def test_tensor_dataset_labels_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got labels\[2\] = 2"):
        TensorDataset({"a": torch.zeros(3, 1)}, torch.tensor([0, 1, 2]), num_classes=2)
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        TensorDataset({"a": torch.zeros(3, 1)}, torch.tensor([0, 0, 0]), num_classes=0)


def test_subset() -> None:
    data = _tensor_data()
    sub = data.subset([7, 2, 2])
    assert isinstance(sub, TensorDataset)
    assert sub.inputs["idx"][:, 0].tolist() == [7.0, 2.0, 2.0]
    assert sub.labels.tolist() == [1, 2, 2]
    assert sub.num_classes == 3 and sub.input_shapes == data.input_shapes
    assert data.subset(torch.tensor([-1])).inputs["idx"].item() == 9.0
    with pytest.raises(ValueError, match=r"got indices\[1\] = 10"):
        data.subset([0, 10])
    with pytest.raises(ValueError, match="dataset is empty"):
        data.subset([])
    with pytest.raises(ValueError, match="integers"):
        data.subset([0.5])


# ---------------------------------------------------------------- iterate_batches


def _order(batches: list) -> list[int]:
    return [int(v) for inputs, _ in batches for v in inputs["idx"][:, 0]]


@pytest.mark.parametrize("make", [_tensor_data, lambda: ListDataset(10)])
def test_iterate_batches_covers_every_sample_once(make) -> None:
    data = make()
    for shuffle in (False, True):
        batches = list(iterate_batches(data, 4, shuffle=shuffle, seed=3))
        assert [len(y) for _, y in batches] == [4, 4, 2]
        order = _order(batches)
        assert sorted(order) == list(range(10))
        if not shuffle:
            assert order == list(range(10))
        for inputs, labels in batches:
            assert labels.dtype == torch.int64
            assert labels.tolist() == [int(i) % 3 for i in inputs["idx"][:, 0]]
            assert inputs["img"].shape[1:] == (2, 2)
            assert torch.equal(inputs["img"][:, 0, 0], 4 * inputs["idx"][:, 0])


def test_iterate_batches_seeded_order_is_shared_by_both_paths() -> None:
    first = _order(list(iterate_batches(_tensor_data(), 3, shuffle=True, seed=7)))
    assert _order(list(iterate_batches(_tensor_data(), 3, shuffle=True, seed=7))) == first
    assert _order(list(iterate_batches(ListDataset(10), 3, shuffle=True, seed=7))) == first
    assert _order(list(iterate_batches(_tensor_data(), 3, shuffle=True, seed=8))) != first


@pytest.mark.parametrize("make", [_tensor_data, lambda: ListDataset(10)])
def test_iterate_batches_drop_last(make) -> None:
    batches = list(iterate_batches(make(), 4, shuffle=True, drop_last=True))
    assert [len(y) for _, y in batches] == [4, 4]
    assert len(set(_order(batches))) == 8
    assert [len(y) for _, y in iterate_batches(make(), 5, drop_last=True)] == [5, 5]


def test_iterate_batches_errors() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        iterate_batches(_tensor_data(), 0)
    with pytest.raises(ValueError, match="dataset must be a MultimodalDataset"):
        iterate_batches([1, 2, 3], 2)  # type: ignore[arg-type]


def test_dataset_splits_checks_consistency() -> None:
    data = _tensor_data()
    enc = {"idx": ("mlp", {}), "img": ("cnn", {})}
    splits = DatasetSplits("x", data, data, enc, "d")
    assert splits.modalities == ("idx", "img") and splits.num_classes == 3
    with pytest.raises(ValueError, match="encoders must have one entry per modality"):
        DatasetSplits("x", data, data, {"idx": ("mlp", {})}, "d")
    other = TensorDataset({"idx": data.inputs["idx"]}, data.labels)
    with pytest.raises(ValueError, match="modalities differ"):
        DatasetSplits("x", data, other, enc, "d")


# ---------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synthetic() -> DatasetSplits:
    return make_synthetic(seed=0)


def test_synthetic_shapes_dtypes_and_balance(synthetic: DatasetSplits) -> None:
    assert synthetic.name == "synthetic"
    assert synthetic.modalities == ("fast", "slow")
    assert synthetic.num_classes == 4
    assert len(synthetic.train) == 2000 and len(synthetic.test) == 1000
    for split in (synthetic.train, synthetic.test):
        assert isinstance(split, TensorDataset)
        for m, x in split.inputs.items():
            assert x.dtype == torch.float32 and x.shape[1:] == synthetic.input_shapes[m]
        counts = torch.bincount(split.labels, minlength=4)
        assert int(counts.max() - counts.min()) <= 1
    assert synthetic.encoders == {m: ("mlp", {"hidden": (64, 64)}) for m in ("fast", "slow")}


def test_synthetic_is_deterministic(synthetic: DatasetSplits) -> None:
    again = make_synthetic(seed=0)
    other = make_synthetic(seed=1)
    for split in ("train", "test"):
        a, b, c = (getattr(s, split) for s in (synthetic, again, other))
        assert torch.equal(a.labels, b.labels)
        for m in a.modalities:
            assert torch.equal(a.inputs[m], b.inputs[m])
            assert not torch.equal(a.inputs[m], c.inputs[m])
    # the test size does not change the training data
    small = make_synthetic(seed=0, n_test=10)
    assert torch.equal(small.train.inputs["slow"], synthetic.train.inputs["slow"])


def _least_squares_accuracy(train: TensorDataset, test: TensorDataset, m: str) -> float:
    """Test accuracy of a linear least-squares fit to one-hot labels (with a bias)."""

    def design(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.double(), torch.ones(x.shape[0], 1, dtype=torch.float64)], dim=1)

    targets = torch.nn.functional.one_hot(train.labels, train.num_classes).double()
    coef = torch.linalg.lstsq(design(train.inputs[m]), targets).solution
    pred = (design(test.inputs[m]) @ coef).argmax(dim=1)
    return float((pred == test.labels).double().mean())


def test_linear_cue_is_linear_and_noisy(synthetic: DatasetSplits) -> None:
    acc = _least_squares_accuracy(synthetic.train, synthetic.test, "fast")
    assert 0.75 < acc < 0.99


def test_xor_cue_has_no_linear_signal_but_an_mlp_learns_it(synthetic: DatasetSplits) -> None:
    train, test = synthetic.train, synthetic.test
    assert _least_squares_accuracy(train, test, "slow") < 0.33  # chance is 0.25
    torch.manual_seed(0)
    dim = synthetic.input_shapes["slow"][0]
    net = torch.nn.Sequential(
        torch.nn.Linear(dim, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 4),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(300):
        x, y = next(iterate_batches(train, 256, shuffle=True, seed=step))
        loss = torch.nn.functional.cross_entropy(net(x["slow"]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((net(test.inputs["slow"]).argmax(1) == test.labels).double().mean())
    assert acc > 0.85


def test_spurious_cue_holds_in_train_and_breaks_in_test() -> None:
    splits = make_synthetic(seed=2, spurious=3.0, n_train=400, n_test=400)
    plain = make_synthetic(seed=2, n_train=400, n_test=400)
    dim = plain.input_shapes["fast"][0]
    assert splits.input_shapes["fast"] == (dim + 1,)
    assert splits.input_shapes["slow"] == plain.input_shapes["slow"]
    codes = torch.linspace(-3.0, 3.0, 4)
    train, test = splits.train, splits.test
    assert torch.allclose(train.inputs["fast"][:, -1], codes[train.labels])
    decoded = (test.inputs["fast"][:, -1:] - codes).abs().argmin(dim=1)
    assert torch.allclose(test.inputs["fast"][:, -1], codes[decoded])  # same values ...
    assert float((decoded == test.labels).double().mean()) < 0.35  # ... but no information
    # without the shortcut the first modality is unchanged
    assert torch.equal(plain.train.inputs["fast"], train.inputs["fast"][:, :-1])


def test_synthetic_custom_modalities() -> None:
    splits = make_synthetic(
        modalities=[
            ModalitySpec("a", "linear", dim=3),
            ModalitySpec("b", "parity3", dim=9),
            ModalitySpec("c", "xor", dim=6, signal=0.0),
        ],
        num_classes=8,
        n_train=16,
        n_test=8,
    )
    assert splits.input_shapes == {"a": (3,), "b": (9,), "c": (6,)}
    assert splits.num_classes == 8 and len(splits.test) == 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1}, "num_classes must be >= 2, got 1"),
        ({"n_train": 0}, "n_train must be >= 1, got 0"),
        ({"n_test": -1}, "n_test must be >= 1, got -1"),
        ({"spurious": -1.0}, r"spurious must be >= 0\.0, got -1\.0"),
        ({"modalities": [ModalitySpec("a", "linear")]}, "at least 2 entries, got 1"),
        ({"modalities": [ModalitySpec("a", "linear"), ModalitySpec("a", "xor")]},
         r"distinct names, got duplicates \['a'\]"),
        ({"modalities": [ModalitySpec("a", "linear"), ModalitySpec("b", "xor", dim=3)]},
         "dim of modality 'b' must be >= 4"),
        ({"modalities": [ModalitySpec("a", "linear"), "b"]}, "ModalitySpec entries, got 'b'"),
    ],
)  # fmt: skip
def test_make_synthetic_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cue": "cubic"}, "cue of 'm' must be one of .* got 'cubic'"),
        ({"dim": 0}, "dim of 'm' must be >= 1, got 0"),
        ({"signal": -1.0}, r"signal of 'm' must be >= 0\.0, got -1\.0"),
        ({"noise": float("inf")}, "noise of 'm' must be finite, got inf"),
    ],
)
def test_modality_spec_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModalitySpec(**{"name": "m", "cue": "linear", **kwargs})


# ---------------------------------------------------------------- registry


def test_available_datasets_lists_the_synthetic_presets() -> None:
    infos = {info.name: info for info in available_datasets()}
    assert {"synthetic", "synthetic-3"} <= set(infos)
    assert infos["synthetic"].layout == "generated (no files)"
    assert infos["synthetic-3"].layout == "generated (no files)"
    assert infos["synthetic"].summary


def test_load_dataset_synthetic_options() -> None:
    splits = load_dataset("synthetic", root="/does/not/matter", seed=3, n_train=40, n_test=20,
                          num_classes=3)  # fmt: skip
    assert len(splits.train) == 40 and len(splits.test) == 20 and splits.num_classes == 3
    direct = make_synthetic(seed=3, n_train=40, n_test=20, num_classes=3)
    assert torch.equal(splits.train.inputs["slow"], direct.train.inputs["slow"])
    three = load_dataset("synthetic-3", n_train=30, n_test=10, spurious=1.0)
    assert three.name == "synthetic-3" and len(three.modalities) == 3
    assert three.input_shapes["fast"][0] == synthetic_dim("fast") + 1


def synthetic_dim(m: str) -> int:
    return make_synthetic(n_train=1, n_test=1).input_shapes[m][0]


def test_load_dataset_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'; available: .*synthetic"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1"):
        load_dataset("synthetic", num_classes=1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_tran'\].*accepted: .*n_train"):
        load_dataset("synthetic", n_tran=10)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['modalities'\]"):
        load_dataset("synthetic-3", modalities=None)


@pytest.fixture
def file_dataset():
    def loader(*, root: object = None, seed: int = 0) -> DatasetSplits:
        require_root(root, "files-test", layout="<root>/train.pt")
        raise AssertionError("unreachable in these tests")

    register_dataset("files-test", loader, "a dataset read from files", "<root>/train.pt")
    yield loader
    del registry._REGISTRY["files-test"]


def test_loader_needing_root(file_dataset, tmp_path: Path) -> None:
    assert "files-test" in {info.name for info in available_datasets()}
    with pytest.raises(FileNotFoundError, match="pass root=<folder>"):
        load_dataset("files-test")
    missing = tmp_path / "absent"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_dataset("files-test", root=missing)
    assert require_root(tmp_path, "files-test") == tmp_path
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("files-test", lambda **kw: None, "other", "x")  # type: ignore[arg-type]
    register_dataset("files-test", file_dataset, "same loader again", "<root>/train.pt")
