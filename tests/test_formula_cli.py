"""`python -m lossforge.formula`: its ``main`` with the command line's arguments, output and
exit code as a user sees them. In this process (a subprocess per call spent most of its time
importing torch and SymPy); one call runs as ``python -m`` (the last test), and
tests/test_command_lines.py runs it in a pipe."""

import contextlib
import io
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from lossforge.formula import main


def run(*args):
    """(returncode, stdout, stderr) of ``python -m lossforge.formula ARGS``, run in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:         # argparse's usage errors
            code = exc.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_dpo_map_prints_its_link_and_proof():
    r = run("p*log(p)")
    assert r.returncode == 0, r.stderr
    assert "phi~(l)       = l " in r.stdout
    assert "strictly convex             : yes [proved]" in r.stdout
    assert r"\begin{aligned}" in r.stdout


def test_orpo_map_as_json():
    r = run("p*log(p) + (1-p)*log(1-p)", "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["checks"]["convex"]["status"] == "proved"
    assert out["phi_tilde"] == "l - log1mexp(l)"
    assert out["checks"]["legendre"]["holds"] is True


def test_non_convex_map_exits_1_with_a_witness():
    r = run("sin(p)")
    assert r.returncode == 1
    assert "NO  [failed, witness p = " in r.stdout
    assert "\nvalid mirror map:" not in r.stdout and "not a valid mirror map: " in r.stdout


def test_a_valid_map_that_is_not_legendre_says_it_is_valid():
    """p^2: convex and C2 on (0,1), h'(0) = 0 (not Legendre: recorded, not required, mpo.md).
    On per-token mean log-probs its loss trains too (on summed ones phi~ = 2 e^l is flat)."""
    r = run("p**2", "--aggregation", "mean")
    assert r.returncode == 0, r.stdout
    assert "Legendre (h' -> -inf at 0)  : NO  [proved]" in r.stdout
    assert "\nvalid mirror map: strictly convex and C2 on (0,1)" in r.stdout


def test_unsafe_formula_exits_2_in_one_line_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    for text in ["__import__('os')", f"open({str(target)!r}, 'w')"]:
        r = run(text)
        assert r.returncode == 2
        assert r.stdout == ""
        assert r.stderr.startswith("error: formula") and r.stderr.count("\n") == 1
    assert not target.exists()


def test_latex_only_output():
    r = run("p*log(p) + p**2", "--latex")
    assert r.returncode == 0 and r.stdout.startswith(r"\begin{aligned}") and r.stderr == ""
    # a valid map whose loss the search would reject: its LaTeX, and why on stderr, exit 1
    r = run("-log(p)", "--latex")
    assert r.returncode == 1 and r.stdout.startswith(r"\begin{aligned}")
    assert r.stderr.startswith("error: a valid mirror map, but a search on summed log-probs")
    # on per-token mean log-probs (l near -10 at most) -log(p)'s loss is finite: no objection
    r = run("-log(p)", "--latex", "--aggregation", "mean")
    assert r.returncode == 0 and r.stderr == ""


def test_properties_line_of_the_loss():
    # DPO's link: -log sigma(D), G' = -sigma(-D) -> -1 at -inf; sigmoid(-D): G' = -sigma(D)
    # sigma(-D), max 1/4 at 0, -> 0 at -inf (redescending); IPO-like (D - 1)**2 rises for D > 1
    r = run("p*log(p)")
    assert ("properties: ranking-preserving proved · |dG/dD| <= 1 proved · D->-inf: "
            "G ~ -1*D (linear), G' -> -1: not redescending") in r.stdout
    r = run("p*log(p)", "--link", "sigmoid(-D)", "--imitation", "-l/n", "--no-reference")
    assert r.returncode == 0, r.stderr
    assert "|dG/dD| <= 0.25 proved" in r.stdout and "redescending proved" in r.stdout
    assert "reference: free · length: used" in r.stdout
    r = run("p*log(p)", "--link", "(D - 1)**2", "--json")
    props = json.loads(r.stdout)["properties"]
    assert props["ranking"]["status"] == "failed" and props["ranking"]["witness"] > 1
    # the map is valid, but the search rejects a loss that rises with the margin
    assert r.returncode == 1 and json.loads(r.stdout)["checks"]["valid"] is True
    assert json.loads(r.stdout)["smoke"]["detail"].startswith("smoke_not_monotone: ")
    r = run("p*log(p)", "--link", "foo(D)")
    assert r.returncode == 2 and r.stderr.startswith("error: link: ")


def test_a_map_written_as_phi_tilde_prints_its_h_in_closed_form():
    """phi~(l) = l is DPO's map: h' = log p, h = p log p - p (+ const), not 'Integral(...)'."""
    r = run("l")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "h(p)          = p*log(p) - p"


def test_nested_powers_are_refused_in_one_line_naming_the_formula():
    """((p**64)**64)**64 = p**262144: its exponent is beyond the limit 64 like p**262144's."""
    r = run("((p**64)**64)**64")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("error: formula '((p**64)**64)**64' at column 1: powers combine to "
                        "the exponent 4096, beyond the limit 64\n")


