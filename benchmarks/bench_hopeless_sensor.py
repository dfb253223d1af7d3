"""Balancing methods on the scenario families of issue 17, at small scale.

Scenarios (synthetic, 4 classes, MLP encoders, concat fusion, Adam 1e-3, batch 64):

- ``none``: fast linear (dim 512, signal 1.3) + slow xor (dim 192) + a sensor without signal
  (``none``, dim 64);
- ``weak``: fast linear + slow xor + a weak linear sensor (dim 64, signal 0.45: about 0.7
  alone);
- ``four``: fast linear + slow xor + parity3 (dim 64) + a second linear (dim 128, signal 0.8):
  four sensors of mixed speeds.

For every scenario and seed, a ``unimodal`` run is the "trained alone" reference of
`moo_multimodal.metrics.balance_metrics` (worst *informative* probe, balance ratios).

    python benchmarks/bench_hopeless_sensor.py --scenarios none,weak,four --seeds 3 \
        --epochs 6 --n-train 1000 --out runs/hopeless

Prints one markdown table per scenario (mean ± std over seeds of the final epoch's test
metrics). Finished runs are reused (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import torch

from moo_multimodal import TrainConfig, train
from moo_multimodal.data.synthetic import ModalitySpec
from moo_multimodal.metrics import balance_metrics, reference_accuracies

FAST = ModalitySpec("fast", "linear", dim=512, signal=1.3)
SLOW = ModalitySpec("slow", "xor", dim=192)
SCENARIOS: dict[str, list[ModalitySpec]] = {
    "none": [FAST, SLOW, ModalitySpec("blank", "none", dim=64)],
    "weak": [FAST, SLOW, ModalitySpec("weak", "linear", dim=64, signal=0.45)],
    "four": [
        FAST,
        SLOW,
        ModalitySpec("hard", "parity3", dim=64),
        ModalitySpec("mid", "linear", dim=128, signal=0.8),
    ],
}
METHODS = ("joint", "uniform", "mimo", "mmpareto", "headroom")


def run(scenario: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    out = Path(args.out) / scenario / method / f"seed-{seed}"
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
        epochs=args.epochs,
        seed=seed,
        valid_fraction=0.0,
    )
    result = train(config)
    final = dict(result.final)
    out.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(final))
    return final


def fmt(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenarios", default="none,weak,four")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/hopeless")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for scenario in args.scenarios.split(","):
        names = [s.name for s in SCENARIOS[scenario]]
        rows: list[list[Any]] = []
        for method in args.methods.split(","):
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
            rows.append([method, *(fmt(v) for v in cols.values())])
            header = list(cols)
        print(
            f"\n### {scenario} ({args.seeds} seeds, {args.epochs} epochs, n_train {args.n_train})\n"
        )
        print("| method | " + " | ".join(header) + " |")
        print("|---" * (len(header) + 1) + "|")
        for row in rows:
            print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main()
