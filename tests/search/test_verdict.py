"""What a newcomer reads at the end of a search: a verdict per baseline on the paired per-seed
difference, the words explained, formulas whole on a pipe, the best formula with --quiet, probe
runs labelled, a finished run that is resumed says so, phi~ maps with a readable h."""

from __future__ import annotations

import io
import math
import re
import shlex
from pathlib import Path

import pytest
import sympy as sp
from rich.console import Console

from lossforge.search import SearchConfig, run_search
from lossforge.search.summary import glossary, print_front, verdict_lines
from lossforge.search.verdict import paired_verdict

REPO = Path(__file__).resolve().parents[2]


# ---- the pure function, against hand-computed t-intervals --------------------------------------


#: t_{0.975} at 2 degrees of freedom in closed form: (2q - 1) / sqrt(2 q (1 - q)) = 4.302653
T2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)


def test_level_when_the_interval_contains_zero():
    # d = (1, 3, 4): mean 8/3, sd = sqrt(((-5/3)^2 + (1/3)^2 + (4/3)^2) / 2) = sqrt(7/3),
    # half-width = t_{0.975,2} * sd / sqrt(3) = 4.302653 * 1.527525 / 1.732051 = 3.794583
    v = paired_verdict([10, 12, 14], [9, 9, 10])
    assert v.word == "level" and v.n == 3
    assert v.diff == pytest.approx(8 / 3)
    assert v.halfwidth == pytest.approx(T2 * math.sqrt(7 / 3) / math.sqrt(3), rel=1e-12)
    assert v.halfwidth == pytest.approx(3.794583, abs=1e-6)


def test_better_and_worse_when_the_interval_excludes_zero():
    # d = (2, 3, 4): mean 3, sd 1, half-width 4.302653 / sqrt(3) = 2.484138: [0.516, 5.484]
    v = paired_verdict([12, 13, 14], [10, 10, 10])
    assert (v.word, v.diff) == ("better", 3.0)
    assert v.halfwidth == pytest.approx(2.484138, abs=1e-6)
    w = paired_verdict([10, 10, 10], [12, 13, 14])
    assert (w.word, w.diff, w.halfwidth) == ("worse", -3.0, v.halfwidth)


def test_pairing_is_what_decides():
    # both arms vary a lot from seed to seed, but the candidate wins on every seed by 1.0-1.2:
    # unpaired intervals would overlap, the paired one lies above 0 (d = 1.0, 1.2, 1.1:
    # mean 1.1, sd 0.1, half 4.302653 * 0.1 / sqrt(3) = 0.248414)
    v = paired_verdict([11.0, 31.2, 51.1], [10.0, 30.0, 50.0])
    assert v.word == "better" and v.halfwidth == pytest.approx(0.248414, abs=1e-6)


def test_one_seed_has_no_interval_and_is_undecided():
    v = paired_verdict([30.0], [1.0])
    assert v.word == "undecided" and math.isinf(v.halfwidth) and v.n == 1
    # however large or small the difference: one pair says nothing either way
    assert paired_verdict([1.0], [1.0]).word == paired_verdict([1.0], [30.0]).word == "undecided"


@pytest.mark.parametrize("a,b", [([1, 2], [1]), ([], []), ([1, float("nan")], [1, 2])])
def test_unpaired_or_non_finite_scores_are_refused(a, b):
    with pytest.raises(ValueError):
        paired_verdict(a, b)


# ---- the report ---------------------------------------------------------------------------


def _fit(per_seed):
    m = sum(per_seed) / len(per_seed)
    return {"name": "x", "status": "ok", "score": m, "ci95": 1.0, "per_seed": list(per_seed),
            "final": m, "auc": m, "seconds": 0.1}


LONG_LOSS = ("L = -logsigmoid(D),  D = 0.1 * [(phi~(l_w) - phi~(l_ref,w)) - (phi~(l_l) - "
             "phi~(l_ref,l))],  l = sum log-prob")


