"""``python -m lossforge.search``: discover MPO losses; ``... show RUN`` to read a run again."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from lossforge.bench.scenarios import BUDGET_NAMES
from lossforge.cli import Parser, run_main
from lossforge.errors import ConfigError, LossforgeError
from lossforge.objectives.mpo import AGGREGATIONS
from lossforge.runfiles import RESUMABLE
from lossforge.search import stops

_DESCRIPTION = """\
Search the Mirror Preference Optimization family for preference losses that score well on a
benchmark scenario: typed GP over mirror maps h(p) (DEAP), every candidate checked (convexity,
compile, smoke test) before training, duplicates and repeats never trained twice, a cheap
screen for everyone and the full budget for the best, NSGA-II on score vs complexity.
A run directory under runs/ keeps config, seeds, a checkpoint per generation, the hall of
fame, the Pareto front (JSON, LaTeX, PNG) and a standalone torch file per discovered loss.

With no arguments: the quick Hopper scenario, a small population, a few generations.

--method es runs the seed paper's method instead: CMA-ES (the cma library) over the weights of a
neural phi~ that is a valid mirror map by construction, starting at DPO; every candidate is
scored at --budget (default screen), same run directory, checkpoints and executors. Given
--link-grammar and/or --imitation-grammar it searches the same slots as the GP: a parametric
link G and imitation term Psi (valid by construction) in the same CMA-ES vector, printed as
formulas. Turn its best network into a formula with python -m lossforge.distill RUN_DIR.
"""

_EPILOG = """\
examples:
  python -m lossforge.search
  python -m lossforge.search --scenario benchmarks/scenarios/hopper-noisy-0.3.toml \\
      --grammar grammars/mirror_map_dcp.toml --generations 30 --population 64 --seed 1
  python -m lossforge.search --resume runs/20261125-171500-quick-s0
  python -m lossforge.search --executor ray
  python -m lossforge.search --link-grammar grammars/link.toml \\
      --require ranking-preserving,bounded-gradient
  python -m lossforge.search --method es --scenario hopper-mixed-quality --budget screen \\
      --population 8 --generations 8 --sigma0 0.8
  python -m lossforge.search show runs/20261125-171500-quick-s0 [--latex]
  python -m lossforge.search confirm runs/20261125-171500-quick-s0 --seeds 1000-1004

an ES run, its formula, and the formula as a torch file (seconds with --fitness probe):
  python -m lossforge.search --method es --fitness probe --population 4 --generations 2
  python -m lossforge.distill runs/<es-run>
  python -m lossforge.export runs/<es-run>/distilled-deap.json --format torch > loss.py
ES over the GP's slots too (phi~, the link G and the imitation term Psi):
  python -m lossforge.search --method es --link-grammar grammars/link.toml \\
      --imitation-grammar grammars/imitation.toml --fitness probe --population 4 --generations 2

