"""--require: candidates whose loss lacks a required property are rejected before training.

The reference for "ranking-preserving" here is independent of objectives/properties.py: finite
differences of the link G(D), parsed and lambdified, on D in [-60, 60]."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from lossforge.grammar.ops import to_elementary
from lossforge.search import checkpoint, run_search
from lossforge.search.engine import SearchConfig
from lossforge.symbolic.parser import parse_formula

# G(D) = Dec(D) + Bump(D): Dec is softplus(-.) or sigmoid(-.) of an increasing argument, Bump
# is 0 or an increasing term D/10, softplus(D)/10. softplus(-D) + D/10 has G' = -sigma(-D) + 1/10
# > 0 for D > log 9: not ranking-preserving, yet falling where the smoke test probes.
LINK_GRAMMAR = """
[grammar]
name = "link_any"
description = "links G(D), some ranking-preserving, some not (a test grammar)"
root = "Any"
variables = [{ name = "D", type = "Inc" }]
max_depth = 4

[types]
Any = { interval = [-inf, inf] }
Dec = { interval = [-inf, inf] }
Neg = { interval = [-inf, inf] }
Inc = { interval = [-inf, inf] }
Bump = { interval = [-inf, inf], constants = ["0"] }
Coef = { constants = ["1/10"] }

[[productions]]
op = "neg"
args = ["Inc"]
returns = "Neg"

[[productions]]
op = "softplus"
args = ["Neg"]
returns = "Dec"

[[productions]]
op = "sigmoid"
args = ["Neg"]
returns = "Dec"

[[productions]]
op = "softplus"
args = ["Inc"]
returns = "Inc"

[[productions]]
op = "mul"
args = ["Coef", "Inc"]
returns = "Bump"

[[productions]]
op = "add"
args = ["Dec", "Bump"]
returns = "Any"
"""


def rises_somewhere(link: str) -> bool:
    """G(D + h) > G(D) somewhere on [-60, 60] (finite differences, float64)."""
    d = sp.Symbol("D", real=True)
    f = sp.lambdify(d, to_elementary(parse_formula(link, {"D": d})), "numpy")
    x = np.linspace(-60.0, 60.0, 24001)
    with np.errstate(all="ignore"):
        g = np.broadcast_to(f(x), x.shape)
    step = np.diff(g)
    return bool((step > 1e-12 * (1 + np.abs(g[1:]))).any())


def _config(tmp_path, require=()):
    grammar = tmp_path / "link_any.toml"
    if not grammar.exists():
        grammar.write_text(LINK_GRAMMAR)
    return SearchConfig(scenario="quick", grammar="grammars/mirror_map_dcp.toml", population=8,
                        generations=3, seed=1, fitness="probe", workers=1, budget="screen",
                        link_grammar=str(grammar), require=require)


def _trained(state) -> list[dict]:
    first = state["ladder"][0]
    return [rec for rec in state["losses"].values() if first in rec]


def test_require_ranking_preserving_never_trains_a_loss_without_it(tmp_path):
    # without --require this search trains losses whose link rises for large D ...
    free = checkpoint.load(run_search(_config(tmp_path), runs_root=tmp_path / "a", quiet=True))
    assert any(rises_somewhere(rec["link"]) for rec in _trained(free))
    assert free["counters"]["rejected"].get("lacks_property", 0) == 0
    # ... with it, none (killed after one generation and resumed: the requirement stays)
    cfg = _config(tmp_path, require=("ranking-preserving",))
    run_dir = run_search(cfg, runs_root=tmp_path / "b", quiet=True, stop_after=1)
    assert json.loads((run_dir / "config.json").read_text())["config"]["require"] == [
        "ranking-preserving"]
    run_search(resume=run_dir, quiet=True)
    state = checkpoint.load(run_dir)
    assert state["generation"] == 3 and state["config"]["require"] == ["ranking-preserving"]
    assert not any(rises_somewhere(rec["link"]) for rec in _trained(state))
    rejected = [rec for rec in state["trees"].values() if rec.get("reason") == "lacks_property"]
    assert rejected and state["counters"]["rejected"]["lacks_property"] == len(rejected)
    assert all(r["detail"].startswith("ranking-preserving required: failed") for r in rejected)
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    for row in hof["hall_of_fame"]:
        assert row["properties"]["ranking"]["holds"] and not rises_somewhere(row["spec"]["link"])


#: a link grammar of linear-tailed links only (-D, softplus(-D), softplus(softplus(-D)), ...:
#: G' -> -1 as D -> -inf), none of them redescending
LINEAR_LINKS = """
[grammar]
name = "linear-links"
root = "Dec"
variables = [{ name = "D", type = "Inc" }]
max_depth = 3

