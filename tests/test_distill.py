"""Distillation of a learned phi~ into a grammar formula: lossforge's GP backend on a known
target, the PySR backend's detection of a missing Julia, and its translation of stored PySR
output into checked mirror maps."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lossforge.distill import DistillError, Target, fit_error, target_from_spec
from lossforge.distill import pysr_backend
from lossforge.distill.sr import SRConfig, fit
from lossforge.errors import FormulaError
from lossforge.objectives.neural import NeuralSpec
from lossforge.symbolic.mirror_map import MirrorMap

DATA = Path(__file__).resolve().parent / "data"
L_GRID = np.linspace(-5.0, -0.01, 200)
LOG_ODDS = L_GRID - np.log1p(-np.exp(L_GRID))   # phi~ of h = p log p + (1-p) log(1-p)


def _phi(mm: MirrorMap, ls: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return mm.compile()(torch.as_tensor(ls)).numpy()


def _matches_up_to_constant(values: np.ndarray, want: np.ndarray, tol: float) -> bool:
    return float(np.abs((values - values.mean()) - (want - want.mean())).max()) < tol


def test_gp_backend_recovers_the_binary_entropy_from_random_trees():
    """No zoo seeds: the GP has to find ORPO's map from random trees of the DCP grammar."""
    target = Target(L_GRID, LOG_ODDS, beta=1.0, aggregation="mean", source="log-odds")
    d = fit(target, SRConfig(seed_zoo=False, seed=0, population=48, generations=15))
    mm = MirrorMap.from_formula(d.formula)
    assert _matches_up_to_constant(_phi(mm, L_GRID), LOG_ODDS, 1e-9)
    assert abs(d.scale - 1.0) < 1e-9 and d.error < 1e-9
    assert d.checks["mirror_map"]["convex"]["status"] == "proved" and d.checks["smoke"]["ok"]
    assert d.spec["beta"] == pytest.approx(1.0) and d.spec["mirror_map"] == d.formula


def test_scale_is_folded_into_beta_and_the_fit_ignores_constants():
    target = Target(L_GRID, 3.0 * L_GRID + 7.0, beta=0.1, source="3 l + 7")
    err, a, c = fit_error(L_GRID, target)
    assert err < 1e-12 and a == pytest.approx(3.0) and c == pytest.approx(7.0)
    assert fit_error(-L_GRID, target)[0] == float("inf")       # a decreasing phi~ never fits
    d = fit(target, SRConfig(seed=1, generations=3))
    assert d.formula == "p*log(p)" and d.spec["beta"] == pytest.approx(0.3)


def test_a_network_at_init_distils_to_dpo():
    target = target_from_spec(NeuralSpec(beta=0.1).to_json(), n=64)
    assert np.array_equal(target.y, target.l)                  # phi~ = l exactly
    d = fit(target, SRConfig(seed=0, generations=2))
    assert d.formula == "p*log(p)" and d.error < 1e-12 and d.spec["beta"] == pytest.approx(0.1)


def _no_pysr(monkeypatch, *, installed: bool):
    real = importlib.util.find_spec
    fake = object() if installed else None
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: fake if name == "pysr" else real(name, *a))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.delenv("PYTHON_JULIACALL_EXE", raising=False)


@pytest.mark.parametrize("installed", [False, True])
def test_pysr_without_julia_stops_with_what_to_install(monkeypatch, installed):
    _no_pysr(monkeypatch, installed=installed)
    before = set(sys.modules)
    with pytest.raises(DistillError) as exc:
        pysr_backend.fit(Target(L_GRID, LOG_ODDS))
    msg = str(exc.value)
    assert "no Julia runtime found" in msg and "julialang.org" in msg
    assert ("pysr package is not installed" in msg) is not installed
    assert "pip install 'pysr==2.7.2'" in msg and "--backend deap" in msg
    assert "pysr" not in set(sys.modules) - before    # never imported (it would fetch Julia)


