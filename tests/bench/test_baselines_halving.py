"""``benchmarks/baselines.py sweep`` / ``tuned`` with a two-stage successive-halving section:
stage 2 runs each baseline's hand-computed top ``keep`` by stage-1 AUC; a config cut at stage 1
never wins; the sweep resumes across the stage boundary and runs scenario by scenario; rows of
the code before halving (the running v2 sweep's) count as stage-1 rows; a changed knob section
or halving is refused. No MuJoCo: a fake ``fitness.evaluate`` returns AUCs from a table."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lossforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "baselines.py")
NAN = float("nan")

#: Two baselines, six configs; keep 2 of each.
KNOBS = ('lr = [0.001]\n[baselines.dpo]\nbeta = [0.1, 0.5, 2.0, 8.0]\n'
         '[baselines.orpo]\nlam = [0.1, 1.0]\n')
HALVING = '[halving]\n# the two best of each baseline go on\nkeep = 2\n'
DPO = ["dpo[beta=0.1,lr=0.001]", "dpo[beta=0.5,lr=0.001]", "dpo[beta=2,lr=0.001]",
       "dpo[beta=8,lr=0.001]"]
ORPO = ["orpo[lam=0.1,lr=0.001]", "orpo[lam=1,lr=0.001]"]


def _tuning():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import tuning

    return tuning


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_halving_section_is_declared_last_and_leaves_the_knob_identity_alone(tmp_path):
    read_sweep = _tuning().read_sweep
    f = tmp_path / "s.toml"
    f.write_text(KNOBS)
    plain = read_sweep(f)
    assert plain.keep is None and plain.halving is None
    assert plain.sha256 == plain.file_sha256 == _sha(KNOBS.encode())   # as before: the file's
    f.write_text(KNOBS + HALVING)
    halved = read_sweep(f)
    assert halved.keep == 2 and halved.halving == {"keep": 2} and halved.grid == plain.grid
    assert halved.sha256 == _sha(KNOBS.encode())                       # the knob section's
    assert halved.file_sha256 == _sha((KNOBS + HALVING).encode())
    # the running v2 sweep's rows record the sha256 of the file before [halving] was added
    v2 = read_sweep(REPO / "benchmarks" / "sweeps" / "v2.toml")
    assert v2.sha256 == "5f20d1f8dfdc75ec0126a8c4ef54010789beac1f55965f0b9d727f294da019d6"
    assert v2.keep == 3 and sum(len(v) for v in v2.grid.values()) == 120
    for text, said in ((HALVING + KNOBS, "field 'halving': must be the file's last table"),
                       ('halving.keep = 2\n' + KNOBS, "field 'halving': must be the file's last"),
                       (KNOBS + '[halving]\nkeep = 0\n', "field 'halving.keep': expected a whole"),
                       (KNOBS + '[halving]\nkeep = true\n', "field 'halving.keep'"),
                       (KNOBS + '[halving]\nkeep = 2.5\n', "field 'halving.keep'"),
                       (KNOBS + '[halving]\nkeep = 2\nrank = "auc"\n', "field 'halving.rank'"),
                       (KNOBS + '[halving]\n', "field 'halving.keep'")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=said):
            read_sweep(f)
    # on the command line: exit 2, one line naming the field, nothing written
    out = tmp_path / "sweep.jsonl"
    proc = subprocess.run([sys.executable, SCRIPT, "sweep", str(f), "--scenarios", "quick",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {f}: field 'halving.keep'")
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_stage_two_takes_the_hand_computed_top_k():
    stage_one, stage_seeds = _tuning().stage_one, _tuning().stage_seeds
    labels = ["a", "b", "c", "d", "e", "f"]
    auc = {"a": 3.0, "b": 9.0, "c": NAN, "d": 5.0, "e": 9.0, "f": 5.0}
    # by hand: 9 (b, e: file order breaks the tie), then 5 (d before f); c failed
    assert stage_one(labels, auc, 1) == ["b"]
    assert stage_one(labels, auc, 3) == ["b", "e", "d"]
    assert stage_one(labels, auc, 5) == ["b", "e", "d", "f", "a"]
    assert stage_one(labels, auc, 9) == ["b", "e", "d", "f", "a"]    # the failed one never
    assert stage_one(labels, auc, None) == labels                    # no halving: all
    assert stage_seeds([102, 100, 101]) == (100, [101, 102])


# -- the sweep, with a fake trainer ------------------------------------------------------------
#: stage-1 (seed 100) AUC of each config; later seeds add the seed's offset below. By hand: dpo
#: keeps beta=2 (7) and beta=0.1 (6, tied with beta=8: file order), orpo keeps both.
STAGE1 = {DPO[0]: 6.0, DPO[1]: 2.0, DPO[2]: 7.0, DPO[3]: 6.0, ORPO[0]: 1.0, ORPO[1]: 4.0}


def _fake_auc(name: str, seed: int) -> float:
    return STAGE1[name] + {100: 0.0, 101: 1.0, 102: 3.0}[seed]


class _Trainer:
    """Stands in for ``fitness.evaluate``: records (scenario, seed, name) per call, returns the
    AUC table above, and raises after ``stop_after`` calls (a kill)."""

    def __init__(self, stop_after: int | None = None):
        self.calls, self.stop_after = [], stop_after

    def __call__(self, objs, scen, budget, *, seeds, workers, draw, lr, progress):
        from lossforge.bench.fitness import Fitness

        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt("killed")
        assert draw == "t" and lr == 0.001 and len(seeds) == 1
        out = []
        for o in objs:
            self.calls.append((scen.name, seeds[0], o.name))
            auc = _fake_auc(o.name, seeds[0])
            out.append(Fitness(o.name, "ok", auc, NAN, (auc,), auc - 1, auc, 0.0, ()))
        return out


def _sweep(monkeypatch, sweep_file: Path, out: Path, trainer: _Trainer,
           scenarios: str = "quick") -> None:
    from lossforge.bench import fitness

    monkeypatch.setattr(fitness, "evaluate", trainer)
    # nor any dataset or reference built for the fake (hopper-clean's took 570 s of a CI run)
    monkeypatch.setattr(fitness, "warm_up", lambda *a, **k: None)
    monkeypatch.setattr(sys, "argv", ["baselines.py", "sweep"])
    _tuning().sweep(argparse.Namespace(sweep_file=str(sweep_file), scenarios=scenarios,
                                       seeds="100-102", budget="quick", workers=1,
                                       out=str(out)))


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_sweep_runs_stage_one_then_the_kept_configs_and_resumes_mid_stage_two(
        tmp_path, monkeypatch, capsys):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(KNOBS + HALVING)
    out = tmp_path / "sweep.jsonl"
    kept = [DPO[2], DPO[0], ORPO[1], ORPO[0]]
    stage2 = [(s, n) for s in (101, 102) for n in DPO + ORPO if n in kept]
    # killed after stage 1 and three stage-2 runs
    with pytest.raises(KeyboardInterrupt):
        _sweep(monkeypatch, sweep_file, out, first := _Trainer(stop_after=6 + 3))
    said = capsys.readouterr().out
    assert "6 configs on seed 100, then each baseline's best 2 (4 configs) on seeds [101, 102]" \
        in said and "14 runs a scenario instead of 18: halving saves 4 (22%)" in said
    assert [(s, n) for _, s, n in first.calls] == [(100, n) for n in DPO + ORPO] + stage2[:3]
    assert "quick: stage 1 done; stage 2 on seeds [101, 102]: dpo dpo[beta=2,lr=0.001], " \
           "dpo[beta=0.1,lr=0.001]; orpo orpo[lam=1,lr=0.001], orpo[lam=0.1,lr=0.001]" in said
    # resumed: only the missing stage-2 rows
    _sweep(monkeypatch, sweep_file, out, again := _Trainer())
    assert [(s, n) for _, s, n in again.calls] == stage2[3:]
    rows = _rows(out)
    assert sorted((r["seed"], r["loss"]) for r in rows) == sorted(
        [(100, n) for n in DPO + ORPO] + stage2)
    sha = _sha(KNOBS.encode())
    assert all(r["sweep"] == {"file": str(sweep_file.resolve()), "sha256": sha,
                              "file_sha256": _sha((KNOBS + HALVING).encode()),
                              "halving": {"keep": 2}, "seeds": [100, 101, 102]} for r in rows)
    # and nothing more to do
    _sweep(monkeypatch, sweep_file, out, idle := _Trainer())
    assert idle.calls == []


def _old_row(sweep_file_before: Path, scenario: str, seed: int, name: str, auc: float) -> dict:
    """A sweep row as the code before halving wrote it (the keys of the running v2 sweep's
    rows): the sweep tag holds the file and the sha256 of the whole file, nothing else."""
    baseline, _, inside = name.partition("[")
    config = {k: float(v) for k, _, v in (kv.partition("=") for kv in inside[:-1].split(","))}
    return {"scenario": scenario, "draw": "t", "dataset_seed": 999000, "seed": seed,
            "budget": "quick", "loss": name, "status": "ok", "score": auc, "final": auc - 1,
            "auc": auc, "auc_over": "checkpoints", "curve": [], "seconds": 1.0,
            "batch_rows": 1, "command": "old sweep", "role": "sweep",
            "sweep": {"file": str(sweep_file_before),
                      "sha256": _sha(sweep_file_before.read_bytes())},
            "baseline": baseline, "config": config, "lr": 0.001}


def test_a_sweep_begun_without_halving_continues_from_its_rows_scenario_by_scenario(
        tmp_path, monkeypatch):
    """The v2 case: a sweep started under the file without [halving] wrote part of seed 100.
    Once the section is added, the halved sweep keeps those rows (stage 1 is only completed),
    and with two scenarios finishes both stages of the first before the second begins."""
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(KNOBS)
    out = tmp_path / "sweep.jsonl"
    old = [_old_row(sweep_file, "quick", 100, n, STAGE1[n]) for n in DPO[:3]]
    out.write_text("".join(json.dumps(r) + "\n" for r in old))
    sweep_file.write_text(KNOBS + HALVING)
    _sweep(monkeypatch, sweep_file, out, trainer := _Trainer(), scenarios="quick,hopper-clean")
    kept = [n for n in DPO + ORPO if n in (DPO[2], DPO[0], ORPO[1], ORPO[0])]
    quick = [(100, n) for n in DPO[3:] + ORPO] + [(s, n) for s in (101, 102) for n in kept]
    hopper = [(100, n) for n in DPO + ORPO] + [(s, n) for s in (101, 102) for n in kept]
    assert trainer.calls == [("quick", s, n) for s, n in quick] + [
        ("hopper-clean", s, n) for s, n in hopper]
    assert _rows(out)[:3] == old                  # untouched, not run again


def _halved_rows(sweep_file_before: Path, sweep_file: Path) -> list[dict]:
    """A finished halved sweep of one scenario: stage 1 in the old format (as the running
    sweep writes it), stage 2 as this code writes it, plus the seed-101/102 rows that the old
    full sweep would also have written for the configs halving cuts."""
    rows = [_old_row(sweep_file_before, "quick", 100, n, STAGE1[n]) for n in DPO + ORPO]
    tag = {"file": str(sweep_file), "sha256": _sha(sweep_file_before.read_bytes()),
           "file_sha256": _sha(sweep_file.read_bytes()), "halving": {"keep": 2},
           "seeds": [100, 101, 102]}
    for seed in (101, 102):
        for n in (DPO[2], DPO[0], ORPO[1], ORPO[0]):
            rows.append(_old_row(sweep_file_before, "quick", seed, n, _fake_auc(n, seed))
                        | {"sweep": tag, "command": "new sweep"})
        # cut at stage 1 (AUC 2), yet excellent on the other seeds: must never win
        rows.append(_old_row(sweep_file_before, "quick", seed, DPO[1], 100.0))
    return rows


def _tuned(jsonl: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, "tuned", str(jsonl)], capture_output=True,
                          text=True, cwd=REPO)


def test_tuned_picks_among_the_kept_lists_the_cut_and_refuses_changed_declarations(tmp_path):
    before = tmp_path / "before.toml"
    before.write_text(KNOBS)
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(KNOBS + HALVING)
    rows = _halved_rows(before, sweep_file)
    for r in rows:   # the old rows name the file as it is now (same path, edited in place)
        r["sweep"]["file"] = str(sweep_file)
    jsonl = tmp_path / "sweep.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = _tuned(jsonl)
    assert proc.returncode == 0, proc.stderr
    frozen = json.loads((tmp_path / "sweep.tuned.json").read_text())
    dpo, orpo = frozen["scenarios"]["quick"]["dpo"], frozen["scenarios"]["quick"]["orpo"]
    # by hand, mean AUC over seeds 100-102 of the kept configs (_fake_auc):
    #   dpo beta=2: (7 + 8 + 10) / 3 = 8.33; dpo beta=0.1: (6 + 7 + 9) / 3 = 7.33
    #   orpo lam=1: (4 + 5 + 7) / 3 = 5.33; orpo lam=0.1: (1 + 2 + 4) / 3 = 2.33
    # dpo beta=0.5 has 100 on seeds 101 and 102 but was cut at stage 1 (AUC 2)
    assert dpo["loss"] == DPO[2] and dpo["auc"] == pytest.approx(25 / 3)
    assert [t["loss"] for t in dpo["tried"]] == [DPO[0], DPO[2]]          # file order
    assert dpo["tried"][0]["auc"] == pytest.approx(22 / 3)
    assert dpo["cut_at_stage1"] == [{"loss": DPO[1], "stage1_auc": 2.0},
                                    {"loss": DPO[3], "stage1_auc": 6.0}]
    assert orpo["loss"] == ORPO[1] and orpo["auc"] == pytest.approx(16 / 3)
    assert orpo["cut_at_stage1"] == []
    assert frozen["seeds"] == [100, 101, 102] and frozen["stage1_seed"] == 100
    assert frozen["halving"] == {"keep": 2} and frozen["sweep_sha256"] == _sha(KNOBS.encode())
    assert "dpo: cut at stage 1 (AUC on seed 100): dpo[beta=0.5,lr=0.001] 2.0, " \
           "dpo[beta=8,lr=0.001] 6.0" in proc.stdout
    # a comment edited in the halving section: the declaration is the same
    sweep_file.write_text(KNOBS + HALVING.replace("the two best", "the 2 best"))
    assert _tuned(jsonl).returncode == 0
    # a kept stage-2 row missing: not finished
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows if not (
        r["seed"] == 102 and r["loss"] == ORPO[0])))
    proc = _tuned(jsonl)
    assert proc.returncode == 2 and "not finished: 1 runs missing (e.g. quick " \
                                   "orpo[lam=0.1,lr=0.001] seed 102)" in proc.stderr
    # only the old sweep's seed-100 rows: stage 2 has not run (not a one-seed tuning)
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows if r["seed"] == 100))
    proc = _tuned(jsonl)
    assert proc.returncode == 2 and "seed 100 only" in proc.stderr and "stage 2 has not run" \
        in proc.stderr
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # keep changed after stage 2 ran under keep = 2
    sweep_file.write_text(KNOBS + HALVING.replace("keep = 2", "keep = 3"))
    proc = _tuned(jsonl)
    assert proc.returncode == 2 and "field 'halving' changed since the sweep ran" in proc.stderr
    # a knob list changed (one beta more): a different sweep
    sweep_file.write_text(KNOBS.replace("8.0]", "8.0, 16.0]") + HALVING)
    proc = _tuned(jsonl)
    assert proc.returncode == 2 and "changed since the sweep ran" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_sweep_refuses_a_file_of_another_sweep_before_training(tmp_path, monkeypatch):
    before = tmp_path / "before.toml"
    before.write_text(KNOBS.replace("8.0]", "16.0]"))
    out = tmp_path / "sweep.jsonl"
    out.write_text(json.dumps(_old_row(before, "quick", 100, DPO[0], 1.0)) + "\n")
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(KNOBS + HALVING)
    with pytest.raises(ConfigError, match="baselines or learning rates changed"):
        _sweep(monkeypatch, sweep_file, out, trainer := _Trainer())
    assert trainer.calls == [] and len(out.read_text().splitlines()) == 1
