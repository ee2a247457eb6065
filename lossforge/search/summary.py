"""What a search prints when it ends, and ``show`` prints again: the Pareto front as formulas,
the baselines of the run, what the words mean, and the verdict of the best loss against each
baseline (``verdict.py``: paired over the seeds both were trained on).

    print_front(results, state)   the full report (a search's end, ``show``)
    print_brief(results, state)   the best loss's formula and the verdict (``--quiet``)
    show(run_dir, latex=False)    ``python -m lossforge.search show RUN`` (``--latex``: each
                                  loss of the hall of fame and the front as LaTeX)

Every loss is followed by its properties line (``objectives/properties.py``: ranking-preserving,
bounded dG/dD, tails and redescending, reference, length), where its row has them.
Formula lines never wrap: a pipe or a log file gets each formula on one line, whole.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from lossforge.errors import CheckpointError
from lossforge.objectives.mpo import MPOSpec
from lossforge.objectives.properties import property_line
from lossforge.objectives.run import Run, load_run
from lossforge.io import lock_holder
from lossforge.runfiles import LOCK, unchecked_note
from lossforge.search.fitness_errors import ERRORS_LOG
from lossforge.search.rundir import loss_line, raced_out, row_simplest
from lossforge.search.verdict import (baseline_label, known_verdict_note,  # noqa: F401
                                      optimism_note, paired_scores, paired_verdict,
                                      verdict_text)
from lossforge.search.words import metric_words, suite_words

def _console(console=None):
    from lossforge.cli import PipeConsole

    return console or PipeConsole()


def _say(console, text: str = "", **kw) -> None:
    """One line as it is: no markup, no highlighting, no wrapping (formulas stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True, **kw)


def fitness_text(f: dict | None) -> str:
    """A fitness record as the reports print it: "12.30 ± 1.20", "n/a (1 seed)" for the CI of
    one seed, "failed (<status>)", "-" when there is none (search, show and distill alike)."""
    if not f:
        return "-"
    if f["status"] != "ok" or f["score"] is None:
        return f"failed ({f['status']})"
    suite = f.get("suite")
    ci = (f"{f['ci95']:.2f}" if f.get("ci95") is not None else
          f"n/a (suite, {suite['units']}/{suite['of_units']} units)" if suite else "n/a (1 seed)")
    return f"{f['score']:.2f} ± {ci}"


def _suite_line(f: dict | None) -> str | None:
    """A suite run's breakdown of one fitness: mean and worst regret, regret per scenario."""
    suite = (f or {}).get("suite")
    if not suite or suite.get("mean_regret") is None:
        return None
    per = ", ".join(f"{s} {p['regret']:+.2f}" for s, p in suite["per_scenario"].items())
    raced = (f"; raced out after {suite['units']}/{suite['of_units']} units"
             if suite["raced_out"] else "")
    return (f"    regret mean {suite['mean_regret']:+.3f}  worst {suite['worst_regret']:+.3f} "
            f"(selects on {suite['objective']}{raced}): {per}")


def _say_suite(console, f: dict | None) -> None:
    line = _suite_line(f)
    if line:
        _say(console, line)


def _ok(f: dict | None) -> bool:
    return bool(f) and f["status"] == "ok" and f["score"] is not None


def h_text(row: dict) -> str:
    """A row's h(p) for people: a map written as phi~(l) is stored as SymPy's unevaluated
    ``Integral(...)``; print its antiderivative or what defines it instead."""
    h = row["h"]
    if h.startswith("Integral(") and row["spec"].get("kind", "symbolic") == "symbolic":
        from lossforge.symbolic.mirror_map import MirrorMap

        return MirrorMap.from_formula(row["spec"]["mirror_map"]).h_text
    return h


def _say_simplest(console, row: dict, indent: str) -> None:
    """The row's loss in its simpler exact equivalent, where SymPy found one."""
    text = row_simplest(row)
    if text:
        _say(console, f"{indent}  = {text.removeprefix('L = ')}   (mathematically equal, "
                      f"fewer function applications; trained as written above)")


