"""Balancing methods on the scenario families of issue 17, at small scale.

Scenarios (synthetic, 4 classes, MLP encoders, concat fusion, Adam 1e-3, batch 64):

- ``none``: fast linear (dim 512, signal 1.3) + slow xor (dim 192) + a sensor without signal
  (``none``, dim 64);
- ``weak``: fast linear + slow xor + a weak linear sensor (dim 64, signal 0.75: about 0.7
  alone at n_train 2000, 10 epochs; calibrated with ``unimodal`` runs, signal 0.7 gave 0.68,
  0.8 gave 0.74);
- ``four``: fast linear + slow xor + parity3 (dim 64) + a second linear (dim 128, signal 0.8):
  four sensors of mixed speeds.

For every scenario and seed, a ``unimodal`` run is the "trained alone" reference of
`moo_multimodal.metrics.balance_metrics` (worst *informative* probe, balance ratios).

    python benchmarks/bench_hopeless_sensor.py --scenarios none,weak,four --seeds 10 \
        --epochs 10 --n-train 2000 --jobs 2 --out runs/hopeless \
        --variant headroom-z2=headroom:threshold=2 --md benchmarks/results-hopeless-sensor.md

Prints one markdown table per scenario (mean ± std over seeds of the final epoch's test
metrics; ``alone`` is the ``unimodal`` reference run itself), then a summary of the issue's
targets per family and headroom's paired differences seed by seed, and writes the same to
``--md``. Finished runs are reused (``--out``);
``--jobs`` runs that many trainings at once (one thread each).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import statistics
from pathlib import Path
from typing import Any

import torch

from moo.cli import parse_assignments
from moo_multimodal import TrainConfig, train
from moo_multimodal.data.synthetic import ModalitySpec
from moo_multimodal.metrics import balance_metrics, reference_accuracies

FAST = ModalitySpec("fast", "linear", dim=512, signal=1.3)
SLOW = ModalitySpec("slow", "xor", dim=192)
SCENARIOS: dict[str, list[ModalitySpec]] = {
    "none": [FAST, SLOW, ModalitySpec("blank", "none", dim=64)],
    "weak": [FAST, SLOW, ModalitySpec("weak", "linear", dim=64, signal=0.75)],
    "four": [  # the weakest informative one: mid (a plateau at about 0.72); the slowest: hard
        FAST,
        SLOW,
        ModalitySpec("hard", "parity3", dim=64),
        ModalitySpec("mid", "linear", dim=128, signal=0.8),
    ],
}
METHODS = ("joint", "uniform", "mimo", "mmpareto", "headroom")


def parse_variants(items: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``--variant LABEL=METHOD:KEY=VALUE[,KEY=VALUE...]``: a method with hyperparameters of
    its own, reported as ``LABEL`` (its runs in the folder ``LABEL``)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        label, _, spec = item.partition("=")
        method, colon, assignments = spec.partition(":")
        if not label or not method or not colon or label in out:
            raise SystemExit(f"--variant expects LABEL=METHOD:KEY=VALUE[,...], got {item!r}")
        out[label] = (method, parse_assignments(assignments.split(","), "--variant"))
    return out


def run(scenario: str, label: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """One training (reused when its folder holds ``final.json``); ``label`` is a method name
    or a ``--variant`` label."""
    method, options = args.variants.get(label, (label, {}))
    out = Path(args.out) / scenario / label / f"seed-{seed}"
    done = out / "final.json"
    if done.exists():
        return json.loads(done.read_text())  # type: ignore[no-any-return]
    config = TrainConfig(
        dataset_options={
            "modalities": [s.to_dict() for s in SCENARIOS[scenario]],
            "n_train": args.n_train,
            "n_test": args.n_test,
        },
        method=method,
        method_options=options,
        epochs=args.epochs,
        seed=seed,
        valid_fraction=0.0,
    )
    result = train(config)
    final = dict(result.final)
    out.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(final))
    return final


def _init(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_job(job: tuple[str, str, int, argparse.Namespace]) -> None:
    run(*job)


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.fmean(values) if values else math.nan


def _std(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def paired_table(
    per_seed: dict[tuple[str, str], dict[str, list[float]]], scenarios: list[str]
) -> str:
    """headroom minus each other balancing method, seed by seed (the same data and
    initialization per seed): mean ± std of the differences, and on how many seeds headroom
    is higher / equal / lower."""
    others = [
        b for b in ("uniform", "mmpareto", "mimo") if any((sc, b) in per_seed for sc in scenarios)
    ]
    lines = [
        "\n### Paired differences (headroom − method, per seed, points)\n",
        "| family | metric | " + " | ".join(f"vs {b}" for b in others) + " |",
        "|---|---|" + "---|" * len(others),
    ]
    for sc in scenarios:
        if (sc, "headroom") not in per_seed:
            continue
        for key in ("fusion", "worst informative probe"):
            cells = [sc, key]
            for b in others:
                if (sc, b) not in per_seed:
                    cells.append("–")
                    continue
                diffs = [
                    100 * (h - o)
                    for h, o in zip(
                        per_seed[sc, "headroom"][key], per_seed[sc, b][key], strict=True
                    )
                ]
                up = sum(d > 1e-9 for d in diffs)
                down = sum(d < -1e-9 for d in diffs)
                spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                cells.append(
                    f"{statistics.fmean(diffs):+.2f} ± {spread:.2f} "
                    f"({up} up, {len(diffs) - up - down} equal, {down} down)"
                )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenarios", default="none,weak,four")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/hopeless")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--md", default="")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=METHOD:KEY=VALUE[,...]",
        help="also run METHOD with these hyperparameters, reported as LABEL (repeatable), "
        "e.g. headroom-z2=headroom:threshold=2",
    )
    args = parser.parse_args()
    args.variants = parse_variants(args.variant)
    torch.set_num_threads(args.threads)
    methods = [*args.methods.split(","), *args.variants]
    scenarios = args.scenarios.split(",")
    todo = [
        (sc, me, seed)
        for sc in scenarios
        for me in ["unimodal", *methods]
        for seed in range(args.seeds)
        if not (Path(args.out) / sc / me / f"seed-{seed}" / "final.json").exists()
    ]
    if args.jobs > 1 and todo:
        with concurrent.futures.ProcessPoolExecutor(
            args.jobs, initializer=_init, initargs=(args.threads,)
        ) as pool:
            list(pool.map(_run_job, [(sc, me, seed, args) for sc, me, seed in todo]))
    lines: list[str] = []
    means: dict[tuple[str, str], dict[str, float]] = {}
    per_seed: dict[tuple[str, str], dict[str, list[float]]] = {}
    spreads: dict[tuple[str, str], dict[str, float]] = {}
    for scenario in scenarios:
        names = [s.name for s in SCENARIOS[scenario]]
        rows: list[list[Any]] = []
        for method in ["unimodal", *methods]:
            cols: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                alone = reference_accuracies(run(scenario, "unimodal", seed, args))
                final = run(scenario, method, seed, args)
                extra = balance_metrics(final, alone, 4)
                total = sum(final.get(f"weight/{m}", 0.0) for m in names)
                values = {
                    "fusion": final["fusion_acc"],
                    "worst informative probe": extra["worst_informative"],
                    "worst informative balance": extra["worst_informative_balance"],
                    **{f"probe {m}": final[f"probe/{m}"] for m in names},
                    f"{names[-1]} share": (
                        final.get(f"weight/{names[-1]}", 0.0) / total if total > 0 else math.nan
                    ),
                }
                for k, v in values.items():
                    cols.setdefault(k, []).append(v)
            rows.append(
                ["alone" if method == "unimodal" else method, *(fmt(v) for v in cols.values())]
            )
            header = list(cols)
            per_seed[scenario, method] = cols
            means[scenario, method] = {k: _mean(v) for k, v in cols.items()}
            spreads[scenario, method] = {k: _std(v) for k, v in cols.items()}
        lines.append(
            f"\n### {scenario} ({args.seeds} seeds, {args.epochs} epochs, n_train {args.n_train})\n"
        )
        lines.append("| method | " + " | ".join(header) + " |")
        lines.append("|---" * (len(header) + 1) + "|")
        for row in rows:
            lines.append("| " + " | ".join(str(c) for c in row) + " |")
    if "headroom" in methods:
        lines.append("\n### Targets (headroom, means over seeds)\n")
        lines.append(
            "| family | fusion > uniform, mmpareto | worst informative > uniform, mmpareto "
            "| fusion vs mimo (diff, spread) | worst informative vs mimo (diff, spread) |"
        )
        lines.append("|---|---|---|---|---|")
        for sc in scenarios:
            h = means[sc, "headroom"]
            cells = [sc]
            for key in ("fusion", "worst informative probe"):
                ok = all(
                    h[key] > means[sc, b][key] for b in ("uniform", "mmpareto") if (sc, b) in means
                )
                cells.append("yes" if ok else "no")
            for key in ("fusion", "worst informative probe"):
                if (sc, "mimo") in means:
                    diff = h[key] - means[sc, "mimo"][key]
                    spread = max(spreads[sc, "headroom"][key], spreads[sc, "mimo"][key])
                    cells.append(f"{100 * diff:+.1f} ({100 * spread:.1f})")
                else:
                    cells.append("–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append(paired_table(per_seed, scenarios))
    text = "\n".join(lines)
    print(text)
    if args.md:
        Path(args.md).write_text(
            "# Results: balancing with a hopeless sensor (issue 17)\n\n"
            "Generated by `benchmarks/bench_hopeless_sensor.py` (numbers in %, mean ± std over "
            "seeds, last epoch's test metrics).\n" + text + "\n"
        )


if __name__ == "__main__":
    main()