def test_a_map_whose_h_second_underflows_near_0_is_valid():
    """p**64: h'' = 4032 p**62 > 0 on (0,1), though 4.032e-741 at p = 1e-12 (0.0 in float64).
    A valid map; its loss, 64 e^(63 l), is flat at any log-prob a policy has, so exit 1."""
    r = run("p**64")
    assert "strictly convex             : yes [proved]" in r.stdout and "<= 0" not in r.stdout
    assert "\nvalid mirror map: strictly convex" in r.stdout
    assert r.returncode == 1 and ": vanishing_gradient: " in r.stdout


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_a_time_limit_must_be_positive(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["p*log(p)", "--time-limit", value])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (f"error: argument --time-limit: expected a positive finite "
                                       f"number, got {value!r} (see --help)\n")


def test_a_negative_imitation_term_prints_as_a_subtraction():
    r = run("p*log(p)", "--imitation", "-l*n")
    assert r.returncode == 0, r.stderr
    assert "\nloss L = -logsigmoid(D) - l*n; properties:" in r.stdout



def test_link_help_names_every_variable_a_link_may_use(capsys):
    """The link is parsed over D, rw, rl and t (``objectives/mpo.py`` LINK_VARS), not G(D, t)."""
    from lossforge.formula import build_parser
    from lossforge.objectives.mpo import LINK_VARS

    link_help = next(a.help for a in build_parser()._actions if a.dest == "link")
    assert "G(D, rw, rl, t)" in link_help
    assert all(f" {v}" in link_help for v in LINK_VARS)
    r = run("p*log(p)", "--link", "-logsigmoid(rw - rl)")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("formula", ["-log(p)", "exp(exp(exp(exp(exp(exp(p))))))"])
def test_a_valid_map_whose_loss_the_search_would_reject_exits_1_and_says_why(formula):
    """-log(p): phi~(l) = -e^(-l), infinite at l = -1000 on summed log-probs; a tower of exps
    overflows: valid maps both, whose losses the search's smoke test rejects before training
    (the exported torch file of the second returned NaN for every input)."""
    r = run(formula)
    assert r.returncode == 1, r.stdout
    assert "\nvalid mirror map: strictly convex" in r.stdout
    assert ("\nbut a search on summed log-probs (--aggregation sum) would reject its loss before "
            "training (the checks every candidate passes first): smoke_nonfinite: non-finite "
            "loss") in r.stdout
    out = json.loads(run(formula, "--json").stdout)
    assert out["smoke"]["ok"] is False and "non-finite loss" in out["smoke"]["detail"]
    from lossforge.objectives import Objective, MPOSpec
    from lossforge.search.candidates import smoke_test

    assert not smoke_test(Objective(MPOSpec(mirror_map=formula))).ok   # as the search sees it
    ok = json.loads(run("p*log(p)", "--json").stdout)
    assert ok["smoke"] == {"ok": True, "detail": "ok"}


