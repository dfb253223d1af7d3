"""Tests of the multimodal adapter's model layer: encoders, fusions, `MultimodalModel`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from moo_multimodal.models import (
    ENCODERS,
    FUSIONS,
    ConcatFusion,
    FusionModule,
    GatedFusion,
    ModelOutput,
    MultimodalModel,
    ParameterGroups,
    build_model,
    make_encoder,
    make_fusion,
)

B, C = 3, 4

# Per kind: three modalities' trailing shapes and tiny options.
SPECS: dict[str, tuple[list[tuple[int, ...]], dict[str, Any]]] = {
    "mlp": ([(5,), (3, 4), (7,)], {"hidden": (8, 6)}),
    "cnn": ([(2, 6, 6), (5, 5), (1, 4, 7)], {"channels": (4, 6)}),
    "resnet18": ([(3, 16, 16), (1, 16, 16), (3, 2, 16, 16)], {}),
    "gru": ([(4, 3), (6, 5), (2, 2)], {"hidden": 8}),
    "transformer": ([(4, 3), (6, 5), (2, 2)], {"d_model": 8, "nhead": 2, "layers": 1}),
}
NAMES = ("audio", "video", "text")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def shapes_for(kind: str, m: int) -> dict[str, tuple[int, ...]]:
    return dict(zip(NAMES[:m], SPECS[kind][0][:m], strict=True))


def inputs_for(shapes: Mapping[str, Sequence[int]], batch: int = B) -> dict[str, torch.Tensor]:
    return {m: torch.randn(batch, *s) for m, s in shapes.items()}


def tiny_model(
    m: int = 2, fusion: str = "concat", kind: str = "mlp", **kwargs: Any
) -> tuple[MultimodalModel, dict[str, torch.Tensor]]:
    shapes = shapes_for(kind, m)
    options = {name: SPECS[kind][1] for name in shapes}
    model = build_model(shapes, C, encoder=kind, encoder_options=options, fusion=fusion, **kwargs)
    return model, inputs_for(shapes)


# -- shapes ---------------------------------------------------------------------------------


def kind_param(kind: str) -> Any:
    marks = []
    return pytest.param(kind, marks=marks)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("kind", [kind_param(k) for k in ENCODERS])
def test_output_shapes(kind: str, fusion: str, m: int) -> None:
    fusion_dim = None if fusion == "concat" else 10
    model, inputs = tiny_model(m, fusion, kind, fusion_dim=fusion_dim)
    assert model.modalities == NAMES[:m]
    out = model(inputs)
    assert isinstance(out, ModelOutput)
    assert out.fusion.shape == (B, C)
    assert tuple(out.unimodal) == model.modalities
    assert tuple(out.features) == model.modalities
    for name in model.modalities:
        d = model.encoders[name].out_features
        assert out.unimodal[name].shape == (B, C)
        assert out.features[name].shape == (B, d)
        assert out.features[name].requires_grad
    dims = [model.encoders[name].out_features for name in model.modalities]
    assert model.fusion.out_features == (sum(dims) if fusion == "concat" else 10)
    assert model.fusion_head.in_features == model.fusion.out_features
    for name, z in model.encode(inputs).items():
        assert z.shape == out.features[name].shape
    assert torch.isfinite(out.fusion).all()


def test_encoder_out_features_and_defaults() -> None:
    assert make_encoder("mlp", (5,)).out_features == 64
    assert make_encoder("mlp", (5,), hidden=(7, 3)).out_features == 3
    assert make_encoder("cnn", (1, 8, 8)).out_features == 32
    assert make_encoder("gru", (4, 3)).out_features == 64
    assert make_encoder("transformer", (4, 3)).out_features == 64


def test_gru_gives_last_hidden_state() -> None:
    enc = make_encoder("gru", (5, 3), hidden=6)
    x = torch.randn(2, 5, 3)
    outputs, _ = enc.gru(x)
    torch.testing.assert_close(enc(x), outputs[:, -1])


def test_sequence_encoders_accept_other_lengths() -> None:
    for kind in ("gru", "transformer"):
        enc = make_encoder(kind, (4, 3), **SPECS[kind][1])
        assert enc(torch.randn(2, 7, 3)).shape == (2, enc.out_features)


def test_transformer_is_a_mean_over_time() -> None:
    enc = make_encoder("transformer", (4, 3), d_model=8, nhead=2, layers=1)
    x = torch.randn(2, 4, 3)
    h = enc.encoder(enc.embed(x) + enc.position[:4])
    torch.testing.assert_close(enc(x), h.mean(dim=1))


def test_cnn_adds_the_channel() -> None:
    enc = make_encoder("cnn", (6, 6), channels=(4,))
    assert enc.net[0].in_channels == 1
    assert enc(torch.randn(2, 6, 6)).shape == (2, 4)


def test_resnet18_frames_are_averaged() -> None:
    enc = make_encoder("resnet18", (3, 2, 16, 16)).eval()
    x = torch.randn(2, 3, 2, 16, 16)
    per_frame = torch.stack([enc.net(x[:, :, t]) for t in range(2)], dim=1)
    torch.testing.assert_close(enc(x), per_frame.mean(dim=1), atol=1e-5, rtol=1e-4)
    assert enc.net.conv1.in_channels == 3
    assert isinstance(enc.net.fc, nn.Identity)
    assert make_encoder("resnet18", (16, 16)).net.conv1.in_channels == 1


def test_fusion_options() -> None:
    dims = {"a": 3, "b": 5, "c": 2}
    z = {m: torch.randn(B, d) for m, d in dims.items()}
    for gate in ("modality", "unit"):
        fusion = make_fusion("gated", dims, out_dim=6, gate=gate)
        assert isinstance(fusion, GatedFusion)
        alpha = fusion.gates(z)
        assert alpha.shape == (B, 3, 1 if gate == "modality" else 6)
        torch.testing.assert_close(alpha.sum(dim=1), torch.ones(B, alpha.shape[2]))
        h = torch.stack([torch.tanh(fusion.projections[m](z[m])) for m in dims], dim=1)
        torch.testing.assert_close(fusion(z), (alpha * h).sum(dim=1))
    film = make_fusion("film", dims, condition="b")
    assert film.condition == "b" and film.out_features == 5
    assert set(film.projections) == {"a", "c"}
    x = film.projections["a"](z["a"]) + film.projections["c"](z["c"])
    expected = (1 + film.gamma(z["b"])) * x + film.beta(z["b"])
    torch.testing.assert_close(film(z), expected)
    assert make_fusion("film", dims).condition == "a"
    assert make_fusion("sum", dims).out_features == 5
    assert make_fusion("concat", dims).out_features == 10


def test_model_accepts_a_fusion_module() -> None:
    encoders = {"a": make_encoder("mlp", (3,), hidden=(4,)), "b": make_encoder("mlp", (2,))}
    fusion = make_fusion("sum", {"a": 4, "b": 64}, out_dim=5)
    model = MultimodalModel(encoders, 3, fusion)
    assert model.fusion is fusion
    out = model({"a": torch.randn(2, 3), "b": torch.randn(2, 2)})
    assert out.fusion.shape == (2, 3)
    with pytest.raises(ValueError, match="same modalities"):
        MultimodalModel(encoders, 3, ConcatFusion({"a": 4, "b": 63}))
    with pytest.raises(ValueError, match="fusion_dim"):
        MultimodalModel(encoders, 3, fusion, fusion_dim=5)


# -- parameter groups ------------------------------------------------------------------------


@pytest.mark.parametrize("fusion", FUSIONS)
def test_parameter_groups_are_disjoint_and_cover(fusion: str) -> None:
    model, _ = tiny_model(3, fusion)
    groups = [model.encoder_parameters(m) for m in model.modalities]
    groups += [model.fusion_parameters()]
    groups += [model.head_parameters(m) for m in model.modalities]
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(len(group) > 0 for group in groups)
    head_ids = {id(p) for p in model.fusion_head.parameters()}
    assert head_ids <= {id(p) for p in model.fusion_parameters()}


@pytest.mark.parametrize("fusion", FUSIONS)
def test_parameter_groups_hold_the_trainable_parameters_of_each_group(fusion: str) -> None:
    model, _ = tiny_model(3, fusion)
    groups = model.parameter_groups()
    assert isinstance(groups, ParameterGroups)
    assert groups.modalities == model.modalities
    for m in model.modalities:
        assert list(groups.encoders[m]) == model.encoder_parameters(m)
        assert list(groups.heads[m]) == model.head_parameters(m)
    assert list(groups.fusion) == model.fusion_parameters()
    assert groups.shared == [p for m in model.modalities for p in model.encoder_parameters(m)]
    assert groups.task == [
        model.fusion_parameters(),
        *(model.head_parameters(m) for m in model.modalities),
    ]


def test_parameter_groups_leave_frozen_parameters_out() -> None:
    model, _ = tiny_model(2)
    audio = model.encoders["audio"]
    first = next(audio.parameters())
    first.requires_grad_(False)
    model.heads["video"].bias.requires_grad_(False)
    model.fusion_head.requires_grad_(False)
    groups = model.parameter_groups()
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    listed = [p for ps in groups.task for p in ps] + groups.shared
    assert frozen and not frozen & {id(p) for p in listed}
    assert {id(p) for p in listed} == {id(p) for p in model.parameters() if p.requires_grad}
    assert list(groups.encoders["audio"]) == list(audio.parameters())[1:]
    assert list(groups.heads["video"]) == [model.heads["video"].weight]
    assert not set(map(id, model.fusion_head.parameters())) & set(map(id, groups.fusion))


def test_parameter_groups_reject_parameters_outside_the_groups() -> None:
    model, _ = tiny_model(2)
    model.temperature = nn.Parameter(torch.ones(()))
    with pytest.raises(ValueError, match="temperature"):
        model.parameter_groups()
    model.temperature.requires_grad_(False)  # a frozen extra is no gap
    model.parameter_groups()


def test_shared_parameters_are_rejected() -> None:
    shared = make_encoder("mlp", (3,), hidden=(4,))
    with pytest.raises(ValueError, match="shared"):
        MultimodalModel({"a": shared, "b": shared}, 2)


def test_unknown_modality_in_parameter_groups() -> None:
    model, _ = tiny_model()
    with pytest.raises(ValueError, match=r"'lidar'.*'audio', 'video'"):
        model.encoder_parameters("lidar")
    with pytest.raises(ValueError, match="lidar"):
        model.head_parameters("lidar")


# -- contributions ---------------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_contributions_sum_to_fusion_logits(fusion: str, m: int) -> None:
    model, inputs = tiny_model(m, fusion)
    out = model(inputs)
    parts = model.contributions(out.features)
    assert tuple(parts) == model.modalities
    assert all(p.shape == (B, C) for p in parts.values())
    torch.testing.assert_close(sum(parts.values()), out.fusion, atol=1e-5, rtol=1e-5)


def test_concat_contributions_follow_ogm_ge() -> None:
    model, inputs = tiny_model(2, "concat")
    z = model.encode(inputs)
    w, b = model.fusion_head.weight, model.fusion_head.bias
    d = model.encoders["audio"].out_features
    parts = model.contributions(z)
    torch.testing.assert_close(parts["audio"], z["audio"] @ w[:, :d].T + b / 2)
    torch.testing.assert_close(parts["video"], z["video"] @ w[:, d:].T + b / 2)


def test_sum_contributions_use_each_projection() -> None:
    model, inputs = tiny_model(2, "sum")
    z = model.encode(inputs)
    head = model.fusion_head
    parts = model.contributions(z)
    proj = model.fusion.projections["video"](z["video"])
    torch.testing.assert_close(parts["video"], proj @ head.weight.T + head.bias / 2)


@pytest.mark.parametrize("fusion", ["gated", "film"])
def test_contributions_need_an_additive_fusion(fusion: str) -> None:
    model, inputs = tiny_model(2, fusion)
    assert not model.fusion.additive
    with pytest.raises(ValueError, match=f"'{fusion}' is not additive"):
        model.contributions(model.encode(inputs))


def test_contributions_check_the_modalities() -> None:
    model, inputs = tiny_model(2)
    z = model.encode(inputs)
    del z["video"]
    with pytest.raises(ValueError, match="exactly the model's modalities"):
        model.contributions(z)


# -- detach flags ----------------------------------------------------------------------------


def _backward(model: MultimodalModel, out: ModelOutput, which: str) -> None:
    model.zero_grad(set_to_none=True)
    y = torch.randint(0, C, (B,))
    if which == "fusion":
        F.cross_entropy(out.fusion, y).backward()
    else:
        sum(F.cross_entropy(out.unimodal[m], y) for m in model.modalities).backward()


def _grads_absent(params: list[nn.Parameter]) -> bool:
    return all(p.grad is None or not p.grad.any() for p in params)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_detach_unimodal(fusion: str) -> None:
    model, inputs = tiny_model(2, fusion)
    out = model(inputs, detach_unimodal=True)
    _backward(model, out, "unimodal")
    for m in model.modalities:
        assert _grads_absent(model.encoder_parameters(m))
        assert all(p.grad is not None for p in model.head_parameters(m))
    # the fusion loss still trains the encoders
    out = model(inputs, detach_unimodal=True)
    _backward(model, out, "fusion")
    for m in model.modalities:
        assert any(p.grad is not None and p.grad.any() for p in model.encoder_parameters(m))


@pytest.mark.parametrize("fusion", FUSIONS)
def test_detach_fusion(fusion: str) -> None:
    model, inputs = tiny_model(2, fusion)
    out = model(inputs, detach_fusion=True)
    assert all(z.requires_grad for z in out.features.values())
    _backward(model, out, "fusion")
    for m in model.modalities:
        assert all(p.grad is None for p in model.encoder_parameters(m))
        assert all(p.grad is None for p in model.head_parameters(m))
    assert all(p.grad is not None for p in model.fusion_head.parameters())
    # the uni-modal losses still train the encoders
    out = model(inputs, detach_fusion=True)
    _backward(model, out, "unimodal")
    for m in model.modalities:
        assert any(p.grad is not None and p.grad.any() for p in model.encoder_parameters(m))


def test_without_flags_every_loss_reaches_the_encoders() -> None:
    model, inputs = tiny_model(2)
    for which in ("fusion", "unimodal"):
        _backward(model, model(inputs), which)
        for m in model.modalities:
            assert not _grads_absent(model.encoder_parameters(m))


# -- errors ----------------------------------------------------------------------------------


def test_unknown_encoder_kind_and_option() -> None:
    with pytest.raises(ValueError, match=r"unknown encoder 'lstm'.*mlp, cnn, resnet18"):
        make_encoder("lstm", (4, 3))
    with pytest.raises(ValueError, match=r"'width' for encoder 'mlp'.*valid options: hidden"):
        make_encoder("mlp", (4,), width=3)
    with pytest.raises(ValueError, match="valid options: none"):
        make_encoder("resnet18", (3, 8, 8), hidden=3)
    with pytest.raises(ValueError, match=r"modality 'video'.*'depth'"):
        build_model({"audio": (3,), "video": (4,)}, 2, encoder_options={"video": {"depth": 2}})


def test_invalid_encoder_values() -> None:
    with pytest.raises(ValueError, match="hidden"):
        make_encoder("mlp", (4,), hidden=())
    with pytest.raises(ValueError, match="input_shape of 2 or 3"):
        make_encoder("cnn", (4,))
    with pytest.raises(ValueError, match="divisible"):
        make_encoder("transformer", (4, 3), d_model=6, nhead=4)


def test_unknown_fusion_kind_and_option() -> None:
    with pytest.raises(ValueError, match=r"unknown fusion 'attention'.*concat, sum, gated, film"):
        make_fusion("attention", {"a": 2, "b": 2})
    with pytest.raises(ValueError, match="unknown fusion 'attention'"):
        tiny_model(2, "attention")
    with pytest.raises(ValueError, match=r"'gate' for fusion 'film'.*condition"):
        make_fusion("film", {"a": 2, "b": 2}, gate="unit")
    with pytest.raises(ValueError, match="condition 'c'"):
        make_fusion("film", {"a": 2, "b": 2}, condition="c")
    with pytest.raises(ValueError, match="concat' has no out_dim"):
        tiny_model(2, "concat", fusion_dim=8)
    with pytest.raises(ValueError, match="unknown gate"):
        make_fusion("gated", {"a": 2, "b": 2}, gate="vector")


def test_model_needs_two_modalities_and_two_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 modalities"):
        build_model({"audio": (3,)}, 2)
    with pytest.raises(ValueError, match="num_classes"):
        build_model({"audio": (3,), "video": (4,)}, 1)
    with pytest.raises(ValueError, match="missing modalities \\['video'\\]"):
        build_model({"audio": (3,), "video": (4,)}, 2, encoder={"audio": "mlp"})


def test_inputs_must_hold_exactly_the_modalities() -> None:
    model, inputs = tiny_model(2)
    missing = {"audio": inputs["audio"]}
    with pytest.raises(ValueError, match=r"missing modalities 'video'.*'audio', 'video'"):
        model(missing)
    extra = {**inputs, "lidar": torch.randn(B, 2)}
    with pytest.raises(ValueError, match=r"unexpected modalities 'lidar'.*'audio', 'video'"):
        model(extra)
    with pytest.raises(ValueError, match="unexpected modalities 'lidar'"):
        model.encode(extra)
    with pytest.raises(TypeError, match="'video' must be a tensor"):
        model({**inputs, "video": [[1.0]]})
    with pytest.raises(ValueError, match="batch sizes differ"):
        model({**inputs, "video": inputs["video"][:2]})


@pytest.mark.parametrize("kind", ["mlp", "cnn", "gru", "transformer"])
def test_wrong_input_shape_names_the_modality(kind: str) -> None:
    model, inputs = tiny_model(2, kind=kind)
    bad = torch.randn(B, *inputs["video"].shape[1:-1], inputs["video"].shape[-1] + 1)
    with pytest.raises(ValueError, match=r"modality 'video'.*expects input of shape \(B, .*got"):
        model({**inputs, "video": bad})


def test_transformer_max_len() -> None:
    enc = make_encoder("transformer", (4, 3), d_model=8, nhead=2, layers=1, max_len=5)
    assert enc(torch.randn(2, 5, 3)).shape == (2, 8)
    with pytest.raises(ValueError, match="T=6 exceeds max_len=5"):
        enc(torch.randn(2, 6, 3))
    with pytest.raises(ValueError, match="T=6 exceeds max_len=5"):
        make_encoder("transformer", (6, 3), max_len=5)


def test_resnet18_has_the_reference_size() -> None:
    enc = make_encoder("resnet18", (3, 32, 32))
    # torchvision's resnet18 has 11,689,512 parameters; minus its 512x1000 classifier: 11,176,512
    assert sum(p.numel() for p in enc.parameters()) == 11_176_512


def test_encoder_without_out_features_is_rejected() -> None:
    with pytest.raises(ValueError, match="out_features"):
        MultimodalModel({"a": nn.Identity(), "b": make_encoder("mlp", (2,))}, 2)


def test_custom_fusion_module_is_not_additive_by_default() -> None:
    class Max(FusionModule):
        def __init__(self, dims: Mapping[str, int]) -> None:
            super().__init__(dims)
            self.out_features = max(self.dims.values())

        def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
            return torch.stack(self.ordered(features)).amax(dim=0)

    encoders = {m: make_encoder("mlp", (3,), hidden=(4,)) for m in ("a", "b")}
    model = MultimodalModel(encoders, 2, Max({"a": 4, "b": 4}))
    z = model.encode({"a": torch.randn(2, 3), "b": torch.randn(2, 3)})
    with pytest.raises(ValueError, match="'Max' is not additive"):
        model.contributions(z)
