"""Per-modality encoders: a modality's tensor ``(B, *input_shape)`` to features ``(B, d_m)``.

Every encoder is an ``nn.Module`` with ``out_features`` (``d_m``) and ``input_shape`` (the
trailing shape it was built for) and checks its input in ``forward``: a wrong trailing shape is
a ``ValueError`` naming the expected and the received shape (the model prefixes the modality).

Kinds (`ENCODERS`), built by `make_encoder`:

- ``"mlp"``: flatten, then ``Linear-ReLU`` blocks; ``d_m = hidden[-1]``.
- ``"cnn"``: a small 2-D CNN for images and spectrograms, ``conv3x3-BN-ReLU`` blocks with a
  ``2x2`` max-pool between them, then a global average pool; ``d_m = channels[-1]``.
- ``"resnet18"``: ResNet-18 (K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
  Image Recognition", CVPR 2016) in plain torch (the same layers as torchvision's, so no
  torchvision install, which pairs with one torch release, is needed), randomly initialized
  (weights are never downloaded), its first convolution built for the input's channels and no
  classifier; ``d_m = 512``. Inputs ``(B, C, T, H, W)`` of ``T`` frames are encoded frame by frame
  and averaged over time, the visual protocol of OGM-GE (X. Peng, Y. Wei, A. Deng, D. Wang and
  D. Hu, "Balanced Multimodal Learning via On-the-fly Gradient Modulation", CVPR 2022).
- ``"gru"``: a GRU over ``(B, T, F)`` sequences; ``d_m`` is the last hidden state's size.
- ``"transformer"``: a linear embedding plus a learned positional embedding, a Transformer
  encoder (A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017), then the mean over
  time; ``d_m = d_model``.

Sequence encoders (``gru``, ``transformer``) are built for ``input_shape = (T, F)`` and accept
any length ``T`` at run time (the transformer up to ``max_len``); the other kinds require the
exact trailing shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from moo.validation import check_int

__all__ = [
    "ENCODERS",
    "CNNEncoder",
    "GRUEncoder",
    "MLPEncoder",
    "ResNet18Encoder",
    "TransformerEncoder",
    "make_encoder",
]

ENCODERS: tuple[str, ...] = ("mlp", "cnn", "resnet18", "gru", "transformer")


def _positive_ints(value: Any, name: str) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (a single int is a one-element tuple)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {value!r}")
    return tuple(check_int(v, f"{name}[{i}]", low=1) for i, v in enumerate(value))


def _shape(input_shape: Any, kind: str, ndims: tuple[int, ...]) -> tuple[int, ...]:
    """Validate ``input_shape`` (positive ints, one of the allowed lengths ``ndims``)."""
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str):
        raise ValueError(f"encoder {kind!r}: input_shape must be a sequence of ints")
    shape = tuple(check_int(s, f"encoder {kind!r}: input_shape entry", low=1) for s in input_shape)
    if len(shape) not in ndims:
        allowed = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"encoder {kind!r} needs an input_shape of {allowed} dimensions (without the batch), "
            f"got {shape}"
        )
    return shape


def _fmt(shape: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _check_input(x: Any, kind: str, expected: Sequence[int | str]) -> None:
    """``x`` must be a tensor of shape ``(B, *expected)``; a ``str`` entry matches any size."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"encoder {kind!r} expects a tensor, got {type(x).__name__}")
    ok = x.ndim == len(expected) + 1 and all(
        isinstance(e, str) or int(s) == e for s, e in zip(x.shape[1:], expected, strict=True)
    )
    if not ok:
        raise ValueError(
            f"encoder {kind!r} expects input of shape {_fmt(['B', *expected])}, "
            f"got {tuple(x.shape)}"
        )