A run ends with a verdict per baseline: the best loss is better, level or worse on the paired
per-seed difference (both trained on the same seeds), by its 95 % t-interval.
"""



def build_parser() -> argparse.ArgumentParser:
    from lossforge.search.engine import SearchConfig
    from lossforge.objectives.properties import REQUIREMENTS

    d = SearchConfig()
    ap = Parser(prog="python -m lossforge.search", description=_DESCRIPTION, epilog=_EPILOG,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_search_space(ap, d, REQUIREMENTS)
    _add_fidelity(ap, d)
    _add_fitness(ap, d)
    _add_suite(ap, d)
    _add_run(ap)
    return ap


def _add_search_space(ap: argparse.ArgumentParser, d, requirements) -> None:
    """What is searched: the method, the scenario, the grammars, the required properties."""
    ap.add_argument("--method", choices=("gp", "es"), default="gp",
                    help="gp: typed GP over formulas (default); es: CMA-ES over a neural phi~ "
                         "(pip install 'lossforge[es]')")
    ap.add_argument("--scenario", default=None,   # None: not given (d.scenario is used)
                    help=f"scenario file or name under benchmarks/scenarios (default {d.scenario})")
    ap.add_argument("--grammar", default=d.grammar,
                    help=f"grammar file (default {d.grammar}); grammars/phi_tilde.toml writes "
                         "maps as phi~(l): slopes that depend on l at summed log-probs")
    ap.add_argument("--link-grammar", metavar="FILE", default=None,
                    help="also search the link G(D, t) with this grammar (e.g. "
                         "grammars/link.toml); default: DPO's -log sigmoid(D). es: searches "
                         "G = -a*logsigmoid(c*D - b), a, c > 0 (lossforge/search/es_slots.py)")
    ap.add_argument("--imitation-grammar", metavar="FILE", default=None,
                    help="also search an imitation term Psi(l, n, t) with this grammar (e.g. "
                         "grammars/imitation.toml); default: none. es: searches "
                         "Psi = -(w0 + w1*sigmoid(u*(n - v)))*l, w0, w1 >= 0")
    ap.add_argument("--require", metavar="PROP[,PROP...]", type=_requirements, default=(),
                    help="gp: reject before training every candidate that lacks one of these "
                         "properties of its loss in the margin D: "
                         f"{', '.join(requirements)} (python -m lossforge.formula prints them; "
                         "a property checked only by sampling, not proved, counts as held; "
                         "reference-free makes every candidate reference-free, r = beta "
                         "phi~(l))")


def _add_fidelity(ap: argparse.ArgumentParser, d) -> None:
    """How much is spent: budget, generations, population, workers, the fidelity ladder."""
    from lossforge.search.es import ESConfig

    es_d = ESConfig()
    ap.add_argument("--budget", choices=BUDGET_NAMES, default=None,
                    help="gp: top fidelity rung: full = screen for every loss, full for the top "
                         "fraction; screen = quick then screen; quick = quick only "
                         f"(default {d.budget}); es: the one budget every network is scored at "
                         "(default screen)")
    ap.add_argument("--generations", type=int, default=None,
                    help=f"default {d.generations} (es: {es_d.generations})")
    ap.add_argument("--population", type=int, default=None,
                    help=f"default {d.population} (es: CMA-ES lambda, default {es_d.population})")
    ap.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    ap.add_argument("--executor", choices=("local", "ray"), default=None,
                    help="local process pool (default) or Ray (pip install 'lossforge[ray]')")
    ap.add_argument("--workers", type=int, default=None,
                    help="parallel evaluation workers (default: CPU count; 1 = in-process)")
    ap.add_argument("--eval-timeout", type=float, default=None, metavar="SECONDS",
                    help="stop an evaluation that has no result after SECONDS and record its "
                         "loss as failed (error: TimeoutError); local executor; default and 0: "
                         "none (0 on --resume removes one). Load-dependent: a run where it "
                         "fired may not repeat exactly")
    ap.add_argument("--top-fraction", type=float, default=d.top_fraction,
                    help=f"share of each generation promoted to the top rung "
                         f"(default {d.top_fraction})")
    ap.add_argument("--single-fidelity", action="store_true",
                    help="gp: score every loss at --budget only (no cheaper first rung): for "
                         "scenarios where the quick rung's 20 steps say nothing about the score")


def _add_fitness(ap: argparse.ArgumentParser, d) -> None:
    """How a candidate is scored: its log-prob aggregation and beta, the fitness."""
    ap.add_argument("--aggregation", choices=AGGREGATIONS, default=d.aggregation,
                    help="candidates' log-probs: summed over the segment as DPO (default), or "
                         "mean per step (where p = exp(l) is not ~0, so more of h(p) matters)")
    ap.add_argument("--beta", type=float, default=None,
                    help="candidates' beta (default: the scenario's)")
    ap.add_argument("--fitness", default=d.fitness, metavar="{bench,probe,llm,MODULE:FUNCTION}",
                    help="bench: the MuJoCo benchmark (default); probe: a cheap synthetic "
                         "stand-in for smoke runs of the engine (says nothing about returns); "
                         "llm: a tiny Llama trained with each loss on a program-scored task "
                         "(--llm-task, --llm-variant); MODULE:FUNCTION: your own fitness (the "
                         "interface: lossforge.search.executors.resolve_fitness, README)")
    ap.add_argument("--llm-task", default=None,
                    help="with --fitness llm: reverse (default), sort or add")
    ap.add_argument("--llm-variant", default=None,
                    help="with --fitness llm: clean, noisy-<rate>, mixed-quality, "
                         "length-controlled or verbose-wrong (default mixed-quality)")


def _add_suite(ap: argparse.ArgumentParser, d) -> None:
    """Suite runs: every candidate on every scenario of a suite, raced."""
    ap.add_argument("--suite", metavar="FILE", default=None,
                    help="score every candidate on every scenario of this suite (e.g. "
                         "benchmarks/suites/train.toml; replaces --scenario): regret to the "
                         "best baseline per scenario, aggregated (lossforge/search/"
                         "suite_fitness.py)")
    ap.add_argument("--suite-objective", choices=("mean", "worst"), default=d.suite_objective,
                    help="suite runs select on the weighted mean regret (default) or the worst "
                         "scenario's; both are recorded")
    ap.add_argument("--suite-baselines", metavar="FILE", default=None,
                    help="suite runs: per-scenario reference scores, JSON {rung: {scenario: "
                         "{\"best\": score, \"reference\": score}}} (e.g. tuned baselines); "
                         "default: score DPO and ORPO in the run")
    ap.add_argument("--no-race", action="store_true",
                    help="suite runs: every candidate on every (scenario, seed), no racing")
    ap.add_argument("--race-delta", type=float, default=d.race_delta,
                    help="suite runs: bound on the probability that racing drops the "
                         f"candidate the full evaluation ranks first (default {d.race_delta})")


def _add_run(ap: argparse.ArgumentParser) -> None:
    """Where the run goes, resuming, ES's own knobs, output and the ledger."""
    from lossforge import ledger

    ap.add_argument("--runs-dir", default="runs", help="where run directories go (default runs)")
    ap.add_argument("--resume", metavar="DIR", default=None,
                    help="continue a stopped run from its last checkpoint (same result as an "
                         "uninterrupted run; --generations may extend it)")
    ap.add_argument("--sigma0", type=float, default=None,
                    help="es: initial CMA-ES step size (default 0.5)")
    ap.add_argument("--hidden", type=int, default=None,
                    help="es: tanh units of the neural phi~ (default 4: 13 parameters)")
    ap.add_argument("--quiet", action="store_true",
                    help="no live table or progress lines; only the best loss's formula and "
                         "the verdict at the end (CI)")
    ap.add_argument("--allow-test", action="store_true",
                    help="search on a test-suite scenario (benchmarks/suites/test.toml) anyway")
    ledger.add_option(ap, "to append this run to")
    ap.add_argument("--purpose", default="", help="why this search runs (for the ledger)")


