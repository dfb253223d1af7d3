"""Metrics of multimodal classifiers: accuracy, macro-F1, per-modality accuracy, imbalance,
robustness to a dropped or noised sensor, linear probes on frozen encoders, and balance
against each encoder trained alone (`balance_metrics`: stays meaningful when a sensor carries
no signal).

The model interface used here: ``model.modalities`` (a tuple of names), ``model(inputs)``
returning an object with ``.fusion`` ``(B, C)`` logits and ``.unimodal`` (``{m: (B, C)}``
logits), and ``model.encode(inputs)`` returning ``{m: (B, D_m)}`` encoder features: a
`moo_multimodal.models.MultimodalModel` (the annotations), or any ``torch.nn.Module`` with that
interface.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from moo.validation import check_int, check_real
from moo_multimodal._distributed import shard_bounds
from moo_multimodal.data import MultimodalDataset, TensorDataset, iterate_batches
from moo_multimodal.data._dataset import iterate_spans

if TYPE_CHECKING:
    from moo_multimodal.models import MultimodalModel


def _as_classes(pred: torch.Tensor, name: str = "pred") -> torch.Tensor:
    """Class indices from indices ``(N,)`` or scores/logits ``(N, C)`` (argmax)."""
    if not isinstance(pred, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(pred).__name__}")
    if pred.ndim == 2:
        return pred.argmax(dim=1)
    if pred.ndim != 1:
        raise ValueError(
            f"{name} must be class indices (N,) or logits (N, C), got shape {tuple(pred.shape)}"
        )
    if pred.is_floating_point() or pred.is_complex() or pred.dtype == torch.bool:
        raise ValueError(f"{name} as class indices (N,) must be integers, got dtype {pred.dtype}")
    return pred


def _pair(pred: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pred = _as_classes(pred)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor of class indices, got {shape}")
    labels = _as_classes(labels, "labels")
    if pred.shape[0] != labels.shape[0]:
        raise ValueError(
            f"pred and labels must have the same length, got {pred.shape[0]} and {labels.shape[0]}"
        )
    if pred.shape[0] == 0:
        raise ValueError("pred and labels are empty")
    return pred.to(labels.device, torch.int64), labels.to(torch.int64)


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of ``pred == labels``.

    ``pred`` holds class indices ``(N,)`` or logits ``(N, C)`` (then its argmax is used).

    Raises:
        ValueError: mismatched lengths, empty input or a bad shape or dtype.
    """
    pred, labels = _pair(pred, labels)
    return float((pred == labels).double().mean())


def macro_f1(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """The unweighted mean over classes of ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``.

    Classes absent from both ``pred`` and ``labels`` are skipped (as scikit-learn's
    ``f1_score(average="macro")`` does when it infers the labels); a class that is predicted
    but never right, or present but never predicted, counts with ``F1 = 0``.

    Raises:
        ValueError: ``num_classes < 1``, values outside ``[0, num_classes)``, or the errors of
            `accuracy`.
    """
    num_classes = check_int(num_classes, "num_classes", low=1)
    pred, labels = _pair(pred, labels)
    for name, values in (("pred", pred), ("labels", labels)):
        out = (values < 0) | (values >= num_classes)
        if bool(out.any()):
            bad = int(torch.nonzero(out)[0, 0])
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got {name}[{bad}] = {int(values[bad])}"
            )
    tp, predicted, actual = _class_counts(pred, labels, num_classes)
    return _macro_f1(tp.double(), predicted.double(), actual.double())