def known_text(row: dict) -> str | None:
    """"= DPO at beta 1.8, exactly (phi~ is linear in l): not a new loss" where the row's loss is
    exactly a zoo member at another beta (``zoo.known_as``: a map whose phi~ is linear in l is
    DPO with beta scaled, and so is the logistic link at a scaled margin, ``softplus(-4*D)``; the
    search found a beta, not a new loss), else None. The search's summary, ``show`` and the
    report's page (``report/page.py``) all say it with this."""
    from lossforge.objectives.zoo import ZOO, known_as

    spec = row.get("spec")
    hit = known_as(spec) if isinstance(spec, dict) and spec else None
    if not hit:
        return None
    name, beta = hit
    what = "DPO" if name == "dpo" else f"{name} ({ZOO[name].description.split(';')[0]})"
    why = "phi~ is linear in l" + ("" if spec.get("link", ZOO[name].link) == ZOO[name].link
                                   else "; its link is the logistic one up to the margin's scale")
    return f"= {what} at beta {beta:g}, exactly ({why}): not a new loss"


def _say_known(console, row: dict, indent: str) -> None:
    """The row's ``known_text``, where it has one."""
    text = known_text(row)
    if text:
        _say(console, indent + text)


def _say_properties(console, row: dict, indent: str) -> None:
    """The row's properties line (``objectives/properties.py``), where the row has them (a row
    whose properties could not be computed has none)."""
    line = property_line(row.get("properties"))
    if line:
        _say(console, indent + line)


def _seeds(baselines: list[dict], rung: str) -> int | None:
    for b in baselines:
        if _ok(b.get(rung)):
            return len(b[rung]["per_seed"])
    return None


def glossary(state: dict, baselines: list[dict]) -> str:
    """The metric and the budgets of this run, in words (printed once per report)."""
    ladder, cfg = state["ladder"], state["config"]
    role = {}
    if len(ladder) == 1:
        role[ladder[0]] = "the budget every loss is trained at"
    else:
        role[ladder[0]] = "the cheap budget every new loss is trained at"
        for rung in ladder[1:-1]:
            role[rung] = "a middle budget for the best fraction of each generation"
        role[ladder[-1]] = "the larger budget only the best fraction of each generation gets"
    words = metric_words(cfg.get("fitness"))
    suite = cfg.get("suite")
    parts = [suite_words(cfg)] if suite else []
    parts.append(("per unit (one scenario, one training seed), " if suite else "")
                 + words.get(cfg["metric"], cfg["metric"]))
    for rung in ladder:   # a run given --suite-baselines has no baseline: its table's units
        table = ((state.get("suite") or {}).get(rung) or {}) if suite else {}
        n = _seeds(baselines, rung) or sum(len(t["per_seed"]) for t in table.values())
        parts.append(f"{rung} = {role[rung]}" + (f" ({_count(n, bool(suite))})" if n else ""))
    return "What the words mean: " + "; ".join(parts) + "."


def suite_reference_lines(results: dict, state: dict) -> list[str]:
    """In a suite run, under "Baselines in this run": the regret's reference at the top rung
    (B_s and R_s per scenario) and where it is from (the baselines above, --suite-baselines)."""
    cfg, top = state["config"], state["ladder"][-1]
    table = (state.get("suite") or {}).get(top) if cfg.get("suite") else None
    if not table:
        return ["  (no baseline table in this run directory's checkpoint.json: no verdict "
                "against the best baseline of each scenario)"] if cfg.get("suite") else []
    src = (f"--suite-baselines {cfg['suite_baselines']}" if cfg.get("suite_baselines") else
           "the baselines above, on the same units")
    return [("  none trained in this run; " if not results["baselines"] else "  ")
            + f"the regret's reference at {top} (from {src}): per scenario the best baseline "
            "B_s and the reference R_s"] + [
        f"    {s}: best baseline {'(the file names none)' if t['best'] == 'file' else t['best']}"
        f" {t['best_score']:.2f}, reference {t['reference']:.2f}" for s, t in table.items()]


def _count(n: int, suite: bool) -> str:
    """"5 seeds"; in a suite run "14 units (scenario x seed)"."""
    return (f"{n} unit{'s' * (n != 1)} (scenario x seed)" if suite else
            f"{n} seed{'s' * (n != 1)}")


def best_row(results: dict, ladder: list[str]) -> tuple[dict, str] | None:
    """The best loss and the budget its verdict is at: the top rung when any loss was scored on
    all its units there, else the next rung down (a loss racing dropped at a rung has an
    estimate on part of its units there and is never that rung's best)."""
    rows = results.get("hall_of_fame") or results.get("pareto") or []
    for rung in reversed(ladder):
        scored = [r for r in rows if _ok(r.get(rung)) and not raced_out(r.get(rung))]
        if scored:
            return max(scored, key=lambda r: r[rung]["score"]), rung
    return None


