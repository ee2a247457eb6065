"""``[candidates]`` in a declared sweep (``benchmarks/baselines.py``): a discovered loss is tuned
(its learning rate) on the tuning draw exactly as the baselines are, frozen by ``tuned``, and
trained at that frozen rate by ``confirm``, so no row of a confirmation picks its rate on the
reporting draws. No training: a fake ``fitness.evaluate`` returns AUCs from a table."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lossforge import objectives
from lossforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "baselines.py")
NAN = float("nan")

SPEC = {"name": "lf-test", "mirror_map": "p*log(p)", "beta": 0.1, "reference": True,
        "link": "-2*D - 3/2", "imitation": "-l/10", "w_pref": "1", "w_sft": "1",
        "aggregation": "sum", "params": {}, "description": ""}

#: AUC by (row, seed). By hand, halving keep 1: dpo keeps beta 0.5 (stage 1: 5 > 4); the
#: candidate keeps lr 0.01 (stage 1: 6 > 3) and is frozen at it, mean (6 + 8 + 7) / 3 = 7,
#: although lr 0.001 would have won on seeds 101-102 (a cut config never wins).
AUC = {"dpo[beta=0.1,lr=0.001]": (4, 9, 9), "dpo[beta=0.5,lr=0.001]": (5, 5, 5),
       "lf-test[lr=0.001]": (3, 20, 20), "lf-test[lr=0.01]": (6, 8, 7)}


def _benchmark(name: str):
    """benchmarks/<name>.py (tuning, confirmation), imported as the scripts there import each
    other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def _files(tmp_path: Path, spec: dict = SPEC, name: str = "lf-test") -> Path:
    spec_file = tmp_path / "cand.json"
    spec_file.write_text(json.dumps({"spec": spec}))
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'lr = [0.001]\n[baselines.dpo]\nbeta = [0.1, 0.5]\n'
                     f'[candidates.{name}]\nspec = "{spec_file}"\nlr = [0.001, 0.01]\n'
                     '[halving]\nkeep = 1\n')
    return sweep


def _confirmed(monkeypatch, tmp_path: Path, *tuned: str) -> dict:
    """The configurations ``confirm`` would train from these ``--tuned`` files (draws 1-5, seeds
    0-2, fixed rows included), by scenario; ``run_cells`` is stubbed, so nothing trains."""
    confirmation = _benchmark("confirmation")
    got = {}
    monkeypatch.setattr(confirmation, "run_cells",
                        lambda o, scens, configs, **k: got.update(configs))
    monkeypatch.setattr(confirmation, "report", lambda path: None)
    confirmation.confirm(argparse.Namespace(tuned=list(tuned), spec=[], from_run=[],
                                            scenarios=None, draws="1-5", seeds="0-2",
                                            budget=None, no_fixed=False, workers=1,
                                            out=str(tmp_path / "c.jsonl")))
    return got


class _Trainer:
    """Stands in for ``fitness.evaluate``: records (name, seed, lr, formula), returns AUC."""

    def __init__(self):
        self.calls = []

    def __call__(self, objs, scen, budget, *, seeds, workers, draw, lr, progress):
        from lossforge.bench.fitness import Fitness

        assert draw == "t" and len(seeds) == 1
        out = []
        for o in objs:
            self.calls.append((o.name, seeds[0], lr, o.formula()))
            auc = float(AUC[o.name][seeds[0] - 100])
            out.append(Fitness(o.name, "ok", auc, NAN, (auc,), auc, auc, 0.0, ()))
        return out