[types]
Inc = { interval = [-inf, inf] }
Dec = { interval = [-inf, inf] }

[[productions]]
op = "neg"
args = ["Inc"]
returns = "Dec"

[[productions]]
op = "softplus"
args = ["Dec"]
returns = "Dec"
"""


def test_a_requirement_no_proposal_meets_is_said_plainly(tmp_path):
    """A link grammar whose every link has a linear tail holds no redescending loss, so
    --require redescending turns away every proposal: the run says so (it ended on "Verdict:
    none" alone); a run whose proposals pass the requirement says nothing of the kind."""
    import io

    from rich.console import Console

    grammar = tmp_path / "linear-links.toml"
    grammar.write_text(LINEAR_LINKS)

    def printed(require):
        buf = io.StringIO()
        cfg = SearchConfig(fitness="probe", generations=1, population=4, workers=1,
                           require=require, link_grammar=str(grammar))
        run = run_search(cfg, runs_root=tmp_path / "-".join(require),
                         console=Console(file=buf, width=400))
        return buf.getvalue(), checkpoint.load(run)["counters"]

    out, counters = printed(("redescending",))
    assert counters["rejected"]["lacks_property"] == counters["proposed"] > 0
    assert ("every new proposal lacked a property --require asks for (redescending): the "
            "grammars in use may hold no such loss") in out
    out, counters = printed(("length-free",))
    assert counters["rejected"].get("lacks_property", 0) < counters["proposed"]
    assert "every new proposal lacked" not in out


def test_require_reference_free_trains_reference_free_losses(tmp_path):
    """--require reference-free makes every candidate reference-free (r = beta phi~(l), as
    ORPO's) instead of rejecting every proposal (the search's candidates all used the
    reference). Checked on the trained specs and by hand on one loss: its value does not move
    when the reference log-probs do."""
    import torch

    from lossforge.objectives import Objective, MPOSpec

    cfg = SearchConfig(fitness="probe", generations=2, population=8, workers=1,
                       require=("reference-free",))
    state = checkpoint.load(run_search(cfg, runs_root=tmp_path, quiet=True))
    trained = _trained(state)
    assert trained and state["counters"]["rejected"].get("lacks_property", 0) == 0
    assert all(rec["spec"]["reference"] is False for rec in trained)
    obj = Objective(MPOSpec.from_json(trained[0]["spec"]))
    g = torch.Generator().manual_seed(0)
    lw, ll = -torch.rand(6, generator=g) * 50, -torch.rand(6, generator=g) * 50
    ref_a, ref_b = -torch.rand(6, generator=g) * 50, -torch.rand(6, generator=g) * 50
    assert not obj.needs_reference
    a, b = obj(lw, ll, ref_a, ref_b), obj(lw, ll, ref_b, ref_a)
    assert torch.equal(a, b) and torch.isfinite(a).all()
    with_ref = Objective(MPOSpec.from_json({**trained[0]["spec"], "reference": True}))
    assert not torch.allclose(with_ref(lw, ll, ref_a, ref_b), with_ref(lw, ll, ref_b, ref_a))
    # the printed loss says so (it showed the reference terms)
    from lossforge.search.rundir import loss_text

    assert "D = 0.1 * [phi~(l_w) - phi~(l_l)] (reference-free)" in loss_text(trained[0]["spec"])
    assert "l_ref" in loss_text(with_ref.spec.to_json())


def test_requiring_redescending_with_dpos_fixed_link_is_refused_before_any_work(tmp_path,
                                                                                  capsys):
    """Without --link-grammar every candidate has DPO's link, which is not redescending: the
    search would reject every proposal and end on "Verdict: none". It is a usage error, in one
    line, before a run directory exists."""
    from lossforge.errors import ConfigError
    from lossforge.search.__main__ import main

    with pytest.raises(ConfigError, match="--require redescending needs --link-grammar"):
        SearchConfig(fitness="probe", require=("redescending",))
    assert main(["--fitness", "probe", "--require", "redescending", "--runs-dir",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --require redescending needs "
                                               "--link-grammar"), err
    assert not (tmp_path / "runs").exists()
    SearchConfig(fitness="probe", require=("redescending",), link_grammar="grammars/link.toml")