def _results(top_rung_scored: bool = True):
    row = {"name": "lf-1", "complexity": 9, "h": "9*p*log(p)", "phi_inv": "9*log(p)",
           "phi_tilde": "9*l", "loss": LONG_LOSS,
           "spec": {"name": "lf-1", "mirror_map": "9*p*log(p)"},
           "screen": _fit([6.8])}
    if top_rung_scored:
        row["full"] = _fit([12.0, 14.0])
    base = [{"spec": {"name": "dpo"}, "screen": _fit([1.4]), "full": _fit([1.0, 1.5])},
            {"spec": {"name": "orpo"}, "screen": _fit([22.4]), "full": _fit([20.0, 21.0])}]
    return {"pareto": [row], "hall_of_fame": [row], "baselines": base}


STATE = {"ladder": ["screen", "full"], "config": {"metric": "auc", "fitness": "bench"},
         "generation": 8, "counters": None}


def test_verdict_lines_per_baseline():
    lines = verdict_lines(_results(), STATE)
    # vs DPO: d = (11, 12.5): mean 11.75, sd 1.06066, half 12.706 * 1.06066 / sqrt 2 = 9.5295
    # -> [2.22, 21.28]: better; vs ORPO: d = (-8, -7): mean -7.5, half 12.706 * 0.70711 /
    # sqrt 2 = 6.353 -> [-13.85, -1.15]: worse
    assert "lf-1" in lines[0] and "full budget" in lines[0]
    assert lines[1] == "  BETTER than DPO: +11.75 ± 9.53, paired over 2 seeds"
    assert lines[2] == "  WORSE than ORPO: -7.50 ± 6.35, paired over 2 seeds"
    assert lines[3] == "  No loss of this run is shown better than ORPO."
    assert "95 % t-interval of the mean per-seed difference" in lines[4]


def test_a_loss_scored_only_at_screen_gets_a_screening_verdict():
    lines = verdict_lines(_results(top_rung_scored=False), STATE)
    assert "screen budget only" in lines[0] and "no loss reached full" in lines[0]
    assert lines[1].startswith("  UNDECIDED against DPO: +5.40 on 1 seed, no interval")
    assert "  No loss of this run is shown better than DPO, ORPO." in lines


def test_glossary_says_what_auc_screen_and_full_are():
    text = glossary(STATE, _results()["baselines"])
    assert "auc = the normalised return" in text and "area under the learning curve" in text
    assert "screen = the cheap budget every new loss is trained at (1 seed)" in text
    assert "full = the larger budget only the best fraction of each generation gets (2 seeds)" \
        in text


@pytest.mark.parametrize("fitness,says,never", [
    ("llm", "auc = exact-match accuracy (%) of greedy decoding", "normalised return"),
    ("probe", "probe fitness's score", "normalised return"),
    ("my_pkg.fit:score", "auc = the score your fitness function returns as auc", "normalised"),
    (None, "auc = the normalised return", "accuracy")])
def test_glossary_words_follow_the_runs_fitness(fitness, says, never):
    """A run on the LLM bed (or a user's fitness) must not call its score a MuJoCo return."""
    state = {**STATE, "config": {**STATE["config"], "fitness": fitness}}
    text = glossary(state, _results()["baselines"])
    assert says in text and never not in text


def test_formulas_do_not_wrap_on_a_pipe():
    out = io.StringIO()
    console = Console(file=out, width=80)   # not a terminal: rich's 80 columns
    assert not console.is_terminal
    print_front(_results(), STATE, console)
    text = out.getvalue()
    assert "  " + LONG_LOSS + "\n" in text          # the whole loss on one line
    assert "Verdict for the best loss, lf-1" in text and "What the words mean:" in text


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = io.StringIO()
    cfg = SearchConfig(scenario="quick", fitness="probe", generations=1, population=4,
                       workers=1, baselines=("dpo", "orpo"))
    run_dir = run_search(cfg, runs_root=root, quiet=True, console=Console(file=out))
    return run_dir, out.getvalue()


def test_quiet_keeps_the_best_formula_and_the_verdict(probe_run):
    _, text = probe_run
    assert re.search(r"^best loss lf-\w+: full -?\d+\.\d\d ± ", text, re.M), text
    assert "  h(p) = " in text and "phi~(l) = " in text and "L = " in text
    assert re.search(r"^  (BETTER than|LEVEL with|WORSE than) DPO \(beta [\d.]+\): .* paired "
                     r"over 3 seeds$", text, re.M), text
    assert re.search(r"^  (BETTER than|LEVEL with|WORSE than) ORPO \(beta [\d.]+, lam [\d.]+\): ",
                     text, re.M)
    assert "Pareto front" not in text           # ... and nothing else


