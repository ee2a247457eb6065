"""The ES -> distill chain's fixes: distillation fits where the data's log-probs are (values and
slopes), "init" is the start network's own score when --beta/--aggregation make it another loss
than the DPO baseline, the gain line of a network below DPO, distill's --ledger, --workers and
--l-range, the whole distilled loss in its printout and .tex, and export's distil hint naming
the network (--name)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lossforge.objectives.neural import NeuralSpec
from lossforge.runfiles import read_checked, write_checked
from lossforge.search import checkpoint, es, run_search
from lossforge.search.es import ESConfig

PROBE_L = (-110.0, -30.0)      # the probe batch's log-probs lie well inside this


def _es_run(root: Path, **kw) -> Path:
    cfg = dict(scenario="quick", fitness="probe", generations=1, population=3, hidden=2,
               workers=1)
    return run_search(ESConfig(**{**cfg, **kw}), runs_root=root, quiet=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return _es_run(tmp_path_factory.mktemp("es"))


@pytest.fixture(scope="module")
def mean_run(tmp_path_factory) -> Path:
    return _es_run(tmp_path_factory.mktemp("es-mean"), aggregation="mean")


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


def _bent_network(run: Path) -> dict:
    """Make the run's best network phi~(l) = l plus a steep step around l = -1000, far below
    the probe's log-probs (hidden 2: a = 0, v = (1, 0), w = (20, 0), b = (20/3, 0); u = (l +
    750) / 750): over the data it is DPO at the run's beta, over [-1500, 0] it is not."""
    hof, _ = read_checked(run / "hall_of_fame.json")
    spec = hof["hall_of_fame"][0]["spec"]
    spec["params"] = [0.0, 1.0, 0.0, 20.0, 0.0, 20.0 / 3.0, 0.0]
    NeuralSpec.from_json(spec)                          # still a valid network
    write_checked(run / "hall_of_fame.json", hof)
    return spec


# ---- 1. the fit is over the data's log-probs, values and slopes -----------------------------


def test_the_target_is_sampled_where_the_probe_feeds_the_network(run):
    from lossforge.distill import target_from_run

    target = target_from_run(run, n=64)
    assert PROBE_L[0] < target.l[0] < target.l[-1] < PROBE_L[1]
    assert "probe fitness feeds this network" in target.l_from and not target.note


def test_a_network_that_is_dpo_on_the_data_distils_to_dpo_at_its_slope_there(run, tmp_path,
                                                                              capsys):
    """The network's step at l = -1000 is outside every log-prob the probe trains it on: over
    the data it is phi~(l) = l, so the distilled loss is DPO at the run's beta, exactly."""
    from lossforge.distill.__main__ import main

    run = _copy(run, tmp_path)
    spec = _bent_network(run)
    assert main([str(run), "--generations", "2", "--no-rescore"]) == 0
    doc = json.loads((run / "distilled-deap.json").read_text())
    d = doc["distilled"]
    assert d["formula"] == "p*log(p)" and d["error"] < 1e-6
    assert d["spec"]["beta"] == pytest.approx(spec["beta"], rel=1e-6)
    assert PROBE_L[0] < doc["target"]["l"][0] < doc["target"]["l"][1] < PROBE_L[1]