def test_relu_map_is_not_called_non_convex():
    """p log p + relu(p - 0.3): h' = log p + 1 + [p > 0.3] jumps UP by 1 at 0.3, h'' = 1/p > 0
    on both sides: strictly convex (sampled, no proof for a non-smooth h), but not C2 (not even
    C1) at 0.3: C2 failed with witness 0.3, so exit code 1."""
    r = run("p*log(p) + relu(p - 0.3)")
    assert r.returncode == 1, r.stderr
    assert "strictly convex             : yes [sampled] " in r.stdout
    assert ("C2 on (0,1)                 : NO  [failed, witness p = 0.3] h' jumps from "
            "-0.2039728 to 0.7960272 at the kink p = 0.3") in r.stdout


@pytest.mark.parametrize("argv, reason", [
    (["p*log(p)", "--imitation", "l"], "smoke_not_monotone"),    # anti-SFT: rewards a lower l_w
    (["p*log(p)", "--link", "D"], "smoke_not_monotone"),         # pushes the margin down
    (["p**2"], "vanishing_gradient"),                            # phi~ = 2 e^l: flat at l < -60
])
def test_formula_rejects_what_the_search_rejects_before_training(argv, reason):
    """``formula`` exits 1 with the search's own reason for every loss the search rejects before
    training, not only the non-finite ones: the search's screening (candidates.py) is the
    reference, asked directly."""
    from lossforge.objectives import MPOSpec, Objective
    from lossforge.search.candidates import training_rejection

    r = run(*argv)
    assert r.returncode == 1, r.stdout
    assert f"would reject its loss before training (the checks every candidate passes first): " \
           f"{reason}: " in r.stdout
    kw = {"imitation": argv[2]} if "--imitation" in argv else (
        {"link": argv[2]} if "--link" in argv else {})
    assert training_rejection(Objective(MPOSpec(mirror_map=argv[0], **kw)))[0] == reason
    out = json.loads(run(*argv, "--json").stdout)
    assert out["smoke"]["ok"] is False and out["smoke"]["detail"].startswith(reason)


def test_a_new_option_of_the_parser_is_never_read_as_the_formula():
    """Which arguments are options, and which take a value, comes from the parser itself: an
    option added to it later (a flag, or one with a value that starts with "-") is not taken
    for part of the formula. (The command line used to keep its own list beside argparse.)"""
    from lossforge.formula import _formula_last, build_parser

    parser = build_parser()
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--offset", type=float)
    argv = _formula_last(["-log(p)", "--verbose", "--offset", "-2", "--json"], parser)
    args = parser.parse_args(argv)
    assert (args.formula, args.verbose, args.offset, args.json) == ("-log(p)", True, -2.0, True)


def test_the_module_runs_as_a_command_as_main_does_here():
    """``python -m lossforge.formula`` prints what ``main`` prints here (text and JSON, but for
    the JSON's timings), with the same exit code."""
    def untimed(x):
        if isinstance(x, dict):
            return {k: untimed(v) for k, v in x.items() if k != "seconds"}
        return x

    for args in (["p*log(p) + (1-p)*log(1-p)", "--json"], ["sin(p)"]):
        r = subprocess.run([sys.executable, "-m", "lossforge.formula", *args],
                           capture_output=True, text=True, timeout=120)
        here = run(*args)
        assert (r.returncode, r.stderr) == (here.returncode, here.stderr)
        if "--json" in args:
            assert untimed(json.loads(r.stdout)) == untimed(json.loads(here.stdout))
        else:    # but for the check's timing ("checked in 2.3 ms")
            timing = re.compile(r"\d+(\.\d+)? m?s\b")
            assert timing.sub("T", r.stdout) == timing.sub("T", here.stdout)