def _requirements(text: str) -> tuple[str, ...]:
    from lossforge.objectives.properties import check_requirements

    try:
        return check_requirements([n.strip() for n in text.split(",") if n.strip()])
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--require: ")) from None


def build_show_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m lossforge.search show",
                 description="Print a run's hall of fame and Pareto front again.")
    ap.add_argument("run", help="run directory")
    ap.add_argument("--latex", action="store_true", help="print pareto.tex and each loss as LaTeX")
    return ap


def build_confirm_parser() -> argparse.ArgumentParser:
    from lossforge.bench.scenarios import parse_seeds

    def seeds(text):
        try:
            return parse_seeds(text)
        except LossforgeError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--seeds ")) from None

    ap = Parser(prog="python -m lossforge.search confirm",
                description="Train a run's best loss and its baselines on seeds the search "
                            "never trained on, and judge them as the search does (its own "
                            "verdict is on the seeds it picked the loss on: optimistic).")
    ap.add_argument("run", help="run directory (not a suite run)")
    ap.add_argument("--seeds", type=seeds, default=None,
                    help="fresh training seeds, e.g. 1000-1004 (default: as many as the budget "
                         "has, from 1000); any seed of the run is refused")
    ap.add_argument("--budget", choices=("quick", "screen", "full"), default=None,
                    help="default: the run's top budget")
    ap.add_argument("--rank", type=int, default=0, help="hall-of-fame rank (0 = best)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: the cores)")
    ap.add_argument("--ledger", default=None,
                    help="selection ledger file, or 'off' (default: the repository's)")
    return ap