def test_over_the_networks_whole_l_range_with_a_note_when_the_fitness_cannot_say(
        run, tmp_path, capsys, monkeypatch):
    from lossforge.distill import ranges
    from lossforge.distill.__main__ import main

    monkeypatch.setattr(ranges, "MEASURED", ())
    run = _copy(run, tmp_path)
    assert main([str(run), "--generations", "1", "--no-rescore"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: the probe fitness does not tell which log-probs it feeds "
                          "the loss: fitting over the network's whole l_range [-1500, 0] "
                          "instead")
    assert "--l-range LO,HI" in out
    assert json.loads((run / "distilled-deap.json").read_text())["target"]["l"][0] == -1500


def test_l_range_option_sets_the_fit_range(run, tmp_path, capsys):
    from lossforge.distill.__main__ import main

    run = _copy(run, tmp_path)
    assert main([str(run), "--l-range", "-90,-50", "--generations", "1", "--no-rescore"]) == 0
    out = capsys.readouterr().out
    assert "fit over l in [-90, -50]: given by --l-range" in out and "note:" not in out


def test_slopes_count_in_the_fit_error():
    """A formula whose values follow the target within 3 % but whose slopes swing by 100 %
    (gradients are what training follows) does not fit."""
    from lossforge.distill import Target, fit_error

    ls = np.linspace(-5.0, -1.0, 256)
    target = Target(ls, ls.copy())
    assert fit_error(ls, target)[0] < 1e-12
    wiggly = ls + 0.05 * np.sin(20 * ls)
    assert fit_error(wiggly, target)[0] > 0.3


def test_a_formula_flat_where_the_data_is_does_not_fit():
    """The reviewer's pick logsigmoid(l/2 + 100): slope ~1e-21 on the probe's log-probs."""
    from lossforge.distill import Target, fit_error

    ls = np.linspace(-104.0, -38.0, 256)
    target = Target(ls, 3.12 * ls)
    flat = -np.log1p(np.exp(-(ls / 2 + 100)))
    assert fit_error(flat, target)[0] > 0.5 > fit_error(ls, target)[0]


# ---- 2. "init" is the start network's score ------------------------------------------------


def _probe_score(spec: dict, ladder_budget: str) -> float:
    from lossforge.objectives import from_spec
    from lossforge.search.probe_fitness import evaluate

    return evaluate([from_spec(spec)], "quick", ladder_budget)[0].score


def test_init_is_the_start_networks_score_with_mean_log_probs(mean_run):
    state = checkpoint.load(mean_run)
    dpo = state["baselines"]["dpo"]["screen"]["score"]
    start = es.spec_for(es.make_context(ESConfig.from_json(state["config"])),
                        state["x0"], "start")
    assert start["aggregation"] == "mean"
    init = es.init_score(state)
    assert init == pytest.approx(_probe_score(start, "screen")) and init != dpo
    assert [h["init"] for h in state["history"]] == [init]
    assert json.loads((mean_run / "hall_of_fame.json").read_text())["init_score"] == init
    assert es.init_label(state) != "DPO" and "not the DPO baseline" in es.init_label(state)
    assert "init" in es.COLUMNS and "DPO (init)" not in es.COLUMNS


def test_init_is_dpos_score_when_the_start_network_is_dpo(run):
    state = checkpoint.load(run)
    assert "init" not in state                      # no second training of the same loss
    assert es.init_score(state) == state["baselines"]["dpo"]["screen"]["score"]
    assert es.init_label(state) == "DPO"


def test_init_with_another_beta_is_scored_on_its_own(tmp_path):
    run = _es_run(tmp_path, beta=0.5)
    state = checkpoint.load(run)
    assert state["init"]["spec"]["beta"] == 0.5
    assert es.init_score(state) == pytest.approx(_probe_score(state["init"]["spec"], "screen"))
    assert es.init_score(state) != state["baselines"]["dpo"]["screen"]["score"]


def test_a_checkpoint_from_before_says_nothing_then_scores_its_start_on_resume(mean_run,
                                                                             tmp_path):
    run = _copy(mean_run, tmp_path)
    state = checkpoint.load(run)
    want = es.init_score(state)
    del state["init"]                               # as a checkpoint written before the fix
    checkpoint.save(run, state)
    assert es.init_score(checkpoint.load(run)) is None      # DPO's score is not its init's
    run_search(resume=run, quiet=True, overrides={"generations": 2})
    again = checkpoint.load(run)
    assert es.init_score(again) == want and again["history"][-1]["init"] == want


def test_distill_does_not_call_dpo_the_initialisation_when_it_is_not(mean_run, tmp_path,
                                                                     capsys):
    from lossforge.distill.__main__ import main

    run = _copy(mean_run, tmp_path)
    assert main([str(run), "--generations", "1", "--workers", "1"]) == 0   # ledger off: conftest
    out = capsys.readouterr().out
    assert "DPO (beta 0.1) " in out and "initialisation" not in out


# ---- 3. the gain line ----------------------------------------------------------------------


def _fit(score):
    return {"status": "ok", "score": score}


def test_gain_line_of_a_network_below_dpo():
    from lossforge.distill.__main__ import gain_text

    below = {"network": _fit(10.0), "formula": _fit(12.0), "dpo": _fit(19.0)}
    assert gain_text(below) == ("no gain over DPO to keep: the network is below DPO by 9.00; "
                                "the formula is below DPO by 7.00")
    above = {"network": _fit(29.0), "formula": _fit(24.0), "dpo": _fit(19.0)}
    assert gain_text(above) == "the formula keeps 50 % of the network's gain over DPO (+10.00)"


# ---- 4, 7. --ledger, --workers -------------------------------------------------------------


def test_rescoring_goes_to_the_ledger_given_and_none_with_off(run, tmp_path, monkeypatch,
                                                              capsys):
    from lossforge.distill.__main__ import build_parser, main

    assert "recorded in the selection ledger" in " ".join(build_parser().format_help().split())
    run = _copy(run, tmp_path)
    env_ledger, mine = tmp_path / "env.jsonl", tmp_path / "mine.jsonl"
    monkeypatch.setenv("LOSSFORGE_LEDGER", str(env_ledger))
    common = [str(run), "--generations", "1", "--workers", "1"]
    assert main([*common, "--ledger", str(mine)]) == 0
    [entry] = [json.loads(x) for x in mine.read_text().splitlines()]
    assert entry["kind"] == "probe" and "--ledger" in entry["command"]
    assert main([*common, "--ledger", "off"]) == 0
    assert not env_ledger.exists() and len(mine.read_text().splitlines()) == 1


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers 0: expected at least 1 (default: CPU count)"),
    (["--workers", "-2"], "--workers -2: expected at least 1 (default: CPU count)"),
    (["--l-range", "0,-5"], "--l-range 0,-5: expected LO,HI: two log-probs with LO < HI <= 0, "
                            "e.g. -110,-30"),
    (["--l-range", "-5,1"], "--l-range -5,1: expected LO,HI: two log-probs with LO < HI <= 0, "
                            "e.g. -110,-30"),
    (["--l-range", "-5"], "--l-range -5: expected LO,HI: two log-probs with LO < HI <= 0, "
                          "e.g. -110,-30"),
    (["--l-range", "a,b"], "--l-range a,b: expected LO,HI: two log-probs with LO < HI <= 0, "
                           "e.g. -110,-30"),
])
def test_bad_workers_and_l_range_are_usage_errors(tmp_path, capsys, flags, message):
    from lossforge.distill.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "no-such-run"), *flags])
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"error: {message} (see --help)\n"


