"""hall_of_fame.json and pareto.json carry a checksum (as checkpoint.json does): an edit is
refused by name; a run directory from before checksums is read and said to be unchecked.
ES run directories compose with ``show --latex``, ``distill`` and ``export``."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil

import pytest
import torch

from lossforge.export.__main__ import main as export_main
from lossforge.objectives import MPOSpec, Objective
from lossforge.search import run_search
from lossforge.search.__main__ import main as search_main
from lossforge.search.es import ESConfig

RESULTS = ("hall_of_fame.json", "pareto.json")


@pytest.fixture
def gp_run(probe_run):
    return probe_run


@pytest.fixture
def run_copy(probe_run_copy):
    return probe_run_copy


def _one_line_error(capsys, fragment: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err


@pytest.mark.parametrize("name", RESULTS)
def test_result_files_carry_the_hash_of_their_content(gp_run, name):
    doc = json.loads((gp_run / name).read_text())
    stored = doc.pop("sha256")
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert stored == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("name", RESULTS)
def test_a_one_byte_edit_is_refused_by_show_and_export(run_copy, name, capsys):
    path = run_copy / name
    text = path.read_text()
    i = text.index('"score": ') + len('"score": ') + 1     # a digit of the first score
    digit = text[i] if text[i].isdigit() else text[i + 1]
    i = i if text[i].isdigit() else i + 1
    path.write_text(text[:i] + str((int(digit) + 1) % 10) + text[i + 1:])
    assert search_main(["show", str(run_copy)]) == 2
    _one_line_error(capsys, f"{name}: checksum mismatch")
    assert export_main([str(run_copy), "--best"]) == 2
    _one_line_error(capsys, f"{name}: checksum mismatch")


def test_a_run_from_before_checksums_is_read_and_said_unchecked(run_copy, capsys):
    for name in RESULTS:
        doc = json.loads((run_copy / name).read_text())
        del doc["sha256"]
        (run_copy / name).write_text(json.dumps(doc, indent=2))
    assert search_main(["show", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert out.count("hall_of_fame.json and pareto.json in ") == 1
    assert "have no checksum, so nothing shows whether they were edited" in out
    assert "read unchecked" in out
    assert "Verdict for the best loss" in out
    assert export_main([str(run_copy), "--best"]) == 0
    cap = capsys.readouterr()
    assert "def loss(" in cap.out and cap.err.count("unchecked") == 1


# ---- ES -> show --latex, distill, export -------------------------------------------------------


@pytest.fixture(scope="module")
def es_run(tmp_path_factory):
    cfg = ESConfig(scenario="quick", fitness="probe", generations=1, population=3, hidden=2,
                   workers=1)
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("es"), quiet=True)


def test_es_best_exports_as_json_and_loads_back(es_run, tmp_path):
    best = json.loads((es_run / "hall_of_fame.json").read_text())["hall_of_fame"][0]
    out = tmp_path / "net.json"
    assert export_main([str(es_run), "--best", "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["spec"] == best["spec"]
    again = tmp_path / "again.json"
    assert export_main([str(out), "--format", "json", "-o", str(again)]) == 0
    assert json.loads(again.read_text())["spec"] == best["spec"]


def test_es_network_exports_with_an_imitation_term_added(es_run, tmp_path):
    """--imitation applies to a network as to a formula (ES's imitation slot writes the same
    field): the exported spec carries it and computes the network's loss plus the term."""
    from lossforge.objectives import from_spec

    best = json.loads((es_run / "hall_of_fame.json").read_text())["hall_of_fame"][0]
    out = tmp_path / "net.json"
    assert export_main([str(es_run), "--best", "--format", "json", "--imitation", "-0.1*l",
                        "-o", str(out)]) == 0
    spec = json.loads(out.read_text())["spec"]
    assert spec == {**best["spec"], "imitation": "-0.1*l"}
    g = torch.Generator().manual_seed(2)
    pc, pr, rc, rr = -1500 * torch.rand(4, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(from_spec(spec)(pc, pr, rc, rr),
                               from_spec(best["spec"])(pc, pr, rc, rr) - 0.1 * pc)


@pytest.fixture(scope="module")
def es_slots_run(tmp_path_factory):
    """ES with both slots open: its networks carry a link G and an imitation term Psi."""
    cfg = ESConfig(scenario="quick", fitness="probe", generations=1, population=3, hidden=2,
                   workers=1, link_grammar="grammars/link.toml",
                   imitation_grammar="grammars/imitation.toml")
    return run_search(cfg, runs_root=tmp_path_factory.mktemp("es-slots"), quiet=True)


@pytest.mark.parametrize("run", ["es_run", "es_slots_run"])
def test_es_networks_export_as_torch_files_that_compute_the_network_loss(run, tmp_path,
                                                                         request):
    from lossforge.objectives import from_spec

    es_run = request.getfixturevalue(run)
    best = json.loads((es_run / "hall_of_fame.json").read_text())["hall_of_fame"][0]
    assert ("imitation" in best["spec"]) == (run == "es_slots_run")
    py = tmp_path / "net_loss.py"
    assert export_main([str(es_run), "--best", "--format", "torch", "-o", str(py)]) == 0
    # the run directory holds the same file per network of its hall of fame
    assert (es_run / "losses" / f"{best['name']}.py").is_file()
    spec = importlib.util.spec_from_file_location("net_loss", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    network = from_spec(best["spec"])                   # lossforge's own NeuralObjective
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float64, torch.float32):
        pc, pr, rc, rr = (-1500 * torch.rand(16, generator=g, dtype=dtype) for _ in range(4))
        n = torch.randint(1, 201, (16,), generator=g).to(dtype)
        assert torch.equal(mod.loss(pc, pr, rc, rr, chosen_lengths=n) if mod.NEEDS_LENGTHS
                           else mod.loss(pc, pr, rc, rr),
                           network(pc, pr, rc, rr, chosen_lengths=n))
    assert mod.SPEC == best["spec"] and mod.NEEDS_LENGTHS == network.needs_lengths


def test_es_best_as_latex_says_how(es_run, capsys):
    assert export_main([str(es_run), "--best", "--format", "latex"]) == 2
    _one_line_error(capsys, "distil it first (python -m lossforge.distill")


def test_es_run_directory_has_pareto_tex_for_show_latex(es_run, capsys):
    assert (es_run / "pareto.tex").is_file()
    assert search_main(["show", str(es_run), "--latex"]) == 0
    out = capsys.readouterr().out
    assert "neural (no closed form)" in out and "\\begin{tabular}" in out


def test_distill_output_exports_to_a_torch_file_that_computes_the_distilled_loss(
        es_run, tmp_path, capsys):
    from lossforge.distill.__main__ import main as distill_main

    run = shutil.copytree(es_run, tmp_path / es_run.name)
    assert distill_main([str(run), "--generations", "2", "--no-rescore"]) == 0
    doc = json.loads((run / "distilled-deap.json").read_text())
    py = tmp_path / "distilled_loss.py"
    assert export_main([str(run / "distilled-deap.json"), "--format", "torch",
                        "-o", str(py)]) == 0
    spec = importlib.util.spec_from_file_location("distilled_loss", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    reference = Objective(MPOSpec.from_json(doc["distilled"]["spec"]))
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-50 - 50 * torch.rand(8, generator=g, dtype=torch.float64)
                      for _ in range(4))
    assert torch.allclose(mod.loss(pc, pr, rc, rr), reference(pc, pr, rc, rr), rtol=1e-12)
    assert mod.BETA == doc["distilled"]["spec"]["beta"]


def test_distilling_an_es_run_with_slots_keeps_its_link_and_imitation_term(es_slots_run,
                                                                           tmp_path):
    """Distillation replaces phi~ only: the network's G and Psi (formulas already) are the
    distilled loss's too (they read the same margin D and the chosen log-prob l)."""
    from lossforge.distill.__main__ import main as distill_main

    run = shutil.copytree(es_slots_run, tmp_path / es_slots_run.name)
    assert distill_main([str(run), "--generations", "2", "--no-rescore"]) == 0
    doc = json.loads((run / "distilled-deap.json").read_text())
    best = json.loads((run / "hall_of_fame.json").read_text())["hall_of_fame"][0]["spec"]
    distilled = doc["distilled"]["spec"]
    assert (distilled["link"], distilled["imitation"]) == (best["link"], best["imitation"])


def test_an_es_run_ends_with_the_distill_command_for_its_own_directory(tmp_path):
    """The closing hint names the run directory a user can paste, not a placeholder."""
    import io

    from rich.console import Console

    cfg = ESConfig(scenario="quick", fitness="probe", generations=1, population=3, hidden=2,
                   workers=1)
    buf = io.StringIO()
    run_dir = run_search(cfg, runs_root=tmp_path, console=Console(file=buf, width=400))
    lines = buf.getvalue().splitlines()
    assert f"turn it into a formula: python -m lossforge.distill {run_dir}" in lines
    assert "RUN_DIR" not in buf.getvalue()


@pytest.mark.parametrize("command", ["show", "export", "report", "distill"])
def test_a_run_stopped_before_its_first_generation_says_to_resume_it(gp_run, tmp_path, capsys,
                                                                     command):
    """A run directory with its configuration but no results yet (a start that failed or was
    killed in generation 1) is named as such, with the command that continues it."""
    stub = tmp_path / "stub"
    stub.mkdir()
    for name in ("config.json", "seeds.json"):
        shutil.copy(gp_run / name, stub / name)
    main = {"show": lambda a: search_main(["show", *a]), "export": export_main,
            "report": importlib.import_module("lossforge.report.__main__").main,
            "distill": importlib.import_module("lossforge.distill.__main__").main}[command]
    assert main([str(stub)]) == 2
    _one_line_error(capsys, f"{stub}: no results yet (the run stopped before its first "
                            f"generation finished); continue it with python -m lossforge."
                            f"search --resume {stub}")


@pytest.mark.parametrize("command", ["show", "report"])
def test_a_checkpointed_run_missing_its_results_is_not_called_unstarted(gp_run, tmp_path,
                                                                         capsys, command):
    """hall_of_fame.json deleted from a run with a checkpoint: the message said "stopped before
    its first generation finished", which is false; --resume writes the file again."""
    run = tmp_path / "run"
    shutil.copytree(gp_run, run)
    (run / "hall_of_fame.json").unlink()
    main = {"show": lambda a: search_main(["show", *a]),
            "report": importlib.import_module("lossforge.report.__main__").main}[command]
    assert main([str(run)]) == 2
    _one_line_error(capsys, f"{run}: hall_of_fame.json is missing, though a generation was "
                            f"checkpointed; python -m lossforge.search --resume {run} writes "
                            "it again from the checkpoint")


def test_the_front_plot_of_a_run_with_nothing_scored_draws_without_a_warning(tmp_path):
    """No loss and no baseline with a finite score: the plot is still written, with no legend
    and no matplotlib "No artists with labels" warning on the user's terminal."""
    import warnings

    from lossforge.search.rundir import write_plot

    state = {"ladder": ["screen"], "losses": {}, "generation": 1,
             "config": {"metric": "auc"}}
    nan_baseline = {"spec": {"name": "dpo"}, "screen": {"status": "nonfinite", "score": None}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_plot(tmp_path, state, [], [nan_baseline])
    assert (tmp_path / "pareto.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("command", ["show", "export", "report", "distill"])
def test_a_run_in_its_first_generation_is_not_called_stopped(gp_run, tmp_path, capsys,
                                                             command):
    """While a search runs generation 1 (it holds the run directory's lock), the readers said
    it had stopped and told the user to --resume it (which the lock then refused)."""
    from lossforge.io import hold_lock, release_lock

    stub = tmp_path / "stub"
    stub.mkdir()
    shutil.copy(gp_run / "config.json", stub / "config.json")
    main = {"show": lambda a: search_main(["show", *a]), "export": export_main,
            "report": importlib.import_module("lossforge.report.__main__").main,
            "distill": importlib.import_module("lossforge.distill.__main__").main}[command]
    fd = hold_lock(stub / ".lock")       # as the running search does (rundir.locked)
    try:
        assert main([str(stub)]) == 2
        _one_line_error(capsys, f"{stub}: no results yet: process {os.getpid()} is running "
                                "the search, whose next generation writes them")
    finally:
        release_lock(stub / ".lock", fd)
    (stub / ".lock").write_text("12345\n")    # left by a search killed with -9: not held
    assert main([str(stub)]) == 2
    _one_line_error(capsys, f"{stub}: no results yet (the run stopped before its first")