def _opponents(results: dict, state: dict, rung: str) -> list[tuple[str, dict | None]]:
    """What the best loss is judged against: each baseline scored in the run and, in a suite
    run, the best baseline of each scenario (the regret's reference: the run's baselines' best,
    or the tuned ones of ``--suite-baselines``), as a record of unit scores."""
    out = [(baseline_label(b["spec"]), b.get(rung)) for b in results["baselines"]]
    table = (state.get("suite") or {}).get(rung)
    if state["config"].get("suite") and table:
        from lossforge.search.suite_fitness import Unit, unit_name

        units = {unit_name(Unit(s, int(seed))): v
                 for s, t in table.items() for seed, v in t["per_seed"].items()}
        names = sorted({t["best"] for t in table.values()})
        out.append((f"THE BEST BASELINE OF EACH SCENARIO ({', '.join(names)})",
                    {"status": "ok", "score": 0.0, "per_seed": list(units.values()),
                     "suite": {"unit_scores": units}}))
    return out


def verdict_lines(results: dict, state: dict, run_dir: str | Path | None = None) -> list[str]:
    """One line per baseline: better / level / worse on the paired per-seed difference, and
    that these are the seeds the loss was picked on, with the command that confirms it on
    fresh ones (``confirm.py``; not in a suite run)."""
    ladder = state["ladder"]
    found = best_row(results, ladder)
    if found is None:
        return ["Verdict: none (no loss of this run has a score to compare)."]
    row, rung = found
    where = (f"at the {rung} budget" if rung == ladder[-1] else
             f"at the {rung} budget only (no loss reached {ladder[-1]}: a screening verdict)")
    suite = bool(state["config"].get("suite"))
    lines = [f"Verdict for the best loss, {row['name']} ({rung} {fitness_text(row[rung])}), "
             f"against each baseline {where}" + (f" (paired {state['config']['metric']} of "
                                                 "each unit, not regret)" if suite else "") + ":"]
    unbeaten = []
    for name, f in _opponents(results, state, rung):
        if not _ok(f):
            lines.append(f"  {name}: no verdict ({name} has no {rung} score in this run)")
            continue
        try:
            v = paired_verdict(*paired_scores(row[rung], f))
        except ValueError as exc:
            lines.append(f"  {name}: no verdict ({exc})")
            continue
        if v.word != "better":
            unbeaten.append(name)
        lines.append("  " + verdict_text(name, v.word, v.diff, v.halfwidth,
                                         _count(v.n, suite)))
    if unbeaten:
        lines.append(f"  No loss of this run is shown better than {', '.join(unbeaten)}.")
    lines.append("  (± is the 95 % t-interval of the mean per-seed difference, best loss minus "
                 "baseline, both trained on the same seeds; better / worse: the interval lies "
                 "wholly above / below 0; level: it contains 0, the seeds cannot tell them "
                 "apart; undecided: one seed, no interval, no verdict)")
    note = known_verdict_note(row, results["baselines"])
    if note:
        lines.append(f"  Note: {note}.")
    if not suite:
        lines.append(f"  {optimism_note(run_dir or 'RUN')}")
    return lines


def failed_text(counters: dict, run_dir: str | Path | None) -> str:
    """"; of these, failed N (no finite score)", and where the tracebacks are when the fitness
    raised on some (``run_dir`` holds its ``fitness_errors.log``)."""
    if not counters.get("failed_training"):
        return ""
    log = None if run_dir is None else Path(run_dir) / ERRORS_LOG
    return (f"; of these, failed {counters['failed_training']} (no finite score"
            + (f"; the exceptions a fitness raised in this run are in {log}"
               if log and log.exists() else "") + ")")


