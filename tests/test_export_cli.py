"""`python -m lossforge.export` as a user runs it: round trips, run directories, error paths."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lossforge import objectives
from lossforge.export.__main__ import build_parser, main
from lossforge.objectives import MPOSpec, Objective



@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real search run directory, made here (runs/ is not in git): the probe fitness, so it
    takes seconds."""
    from lossforge.search import SearchConfig, run_search

    cfg = SearchConfig(scenario="quick", population=10, generations=2, seed=4, fitness="probe",
                       workers=1, budget="screen")
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("runs"), quiet=True)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "lossforge.export", *args],
                          capture_output=True, text=True, timeout=120)


def _module(path: Path):
    spec = importlib.util.spec_from_file_location("exported", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_json_round_trip_for_every_zoo_member(tmp_path, capsys):
    for name in objectives.names():
        path = tmp_path / f"{name}.json"
        assert main(["--zoo", name, "--format", "json", "-o", str(path)]) == 0
        data = json.loads(path.read_text())
        assert MPOSpec.from_json(data["spec"]) == objectives.get_spec(name)
        # and the JSON file is itself a source: exporting it again gives the same JSON
        assert main([str(path), "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out) == data


def test_formula_with_options_round_trips(tmp_path, capsys):
    argv = ["--formula", "p*log(p) + (1-p)*log(1-p)", "--beta", "0.25", "--no-reference",
            "--aggregation", "mean", "--link", "-logsigmoid(D - gamma)", "--param",
            "gamma=0.5", "--imitation", "-l", "--w-sft", "1 - t", "--name", "mine"]
    assert main(argv + ["--format", "json"]) == 0
    spec = MPOSpec.from_json(json.loads(capsys.readouterr().out)["spec"])
    assert spec == MPOSpec(name="mine", mirror_map="p*log(p) + (1-p)*log(1-p)", beta=0.25,
                           reference=False, link="-logsigmoid(D - gamma)", imitation="-l",
                           w_sft="1 - t", aggregation="mean", params={"gamma": 0.5})
    assert main(argv + ["--format", "torch", "-o", str(tmp_path / "mine.py")]) == 0
    mod = _module(tmp_path / "mine.py")
    pc, pr = torch.tensor([-0.3, -1e-7]), torch.tensor([-0.2, -2.0])
    want = Objective(spec)(pc, pr, progress=0.4)
    torch.testing.assert_close(mod.loss(pc, pr, progress=0.4), want)
    assert not mod.NEEDS_REFERENCE and mod.TEMPORAL


def test_latex_of_a_formula(capsys):
    r = cli("--formula", "p*log(p)", "--format", "latex")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(r"\begin{aligned}")
    assert r"\mathcal{L} &= - \log\sigma\left(\Delta\right)" in r.stdout
    assert main(["--zoo", "orpo", "--format", "latex-document"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(r"\documentclass{article}") and r"\end{document}" in out


def test_run_directory_best_and_rank_match_from_run(tmp_path, run_dir):
    RUN = run_dir
    hof = json.loads((RUN / "hall_of_fame.json").read_text())["hall_of_fame"]
    assert len(hof) >= 4
    g = torch.Generator().manual_seed(1)
    pc, pr, rc, rr = (-5 - 50 * torch.rand(6, generator=g, dtype=torch.float64) for _ in range(4))
    for flags, rank in ((["--best"], 0), (["--rank", "3"], 3)):
        out = tmp_path / f"r{rank}.py"
        assert main([str(RUN), *flags, "--format", "torch", "-o", str(out)]) == 0
        mod = _module(out)
        assert mod.NAME == hof[rank]["name"]
        assert MPOSpec.from_json(mod.SPEC) == MPOSpec.from_json(hof[rank]["spec"])
        want = objectives.from_run(RUN, rank)(pc, pr, rc, rr)
        torch.testing.assert_close(mod.loss(pc, pr, rc, rr), want, rtol=1e-12, atol=1e-14)
    assert objectives.from_run(RUN, name=hof[2]["name"]).spec == \
        MPOSpec.from_json(hof[2]["spec"])


@pytest.mark.parametrize("args,message", [
    (["runs/no-such-run", "--best"], "no-such-run: not a run directory"),
    (["RUN", "--rank", "99"], "no rank 99 (0 = best); the run has ranks 0.."),
    (["RUN", "--rank", "-1"], "no rank -1"),
    (["RUN", "--loss", "lf-nope"], "no loss named 'lf-nope'"),
    (["--formula", "p*log("], "formula 'p*log(' is not valid syntax"),
    (["--formula", "sin(p)"], "is not valid: h''(p)"),
    (["--formula", "__import__('os')"], "unknown function '__import__'"),
    (["--zoo", "dpo", "--formula", "p*log(p)"], "exactly one source"),
    (["--zoo", "dpo", "--rank", "1"], "choose a loss of a run directory"),
    (["--zoo", "dpo", "--param", "eps"], "expected NAME=NUMBER"),
    (["--zoo", "dpo", "--param", "eps=inf"], "expected NAME=NUMBER (finite)"),
])
def test_errors_exit_2_with_one_clear_line(args, message, capsys, run_dir):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    assert main([*args, "--format", "torch"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


@pytest.mark.parametrize("beta", ["-1", "0", "inf", "nan", "1e400"])
def test_beta_not_positive_finite_is_refused_as_typed(beta, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--zoo", "dpo", "--beta", beta, "--format", "json"])
    out, err = capsys.readouterr()
    assert (exc.value.code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert f"--beta: expected a positive finite number, got '{beta}'" in err


def test_error_exit_code_of_the_real_command():
    r = cli("runs/no-such-run", "--best")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "error: runs/no-such-run: not a run directory\n"


def test_malformed_json_source_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main([str(bad)]) == 2
    bad.write_text(json.dumps({"spec": {"mirror_map": "p*log(p)", "evil": 1}}))
    assert main([str(bad)]) == 2


def test_a_missing_json_spec_file_is_reported_as_not_found(tmp_path, capsys):
    path = tmp_path / "loss.json"
    assert main([str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: file not found\n"
    assert not path.exists()


def test_rank_help_numbers_the_hall_of_fame_as_show_does(run_dir):
    """`search show` lists the best loss as rank 0, and --rank's help says the same."""
    best = json.loads((run_dir / "hall_of_fame.json").read_text())["hall_of_fame"][0]["name"]
    shown = subprocess.run([sys.executable, "-m", "lossforge.search", "show", str(run_dir)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"\n 0. {best}  " in shown.stdout
    rank_help = next(a.help for a in build_parser()._actions if a.dest == "rank")
    assert "0 = best" in rank_help and "from 1" not in rank_help


def _orpo_json(tmp_path) -> Path:
    path = tmp_path / "orpo.json"
    assert main(["--zoo", "orpo", "--format", "json", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("field,raw,line", [
    ("reference", '"no"', 'spec.reference must be a JSON boolean (true or false), got "no"'),
    ("beta", "true", "spec.beta must be a finite number, got true"),
    ("beta", "Infinity", "spec.beta must be a finite number, got Infinity"),
    ("beta", "NaN", "spec.beta must be a finite number, got NaN"),
    ("aggregation", "3", "spec.aggregation must be a string, got 3"),
    ("imitation", "[1]", "spec.imitation must be a string or null, got [1]"),
    ("params", "[]", "spec.params must be a JSON object of named numbers, got []"),
    ("w_pref", "true", "spec.w_pref must be a formula string or a finite number, got true"),
])
def test_hand_edited_json_fields_of_the_wrong_type_exit_2_naming_file_and_field(
        field, raw, line, tmp_path, capsys):
    """``"reference": "no"`` was a reference loss (a truthy string), ``"beta": true`` beta 1,
    and ``Infinity`` a SymPy traceback."""
    path = _orpo_json(tmp_path)
    data = json.loads(path.read_text())
    data["spec"][field] = "@EDITED@"
    path.write_text(json.dumps(data, indent=2).replace('"@EDITED@"', raw))
    capsys.readouterr()
    assert main([str(path), "--format", "torch"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {path}: {line}\n")


def test_a_constant_weight_may_be_written_as_a_number(tmp_path, capsys):
    """{"w_pref": 1, "w_sft": 0.5}: a hand-written spec that Objective and baselines.py --spec
    take; export takes it too (the type checks first refused it) and compiles the weights."""
    path = _orpo_json(tmp_path)
    data = json.loads(path.read_text())
    data["spec"].update(w_pref=1, w_sft=0.5)
    data.pop("formula", None), data.pop("latex", None)
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main([str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert float(out["spec"]["w_pref"]) == 1.0 and float(out["spec"]["w_sft"]) == 0.5


def test_every_wrong_field_is_its_own_line_and_a_null_spec_is_named(tmp_path, capsys):
    path = _orpo_json(tmp_path)
    data = json.loads(path.read_text())
    data["spec"].update(reference="no", beta=True, params={"eps": float("inf")})
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main([str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: spec.beta must be a finite number, got true\n"
        f'error: {path}: spec.reference must be a JSON boolean (true or false), got "no"\n'
        f"error: {path}: spec.params.eps must be a finite number, got Infinity\n")
    path.write_text(json.dumps({**data, "spec": None}))
    assert main([str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: spec must be a JSON object, got null\n"
    path.write_text(json.dumps({"distilled": {"spec": {"beta": "0.1"}}}))
    assert main([str(path)]) == 2
    assert capsys.readouterr().err == (f"error: {path}: distilled.spec.beta must be a finite "
                                       'number, got "0.1"\n')


def test_json_texts_that_disagree_with_the_spec_get_one_warning(tmp_path, run_dir, capsys):
    """The spec is what is exported; a hand-edited file whose "formula"/"latex" no longer say
    what it computes is pointed out. An export read back unchanged gets no warning."""
    path = _orpo_json(tmp_path)
    run_json = tmp_path / "run.json"
    assert main([str(run_dir), "--rank", "1", "--format", "json", "-o", str(run_json)]) == 0
    for clean in (path, run_json):
        capsys.readouterr()
        assert main([str(clean), "--format", "torch"]) == 0
        assert capsys.readouterr().err == ""
    data = json.loads(path.read_text())
    data["spec"]["beta"] = 0.5
    path.write_text(json.dumps(data))
    assert main([str(path), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["spec"]["beta"] == 0.5
    assert err == (f'warning: {path}: its "formula" and "latex" texts do not match its "spec" '
                   '(edited by hand, or written by another lossforge version? a field missing '
                   'from the spec is read at its default); only "spec" is read\n')
    data = json.loads(path.read_text())
    data["formula"] = "L = something else"
    data["spec"]["beta"] = objectives.get_spec("orpo").beta
    path.write_text(json.dumps(data))
    assert main([str(path), "--format", "torch"]) == 0
    assert capsys.readouterr().err.startswith(f'warning: {path}: its "formula" text does not')


def test_options_that_change_a_run_loss_say_it_is_not_what_the_search_scored(
        tmp_path, run_dir, capsys):
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())["hall_of_fame"]
    assert hof[0]["spec"]["reference"] is True
    where = f"run {run_dir.name}, hall-of-fame rank 0 (0 = best)"
    modified = f"Modified from {where} by --no-reference: not the loss the search scored."
    assert main([str(run_dir), "--best", "--no-reference", "-o", str(tmp_path / "m.py")]) == 0
    mod = _module(tmp_path / "m.py")
    assert not mod.NEEDS_REFERENCE and modified in mod.__doc__ and "From run" not in mod.__doc__
    assert main([str(run_dir), "--best", "--no-reference", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"] == [modified]
    assert main([str(run_dir), "--best", "--no-reference", "--format", "latex-document"]) == 0
    assert modified.replace("_", "\\_") in capsys.readouterr().out
    assert main([str(run_dir), "--best", "--imitation", "-l", "--beta", "0.3", "--format",
                 "json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"] == [
        f"Modified from {where} by --beta, --imitation: not the loss the search scored."]
    # the same loss under another name, or an option that changes nothing, is still the one
    # the search scored
    # (a weight or link written another way is the same formula: w_pref "1" given as 1.0)
    assert hof[0]["spec"]["w_pref"] == "1" and hof[0]["spec"]["link"] == "-logsigmoid(D)"
    for flags in (["--name", "mine"], ["--reference"], ["--param", "unused=1"],
                  ["--w-pref", "1.0"], ["--link", "0 - logsigmoid(D)"]):
        assert main([str(run_dir), "--best", *flags, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["provenance"] == [f"From {where}."]


def test_output_to_a_directory_exits_2_in_one_line(tmp_path):
    r = cli("--zoo", "dpo", "-o", str(tmp_path))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"error: -o {tmp_path}: is a directory\n"
    assert list(tmp_path.iterdir()) == []


def test_help_says_an_option_left_out_keeps_the_loaded_value():
    ap = build_parser()
    ref = next(a.help for a in ap._actions if a.dest == "reference")
    assert "default yes" not in ref and "loaded spec's" in ref and "yes for --formula" in ref
    help_text = " ".join(ap.format_help().split())
    assert "keeps the value of the loaded run loss, JSON spec or zoo member" in help_text
    assert 'only its "spec" is read' in help_text


@pytest.mark.parametrize("argv,reason", [
    # +l rewards a lower chosen log-prob: dL/dl_w = +1 > 0 (anti-SFT)
    (["--formula", "p*log(p)", "--imitation", "l"], "smoke_not_monotone"),
    # phi~(l) = 2 e^l: at summed log-probs of -60 and below the gradient is under 1e-25
    (["--formula", "p**2"], "vanishing_gradient"),
])
def test_a_loss_the_search_would_reject_is_exported_with_a_warning(tmp_path, capsys, argv,
                                                                   reason):
    """``formula`` says a search rejects these before training; export wrote them silently."""
    out = tmp_path / "loss.py"
    assert main([*argv, "--format", "torch", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: a search would reject this loss before training ({reason}")
    assert err.count("\n") == 1 and out.exists()


@pytest.mark.parametrize("argv", [["--formula", "p*log(p)"], ["--zoo", "sft"],
                                  # a zoo form at any name or beta, or saved as JSON: cDPO is
                                  # not monotone by design, SFT ignores the rejected side
                                  ["--zoo", "cdpo", "--name", "mine"],
                                  ["--zoo", "sft", "--beta", "0.5"], ["cdpo.json"]])
def test_a_loss_the_search_would_train_or_a_zoo_member_gets_no_warning(tmp_path, monkeypatch,
                                                                        capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(["--zoo", "cdpo", "--format", "json", "-o", "cdpo.json"]) == 0
    assert main([*argv, "--format", "latex"]) == 0
    assert capsys.readouterr().err == ""