def _class_counts(
    pred: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class: true positives, predictions and occurrences (int64, on their device)."""
    tp = torch.bincount(labels[pred == labels], minlength=num_classes)
    return (
        tp,
        torch.bincount(pred, minlength=num_classes),
        torch.bincount(labels, minlength=num_classes),
    )


def _macro_f1(tp: torch.Tensor, predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """`macro_f1` from the per-class counts (float64)."""
    denom = predicted + actual  # = 2 TP + FP + FN
    present = denom > 0
    f1 = 2 * tp[present] / denom[present]
    return float(f1.mean())


def _device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


Moments = dict[str, tuple[torch.Tensor, float]]
"""Per floating-point modality: the mean input over a dataset (entry by entry, float64, the
input's shape) and the standard deviation of all its entries (`input_moments`)."""


def input_moments(dataset: MultimodalDataset, batch_size: int = 512) -> Moments:
    """The `Moments` of every floating-point modality of ``dataset`` (integer inputs, token
    ids, have none): what `evaluate`'s "noised" and "absent" metrics scale and fill with. One
    pass over the data (none for a `TensorDataset`); the data do not change between
    evaluations, so a caller that evaluates a dataset often computes them once and passes
    them to `evaluation_sums`."""
    check_int(batch_size, "batch_size", low=1)
    floating = [m for m in dataset.modalities if _is_floating(dataset, m)]
    if isinstance(dataset, TensorDataset):
        out: Moments = {}
        for m in floating:
            x = dataset.inputs[m].double()
            out[m] = (x.mean(dim=0), float(x.std(unbiased=False)))
        return out
    totals: dict[str, torch.Tensor] = {}
    squares = dict.fromkeys(floating, 0.0)
    count = 0
    for inputs, _ in iterate_batches(dataset, batch_size):
        for m in floating:
            x = inputs[m].double()
            part = x.sum(dim=0)
            totals[m] = totals[m] + part if m in totals else part
            squares[m] += float((x * x).sum())
        count += next(iter(inputs.values())).shape[0]
    out = {}
    for m in floating:
        mean = totals[m] / count  # datasets are never empty
        grand = float(mean.mean())
        out[m] = (mean, math.sqrt(max(squares[m] / (count * mean.numel()) - grand * grand, 0.0)))
    return out


def _check_common(
    model: MultimodalModel, dataset: Any, batch_size: int, what: str
) -> tuple[str, ...]:
    check_int(batch_size, "batch_size", low=1)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(dataset, MultimodalDataset):
        raise ValueError(f"{what} must be a MultimodalDataset, got {type(dataset).__name__}")
    modalities = tuple(model.modalities)
    missing = [m for m in modalities if m not in dataset.modalities]
    if missing:
        raise ValueError(
            f"{what} lacks the model's modalities {missing}; it has {dataset.modalities}"
        )
    return modalities


@torch.no_grad()
def evaluate(
    model: MultimodalModel,
    dataset: MultimodalDataset,
    *,
    batch_size: int = 512,
    noise_std: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """Fusion and per-modality metrics of ``model`` on ``dataset`` (in eval mode).

    Keys:
        ``"fusion_acc"``, ``"fusion_f1"``: accuracy and macro-F1 of the fusion head;
        ``"fusion_loss"``: the mean cross-entropy of the fusion head;
        ``"acc/<m>"``: accuracy of modality ``m``'s uni-modal head;
        ``"worst_acc"``: the minimum of ``acc/<m>``;
        ``"imbalance"``: ``max_m acc/<m> / min_m acc/<m>`` (``inf`` when the minimum is 0);
        ``"drop/<m>"``: fusion accuracy with ``m``'s input replaced by zeros;
        ``"noise/<m>"``: fusion accuracy with ``N(0, (noise_std · s_m)²)`` added to ``m``'s
        input, ``s_m`` the standard deviation of all entries of ``m``'s input over
        ``dataset``; the noise comes from ``torch.Generator().manual_seed(seed)`` on the CPU
        (the same on every device), drawn batch by batch in the dataset's order. Modalities
        with integer inputs (token ids) are not noised and have no ``noise/<m>`` key;
        ``"absent/<m>"``: fusion accuracy with ``m``'s input replaced by its mean over
        ``dataset`` (entry by entry): a sensor that carries no information but stays in the
        input's range, the fairer "missing sensor" for inputs far from zero (log-mel
        spectrograms, where zeros are a loud signal); integer modalities have no key;
        ``"worst_drop"``, ``"worst_noise"``, ``"worst_absent"``: the minima over modalities
        (``nan`` when no modality has the key).

    The model's training mode is restored afterwards; batches go to the device of its first
    parameter. `evaluation_sums` is the same pass over one process's shard of the batches.

    Raises:
        ValueError: a bad ``batch_size`` or ``noise_std``, or a dataset lacking a modality.
    """
    return evaluation_sums(
        model, dataset, batch_size=batch_size, noise_std=noise_std, seed=seed
    ).metrics()


@dataclass
class EvaluationSums:
    """What `evaluate` adds up over a dataset, or over one process's shard of it: the sums of
    the processes of a sharded evaluation (``values``, one all-reduce) give the metrics of the
    whole dataset (`metrics`), the same as one process's up to the order of the loss sum.

    Attributes:
        modalities: the model's modalities.
        keys: ``(kind, modality)`` of each correct-prediction counter (``kind`` in ``"uni"``,
            ``"drop"``, ``"noise"``, ``"absent"``), in the order of ``values``.
        num_classes: ``C``.
        values: a 1-D tensor on the model's device (float64; float32 on MPS): the counters,
            the summed fusion cross-entropy, then per class the true positives, the
            predictions and the occurrences of the fusion head (``3 C`` entries).
    """

    modalities: tuple[str, ...]
    keys: list[tuple[str, str]]
    num_classes: int
    values: torch.Tensor

    def metrics(self) -> dict[str, float]:
        """`evaluate`'s metrics from these sums."""
        k, c = len(self.keys), self.num_classes
        values = self.values.double().cpu()
        counts = values[k + 1 :].reshape(3, c)
        tp, predicted, actual = counts[0], counts[1], counts[2]
        n = float(actual.sum())
        if n == 0:
            raise ValueError("these evaluation sums count no sample")
        rate = {key: float(v) / n for key, v in zip(self.keys, values[:k].tolist(), strict=True)}
        result: dict[str, float] = {
            "fusion_acc": float(tp.sum()) / n,
            "fusion_f1": _macro_f1(tp, predicted, actual),
            "fusion_loss": float(values[k]) / n,
        }
        uni = {m: rate["uni", m] for m in self.modalities}
        for m in self.modalities:
            result[f"acc/{m}"] = uni[m]
        worst, best = min(uni.values()), max(uni.values())
        result["worst_acc"] = worst
        result["imbalance"] = best / worst if worst > 0 else math.inf
        for kind in ("drop", "noise", "absent"):
            kept = {m: rate[kind, m] for m in self.modalities if (kind, m) in rate}
            for m, v in kept.items():
                result[f"{kind}/{m}"] = v
            result[f"worst_{kind}"] = min(kept.values()) if kept else math.nan
        return result


def eval_plan(n: int, batch_size: int, rank: int, world_size: int) -> list[tuple[int, int, int]]:
    """``(start, lo, hi)`` per batch of ``n`` samples in order: the batch starts at sample
    ``start`` and process ``rank`` of ``world_size`` takes its rows ``lo:hi``
    (`moo_multimodal._distributed.shard_bounds`, as training shards its batches; possibly
    none)."""
    return [
        (start, *shard_bounds(min(batch_size, n - start), rank, world_size))
        for start in range(0, n, batch_size)
    ]


def _share(plan: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """The sample ranges ``[a, b)`` this process reads under ``plan`` (its non-empty shares)."""
    return [(start + lo, start + hi) for start, lo, hi in plan if hi > lo]


@torch.no_grad()
def evaluation_sums(
    model: MultimodalModel,
    dataset: MultimodalDataset,
    *,
    batch_size: int = 512,
    noise_std: float = 1.0,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    moments: Moments | None = None,
) -> EvaluationSums:
    """`evaluate`'s sums over process ``rank``'s share of every batch (`eval_plan`; all of
    them when ``world_size`` is 1). Every process draws the noise of whole batches from the
    one seeded generator and keeps its rows, and takes the input moments over the whole
    dataset (``moments``, `input_moments` of ``dataset`` when not given), so the processes'
    sums add up to one process's whatever ``world_size``."""
    modalities = _check_common(model, dataset, batch_size, "dataset")
    noise_std = check_real(noise_std, "noise_std", low=0.0)
    world_size = check_int(world_size, "world_size", low=1)
    rank = check_int(rank, "rank", low=0)
    if rank >= world_size:
        raise ValueError(f"rank must be below world_size = {world_size}, got {rank}")
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    if moments is None:
        moments = input_moments(dataset, batch_size)
    scales = {m: noise_std * moments[m][1] for m in modalities if m in moments}
    means = {m: moments[m][0] for m in modalities if m in moments}
    keys = [
        (kind, m)
        for m in modalities
        for kind in ("uni", "drop", "noise", "absent")
        if kind in ("uni", "drop") or m in scales
    ]
    # correct predictions per (kind, modality), summed on the device: one host copy at the end
    zero = torch.zeros((), dtype=torch.int64, device=device)
    hits = dict.fromkeys(keys, zero)
    c = dataset.num_classes
    classes = [torch.zeros(c, dtype=torch.int64, device=device) for _ in range(3)]
    # summed in float64 (float32 on MPS, which has no float64)
    loss_dtype = torch.float32 if device.type == "mps" else torch.float64
    loss_sum = torch.zeros((), dtype=loss_dtype, device=device)

    def count(kind: str, m: str, pred: torch.Tensor, labels: torch.Tensor) -> None:
        hits[kind, m] = hits[kind, m] + (pred == labels).sum()

    def fused(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        logits: torch.Tensor = model(inputs).fusion
        return logits.argmax(dim=1)

    n = len(dataset)
    plan = eval_plan(n, batch_size, rank, world_size)
    batches = ((_on(x, device), y.to(device)) for x, y in iterate_spans(dataset, _share(plan)))
    shapes = _sample_shapes(dataset, scales) if world_size > 1 else {}
    was_training = model.training
    model.eval()
    try:
        for start, lo, hi in plan:
            size = min(batch_size, n - start)
            if hi == lo:  # no rows here: the batch's noise is drawn all the same
                for m in scales:
                    shape, dtype = shapes[m]
                    torch.randn((size, *shape), generator=generator, dtype=dtype)
                continue
            inputs, labels = next(batches)
            out = model(inputs)
            pred = out.fusion.argmax(dim=1)
            for total, part in zip(classes, _class_counts(pred, labels, c), strict=True):
                total += part
            loss_sum = loss_sum + torch.nn.functional.cross_entropy(
                out.fusion.to(loss_dtype), labels, reduction="sum"
            )
            for m in modalities:
                count("uni", m, out.unimodal[m].argmax(dim=1), labels)
                count("drop", m, fused({**inputs, m: torch.zeros_like(inputs[m])}), labels)
                if m in scales:
                    x = inputs[m]
                    noise = torch.randn((size, *x.shape[1:]), generator=generator, dtype=x.dtype)[
                        lo:hi
                    ]
                    noised = x + scales[m] * noise.to(x.device)
                    count("noise", m, fused({**inputs, m: noised}), labels)
                    filled = means[m].to(device=x.device, dtype=x.dtype).expand_as(x)
                    count("absent", m, fused({**inputs, m: filled}), labels)
    finally:
        model.train(was_training)
    values = torch.cat(
        [torch.stack([hits[k] for k in keys]).to(loss_dtype), loss_sum[None]]
        + [t.to(loss_dtype) for t in classes]
    )
    return EvaluationSums(modalities, keys, c, values)


def _on(inputs: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {m: x.to(device) for m, x in inputs.items()}


def _sample_shapes(
    dataset: MultimodalDataset, modalities: Mapping[str, Any]
) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """One sample's input shape and dtype per modality in ``modalities``."""
    if isinstance(dataset, TensorDataset):
        return {
            m: (tuple(dataset.inputs[m].shape[1:]), dataset.inputs[m].dtype) for m in modalities
        }
    inputs, _ = dataset[0]
    sample = {m: torch.as_tensor(inputs[m]) for m in modalities}
    return {m: (tuple(x.shape), x.dtype) for m, x in sample.items()}


def _is_floating(dataset: MultimodalDataset, modality: str) -> bool:
    if isinstance(dataset, TensorDataset):
        return dataset.inputs[modality].is_floating_point()
    inputs, _ = dataset[0]
    return bool(torch.as_tensor(inputs[modality]).is_floating_point())


@dataclass
class ProbeFeatures:
    """Frozen encoder features of a dataset, or of one process's share of its batches.

    Attributes:
        features: ``{m: (N, D_m)}`` float64 on the CPU.
        labels: ``(N,)`` int64.
        index: ``(N,)`` int64: each row's sample index in the dataset (`merge` sorts by it).
    """

    features: dict[str, torch.Tensor]
    labels: torch.Tensor
    index: torch.Tensor

    @staticmethod
    def merge(parts: list[ProbeFeatures]) -> ProbeFeatures:
        """The processes' shares as one, in the dataset's order (shares without rows are
        left out)."""
        parts = [p for p in parts if p.index.numel()]
        index = torch.cat([p.index for p in parts])
        order = torch.argsort(index)
        return ProbeFeatures(
            {m: torch.cat([p.features[m] for p in parts])[order] for m in parts[0].features},
            torch.cat([p.labels for p in parts])[order],
            index[order],
        )


@torch.no_grad()
def probe_features(
    model: MultimodalModel,
    dataset: MultimodalDataset,
    *,
    batch_size: int = 512,
    rank: int = 0,
    world_size: int = 1,
) -> ProbeFeatures:
    """The encoder features ``model.encode(inputs)`` (eval mode; the training mode is restored
    afterwards) of process ``rank``'s share of every batch (`eval_plan`; all of them when
    ``world_size`` is 1)."""
    modalities = _check_common(model, dataset, batch_size, "dataset")
    device = _device(model)
    n = len(dataset)
    plan = eval_plan(n, batch_size, rank, world_size)
    spans = _share(plan)
    feats: dict[str, list[torch.Tensor]] = {m: [] for m in modalities}
    labels: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        for inputs, y in iterate_spans(dataset, spans):
            encoded = model.encode(_on(inputs, device))
            for m in modalities:
                feats[m].append(encoded[m].reshape(y.shape[0], -1).double().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not spans:  # no rows here (`ProbeFeatures.merge` leaves such shares out)
        empty = torch.zeros(0, dtype=torch.int64)
        return ProbeFeatures(
            {m: torch.zeros(0, 0, dtype=torch.float64) for m in modalities}, empty, empty
        )
    index = torch.cat([torch.arange(a, b) for a, b in spans])
    return ProbeFeatures({m: torch.cat(f) for m, f in feats.items()}, torch.cat(labels), index)


def _fit_logistic(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, max_iter: int, weight_decay: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression by full-batch L-BFGS from zero (deterministic).

    Minimizes ``mean CE + weight_decay / 2 · ||W||²`` (the bias is not penalized).
    """
    weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y)
        loss = loss + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        optimizer.step(closure)  # type: ignore[no-untyped-call]
    return weight.detach(), bias.detach()


def linear_probe(
    model: MultimodalModel,
    train: MultimodalDataset,
    test: MultimodalDataset,
    *,
    max_iter: int = 100,
    weight_decay: float = 1e-3,
    seed: int = 0,
    batch_size: int = 512,
) -> dict[str, float]:
    """Test accuracy of a linear classifier on each frozen encoder's features.

    For each modality ``m``: features ``model.encode(inputs)[m]`` on ``train`` and ``test``
    (eval mode, no gradients; the training mode is restored afterwards), standardized with the
    training mean and standard deviation (constant features are left centred), then a
    multinomial logistic regression with an L2 penalty ``weight_decay / 2 · ||W||²`` fit on the
    training features by full-batch L-BFGS (strong-Wolfe line search, ``max_iter`` iterations,
    float64, on the CPU).

    The fit starts at zero and is deterministic; ``seed`` is accepted for interface symmetry
    with `evaluate` and does not change the result.

    Returns:
        ``{"probe/<m>": test accuracy}`` in the model's modality order.

    Raises:
        ValueError: a bad ``max_iter``, ``weight_decay`` or ``batch_size``, datasets lacking a
            modality, or train and test with different numbers of classes.
    """
    _check_common(model, train, batch_size, "train")
    _check_common(model, test, batch_size, "test")
    max_iter = check_int(max_iter, "max_iter", low=1)
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0)
    if train.num_classes != test.num_classes:
        raise ValueError(
            f"train and test num_classes differ: {train.num_classes} vs {test.num_classes}"
        )
    train_feats = probe_features(model, train, batch_size=batch_size)
    test_feats = probe_features(model, test, batch_size=batch_size)
    return fit_probes(
        train_feats, test_feats, train.num_classes, max_iter=max_iter, weight_decay=weight_decay
    )


def fit_probes(
    train: ProbeFeatures,
    test: ProbeFeatures,
    num_classes: int,
    *,
    max_iter: int = 100,
    weight_decay: float = 1e-3,
) -> dict[str, float]:
    """`linear_probe`'s fits and test accuracies from the features of the whole training and
    test splits (`probe_features`, merged over the processes of a sharded evaluation)."""
    result: dict[str, float] = {}
    for m in train.features:
        x_train, x_test = train.features[m], test.features[m]
        mean = x_train.mean(dim=0)
        std = x_train.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std
        weight, bias = _fit_logistic(x_train, train.labels, num_classes, max_iter, weight_decay)
        result[f"probe/{m}"] = accuracy(x_test @ weight + bias, test.labels)
    return result


# ---------------------------------------------------------------- balance against "alone"

CHANCE_MARGIN = 0.05
"""Default margin of `informative_modalities`: a modality is informative when its accuracy
trained alone exceeds chance ``1/C`` by more than this (absolute accuracy). At 1000 test
samples and ``C = 4`` chance accuracy has a sampling standard deviation of
``sqrt(0.25 · 0.75 / 1000) ≈ 0.014``, so 0.05 is more than 3 standard deviations; pass a
larger margin for smaller test sets (``3 · sqrt((1/C)(1 − 1/C)/n)`` is a good rule)."""


def chance_level(num_classes: int) -> float:
    """``1/C``: the accuracy of a predictor that ignores its input, on balanced classes."""
    return 1.0 / check_int(num_classes, "num_classes", low=2)


def reference_accuracies(record: Mapping[str, float], *, prefix: str = "probe") -> dict[str, float]:
    """The per-modality accuracies ``{m: record["<prefix>/<m>"]}`` of a *reference* record.

    The intended reference is the "trained alone" run: the same data, encoders, budget and
    seed trained with the ``unimodal`` method (each encoder by its own uni-modal loss only,
    the fusion head on frozen features), whose ``probe/<m>`` is the accuracy of encoder ``m``
    trained alone. Use its selected or final record (`RunResult.selected`).

    Raises:
        ValueError: a bad ``prefix`` or a record without any ``<prefix>/<m>`` key.
    """
    if prefix not in ("probe", "acc"):
        raise ValueError(f"prefix must be 'probe' or 'acc', got {prefix!r}")
    out = {
        key.split("/", 1)[1]: float(v)
        for key, v in record.items()
        if key.startswith(f"{prefix}/") and len(key) > len(prefix) + 1
    }
    if not out:
        raise ValueError(
            f"record has no '{prefix}/<m>' key (keys: {sorted(record)}); a run with probes=True "
            "gives probe/<m>"
        )
    return out


def informative_modalities(
    alone: Mapping[str, float], num_classes: int, *, margin: float = CHANCE_MARGIN
) -> tuple[str, ...]:
    """The modalities whose accuracy trained alone exceeds chance by more than ``margin``:
    ``alone[m] > 1/C + margin`` (`CHANCE_MARGIN` by default). The others are at chance: their
    sensor carries no label information the encoder can learn within the budget.

    Raises:
        ValueError: ``num_classes < 2``, a negative or non-finite ``margin``, or an accuracy
            outside ``[0, 1]`` (naming the modality).
    """
    chance = chance_level(num_classes)
    margin = check_real(margin, "margin", low=0.0)
    for m, value in alone.items():
        check_real(value, f"alone[{m!r}]", low=0.0, high=1.0)
    return tuple(m for m, value in alone.items() if value > chance + margin)


def balance_metrics(
    record: Mapping[str, float],
    alone: Mapping[str, float],
    num_classes: int,
    *,
    prefix: str = "probe",
    margin: float = CHANCE_MARGIN,
) -> dict[str, float]:
    """Per-modality accuracy relative to the same encoder trained alone, and the worst
    *informative* modality.

    For each modality ``m`` of ``alone`` with ``a_m = record["<prefix>/<m>"]`` (the run's
    linear-probe accuracy by default) and ``r_m = alone[m]`` (the reference trained alone,
    see `reference_accuracies`):

    - ``"balance/<m>"`` ``= a_m / r_m``: the **balance ratio**, 1 when the multimodal run
      trained encoder ``m`` as well as training it alone does (it may exceed 1), ``nan`` when
      ``r_m = 0``;
    - ``"informative/<m>"``: 1.0 when ``r_m > 1/C + margin`` (`informative_modalities`), else
      0.0: a modality at chance when trained alone is reported but not minimized over;
    - ``"worst_informative"``: ``min a_m`` over the informative modalities, and
      ``"worst_informative_balance"``: the least ratio ``a_m / r_m`` over them (both
      ``nan`` when no modality is informative); ``"n_informative"``.

    The plain ``worst_probe`` / ``worst_acc`` of `evaluate` always name a sensor without
    signal when there is one; these do not.

    Raises:
        ValueError: a bad ``prefix``, ``num_classes`` or ``margin``, an accuracy outside
            ``[0, 1]``, or a modality of ``alone`` without its key in ``record``.
    """
    if prefix not in ("probe", "acc"):
        raise ValueError(f"prefix must be 'probe' or 'acc', got {prefix!r}")
    informative = set(informative_modalities(alone, num_classes, margin=margin))
    out: dict[str, float] = {}
    worst: list[float] = []
    worst_ratio: list[float] = []
    for m, reference in alone.items():
        key = f"{prefix}/{m}"
        if key not in record:
            raise ValueError(f"record lacks {key!r} (keys: {sorted(record)})")
        value = check_real(record[key], f"record[{key!r}]", low=0.0, high=1.0)
        ratio = value / reference if reference > 0 else math.nan
        out[f"balance/{m}"] = ratio
        out[f"informative/{m}"] = 1.0 if m in informative else 0.0
        if m in informative:
            worst.append(value)
            worst_ratio.append(ratio)
    out["worst_informative"] = min(worst) if worst else math.nan
    out["worst_informative_balance"] = min(worst_ratio) if worst_ratio else math.nan
    out["n_informative"] = float(len(informative))
    return out