def test_cli_pysr_backend_without_julia_exits_2(tmp_path, monkeypatch, capsys):
    from lossforge.distill.__main__ import main

    _no_pysr(monkeypatch, installed=False)
    run = _tiny_es_run(tmp_path)
    assert main([str(run), "--backend", "pysr", "--no-rescore"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no Julia runtime found" in err


def test_stored_pysr_output_translates_into_checked_mirror_maps():
    rows = pysr_backend.load_equations(DATA / "pysr_hall_of_fame.csv")
    assert [r["complexity"] for r in rows] == [1, 3, 5, 6, 7, 8, 9, 10, 11]
    target = Target(L_GRID, LOG_ODDS, beta=1.0, aggregation="mean", source="log-odds")
    d = pysr_backend.distil_equations(rows, target)
    # the winner: PySR's exact log-odds at complexity 8 (9 is as exact but larger)
    assert d.extra["equation"] == "(l - log1p(neg(exp(l))))" and d.error < 1e-9
    mm = MirrorMap.from_formula(d.formula)
    assert mm.check().convex.status == "proved"
    assert _matches_up_to_constant(_phi(mm, L_GRID), LOG_ODDS, 1e-9)
    reasons = {r["equation"]: r["reason"] for r in d.extra["rejected"]}
    assert "does not depend on l" in reasons["-2.3127"]
    assert "not a valid mirror map" in reasons["(l + (2.5 * square(l)))"]
    assert "unknown function 'abs'" in reasons["(l - log1p(neg(exp(l)))) + abs(l)"]
    # SymPy's antiderivative of the rescaled log-odds cancels catastrophically near p = 1: the
    # verified log-domain compile (the search's own check) refuses it
    assert "disagrees with phi^-1(exp(l))" in reasons["((l - log(1.0 - exp(l))) * 1.0000002)"]
    assert len(d.front) == len(rows) - 4
    # every translated equation's phi~ is the equation itself (up to a constant): Julia's '^'
    # included; the reference values are computed here with numpy, not by lossforge
    refs = {"(l * 1.4981)": 1.4981 * L_GRID,
            "(l + square(exp(l)))": L_GRID + np.exp(L_GRID) ** 2,
            "(l + (exp(l) ^ 2.0)) - log1p(neg(exp(l)))":
                L_GRID + np.exp(2 * L_GRID) - np.log1p(-np.exp(L_GRID))}
    for eq, want in refs.items():
        assert _matches_up_to_constant(_phi(pysr_backend.translate(eq), L_GRID), want, 1e-9)


@pytest.mark.parametrize("text, match", [
    ("__import__('os').system('true')", "only plain function names|not allowed"),
    ("l.real", "not allowed"),
    ("l ^^ 2", "not valid syntax"),
])
def test_translation_never_evaluates_the_equation(text, match):
    with pytest.raises(FormulaError, match=match):
        pysr_backend.translate(text)


def test_malformed_equations_file_is_named(tmp_path):
    bad = tmp_path / "eq.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DistillError, match="not a PySR equations CSV"):
        pysr_backend.load_equations(bad)


def _tiny_es_run(tmp_path: Path) -> Path:
    from lossforge.search import run_search
    from lossforge.search.es import ESConfig

    return run_search(ESConfig(fitness="probe", generations=1, population=4, hidden=2,
                               workers=1), runs_root=tmp_path, quiet=True)


def test_cli_deap_distils_an_es_run_and_rescores_it(tmp_path, capsys, monkeypatch):
    from lossforge.distill.__main__ import main

    run = _tiny_es_run(tmp_path)
    monkeypatch.setenv("LOSSFORGE_LEDGER", str(tmp_path / "ledger.jsonl"))
    assert main([str(run), "--generations", "3", "--workers", "1"]) == 0
    # the re-score trains on the benchmark's data: it is in the run ledger
    [entry] = [json.loads(x) for x in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert entry["kind"] == "probe" and entry["command"] == (
        f"python -m lossforge.distill {run} --generations 3 --workers 1")
    out = capsys.readouterr().out
    assert "h(p)      =" in out and "\\begin{aligned}" in out
    doc = json.loads((run / "distilled-deap.json").read_text())
    best = json.loads((run / "hall_of_fame.json").read_text())["hall_of_fame"][0]
    # the network re-scored in the same call reproduces its search score (common random numbers)
    assert doc["rescore"]["network"]["score"] == best["screen"]["score"]
    assert doc["rescore"]["formula"]["status"] == "ok"
    assert doc["distilled"]["spec"]["mirror_map"] == doc["distilled"]["formula"]
    # this tiny network distils to a p log p map: DPO at another beta, and the output says so
    from lossforge.objectives.zoo import known_as

    name, beta = known_as(doc["distilled"]["spec"])
    assert name == "dpo"
    assert f"= DPO at beta {beta:g}, exactly (phi~ is linear in l): not a new loss" in out


def test_show_latex_puts_each_distilled_formula_under_its_own_network(tmp_path, capsys):
    """An ES run's networks have no closed form: `show --latex` prints a distilled formula under
    the network it was distilled from (distil's .json names it), and for a network not distilled
    the command that would (with --name)."""
    from lossforge.distill.__main__ import main as distil_main
    from lossforge.search.__main__ import main as search_main

    run = _tiny_es_run(tmp_path)
    hof = json.loads((run / "hall_of_fame.json").read_text())["hall_of_fame"]
    second = hof[1]["name"]
    assert distil_main([str(run), "--name", second, "--generations", "2", "--workers", "1",
                        "--no-rescore"]) == 0
    capsys.readouterr()
    assert search_main(["show", str(run), "--latex"]) == 0
    out = capsys.readouterr().out
    names, blocks, at = {r["name"] for r in hof}, {}, None
    for line in out.splitlines():         # each network's block: from its "% NAME" line on
        if line.startswith("% ") and line[2:] in names:
            at = line[2:]
        if at is not None:
            blocks[at] = blocks.get(at, "") + line + "\n"
    assert "distilled formula (distilled-deap.tex)" in blocks[second]
    assert out.count("distilled formula (distilled-deap.tex)") == 1
    best = hof[0]["name"]
    assert f"--name {best}" in blocks[best] and "distilled formula" not in blocks[best]


def test_every_operator_pysr_may_use_is_an_op_of_the_table():
    """The operators PySR is allowed are the op table's (``ops.OP_BY_NAME``; binary ones by
    their infix symbol), so each equation it returns is one the formula parser reads and the
    compiler builds: CI has no Julia to find a stray name at run time."""
    from lossforge.grammar import ops

    assert set(pysr_backend.UNARY) <= {n for n, op in ops.OP_BY_NAME.items() if op.arity == 1}
    assert set(pysr_backend.BINARY) <= {op.infix for op in ops.OPS if op.arity == 2}