# ---- 5. the whole distilled loss -----------------------------------------------------------


def test_printout_and_tex_hold_the_whole_loss_of_a_run_with_open_slots(tmp_path, capsys):
    from lossforge.distill.__main__ import main
    from lossforge.objectives.mpo import MPOSpec, Objective

    run = _es_run(tmp_path, link_grammar="grammars/link.toml",
                  imitation_grammar="grammars/imitation.toml")
    capsys.readouterr()
    assert main([str(run), "--generations", "1", "--no-rescore"]) == 0
    out = capsys.readouterr().out
    doc = json.loads((run / "distilled-deap.json").read_text())
    obj = Objective(MPOSpec.from_json(doc["distilled"]["spec"]))
    assert obj.imitation_expr is not None and obj.spec.link != "-logsigmoid(D)"
    tex = (run / "distilled-deap.tex").read_text()
    assert tex == obj.latex() + "\n" and r"\mathcal{L} &=" in tex and "n_{w}" in tex
    assert obj.latex() in out and obj.formula() in out and doc["loss"] == obj.formula()


# ---- 6. export's hint names the network ----------------------------------------------------


def test_export_hint_for_a_network_not_the_best_names_it(run, capsys):
    from lossforge.export.__main__ import main

    hof = json.loads((run / "hall_of_fame.json").read_text())["hall_of_fame"]
    for rank in (1, 0):
        assert main([str(run), "--rank", str(rank), "--format", "latex"]) == 2
        err = capsys.readouterr().err
        assert f"python -m lossforge.distill {run} --name {hof[rank]['name']})" in err
        assert f"python -m lossforge.export {run}/distilled-deap.json" in err


def test_the_closing_line_names_the_start_network_not_dpo(mean_run, capsys):
    """es_report's "vs its initialisation (...)": the start network on mean log-probs is not
    the DPO baseline, so the words may not say DPO (the number beside them is its own)."""
    from lossforge.search.summary import es_report

    state = checkpoint.load(mean_run)
    hof = json.loads((mean_run / "hall_of_fame.json").read_text())
    es_report({**hof, "pareto": hof["hall_of_fame"][:1]}, state, run_dir=mean_run)
    out = " ".join(capsys.readouterr().out.split())
    assert f"initialisation ({es.init_label(state)})" in out and "initialisation (DPO)" not in out


