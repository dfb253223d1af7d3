"""The method registry: `register_method`, `make_method`, `available_methods` and the seed
protocol, for a method written by a user and named from TrainConfig, compare and moo-mm."""

from __future__ import annotations

import abc
import json
import sys
from collections.abc import Iterator

import pytest
import torch

from moo_multimodal.cli import main
from moo_multimodal.compare import compare
from moo_multimodal.data import load_dataset
from moo_multimodal.methods import (
    OGMGE,
    Joint,
    Method,
    _registry,
    available_methods,
    losses,
    make_method,
    register_method,
    report,
)
from moo_multimodal.training import TrainConfig, build_run, train

SMALL = {"n_train": 256, "n_test": 128}


@pytest.fixture(autouse=True)
def _registry_restored() -> Iterator[None]:
    """Each test's registrations are undone after it."""
    saved = dict(_registry._METHODS)
    yield
    _registry._METHODS.clear()
    _registry._METHODS.update(saved)


class Scaled(Method):
    """The uniform sum of the losses times a scale, plus Gaussian noise of its own seed on the
    encoders' gradients (a method with randomness)."""

    name = "scaled"
    summary = "scale * (f_0 + sum f_m), noisy encoders"

    def __init__(self, scale: float = 1.0, noise: float = 0.0, seed: int = 0) -> None:
        self.scale = scale
        self.noise = noise
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def backward(self, model, output, labels, *, epoch):  # type: ignore[no-untyped-def]
        fusion, uni = losses(model, output, labels)
        torch.autograd.backward(self.scale * (fusion + torch.stack(uni).sum()))
        for p in model.parameter_groups().shared:
            if p.grad is not None and self.noise:
                p.grad.add_(self.noise * torch.randn(p.shape, generator=self.generator))
        return report(model, fusion, uni, weights={"scale": self.scale})


def test_a_registered_method_is_named_like_the_built_in_ones() -> None:
    assert register_method(Scaled) is Scaled
    assert register_method(Scaled) is Scaled  # the same class again: a no-op
    assert available_methods()["scaled"] == Scaled.summary
    method = make_method("scaled", scale=2.0)
    assert isinstance(method, Scaled) and method.scale == 2.0
    with pytest.raises(ValueError, match="bad hyperparameters"):
        make_method("scaled", nope=1)
    result = train(
        TrainConfig(method="scaled", method_options={"scale": 0.5}, epochs=1, dataset_options=SMALL)
    )
    assert isinstance(result.method, Scaled) and result.final["weight/scale"] == 0.5


def test_the_built_in_methods_are_registered_the_same_way() -> None:
    names = list(available_methods())
    assert names[:5] == ["joint", "uniform", "unimodal", "ogm-ge", "mmpareto"]
    assert _registry._METHODS["joint"] is Joint and _registry._METHODS["ogm-ge"] is OGMGE
    assert "mgda" in names and "mgda" not in _registry._METHODS  # rules: looked up in moo


def test_the_seed_protocol_reaches_a_registered_method() -> None:
    register_method(Scaled)
    splits = load_dataset("synthetic", **SMALL)
    seeds = {}
    for seed, options in ((0, {}), (4, {}), (4, {"seed": 9})):
        config = TrainConfig(method="scaled", seed=seed, method_options=options)
        _, _, method = build_run(config, splits)
        assert isinstance(method, Scaled)
        seeds[seed, tuple(options.items())] = method.seed
    assert seeds == {(0, ()): 0, (4, ()): 4, (4, (("seed", 9),)): 9}


def test_compare_names_a_registered_method(tmp_path) -> None:
    register_method(Scaled)
    result = compare(
        ["joint", "scaled"],
        seeds=(0, 1),
        base=TrainConfig(epochs=1, dataset_options=SMALL, probes=False),
        output_dir=tmp_path,
        method_options={"scaled": {"noise": 0.01}},
        plots=False,
    )
    assert "| scaled | 2 |" in result.table
    # the run's seed reaches the method, not its options: the config keeps them as given
    config = json.loads((tmp_path / "scaled" / "seed-1" / "config.json").read_text())
    assert config["method_options"] == {"noise": 0.01} and config["seed"] == 1


PLUGIN = """
import torch

from moo_multimodal.methods import Method, losses, register_method, report


@register_method
class Halved(Method):
    name = "halved"
    summary = "half the uniform sum"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def backward(self, model, output, labels, *, epoch):
        fusion, uni = losses(model, output, labels)
        torch.autograd.backward(0.5 * (fusion + torch.stack(uni).sum()))
        return report(model, fusion, uni, info={"seed": float(self.seed)})
"""


def test_the_cli_names_a_method_from_a_plugin(tmp_path, capsys) -> None:
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(PLUGIN)
    assert main(["methods", "--plugin", str(plugin)]) == 0
    assert "half the uniform sum" in capsys.readouterr().out
    small = ["--data", "n_train=256", "--data", "n_test=128", "--quiet", "--no-probes"]
    args = ["train", "--plugin", str(plugin), "--method", "halved", "--epochs", "1", *small]
    assert main(args) == 0  # the same plugin again in this process: imported once
    out = tmp_path / "cmp"
    args = ["compare", "--plugin", str(plugin), "--methods", "joint,halved", "--seeds", "1"]
    assert main([*args, "--epochs", "1", "--no-plots", "--out", str(out), *small]) == 0
    assert "| halved | 1 |" in capsys.readouterr().out


def test_plugins_by_module_name(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "plugin_by_name.py").write_text(PLUGIN.replace('"halved"', '"halved-2"'))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "plugin_by_name", raising=False)
    assert main(["methods", "--plugin", "plugin_by_name"]) == 0
    assert "halved-2" in capsys.readouterr().out
    assert main(["methods", "--plugin", "no_such_plugin_module"]) == 2
    assert "no module named 'no_such_plugin_module'" in capsys.readouterr().err
    assert main(["methods", "--plugin", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_name_clashes_and_bad_classes_are_refused() -> None:
    def named(name: object, base: type[Method] = Scaled) -> type[Method]:
        return type("Named", (base,), {"name": name})

    with pytest.raises(ValueError, match=r"'joint' is already registered.*Joint"):
        register_method(named("joint"))
    for rule in ("mgda", "MGDA", "linear"):
        with pytest.raises(ValueError, match="name of a moo rule"):
            register_method(named(rule))
    for bad in ("a,b", "a:b", "mgda@x", "two words", ""):
        with pytest.raises(ValueError, match="name"):
            register_method(named(bad))
    with pytest.raises(ValueError, match="non-empty"):
        register_method(named(None))
    with pytest.raises(TypeError, match="Method subclass"):
        register_method(int)  # type: ignore[type-var]

    class Abstract(Method):
        name = "abstract"

        @abc.abstractmethod
        def extra(self) -> None: ...

    with pytest.raises(TypeError, match="abstract: implement"):
        register_method(Abstract)
    register_method(named("fine"))
    with pytest.raises(ValueError, match="'fine' is already registered"):
        register_method(named("fine"))
    assert "abstract" not in available_methods() and "fine" in available_methods()