def _refuse_test_data(args) -> None:
    """A search selects on what it scores: a test-suite scenario, or the test suite, only with
    --allow-test."""
    from lossforge.bench.suites import load_suite, refuse_test_scenario, refuse_test_suite
    from lossforge.search.suite_fitness import suite_file

    refuse_test_scenario(args.scenario, allow=args.allow_test)
    if args.suite:
        refuse_test_suite(load_suite(suite_file(args.suite)), allow=args.allow_test)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    searching = argv[:1] not in (["show"], ["confirm"])  # a search: SIGTERM stops it, resumable
    with stops.sigterm_raises() if searching else contextlib.nullcontext():
        args = None
        try:
            if argv[:1] == ["show"]:
                args = build_show_parser().parse_args(argv[1:])
                from lossforge.search.summary import show

                show(args.run, latex=args.latex)
                return 0
            if argv[:1] == ["confirm"]:
                args = build_confirm_parser().parse_args(argv[1:])
                from lossforge.search import confirm

                return confirm.main(argv, args)
            args, start = _parse(argv)
            run_dir = start()
        except LossforgeError as exc:
            print(f"error: {exc}{_where(exc, args)}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, Exception) as exc:
            if not searching and isinstance(exc, KeyboardInterrupt):
                return 130     # show reads, confirm writes at its end: nothing to resume
            return stops.stopped(exc, resume=getattr(args, "resume", None))
    print(f"run directory: {run_dir}")
    return 0


def _where(exc: LossforgeError, args) -> str:
    """What the error line adds about an error raised inside a run: where the run is kept, to
    --resume; or, for a new run that evaluated nothing, that its directory was removed (a fixed
    input file would make a resume refuse it as changed)."""
    from lossforge.search.rundir import remove_if_unstarted

    run_dir = getattr(exc, "run_dir", None)
    if run_dir is None:
        return ""
    if getattr(args, "resume", None) is None and remove_if_unstarted(Path(run_dir)):
        return (f" (nothing was evaluated, so the new run directory {run_dir} was removed: "
                "run the search again once fixed)")
    return f" (the run so far is kept in {run_dir}: --resume it once fixed)"


#: what --resume may be given beside it (argparse's dest of each option): the configuration
#: fields a resume may change (``runfiles.RESUMABLE``: they change no result), and how the run
#: is shown and listed; the rest is the run's configuration
_RESUME_OPTIONS = ("resume", "quiet", "runs_dir", "ledger", "purpose") + RESUMABLE


def _parse(argv: list[str]):
    """(args, a call that runs the search) of a search command line (not ``show``): a new run,
    or ``--resume`` of one with only ``_RESUME_OPTIONS`` beside it. ``ap.error`` for a flag it
    refuses, before anything runs."""
    from lossforge.search.run import run_search

    ap = build_parser()
    if argv[:1] and not argv[0].startswith("-") and (Path(argv[0]) / "config.json").is_file():
        ap.error(f"{argv[0]} is a run directory: 'show {argv[0]}' prints its results, "
                 f"'--resume {argv[0]}' continues it")
    args = ap.parse_args(argv)
    if not args.resume:
        cfg = config_from_args(ap, args)
        listed = _ledger_entry(args, argv, cfg)
        return args, lambda: run_search(cfg, runs_root=args.runs_dir, quiet=args.quiet,
                                        on_start=listed)
    bad = sorted(_given(ap, argv) - set(_RESUME_OPTIONS))
    if bad:   # every option is --name for its dest name (--eval-timeout: eval_timeout)
        ap.error(f"--resume continues a run as configured; drop "
                 f"{', '.join('--' + dest.replace('_', '-') for dest in bad)}")
    over = {k: getattr(args, k) for k in RESUMABLE if getattr(args, k) is not None}
    if over.get("eval_timeout") == 0:   # 0: no timeout (removes the run's)
        over["eval_timeout"] = None
    listed = _ledger_entry(args, argv, None)
    return args, lambda: run_search(resume=args.resume, quiet=args.quiet, overrides=over,
                                    on_start=listed)


_NOT_GIVEN = object()


def _given(ap: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests of the options ``argv`` gives, as argparse reads them: spelled in full or
    abbreviated (``--gen 3`` is ``--generations 3``, as it is for a new run), ``--opt=value``
    or not. Parsed again into a namespace whose every field is already set, to a marker that
    argparse's defaults do not replace."""
    dests = vars(ap.parse_args([]))
    ns = ap.parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys(dests, _NOT_GIVEN)))
    return {dest for dest, value in vars(ns).items() if value is not _NOT_GIVEN}


def config_from_args(ap: argparse.ArgumentParser, args):
    """The SearchConfig (or ESConfig, ``--method es``) a new search (not ``--resume``) runs
    with, from ``ap.parse_args(argv)``: every check the command line makes (``ap.error`` for a
    flag it refuses), nothing run. ``search/reproduce.py``'s command is tested against it."""
    _suite_flags(ap, args)
    args.scenario = _scenario(ap, args)
    _refuse_test_data(args)
    if args.method == "es":
        return _es_config(ap, args)
    return _gp_config(ap, args)