def print_front(results: dict, state: dict, console=None,
                run_dir: str | Path | None = None) -> None:
    """The Pareto front as readable formulas, with DPO/ORPO scored in the same run, what the
    words mean and the verdict (``run_dir``: where the run's errors log is)."""
    console = _console(console)
    ladder = state["ladder"]
    top = ladder[-1]
    console.print(f"\n[bold]Pareto front[/bold] (complexity vs {top} score, "
                  f"{state['config']['metric']}), after {state['generation']} generations:",
                  soft_wrap=True)
    for r in results["pareto"]:
        console.print(f"\n[bold]{r['name']}[/bold]  size {r['complexity']}  "
                      f"score {top}: {fitness_text(r.get(top))}"
                      + (f"   {ladder[0]}: {fitness_text(r.get(ladder[0]))}"
                         if len(ladder) > 1 else ""),
                      highlight=False, soft_wrap=True)
        _say(console, f"  h(p)      = {h_text(r)}")
        _say(console, f"  phi^-1(p) = {r['phi_inv']}")
        _say(console, f"  phi~(l)   = {r['phi_tilde']}")
        _say(console, f"  {r['loss']}")
        _say_simplest(console, r, "  ")
        _say_known(console, r, "  ")
        _say_suite(console, r.get(top))
        _say_properties(console, r, "  ")
    if not results["pareto"]:
        _say(console, "  (empty: no loss reached the top rung with a finite score)")
    c = state.get("counters")
    if c and "rejected" in c:  # the GP's tallies (an ES run has nothing to reject)
        rej = ", ".join(f"{k} {v}" for k, v in c["rejected"].items() if v) or "none"
        _say(console, f"\nproposed {c['proposed']}; rejected before training: {rej}; "
                      f"duplicates skipped {c['duplicates']}; cache hits {c['cache_hits']}; "
                      f"trained: " + ", ".join(f"{k} {v}" for k, v in c["evaluated"].items())
                      + failed_text(c, run_dir))
        _say_unmet_requirements(console, state)
    console.print("\n[bold]Baselines in this run[/bold]:")
    for b in results["baselines"]:
        _say(console, f"  {b['spec']['name']:<6} {top}: {fitness_text(b.get(top))}"
                      + (f"   {ladder[0]}: {fitness_text(b.get(ladder[0]))}"
                         if len(ladder) > 1 else ""))
        _say_suite(console, b.get(top))
    for line in suite_reference_lines(results, state):
        _say(console, line)
    _say(console, "\n" + glossary(state, results["baselines"]))
    _say(console)
    for line in verdict_lines(results, state, run_dir):
        _say(console, line)


def print_brief(results: dict, state: dict, console=None,
                run_dir: str | Path | None = None) -> None:
    """``--quiet``: the best loss as a formula and the verdict, nothing else."""
    console = _console(console)
    found = best_row(results, state["ladder"])
    if found is not None:
        row, rung = found
        _say(console, f"best loss {row['name']}: {rung} {fitness_text(row[rung])}")
        _say(console, f"  h(p) = {h_text(row)}    phi~(l) = {row['phi_tilde']}")
        _say(console, f"  {row['loss']}")
        _say_simplest(console, row, "  ")
        _say_known(console, row, "  ")
        _say_properties(console, row, "  ")
    for line in verdict_lines(results, state, run_dir):
        _say(console, line)


def _say_unmet_requirements(console, state: dict) -> None:
    """When --require turned away every proposal: say so, and that the search space may hold
    no such loss (a requirement is checked per candidate; nothing can check it beforehand)."""
    c, required = state["counters"], state["config"].get("require") or ()
    tried = c["proposed"] - c["duplicates"] - c["cache_hits"]
    if required and tried and c["rejected"].get("lacks_property") == tried:
        _say(console, f"every new proposal lacked a property --require asks for "
                      f"({', '.join(required)}): the grammars in use may hold no such loss "
                      f"(python -m lossforge.formula shows a formula's properties)",
             style="yellow")


def es_report(results: dict, state: dict, console=None, run_dir: str | Path = "RUN_DIR"
              ) -> None:
    """The best network beside DPO, its initialisation (no rejection counters: nothing is), and
    the command that turns it into a formula."""
    from lossforge.search import es

    console = _console(console)
    print_front(results, state, console)
    init = es.init_score(state)
    if init is not None and results["pareto"]:
        best = results["pareto"][0]
        top = state["ladder"][-1]
        _say(console, f"\nbest network {best['name']}: {top} {fitness_text(best.get(top))} vs its "
                      f"initialisation ({es.init_label(state)}) {init:.2f}")
        _say(console, f"turn it into a formula: python -m lossforge.distill {run_dir}")


