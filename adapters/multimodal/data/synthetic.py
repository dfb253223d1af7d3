"""A seeded synthetic multimodal benchmark with controllable modality imbalance.

`make_synthetic` draws a C-class problem whose modalities are conditionally independent given
the label, each with its own kind of cue (`ModalitySpec`): a *linear* cue (noisy Gaussian class
means: learnt in a few steps, but never perfect), an *xor* cue (the label's bits are signs of
products of coordinate pairs: no linear correlation with the label, an MLP needs a few epochs)
a *parity3* cue (products of three coordinates: slower still) and a *none* cue (pure noise:
the modality carries no information about the label, a hopeless sensor). ``spurious > 0`` adds a
training-only shortcut to the first modality. Everything is float32, in memory, generated in
about 0.1 s; the same seed gives identical tensors.

Presets (registered in `moo_multimodal.data.load_dataset`):

- ``"synthetic"`` (`DEFAULT_MODALITIES`): ``fast`` = linear, dim 512, signal 1.3 (a
  high-dimensional noisy sensor: an MLP fits it, noise included, within an epoch, and it alone
  reaches about 0.91 test accuracy); ``slow`` = xor, dim 192 (4 informative coordinates at
  ±3, 188 distractors; noise 1).
- ``"synthetic-3"`` (`THREE_MODALITIES`): the same plus ``hard`` = parity3, dim 64 (6
  informative coordinates).

Calibration (measured with a throw-away script and its own small model, not the adapter's
`moo_multimodal.models`; C = 4,
n_train 2000, n_test 1000, data seeds 0, 1, 2 with the same init seed; encoders
Linear-ReLU-Linear-ReLU with hidden (64, 64), concat fusion, a linear fusion head and uni-modal
heads trained on detached features; Adam lr 1e-3, batch 64, shuffled; slow-modality accuracy
= `moo_multimodal.metrics.linear_probe` on the frozen encoder; means over the 3 seeds):

``"synthetic"``, test accuracy                  5 epochs   10 epochs
joint (fusion loss only): fusion               0.920      0.919
joint: probe/slow                              0.606      0.630
slow modality trained alone: probe/slow        0.911      0.955
uniform (fusion + uni-modal losses): fusion    0.937      0.957
uniform: probe/slow                            0.885      0.948
fast modality trained alone: probe/fast        0.914      0.914
untrained encoder: probe/slow                  0.330

So joint training visibly under-trains the slow modality (its encoder stalls near 0.6-0.63
once the fast modality's encoder fits the training set, seeds range 0.55-0.69) while the same
encoder trained on its own loss reaches 0.91-0.96, and recovering it raises fusion accuracy.
On ``"synthetic-3"`` (same settings) joint training gives fusion 0.920 / 0.921, probe/slow
0.665 / 0.690 and probe/hard 0.347 / 0.353 at 5 / 10 epochs; alone, hard reaches 0.52 / 0.88
(untrained 0.29); uniform gives fusion 0.941 / 0.962, probe/slow 0.917 / 0.954, probe/hard
0.529 / 0.900. One joint epoch of the two-modality model takes about 0.1-0.3 s on 2 CPU cores.

Why these shapes: under Adam a uniformly smaller gradient does not slow an encoder down, so a
low-dimensional noisy linear cue (dim 16, fast accuracy 0.85-0.96) leaves enough residual
fusion loss to train the xor encoder almost as well as alone (joint probe/slow within 0.01-0.15
of alone's). What starves the slow encoder is the fused model *fitting the training set* with
the fast modality alone, which a 512-dimensional noisy sensor allows. The xor distractors keep
an untrained encoder's features near chance (0.33; with dim 16 they already give 0.78-0.87).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from moo.validation import check_int, check_real
from moo_multimodal.data._dataset import DatasetSplits, TensorDataset
from moo_multimodal.data._registry import register_dataset

Cue = Literal["linear", "xor", "parity3", "none"]
CUES: tuple[str, ...] = ("linear", "xor", "parity3", "none")
_SPEC_FIELDS: tuple[str, ...] = ("name", "cue", "dim", "signal", "noise")

# Amplitude of each cue at ``signal == 1`` (in units of the noise at ``noise == 1``).
# linear: the norm of the class means; 2.25 gives a Bayes accuracy of about 0.87 at C = 4.
_LINEAR_AMPLITUDE = 2.25
# xor / parity3: the magnitude of each informative coordinate (3 noise standard deviations).
_PRODUCT_AMPLITUDE = 3.0
# Coordinates per bit of the class index.
_ARITY = {"xor": 2, "parity3": 3}

MLP_ENCODER: tuple[str, dict[str, Any]] = ("mlp", {"hidden": (64, 64)})


@dataclass(frozen=True)
class ModalitySpec:
    """One synthetic modality.

    Attributes:
        name: the modality name.
        cue: how the label is encoded:
            ``"linear"``: ``x = signal · μ_y + noise · ε`` with seeded random class means
            ``μ_c`` of norm 2.25 (orthonormal directions when ``C <= dim``), a fast modality
            (Bayes accuracy about 0.87 at ``C = 4``, ``signal == noise == 1``);
            ``"xor"``: the bits of the class index are signs of products of coordinate pairs
            (``x_1 x_2`` has the sign of bit 0 times a seeded random sign, ``x_3 x_4`` of bit 1,
            ...), each informative coordinate ``±3 · signal`` plus ``noise · ε``, the other
            coordinates pure noise (distractors); no single coordinate correlates with the
            label, so a linear model on the raw input is at chance while an MLP learns it
            (at ``signal == noise == 1`` the cue is nearly noiseless: Bayes accuracy > 0.99);
            the more distractors, the slower;
            ``"parity3"``: the same with products of three coordinates per bit (much slower);
            ``"none"``: ``x = noise · ε``, independent of the label (a sensor without signal:
            trained alone its encoder can only memorize the training set, its test accuracy
            stays at chance ``1/C``; ``signal`` is ignored).
        dim: the input dimension (``xor`` needs ``2 · ceil(log2 C)``, ``parity3``
            ``3 · ceil(log2 C)`` coordinates).
        signal: the cue's amplitude (``>= 0``; unused by ``"none"``).
        noise: the standard deviation of the additive Gaussian noise (``>= 0``).

    Raises:
        ValueError: an empty name, an unknown cue, ``dim < 1``, or a negative or non-finite
            signal or noise.
    """

    name: str
    cue: Cue
    dim: int = 16
    signal: float = 1.0
    noise: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ModalitySpec.name must be a non-empty string, got {self.name!r}")
        if self.cue not in CUES:
            raise ValueError(
                f"ModalitySpec.cue of {self.name!r} must be one of {CUES}, got {self.cue!r}"
            )
        check_int(self.dim, f"ModalitySpec.dim of {self.name!r}", low=1)
        for field in ("signal", "noise"):
            check_real(getattr(self, field), f"ModalitySpec.{field} of {self.name!r}", low=0.0)

    def min_dim(self, num_classes: int) -> int:
        """The smallest ``dim`` this cue needs for ``num_classes`` classes."""
        if self.cue in ("linear", "none"):
            return 1
        return _ARITY[self.cue] * _bits(num_classes)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "cue", "dim", "signal", "noise"}``: plain JSON values, the form
        ``config.json`` records (`dataclasses.asdict` gives the same)."""
        return {f: getattr(self, f) for f in _SPEC_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModalitySpec:
        """The inverse of `to_dict`; ``dim``, ``signal`` and ``noise`` may be left out
        (defaults).

        Raises:
            ValueError: not a mapping, a missing ``name`` or ``cue``, an unknown key (the
                message lists the known ones), or the constructor's errors.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a modality spec must be a mapping, got {data!r}")
        unknown = sorted(set(data) - set(_SPEC_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown modality spec keys {unknown} in {dict(data)!r}; known: "
                f"{list(_SPEC_FIELDS)}"
            )
        missing = [k for k in ("name", "cue") if k not in data]
        if missing:
            raise ValueError(f"modality spec {dict(data)!r} lacks {missing}")
        return cls(**dict(data))


DEFAULT_MODALITIES: tuple[ModalitySpec, ...] = (
    ModalitySpec("fast", "linear", dim=512, signal=1.3),
    ModalitySpec("slow", "xor", dim=192),
)
"""The two modalities of the ``"synthetic"`` preset (see the module docstring)."""

THREE_MODALITIES: tuple[ModalitySpec, ...] = (
    *DEFAULT_MODALITIES,
    ModalitySpec("hard", "parity3", dim=64),
)
"""The three modalities of the ``"synthetic-3"`` preset."""


def _bits(num_classes: int) -> int:
    return max(1, math.ceil(math.log2(num_classes)))


def _generators(seed: int) -> tuple[torch.Generator, torch.Generator, torch.Generator]:
    """Independent generators for the task parameters, the train split and the test split."""
    states = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    task, train, test = (torch.Generator().manual_seed(int(s) >> 1) for s in states)
    return task, train, test


class _Cue:
    """One modality's seeded task parameters and its sampler."""

    def __init__(self, spec: ModalitySpec, num_classes: int, generator: torch.Generator):
        self.spec = spec
        c, d = num_classes, spec.dim
        if spec.cue == "none":
            return
        if spec.cue == "linear":
            gauss = torch.randn(max(c, d), d, generator=generator, dtype=torch.float64)
            if c <= d:
                q, _ = torch.linalg.qr(gauss[:d].T)  # (d, d) orthonormal columns
                means = q[:, :c].T
            else:
                means = gauss[:c] / gauss[:c].norm(dim=1, keepdim=True)
            self.means = _LINEAR_AMPLITUDE * means
        else:
            bits = _bits(c)
            self.flips = torch.randint(0, 2, (bits,), generator=generator).to(torch.float64) * 2 - 1
            codes = torch.arange(c)[:, None] >> torch.arange(bits)[None, :] & 1
            self.class_signs = codes.to(torch.float64) * 2 - 1  # (C, bits) in {-1, +1}

    def sample(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        spec = self.spec
        n = labels.shape[0]
        if spec.cue == "none":
            clean = torch.zeros(n, spec.dim, dtype=torch.float64)
        elif spec.cue == "linear":
            clean = self.means[labels]
        else:
            arity = _ARITY[spec.cue]
            bits = self.flips.shape[0]
            free = torch.randint(0, 2, (n, bits, arity - 1), generator=generator)
            free = free.to(torch.float64) * 2 - 1
            last = free.prod(dim=2) * self.flips * self.class_signs[labels]
            informative = torch.cat([free, last[:, :, None]], dim=2).reshape(n, bits * arity)
            clean = torch.zeros(n, spec.dim, dtype=torch.float64)
            clean[:, : bits * arity] = _PRODUCT_AMPLITUDE * informative
        eps = torch.randn(n, spec.dim, generator=generator, dtype=torch.float64)
        x: torch.Tensor = spec.signal * clean + spec.noise * eps
        return x


def _balanced_labels(n: int, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` labels with class counts differing by at most one, in a seeded random order."""
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=generator)]


ModalitiesOption = str | Sequence[ModalitySpec | Mapping[str, Any]] | None
"""What ``modalities`` accepts: specs, their `ModalitySpec.to_dict` form, or JSON text."""


def parse_modalities(value: ModalitiesOption) -> tuple[ModalitySpec, ...] | None:
    """The ``modalities`` option as `ModalitySpec` entries.

    Accepts ``None`` (the preset), a sequence of `ModalitySpec` or of their `to_dict` form
    (what ``config.json`` holds, so a saved configuration loads again), or a JSON array of
    such objects as text (what ``--data`` passes on: ``moo-mm train --data
    'modalities=[{"name": "a", "cue": "linear"}, {"name": "b", "cue": "none", "dim": 32}]'``).
    Only the entries are converted; `make_synthetic` checks their number and names.

    Raises:
        ValueError: text that is not JSON, a value that is not a list of specs, or a bad
            spec; the message names ``modalities`` and the value.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"modalities must be a JSON array of modality specs, got {value!r}: {exc}"
            ) from exc
        if value is None:
            return None
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(
            f"modalities must be a list of ModalitySpec or of mappings with keys "
            f"{list(_SPEC_FIELDS)}, got {value!r}"
        )
    specs: list[ModalitySpec] = []
    for entry in value:
        if isinstance(entry, ModalitySpec):
            specs.append(entry)
        elif isinstance(entry, Mapping):
            try:
                specs.append(ModalitySpec.from_dict(entry))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"modalities: bad entry {dict(entry)!r}: {exc}") from exc
        else:
            raise ValueError(
                f"modalities must hold ModalitySpec entries, got {entry!r} (or mappings with "
                f"keys {list(_SPEC_FIELDS)})"
            )
    return tuple(specs)


def make_synthetic(
    *,
    modalities: ModalitiesOption = None,
    num_classes: int = 4,
    n_train: int = 2000,
    n_test: int = 1000,
    spurious: float = 0.0,
    seed: int = 0,
) -> DatasetSplits:
    """Generate the synthetic benchmark (see the module docstring).

    Args:
        modalities: at least two `ModalitySpec` with distinct names; ``None`` uses
            `DEFAULT_MODALITIES` (a fast linear and a slow xor modality). Their `to_dict`
            form and JSON text are accepted too (`parse_modalities`), so that a saved
            ``config.json`` and ``--data modalities=[...]`` can express custom specs.
        num_classes: ``C >= 2``; the labels are balanced (counts differ by at most one).
        n_train: training samples (``>= 1``).
        n_test: test samples (``>= 1``).
        spurious: ``> 0`` appends a shortcut coordinate to the *first* modality: on the
            training split it is ``spurious · v_y`` with ``v_c = 2c/(C-1) - 1`` (the one-hot
            label projected on evenly spaced codes, noiseless: a perfect cue); on the test
            split it is ``spurious · v_r`` for a uniformly random class ``r`` (same marginal,
            no information), so a model that relies on it breaks at test time.
        seed: the seed; the same seed gives identical tensors. The task (class means, signs),
            the training and the test split use independent streams, so ``n_test`` does not
            change the training data.

    Returns:
        `DatasetSplits` named ``"synthetic"`` with float32 `TensorDataset` splits and an MLP
        encoder recommended per modality.

    Raises:
        ValueError: fewer than two modalities, an entry that is neither a `ModalitySpec` nor
            its `to_dict` form (or JSON text that does not parse), duplicate names, a
            ``dim`` too small for its cue, ``num_classes < 2``, ``n_train < 1``,
            ``n_test < 1``, a negative or non-finite ``spurious`` or a non-integer seed.
    """
    parsed = parse_modalities(modalities)
    specs = DEFAULT_MODALITIES if parsed is None else parsed
    if len(specs) < 2:
        raise ValueError(f"modalities must have at least 2 entries, got {len(specs)}: {specs!r}")
    names = [spec.name for spec in specs]
    duplicates = sorted({m for m in names if names.count(m) > 1})
    if duplicates:
        raise ValueError(f"modalities must have distinct names, got duplicates {duplicates}")
    num_classes = check_int(num_classes, "num_classes", low=2)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    seed = check_int(seed, "seed", low=0)
    spurious = check_real(spurious, "spurious", low=0.0)
    for spec in specs:
        need = spec.min_dim(num_classes)
        if spec.dim < need:
            raise ValueError(
                f"dim of modality {spec.name!r} must be >= {need} for a {spec.cue!r} cue with "
                f"num_classes={num_classes}, got {spec.dim}"
            )

    task_gen, train_gen, test_gen = _generators(seed)
    cues = [_Cue(spec, num_classes, task_gen) for spec in specs]
    codes = torch.linspace(-1.0, 1.0, num_classes, dtype=torch.float64)

    def split(n: int, generator: torch.Generator, train: bool) -> TensorDataset:
        labels = _balanced_labels(n, num_classes, generator)
        inputs = {cue.spec.name: cue.sample(labels, generator) for cue in cues}
        if spurious > 0:
            shortcut = labels if train else torch.randint(0, num_classes, (n,), generator=generator)
            first = specs[0].name
            inputs[first] = torch.cat([inputs[first], spurious * codes[shortcut][:, None]], dim=1)
        return TensorDataset(
            {m: x.to(torch.float32) for m, x in inputs.items()}, labels, num_classes
        )

    train_set = split(n_train, train_gen, train=True)
    test_set = split(n_test, test_gen, train=False)
    described = "; ".join(
        f"{s.name}: {s.cue}, dim {s.dim}, signal {s.signal:g}, noise {s.noise:g}" for s in specs
    )
    description = (
        f"synthetic ({num_classes} classes, {n_train} train / {n_test} test, seed {seed}"
        + (f", spurious {spurious:g} on {specs[0].name!r}" if spurious > 0 else "")
        + f"): {described}"
    )
    return DatasetSplits(
        name="synthetic",
        train=train_set,
        test=test_set,
        encoders={spec.name: (MLP_ENCODER[0], dict(MLP_ENCODER[1])) for spec in specs},
        description=description,
    )


def _load_synthetic(
    *,
    root: Any = None,
    seed: int = 0,
    modalities: ModalitiesOption = None,
    num_classes: int = 4,
    n_train: int = 2000,
    n_test: int = 1000,
    spurious: float = 0.0,
) -> DatasetSplits:
    """The ``"synthetic"`` loader (``root`` is ignored)."""
    return make_synthetic(
        modalities=modalities,
        num_classes=num_classes,
        n_train=n_train,
        n_test=n_test,
        spurious=spurious,
        seed=seed,
    )


def _load_synthetic_3(
    *,
    root: Any = None,
    seed: int = 0,
    num_classes: int = 4,
    n_train: int = 2000,
    n_test: int = 1000,
    spurious: float = 0.0,
) -> DatasetSplits:
    """The ``"synthetic-3"`` loader (``root`` is ignored)."""
    splits = make_synthetic(
        modalities=THREE_MODALITIES,
        num_classes=num_classes,
        n_train=n_train,
        n_test=n_test,
        spurious=spurious,
        seed=seed,
    )
    return dataclasses.replace(splits, name="synthetic-3")


register_dataset(
    "synthetic",
    _load_synthetic,
    "two generated modalities: a fast noisy linear cue and a slow xor cue (joint training "
    "under-trains the slow one)",
    "generated (no files)",
)
register_dataset(
    "synthetic-3",
    _load_synthetic_3,
    "three generated modalities: fast linear, slow xor and a parity-of-three cue",
    "generated (no files)",
)
