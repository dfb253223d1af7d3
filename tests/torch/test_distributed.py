"""torch.distributed: 2 CPU processes on gloo, each with half of the batch, give the same
``.grad`` and weights as one process on the whole batch (float64, mean-reduced losses)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

import moo.torch as mt  # noqa: E402
from moo.solvers import MIMO, MoCo, NashMTL  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

WORLD = 2
N = 16  # the full batch; each rank gets N / WORLD rows
# (name, rule factory, backward keyword arguments)
CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("mgda-autograd", lambda: "mgda", {"extraction": "autograd"}),
    ("mgda-batched", lambda: "mgda", {"extraction": "batched"}),
    ("cagrad-groups", lambda: "cagrad", {"groups": [[0, 1, 2, 3]] * 3}),
    ("nash-mtl", NashMTL, {}),
    ("moco", lambda: MoCo(beta=0.5), {}),
    ("linear", lambda: "linear", {}),
    ("mimo", lambda: MIMO(tracking=0.5), {}),
    ("mgda-representation", lambda: "mgda", {"extraction": "representation"}),
]


def _model() -> Any:
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(
        torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4), torch.nn.Tanh()
    ).double()
    heads = torch.nn.ModuleList(torch.nn.Linear(4, 1) for _ in range(3)).double()
    return trunk, heads


def _data() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(N, 5, generator=g, dtype=torch.float64),
        torch.randn(N, 3, generator=g, dtype=torch.float64),
    )


def _run(rows: slice) -> dict[str, Any]:
    """Two steps of every case on ``rows`` of the batch; ``.grad`` and weights of step 2."""
    x, y = _data()
    x, y = x[rows], y[rows]
    out: dict[str, Any] = {}
    for name, make, kwargs in CASES:
        trunk, heads = _model()
        rule = make()
        for _ in range(2):  # the second step exercises the stateful rules' state
            for p in [*trunk.parameters(), *heads.parameters()]:
                p.grad = None
            h = trunk(x)
            losses = [((hd(h)[:, 0] - y[:, i]) ** 2).mean() for i, hd in enumerate(heads)]
            extra = {"representation": h} if kwargs.get("extraction") == "representation" else {}
            info = mt.backward(
                losses,
                list(trunk.parameters()),
                rule,
                task_params=list(heads.parameters()),
                **kwargs,
                **extra,
            )
        out[name] = {
            "weights": info.weights,
            "losses": info.losses,
            "shared": [p.grad.clone() for p in trunk.parameters()],
            "task": [p.grad.clone() for p in heads.parameters()],
            "world_size": info.info["world_size"],
        }
    return out


def _worker(rank: int, init: str, result_dir: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        per = N // WORLD
        out = _run(slice(rank * per, (rank + 1) * per))
        torch.save(out, str(Path(result_dir) / f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any]]:
    tmp = tmp_path_factory.mktemp("ddp")
    init = (tmp / "store").resolve().as_uri()
    torch.multiprocessing.spawn(_worker, args=(init, str(tmp)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return _run(slice(0, N)), ranks


@pytest.mark.skipif(sys.platform == "win32", reason="file:// store and spawn: Linux/macOS")
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_two_ranks_equal_one_process_on_the_full_batch(
    name: str, results: tuple[dict[str, Any], list[Any]]
) -> None:
    single, ranks = results
    ref = single[name]
    assert ref["world_size"] == 1
    for out in ranks:
        got = out[name]
        assert got["world_size"] == WORLD
        np.testing.assert_allclose(got["weights"], ref["weights"], rtol=1e-10, atol=1e-12)
        # the losses the rule saw: the full batch's mean losses on every rank
        np.testing.assert_allclose(got["losses"], ref["losses"], rtol=1e-12)
        for key in ("shared", "task"):
            for g, r in zip(got[key], ref[key], strict=True):
                np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)
    # identical weights on every rank, bit for bit
    np.testing.assert_array_equal(ranks[0][name]["weights"], ranks[1][name]["weights"])