class MLPEncoder(nn.Module):
    """``z = φ(W_L ⋯ φ(W_1 vec(x) + b_1) ⋯ + b_L)`` with ``φ = ReLU``.

    Args:
        input_shape: trailing shape of the input (any number of dimensions; it is flattened).
        hidden: widths of the hidden layers; ``out_features = hidden[-1]``.
    """

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.input_shape = _shape(input_shape, "mlp", tuple(range(1, 9)))
        widths = _positive_ints(hidden, "mlp option hidden")
        layers: list[nn.Module] = [nn.Flatten()]
        width = 1
        for s in self.input_shape:
            width *= s
        for w in widths:
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        self.net = nn.Sequential(*layers)
        self.out_features: int = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "mlp", self.input_shape)
        z: torch.Tensor = self.net(x)
        return z


class CNNEncoder(nn.Module):
    """Blocks ``conv3x3 → BatchNorm → ReLU``, a ``2x2`` max-pool between blocks, a global
    average pool: ``z = mean_{h,w} B_L(pool(⋯ pool(B_1(x))))``.

    Args:
        input_shape: ``(C, H, W)``, or ``(H, W)`` for one channel (added in ``forward``).
        channels: output channels of the blocks; ``out_features = channels[-1]``.
    """

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (16, 32)) -> None:
        super().__init__()
        self.input_shape = _shape(input_shape, "cnn", (2, 3))
        widths = _positive_ints(channels, "cnn option channels")
        in_ch = 1 if len(self.input_shape) == 2 else self.input_shape[0]
        layers: list[nn.Module] = []
        for i, w in enumerate(widths):
            if i > 0:
                # ceil_mode keeps a 1x1 map 1x1, so small inputs survive many blocks
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            layers += [
                nn.Conv2d(in_ch, w, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(),
            ]
            in_ch = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_features: int = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "cnn", self.input_shape)
        if len(self.input_shape) == 2:
            x = x.unsqueeze(1)
        z: torch.Tensor = self.net(x)
        return z


class _BasicBlock(nn.Module):
    """ResNet's basic block: two ``3x3`` conv-BN layers and the identity (or a ``1x1``
    strided projection when the shape changes) added before the last ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.downsample(x))


class _ResNet18(nn.Module):
    """ResNet-18 without its classifier: stem (``7x7``/2 conv, BN, ReLU, ``3x3``/2 max-pool),
    four stages of two basic blocks (64, 128, 256, 512 channels; stride 2 from the second
    stage), global average pool. Initialization as torchvision's (Kaiming-normal convs,
    BN weight 1 and bias 0). ``fc`` is the identity (kept for the familiar layout)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers: list[nn.Module] = []
        cin = 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Identity()
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        z: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return z


class ResNet18Encoder(nn.Module):
    """ResNet-18 without its classifier (plain torch), ``out_features = 512``.

    ``conv1`` is a ``7x7``/stride-2 convolution with ``in_channels`` inputs; ``fc`` is the
    identity. Weights are random (never downloaded). For ``T`` frames ``(B, C, T, H, W)``, the
    frames are folded into the batch and the per-frame features averaged:
    ``z = (1/T) Σ_t ResNet(x[:, :, t])`` (OGM-GE's visual encoder, whose 3-D average pool over
    ``(T, H', W')`` is the same mean).

    Args:
        input_shape: ``(H, W)`` (one channel), ``(C, H, W)``, or ``(C, T, H, W)`` for clips.
    """

    def __init__(self, input_shape: Sequence[int]) -> None:
        super().__init__()
        self.input_shape = _shape(input_shape, "resnet18", (2, 3, 4))
        in_channels = 1 if len(self.input_shape) == 2 else self.input_shape[0]
        self.net = _ResNet18(in_channels)
        self.in_channels = in_channels
        self.out_features: int = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "resnet18", self.input_shape)
        if len(self.input_shape) == 2:
            x = x.unsqueeze(1)
        if x.ndim == 4:  # (B, C, H, W): one image each
            z: torch.Tensor = self.net(x)
            return z
        b, c, t, h, w = x.shape  # (B, C, T, H, W): frames, features averaged over time
        frames: torch.Tensor = self.net(x.transpose(1, 2).reshape(b * t, c, h, w))
        return frames.view(b, t, -1).mean(dim=1)