def test_a_candidate_is_tuned_like_a_baseline_and_confirmed_at_its_frozen_rate(
        tmp_path, monkeypatch):
    tuning = _benchmark("tuning")
    from lossforge.bench import fitness

    sweep = _files(tmp_path)
    decl = tuning.read_sweep(sweep)
    assert decl.grid["lf-test"] == ["lf-test:lr=0.001", "lf-test:lr=0.01"]
    assert decl.specs == {"lf-test": str(tmp_path / "cand.json")}
    trainer = _Trainer()
    monkeypatch.setattr(fitness, "evaluate", trainer)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "sweep"])
    out = tmp_path / "sweep.jsonl"
    tuning.sweep(argparse.Namespace(sweep_file=str(sweep), scenarios="quick", seeds="100-102",
                                    budget="quick", workers=1, out=str(out)))
    # the candidate trains with its own formula at each declared rate, as dpo does
    want = objectives.from_spec(SPEC).formula()
    cand = [(n, s, lr) for n, s, lr, f in trainer.calls if n.startswith("lf-test")]
    assert all(f == want for n, _, _, f in trainer.calls if n.startswith("lf-test"))
    assert sorted(cand) == [("lf-test[lr=0.001]", 100, 0.001), ("lf-test[lr=0.01]", 100, 0.01),
                            ("lf-test[lr=0.01]", 101, 0.01), ("lf-test[lr=0.01]", 102, 0.01)]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["baseline"] for r in rows if r["loss"].startswith("lf-")} == {"lf-test"}

    tuned = tmp_path / "tuned.json"
    tuning.tuned(argparse.Namespace(sweep_jsonl=str(out), out=str(tuned)))
    picks = json.loads(tuned.read_text())["scenarios"]["quick"]
    assert picks["lf-test"]["loss"] == "lf-test[lr=0.01]" and picks["lf-test"]["auc"] == 7
    assert picks["lf-test"]["spec"] == str(tmp_path / "cand.json")
    assert picks["dpo"]["loss"] == "dpo[beta=0.5,lr=0.001]" and "spec" not in picks["dpo"]
    # edges of the grid: beta 0.5 is the largest of 0.1, 0.5; one lr is no edge; the
    # candidate's lr 0.01 is the largest of its two
    assert picks["dpo"]["on_edge"] == ["beta max"]
    assert picks["lf-test"]["on_edge"] == ["lr max"]
    assert tuning.on_edge({"beta": 2.0, "lr": 1e-3}, [{"beta": b_, "lr": lr}
                                                      for b_ in (1.0, 2.0, 4.0)
                                                      for lr in (1e-4, 1e-3)]) == ["lr max"]

    got = _confirmed(monkeypatch, tmp_path, str(tuned))
    by = {c.name: c for c in got["quick"]}
    c = by["lf-test[lr=0.01]"]
    assert (c.lr, c.fields["role"], c.fields["candidate"]) == (0.01, "candidate", "lf-test")
    assert c.objective.formula() == want
    assert by["dpo[beta=0.5,lr=0.001]"].fields["role"] == "baseline"


def test_a_candidate_that_fails_at_every_rate_is_still_confirmed_and_counts_as_failing(
        tmp_path, monkeypatch):
    """v2-plan.md, Session 19: an item none of whose configs ran without failing on the tuning
    draw is not left out of the confirmation (where it would silently leave every table), but
    picked at the config with the most runs that did not fail, ties in grid order, marked
    failed_on_tuning, without AUC or grid edge. Here (halving keep 1) both of the candidate's
    rates fail on seed 100, so none reaches stage 2: it is picked at its first rate; dpo is
    tuned as before. merge lets a finite extension pick replace it, never the reverse."""
    tuning = _benchmark("tuning")
    from lossforge.bench import fitness

    class Failing(_Trainer):
        def __call__(self, objs, scen, budget, **k):
            out = super().__call__(objs, scen, budget, **k)
            return [dataclasses.replace(f, status="non-finite loss", score=NAN)
                    if f.name.startswith("lf-test") else f for f in out]

    sweep = _files(tmp_path)
    monkeypatch.setattr(fitness, "evaluate", Failing())
    monkeypatch.setattr(sys, "argv", ["baselines.py", "sweep"])
    out = tmp_path / "sweep.jsonl"
    tuning.sweep(argparse.Namespace(sweep_file=str(sweep), scenarios="quick", seeds="100-102",
                                    budget="quick", workers=1, out=str(out)))
    tuned = tmp_path / "tuned.json"
    tuning.tuned(argparse.Namespace(sweep_jsonl=str(out), out=str(tuned)))
    frozen = json.loads(tuned.read_text())
    cand = frozen["scenarios"]["quick"]["lf-test"]
    assert cand["loss"] == "lf-test[lr=0.001]" and cand["failed_on_tuning"] is True
    assert cand["auc"] is None and cand["on_edge"] == [] and cand["tried"] == []
    assert cand["spec"] == str(tmp_path / "cand.json")
    assert frozen["failed_everywhere"] == ["quick: lf-test"]
    assert frozen["scenarios"]["quick"]["dpo"]["loss"] == "dpo[beta=0.5,lr=0.001]"
    got = _confirmed(monkeypatch, tmp_path, str(tuned))
    by = {c.name: c for c in got["quick"]}
    assert by["lf-test[lr=0.001]"].fields["role"] == "candidate"
    # merge: a finite pick of an extension replaces the failed one; a failed one never
    # replaces a finite one
    finite = dict(cand, loss="lf-test[lr=0.0001]", auc=3.0, failed_on_tuning=False)
    ext = dict(frozen, scenarios={"quick": {**frozen["scenarios"]["quick"], "lf-test": finite}})
    (tmp_path / "ext.json").write_text(json.dumps(ext))
    tuning.merge(argparse.Namespace(base=str(tuned), extension=str(tmp_path / "ext.json"),
                                    out=str(tmp_path / "m.json")))
    assert json.loads((tmp_path / "m.json").read_text())["scenarios"]["quick"]["lf-test"][
        "loss"] == "lf-test[lr=0.0001]"
    tuning.merge(argparse.Namespace(base=str(tmp_path / "ext.json"), extension=str(tuned),
                                    out=str(tmp_path / "m2.json")))
    assert json.loads((tmp_path / "m2.json").read_text())["scenarios"]["quick"]["lf-test"][
        "loss"] == "lf-test[lr=0.0001]"


