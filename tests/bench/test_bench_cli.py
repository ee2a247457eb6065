"""`python -m lossforge.bench`'s command line: what it accepts and how it labels rows (no
training here)."""

from pathlib import Path

import pytest

from lossforge.bench.__main__ import build_parser, main, scored_objectives
from lossforge.bench.scenarios import load_scenario, scenario_file
from lossforge.cli import attach_values


def test_a_formula_starting_with_minus_is_a_formula_not_a_flag(capsys):
    """-sqrt(-l), the README's phi~ example: parsed as --formula's value, so the command gets
    as far as the scenario (named wrongly here, to stop before any training)."""
    code = main(["--scenario", "no-such-scenario", "--formula", "-sqrt(-l)", "--budget", "quick"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: no scenario 'no-such-scenario'")


@pytest.mark.parametrize("argv", [["--formula", "-sqrt(-l)"], ["--formula=-sqrt(-l)"]])
def test_rows_are_labelled_by_what_the_formula_is(argv):
    """'-sqrt(-l)' is phi~(l) (a formula in l), 'p*log(p)' is h(p)."""
    args = build_parser().parse_args(attach_values(
        [*argv, "--formula", "p*log(p)", "--losses", "dpo"], ["--formula"]))
    names = [o.name for o in scored_objectives(args, load_scenario("quick"))]
    assert names == ["dpo", "phi~=-sqrt(-l)", "h=p*log(p)"]


def test_bc_on_chosen_row_is_the_tables_row_with_its_own_auc(tmp_path, capsys):
    """BC-on-chosen in `python -m lossforge.bench` is the row the benchmark tables record
    (``fitness.fixed_policies``, one clone per seed): its AUC is the mean over its checkpoints,
    not its final score copied, and the table marks its score as final (†). The command line
    used to build the row by hand with AUC = final and no curve. (BC shortened to 20 steps.)"""
    import json
    import math

    from lossforge.bench import fitness

    text = (Path(scenario_file("quick")).read_text()
            .replace("bc_steps = 300", "bc_steps = 20"))
    scen_file = tmp_path / "quick.toml"
    scen_file.write_text(text)
    out = tmp_path / "out"
    assert main(["--scenario", str(scen_file), "--losses", "dpo", "--budget", "quick",
                 "--seeds", "0,1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = {r["name"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    bc = rows[fitness.BC_ON_CHOSEN]
    scen = load_scenario(scen_file)
    per = [fitness.fixed_policies(scen, "quick", s)[fitness.BC_ON_CHOSEN] for s in (0, 1)]
    assert bc["per_seed"] == [p.final for p in per]
    assert math.isclose(bc["auc"], sum(p.auc for p in per) / 2, rel_tol=1e-12)
    steps = fitness.bc_checkpoints(scen.bc_steps, scen.quick)
    assert [k for k, _ in bc["curve"]] == list(steps) == [10, 20]
    assert math.isclose(bc["auc"], sum(v for _, v in bc["curve"]) / len(steps), rel_tol=1e-12)
    assert "†" in printed and "not ranked on AUC" in " ".join(printed.split())


def test_two_bench_runs_started_in_the_same_second_get_their_own_directories(
        tmp_path, monkeypatch, capsys):
    """Without --out, the directory is runs/bench-<time>-<scenario>: a second run started in
    the same second shared the first's and overwrote its results when it ended. Each now
    claims its own (the training is stopped once the directory is made: it is not the point)."""
    import datetime as dt

    import lossforge.bench.fitness as fitness

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 1, 0, 0, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fitness, "evaluate", stop)
    monkeypatch.setattr("lossforge.bench.__main__._dt.datetime", Frozen)
    for _ in range(2):
        with pytest.raises(Stop):
            main(["--scenario", "quick", "--losses", "dpo", "--budget", "quick", "--quiet"])
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "bench-20260101-000000-quick", "bench-20260101-000000-quick-1"]