def test_probe_runs_are_labelled(probe_run):
    run_dir, _ = probe_run
    assert run_dir.name.endswith("-quick-probe-s0")
    out = io.StringIO()
    from lossforge.search.summary import show

    show(run_dir, console=Console(file=out))
    assert "fitness probe" in out.getvalue()
    assert "says nothing about MuJoCo returns" in out.getvalue()


def test_resuming_a_finished_run_says_so(probe_run):
    run_dir, _ = probe_run
    out = io.StringIO()
    run_search(resume=run_dir, quiet=True, console=Console(file=out))
    assert "finished all 1 generations already; nothing to run" in out.getvalue()
    assert "--generations N (more than 1) extends it" in out.getvalue()


# ---- phi~ maps: h printed as a function, not as Integral(...) ---------------------------------


def test_phi_tilde_maps_print_their_antiderivative_or_what_defines_h():
    from lossforge.symbolic.mirror_map import P, MirrorMap

    mm = MirrorMap.from_formula("2*l")                  # h'(p) = 2 log p
    text = mm.h_text
    assert "Integral" not in text
    assert sp.simplify(sp.diff(sp.sympify(text, locals={"p": P}), P) - 2 * sp.log(P)) == 0
    hard = MirrorMap.from_formula("softplus(l)").h_text  # no elementary antiderivative
    assert "Integral" not in hard and "phi~(l) = softplus(l)" in hard


def test_the_report_of_a_phi_tilde_run_has_no_unevaluated_integral():
    res = _results()
    row = dict(res["pareto"][0], h="Integral(log(p), p)", phi_inv="log(p)", phi_tilde="l",
               spec={"name": "lf-1", "mirror_map": "l"})
    res["pareto"] = res["hall_of_fame"] = [row]
    out = io.StringIO()
    print_front(res, STATE, Console(file=out))
    assert "Integral" not in out.getvalue()
    assert "h(p)      = p*log(p) - p" in out.getvalue()


# ---- documented commands -------------------------------------------------------------------


def _examples(text: str) -> list[str]:
    """Commands of a help text or README block, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", "", text)
    return [" ".join(line.split()) for line in joined.splitlines()
            if line.strip().startswith("python -m lossforge.search")]


def test_every_search_help_example_parses_and_continues_properly(capsys):
    from lossforge.search.__main__ import _EPILOG, build_confirm_parser, build_parser, main

    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out.split("examples:")[1].splitlines()
    for line in shown:
        # a swallowed "\" continuation shows as one over-long line with a gap in it
        assert len(line) <= 100 and "   " not in line.strip(), line
        if line.rstrip().endswith("\\"):
            nxt = shown[shown.index(line) + 1]
            assert nxt.startswith("      --"), (line, nxt)
    examples = _examples(_EPILOG)
    assert any("--method es" in e for e in examples)
    for cmd in examples:
        argv = shlex.split(cmd)[3:]
        if argv[:1] == ["show"]:
            continue
        if argv[:1] == ["confirm"]:
            build_confirm_parser().parse_args(argv[1:])
            continue
        argv = [a for a in argv if a != "[--latex]"]
        build_parser().parse_args(argv)    # exits 2 on a joined continuation line


def test_the_readme_es_example_is_the_help_example():
    from lossforge.search.__main__ import _EPILOG

    readme = [e for e in _examples((REPO / "README.md").read_text()) if "--method es" in e]
    helped = [e for e in _examples(_EPILOG) if "--method es" in e]
    assert readme and set(readme) <= set(helped), (readme, helped)


def test_baselines_help_describes_every_subcommand():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "baselines.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    listing = out.split("positional arguments:")[1].split("options:")[0]
    for cmd in ("run", "table", "compare", "field"):
        # "    run    <what it does>": a description after the name, not a bare name
        assert re.search(rf"^    {cmd}\s+\S", listing, re.M), (cmd, listing)