def _gp_config(ap: argparse.ArgumentParser, args):
    from lossforge.search.engine import SearchConfig

    if args.sigma0 is not None or args.hidden is not None:
        ap.error("--sigma0 and --hidden are for --method es")
    d = SearchConfig()
    return SearchConfig(scenario=args.scenario, grammar=args.grammar,
                        budget=args.budget or d.budget,
                        generations=(d.generations if args.generations is None
                                     else args.generations),
                        population=(d.population if args.population is None
                                    else args.population), seed=args.seed,
                        executor=args.executor or "local", workers=args.workers,
                        eval_timeout=args.eval_timeout or None,   # 0: none
                        fitness=args.fitness, top_fraction=args.top_fraction,
                        aggregation=args.aggregation, beta=args.beta,
                        multi_fidelity=not args.single_fidelity,
                        link_grammar=args.link_grammar,
                        imitation_grammar=args.imitation_grammar,
                        require=args.require, suite=args.suite,
                        suite_objective=args.suite_objective, race=not args.no_race,
                        race_delta=args.race_delta,
                        suite_baselines=args.suite_baselines)


def _ledger_entry(args, argv: list[str], cfg):
    """``on_start`` for the run: every search that starts is listed in the ledger
    (``lossforge/ledger.py``), once its run directory exists; one refused before (a bad flag or
    file) looked at nothing."""
    from lossforge import ledger

    def listed(run_dir: Path) -> None:
        ledger.record("search", command=["python -m lossforge.search", *argv],
                      scenario=None if args.resume else (args.suite or args.scenario),
                      seeds=[args.seed], budget=getattr(cfg, "budget", None),
                      purpose=args.purpose or (f"resume {args.resume}" if args.resume else ""),
                      path=args.ledger, run_dir=str(run_dir))
    return listed


def _suite_flags(ap, args) -> None:
    """The suite's own flags need --suite (they were silently ignored without it), and --suite
    replaces --scenario (which was silently ignored beside it)."""
    given = [flag for flag, on in (
        ("--suite-objective", args.suite_objective != ap.get_default("suite_objective")),
        ("--suite-baselines", args.suite_baselines is not None), ("--no-race", args.no_race),
        ("--race-delta", args.race_delta != ap.get_default("race_delta"))) if on]
    if given and not args.suite:
        ap.error(f"{', '.join(given)}: only with --suite")
    if args.suite and args.scenario is not None:
        ap.error("--suite replaces --scenario: give one of them")


def _scenario(ap, args) -> str:
    """The scenario text: --scenario, or <task>/<variant> of --fitness llm."""
    llm_flags = [f for f, v in (("--llm-task", args.llm_task),
                                ("--llm-variant", args.llm_variant)) if v is not None]
    if args.fitness != "llm":
        if llm_flags:
            ap.error(f"{', '.join(llm_flags)}: only with --fitness llm")
        if args.scenario is None:
            from lossforge.search.engine import SearchConfig

            return SearchConfig().scenario
        return args.scenario
    if args.scenario is not None:
        ap.error("--fitness llm takes its scenario from --llm-task and --llm-variant, "
                 "not --scenario")
    return f"{args.llm_task or 'reverse'}/{args.llm_variant or 'mixed-quality'}"


def _es_config(ap, args):
    from lossforge.search.es import ESConfig

    gp_only = [flag for flag, on in (("--grammar", args.grammar != ap.get_default("grammar")),
                                     ("--top-fraction",
                                      args.top_fraction != ap.get_default("top_fraction")),
                                     ("--single-fidelity", args.single_fidelity),
                                     ("--require", bool(args.require)),
                                     ("--suite", args.suite is not None))
               if on]
    if gp_only:
        ap.error(f"{', '.join(gp_only)}: not used by --method es")
    import importlib.util

    if importlib.util.find_spec("cma") is None:
        ap.error("--method es needs the cma library: pip install 'lossforge[es]'")
    d = ESConfig()
    given = {"budget": args.budget, "generations": args.generations,
             "population": args.population, "sigma0": args.sigma0, "hidden": args.hidden,
             "executor": args.executor, "workers": args.workers,
             "eval_timeout": args.eval_timeout or None}
    return ESConfig(scenario=args.scenario, seed=args.seed, fitness=args.fitness,
                    aggregation=args.aggregation, beta=args.beta,
                    link_grammar=args.link_grammar, imitation_grammar=args.imitation_grammar,
                    **{k: (getattr(d, k) if v is None else v) for k, v in given.items()})


if __name__ == "__main__":
    run_main(main)