def show(run: str | Path, latex: bool = False, console=None) -> None:
    """``python -m lossforge.search show RUN``: the hall of fame and front again (or LaTeX)."""
    console = _console(console)
    path = Path(run)
    r = load_run(path)
    note = unchecked_note(r)
    if note:
        _say(console, note, style="yellow")
    if latex:
        _show_latex(r)
        return
    hof = r.header          # of the same read as the rows (a search may write a new one now)
    ladder = hof["ladder"]
    fitness = r.config.get("config", {}).get("fitness", "bench")
    method = "CMA-ES" if hof.get("method") == "es" else "GP"
    console.print(f"[bold]{path.name}[/bold]: {method} search, scenario {hof['scenario']}, "
                  f"fitness {fitness}, generation {hof['generation']}, metric {hof['metric']}, "
                  f"rungs {'/'.join(ladder)}", highlight=False, soft_wrap=True)
    console.print("\n[bold]Hall of fame[/bold] (rank 0 = best, as `export --rank` and "
                  "`from_run(rank=)` count)")
    default_line = loss_line(MPOSpec().to_json())   # L = -logsigmoid(D), DPO's link
    for i, row in enumerate(r.hall_of_fame):
        scores = "   ".join(f"{rung}: {fitness_text(row.get(rung))}" for rung in reversed(ladder))
        _say(console, f"{i:>2}. {row['name']}  size {row['complexity']}  {scores}")
        _say(console, f"    h(p) = {h_text(row)}    phi~(l) = {row['phi_tilde']}")
        _say_suite(console, row.get(ladder[-1]) or row.get(ladder[0]))
        line = loss_line(row["spec"])
        if line != default_line:    # the loss as written, unless it is the spec's default G alone
            _say(console, f"    {line}")
            _say_simplest(console, row, "    ")
        _say_known(console, row, "    ")
        _say_properties(console, row, "    ")
    from lossforge.search import checkpoint   # what the run printed at its end: its state's

    config, suite = checkpoint.saved_config(path, r.config.get("config", {}))
    state = {"ladder": ladder, "config": {**config, "metric": hof["metric"], "fitness": fitness},
             "generation": hof["generation"], "counters": hof.get("counters"), "suite": suite}
    print_front({"pareto": r.pareto, "baselines": r.baselines,
                 "hall_of_fame": r.hall_of_fame}, state, console, path)
    stopped = stopped_early(path, _target(path, r.config), hof["generation"])
    if stopped:
        _say(console, "\n" + stopped, style="yellow")


def _target(run_dir: Path, start: dict) -> dict:
    """The configuration whose ``generations`` the run is heading for: the checkpoint's (``--resume
    --generations N`` changes it there, not in config.json), else config.json's ``start``."""
    from lossforge.search import checkpoint

    try:
        return {"config": checkpoint.load(run_dir)["config"]}
    except (CheckpointError, KeyError, TypeError):
        return start


def stopped_early(run_dir: str | Path, start: dict, generation) -> str | None:
    """One line when the results are of a generation before the last one config.json asks for
    (``start``: config.json), else None: the search is still running (it holds the run
    directory's lock), or it was killed or stopped before its end (how to continue it)."""
    planned = (start.get("config") or {}).get("generations")
    if not (isinstance(planned, int) and isinstance(generation, int) and generation < planned):
        return None
    running = lock_holder(Path(run_dir) / LOCK)
    if running is not None:
        return (f"generation {generation} of {planned} so far: {running.who} is running the "
                "search; show it again for the later generations")
    return (f"generation {generation} of {planned}: the run stopped early; python -m "
            f"lossforge.search --resume {shlex.quote(str(run_dir))} continues it")


def _show_latex(r: Run) -> None:
    """pareto.tex, then each loss of the hall of fame and then of the front (once each) as
    LaTeX; an ES network has no closed form: its distilled formula where ``lossforge.distill``
    wrote one, else how to get it."""
    tex = r.path / "pareto.tex"
    if not tex.is_file():
        raise CheckpointError(f"{tex}: missing")
    print(tex.read_text())
    distilled = _distilled(r.path)
    first_neural = True
    in_hof = {row["name"] for row in r.hall_of_fame}
    for row in r.hall_of_fame + [row for row in r.pareto if row["name"] not in in_hof]:
        print(f"% {row['name']}")
        if row["spec"].get("kind") == "neural":
            # a file that does not say which network it is from: distil's default, the best
            mine = distilled.get(row["name"], []) + (distilled.get(None, []) if first_neural
                                                     else [])
            first_neural = False
            for d in mine:
                print(f"% distilled formula ({d.name})\n{d.read_text()}", end="")
            if not mine:
                print(f"% a neural network: no closed form; distil it with "
                      f"python -m lossforge.distill {shlex.quote(str(r.path))} "
                      f"--name {row['name']}")
            continue
        print(r.objectives[row["name"]].latex())


def _distilled(run_dir: Path) -> dict[str | None, list[Path]]:
    """The distilled-*.tex of an ES run by the name of the network each was distilled from (its
    .json's target source, "RUN:NAME"; None when that cannot be read)."""
    from lossforge.runfiles import read_json

    out: dict[str | None, list[Path]] = {}
    for tex in sorted(run_dir.glob("distilled-*.tex")):
        try:
            name = str(read_json(tex.with_suffix(".json"))["target"]["source"]).rsplit(":", 1)[1]
        except (CheckpointError, KeyError, TypeError, IndexError):
            name = None
        out.setdefault(name, []).append(tex)
    return out
