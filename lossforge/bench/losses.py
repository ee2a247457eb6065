"""Losses named on a command line, as objectives on a scenario: ``--losses dpo,dpo:beta=2,
orpo:lam=0.5`` and ``--from-run RUN[:RANK|:ID]``. The bench CLI (``python -m lossforge.bench``),
the audit and the scripts in benchmarks/ all read loss lists through here.
"""

from __future__ import annotations

import dataclasses

from lossforge.errors import ConfigError


def parse_losses(text: str):
    """'dpo,dpo:beta=2,orpo:lam=0.5' -> [(display name, zoo name, overrides)]."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, *kvs = item.split(":")
        overrides = {}
        for kv in kvs:
            if "=" not in kv:
                raise ConfigError(f"--losses: {item!r}: expected name:key=value, got {kv!r}")
            k, v = kv.split("=", 1)
            try:
                overrides[k.strip()] = float(v)
            except ValueError:
                raise ConfigError(f"--losses: {item!r}: {k} must be a number, got {v!r}") from None
        label = name if not overrides else f"{name}[{','.join(f'{k}={v:g}' for k, v in overrides.items())}]"
        out.append((label, name, overrides))
    return out


def build_objectives(text: str, scenario) -> list:
    """Objectives for a --losses text; DPO-family members (with a reference) take the
    scenario's beta unless the text sets one."""
    return [objective_for(label, name, overrides, scenario)
            for label, name, overrides in parse_losses(text)]


def objective_for(label: str, name: str, overrides: dict, scenario):
    """One zoo objective named ``label``, with ``overrides``, as it runs on ``scenario``
    (``objectives.zoo.scenario_spec``: a DPO-family member takes the scenario's beta, a
    horizon-sized parameter its fraction of H, unless ``overrides`` sets them)."""
    from lossforge.objectives import Objective
    from lossforge.objectives.zoo import scenario_spec

    spec = scenario_spec(name, scenario.beta, scenario.horizon, overrides)
    return Objective(dataclasses.replace(spec, name=label))


def run_objective(ref: str):
    """'runs/<run>[:rank|:loss id]' -> that loss of a search run directory (rank 0: the best),
    picked by ``objectives.from_run``."""
    from lossforge.objectives import from_run

    path, _, which = ref.rpartition(":") if ":" in ref else (ref, "", "0")
    try:
        return from_run(path, int(which)) if which.isdigit() else from_run(path, name=which)
    except ConfigError as exc:
        raise ConfigError(f"--from-run {ref}: {exc}") from None
