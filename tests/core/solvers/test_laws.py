"""Every registered rule satisfies its declared laws (`moo.testing.check_update_rule`).

`LAW_CONFIGS` maps every name of `moo.solvers.available_rules()` to the hyperparameter sets
its laws are checked with; ``test_rule_satisfies_its_declared_laws[<name>-<i>]`` runs the kit
on the ``i``-th set of rule ``<name>``, built through the registry (`get_rule`). A new rule
needs an entry here (``test_every_registered_rule_has_law_configs`` fails without one); its
own tests go to ``tests/core/solvers/test_<module>.py``.

An entry is a dict of hyperparameters; its optional key ``"kit"`` holds keyword arguments of
`check_update_rule` for that entry (limits on K, hypothesis examples).
"""

from __future__ import annotations

from typing import Any

import pytest

from moo.solvers import available_rules, get_rule
from moo.testing import check_update_rule

KIT = "kit"

# MIMO needs a group of objectives: K >= 2, and K > nominal (the nominal objectives are not
# in the group); with an explicit group, K is the group's largest index + 1.
_MIMO_KIT = {"min_objectives": 2, "max_examples": 15}

LAW_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "cagrad": [{"c": c, "rescale": rescale} for c in (0.0, 0.4, 0.9) for rescale in (0, 1, 2)],
    # EPO and PMTL: a preference vector fixes K (the kit draws exactly that many objectives)
    "epo": [
        {},
        {"preference": [1.0, 3.0], KIT: {"min_objectives": 2, "max_objectives": 2}},
        {
            "preference": [0.2, 1.0, 5.0],
            "eps": 0.0,
            "step_control": False,
            KIT: {"min_objectives": 3, "max_objectives": 3},
        },
    ],
    "imtl-g": [{}],
    "linear": [{}],
    "mgda": [{}, {"normalization": "l2"}, {"normalization": "loss+"}],
    "mimo": [
        {KIT: _MIMO_KIT},
        {"smoothing": "quadratic", "mu": 0.1, "normalize": "sum", KIT: _MIMO_KIT},
        {"update": "ascent", "ascent_lr": 1.5, "tracking": 0.3, "relative": True, KIT: _MIMO_KIT},
        {"update": "ascent", "smoothing": "quadratic", "mu": 2.0, "ascent_lr": 0.2, KIT: _MIMO_KIT},
        {
            "gamma": 3.0,
            "nominal": 2,
            "gamma_schedule": "linear-warmup",
            "warmup_steps": 2,
            KIT: {**_MIMO_KIT, "min_objectives": 3},
        },
        {
            "group": [1, 3],
            "normalize": "sum",
            "mu": 1e-3,
            KIT: {**_MIMO_KIT, "min_objectives": 4, "max_objectives": 4},
        },
        {"gamma": lambda t: 1.0 / (1.0 + t), KIT: _MIMO_KIT},
    ],
    "moco": [
        {"beta": 0.1, "gamma": 0.1, "rho": 0.1},
        {"beta": 1.0, "gamma": 0.5, "rho": 0.0},
        {"beta": 0.5, "gamma": 1e-3, "rho": 2.0},
    ],
    "modo": [
        {"gamma": 0.1, "rho": 0.1},
        {"gamma": 0.5, "rho": 0.0},
        {"gamma": 1e-3, "rho": 2.0},
    ],
    # The "stop" policy on every family, including those without a solution (zero weights
    # there); the default "raise" policy (Newton backend) where a solution always exists
    # (K = 1): test_nash_mtl's agreement of the two policies carries the laws over to K > 1.
    "nash-mtl": [
        {"on_stationary": "stop"},
        {"on_stationary": "stop", "max_norm": 1.0},
        {"on_stationary": "stop", "update_weights_every": 3},
        {"on_stationary": "stop", "stationary_tol": 1e-3, "max_norm": 0.5},
        {KIT: {"max_objectives": 1}},
        {"max_norm": 1.0, KIT: {"max_objectives": 1}},
    ],
    "pcgrad": [{}, {"reduction": "mean", "order": "shared", "seed": 7}, {"order": "fixed"}],
    "pmtl": [
        {},
        {
            "preference": [1.0, 0.5],
            "references": [[1.0, 0.1], [1.0, 0.5], [1.0, 1.0], [0.1, 1.0]],
            KIT: {"min_objectives": 2, "max_objectives": 2},
        },
        {
            "preference": [1.0, 1.0, 1.0],
            "references": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]],
            "eps": 0.05,
            "find_feasible": False,
            KIT: {"min_objectives": 3, "max_objectives": 3},
        },
    ],
    "upgrad": [{}],
}


def test_every_registered_rule_has_law_configs() -> None:
    registered, configured = set(available_rules()), set(LAW_CONFIGS)
    assert configured == registered, (
        f"registered rule(s) without a law test: {sorted(registered - configured)}, add each "
        "to LAW_CONFIGS in tests/core/solvers/test_laws.py (a list of hyperparameter sets); "
        f"LAW_CONFIGS entries of unregistered rules: {sorted(configured - registered)}"
    )
    empty = sorted(name for name, configs in LAW_CONFIGS.items() if not configs)
    assert not empty, f"LAW_CONFIGS entries {empty} list no hyperparameter set"


@pytest.mark.parametrize(
    ("name", "config"),
    [(name, config) for name, configs in LAW_CONFIGS.items() for config in configs],
    ids=[f"{name}-{i}" for name, configs in LAW_CONFIGS.items() for i in range(len(configs))],
)
def test_rule_satisfies_its_declared_laws(name: str, config: dict[str, Any]) -> None:
    hyperparameters = {key: value for key, value in config.items() if key != KIT}
    check_update_rule(get_rule(name, **hyperparameters), **config.get(KIT, {}))