def test_rescoring_at_a_budget_the_run_never_scored_dpo_at_trains_dpo_too(run, tmp_path,
                                                                           capsys):
    """distill --budget full on a screen run showed DPO as "-": the run has no DPO score at
    full. DPO is now trained in the same paired call; its score is the probe's own for the zoo
    DPO at full, computed here separately."""
    from lossforge.distill.__main__ import main
    from lossforge.objectives.zoo import get_spec

    run = _copy(run, tmp_path)
    hof, _ = read_checked(run / "hall_of_fame.json")
    assert "full" not in next(b for b in hof["baselines"] if b["spec"]["name"] == "dpo")
    assert main([str(run), "--budget", "full", "--workers", "1", "--ledger", "off"]) == 0
    want = _probe_score(get_spec("dpo").to_json(), "full")
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("full:"))
    assert f"DPO (beta 0.1, the initialisation) {want:.2f}" in line, line


def test_the_bench_fitness_is_measured_where_it_feeds_the_network(run, tmp_path, capsys):
    """An ES run on the MuJoCo bench fitted over the network's whole l_range [-1500, 0], most of
    which the data never reaches (on quick the segments' log-probs lie near -400 to -900).
    Measured now, as for the probe: the fit range is inside l_range and holds the reference's
    log-prob of the median pair, and the distill command says it trains for it."""
    import torch

    from lossforge.bench import fitness
    from lossforge.bench.scenarios import load_scenario
    from lossforge.distill.ranges import fit_range

    run = _copy(run, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    cfg["config"]["fitness"] = "bench"           # what an ES run on MuJoCo records
    (run / "config.json").write_text(json.dumps(cfg))
    spec = NeuralSpec().to_json()
    (lo, hi), source, note, measured = fit_range(run, spec, None, "quick", progress=True)
    assert source.startswith("the log-probs the bench fitness feeds this network") and not note
    assert measured.range == (lo, hi) and measured.budget == "quick"
    assert "measuring the log-probs the bench fitness feeds the network: one training of it at "\
           "budget quick" in capsys.readouterr().out
    ref = fitness.training_data(load_scenario(cfg["scenario_file"])).ref_logps["sum"]
    assert -1500 < lo < float(torch.median(ref)) < hi < 0
    assert hi - lo < 0.5 * 1500


def test_rescoring_takes_the_networks_score_from_the_training_that_measured_it(
        tmp_path, capsys, monkeypatch):
    """distill trained a bench run's network twice at the same budget: once to measure its
    log-probs, once more to score it beside the formula. The re-score now trains the formula
    (and DPO where the run lacks it) only; the network's score is the measuring training's,
    which equals a fresh bench scoring of the network (the reference, computed here)."""
    from lossforge.bench import fitness
    from lossforge.distill.__main__ import main
    from lossforge.objectives import from_spec
    from lossforge.search import executors

    run = _es_run(tmp_path, fitness="bench", budget="quick")
    cfg = json.loads((run / "config.json").read_text())
    hof, _ = read_checked(run / "hall_of_fame.json")
    network = hof["hall_of_fame"][0]["spec"]
    scored, real = [], executors.map_specs

    def spy(ex, ref, specs, *args, **kwargs):
        scored.append([s["name"] for s in specs])
        return real(ex, ref, specs, *args, **kwargs)

    monkeypatch.setattr(executors, "map_specs", spy)
    assert main([str(run), "--budget", "quick", "--generations", "1", "--workers", "1",
                 "--ledger", "off"]) == 0
    assert "re-scoring the formula (the network's score is the training that measured" \
        in capsys.readouterr().out
    assert len(scored) == 1 and network["name"] not in scored[0]
    doc = json.loads((run / "distilled-deap.json").read_text())["rescore"]
    [fresh] = fitness.evaluate([from_spec(network)], cfg["scenario_file"], "quick")
    assert doc["network"]["per_seed"] == list(fresh.per_seed) and doc["network"]["status"] == "ok"
    assert doc["network_from"] == "the training that measured its log-probs"
    # --l-range measures nothing: the network is trained in the re-score, to the same score
    scored.clear()
    assert main([str(run), "--budget", "quick", "--generations", "1", "--workers", "1",
                 "--ledger", "off", "--l-range=-900,-400"]) == 0
    assert network["name"] in scored[0]
    again = json.loads((run / "distilled-deap.json").read_text())["rescore"]
    assert again["network"]["per_seed"] == list(fresh.per_seed)
    assert again["network_from"] == "trained here"