def test_the_candidates_spec_bytes_are_part_of_the_sweeps_identity(tmp_path):
    read_sweep = _benchmark("tuning").read_sweep
    sweep = _files(tmp_path)
    before = read_sweep(sweep)
    _files(tmp_path, {**SPEC, "link": "1 - D"})          # same name, another formula
    after = read_sweep(sweep)
    assert after.file_sha256 == before.file_sha256 and after.sha256 != before.sha256


@pytest.mark.parametrize("edit,said", [
    (lambda t: _files(t, name="lf-other"), "field 'candidates.lf-other.spec': candidate "
                                           "lf-other: its spec .* holds 'lf-test'"),
    (lambda t: _files(t).write_text('lr = [0.001]\n[baselines.dpo]\nbeta = [0.1]\n'
                                    '[candidates.dpo]\nspec = "x.json"\n'),
     "field 'candidates.dpo.spec': candidate dpo: cannot read its spec"),
    (lambda t: _files(t).write_text('lr = [0.001]\n[baselines.dpo]\nbeta = [0.1]\n'
                                    f'[candidates.lf-test]\nspec = "{t / "cand.json"}"\n'
                                    'beta = [1.0]\n'),
     "field 'candidates.lf-test.beta': unknown key"),
    (lambda t: _files(t).write_text('[baselines.dpo]\nbeta = [0.1]\n'
                                    f'[candidates.lf-test]\nspec = "{t / "cand.json"}"\n'),
     "field 'candidates.lf-test.lr': no learning rates"),
])
def test_a_bad_candidate_table_is_refused_with_its_field(tmp_path, edit, said):
    edit(tmp_path)
    sweep = tmp_path / "s.toml"
    with pytest.raises(ConfigError, match=said):
        _benchmark("tuning").read_sweep(sweep)
    out = tmp_path / "o.jsonl"
    proc = subprocess.run([sys.executable, SCRIPT, "sweep", str(sweep), "--scenarios", "quick",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not out.exists()


def test_a_later_sweeps_candidates_join_the_baselines_of_an_earlier_one(tmp_path, monkeypatch):
    """A sweep of candidates alone (a new search's winner), then ``confirm --tuned A --tuned B``:
    the baselines of A and the candidate of B, each at its own frozen config; clashes and other
    protocols are refused."""
    tuning = _benchmark("tuning")
    spec_file = tmp_path / "cand.json"
    spec_file.write_text(json.dumps({"spec": SPEC}))
    only = tmp_path / "only.toml"
    only.write_text(f'lr = [0.001, 0.01]\n[candidates.lf-test]\nspec = "{spec_file}"\n')
    assert tuning.read_sweep(only).grid == {"lf-test": ["lf-test:lr=0.001", "lf-test:lr=0.01"]}

    def frozen(path, picks, seeds=(100, 101, 102), budget="quick"):
        path.write_text(json.dumps({"budget": budget, "seeds": list(seeds), "draw": "t",
                                    "scenarios": {"quick": picks}}))
        return str(path)

    base = frozen(tmp_path / "a.json", {"dpo": {"item": "dpo:beta=0.5:lr=0.001",
                                                "loss": "dpo[beta=0.5,lr=0.001]",
                                                "config": {"beta": 0.5, "lr": 0.001}}})
    cand_pick = {"lf-test": {"item": "lf-test:lr=0.01", "loss": "lf-test[lr=0.01]",
                             "config": {"lr": 0.01}, "spec": str(spec_file)}}
    cand = frozen(tmp_path / "b.json", cand_pick)

    def confirm(*tuned):
        return _confirmed(monkeypatch, tmp_path, *tuned)

    got = confirm(base, cand)
    assert {(c.name, c.lr, c.fields["role"]) for c in got["quick"]} == {
        ("dpo[beta=0.5,lr=0.001]", 0.001, "baseline"), ("lf-test[lr=0.01]", 0.01, "candidate")}
    for other, said in ((cand, "lf-test is tuned in an earlier --tuned file too"),
                        (frozen(tmp_path / "c.json", cand_pick, seeds=(100,)),
                         r"tuned at seeds \[100\]"),
                        (frozen(tmp_path / "d.json", cand_pick, budget="full"),
                         "tuned at budget full")):
        with pytest.raises(ConfigError, match=said):
            confirm(base, cand, other) if other == cand else confirm(base, other)
    (tmp_path / "e.json").write_text("{")
    with pytest.raises(ConfigError, match="not a tuned file"):
        confirm(base, str(tmp_path / "e.json"))