class GRUEncoder(nn.Module):
    """A GRU (K. Cho et al., EMNLP 2014) over ``(B, T, F)``; ``z = h_T``, the last hidden state.

    Args:
        input_shape: ``(T, F)``; ``T`` is nominal, any length is accepted in ``forward``.
        hidden: size of the hidden state, ``out_features = hidden``.
    """

    def __init__(self, input_shape: Sequence[int], hidden: int = 64) -> None:
        super().__init__()
        self.input_shape = _shape(input_shape, "gru", (2,))
        self.hidden = check_int(hidden, "gru option hidden", low=1)
        self.gru = nn.GRU(self.input_shape[1], self.hidden, batch_first=True)
        self.out_features: int = self.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "gru", ("T", self.input_shape[1]))
        h: torch.Tensor
        _, h = self.gru(x)
        return h[-1]


class TransformerEncoder(nn.Module):
    """``z = (1/T) Σ_t Enc(x W_e + b_e + P)_t``: linear embedding, learned positions ``P``
    (``max_len × d_model``), ``layers`` post-norm Transformer encoder layers (``nhead`` heads,
    feed-forward width ``2·d_model``, no dropout), then the mean over time.

    Args:
        input_shape: ``(T, F)``; any ``T <= max_len`` is accepted in ``forward``.
        d_model: model width, ``out_features = d_model`` (divisible by ``nhead``).
        layers: number of encoder layers.
        nhead: attention heads.
        max_len: longest sequence (rows of the positional embedding).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        d_model: int = 64,
        layers: int = 2,
        nhead: int = 4,
        max_len: int = 512,
    ) -> None:
        super().__init__()
        self.input_shape = _shape(input_shape, "transformer", (2,))
        d_model = check_int(d_model, "transformer option d_model", low=1)
        layers = check_int(layers, "transformer option layers", low=1)
        nhead = check_int(nhead, "transformer option nhead", low=1)
        self.max_len = check_int(max_len, "transformer option max_len", low=1)
        if d_model % nhead:
            raise ValueError(
                f"transformer d_model ({d_model}) must be divisible by nhead ({nhead})"
            )
        if self.input_shape[0] > self.max_len:
            raise ValueError(
                f"transformer input length T={self.input_shape[0]} exceeds max_len={self.max_len}"
            )
        self.embed = nn.Linear(self.input_shape[1], d_model)
        self.position = nn.Parameter(torch.empty(self.max_len, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_features: int = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "transformer", ("T", self.input_shape[1]))
        t = x.shape[1]
        if t > self.max_len:
            raise ValueError(f"transformer input length T={t} exceeds max_len={self.max_len}")
        h = self.embed(x) + self.position[:t]
        z: torch.Tensor = self.encoder(h)
        return z.mean(dim=1)


_BUILDERS: dict[str, tuple[Callable[..., nn.Module], tuple[str, ...]]] = {
    "mlp": (MLPEncoder, ("hidden",)),
    "cnn": (CNNEncoder, ("channels",)),
    "resnet18": (ResNet18Encoder, ()),
    "gru": (GRUEncoder, ("hidden",)),
    "transformer": (TransformerEncoder, ("d_model", "layers", "nhead", "max_len")),
}


def make_encoder(kind: str, input_shape: Sequence[int], **options: Any) -> nn.Module:
    """Build an encoder of ``kind`` (one of `ENCODERS`) for inputs ``(B, *input_shape)``.

    ``options`` are the kind's keyword options (``mlp``: ``hidden``; ``cnn``: ``channels``;
    ``gru``: ``hidden``; ``transformer``: ``d_model``, ``layers``, ``nhead``, ``max_len``;
    ``resnet18``: none).

    Raises:
        ValueError: unknown kind or option (the message lists the valid ones), invalid value.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"unknown encoder {kind!r}; valid encoders: {', '.join(ENCODERS)}")
    builder, valid = _BUILDERS[kind]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(valid) if valid else "none"
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for encoder {kind!r}; "
            f"valid options: {listed}"
        )
    return builder(input_shape, **options)
