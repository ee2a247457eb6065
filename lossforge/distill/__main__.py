"""``python -m lossforge.distill RUN``: the formula behind an ES run's best network."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from lossforge.cli import Parser, run_main
from lossforge.errors import LossforgeError

_DESCRIPTION = """\
Distil the best network of a CMA-ES run (python -m lossforge.search --method es) into a
formula: phi~ is sampled on a grid over the log-probs the run's fitness feeds the network
(measured for the probe fitness; --l-range gives them; else the network's whole l_range, with
a note) and fitted with trees of a typed grammar (--backend deap: lossforge's own GP;
--backend pysr: PySR, which needs Julia). Only phi~ up to a positive scale (folded into beta)
and a constant matters to the loss; the fit error combines its values and its slopes (the
gradients training follows) there. The chosen formula passes the search's checks (convexity,
verified compile, smoke test); the whole distilled loss (h(p), phi^-1, phi~, beta, the link
and any imitation term) is printed as text and LaTeX and written to
RUN/distilled-<backend>.json and .tex, and scored on the benchmark next to the network (same
scenario, budget and seeds as the run). The re-scoring looks at the benchmark's data, so it is
recorded in the selection ledger (--ledger; none with --no-rescore).
"""

_EPILOG = """\
examples:
  python -m lossforge.distill runs/es-vs-gp/20261125-192801-hopper-mixed-quality-s0
  python -m lossforge.distill RUN --backend deap --generations 30 --no-rescore
  python -m lossforge.distill RUN --name es-g3-1 --l-range -110,-30 --ledger off
  python -m lossforge.distill RUN --backend pysr                       # needs PySR + Julia
  python -m lossforge.distill RUN --backend pysr --equations hall_of_fame.csv   # stored output
"""



def build_parser() -> argparse.ArgumentParser:
    from lossforge import ledger
    from lossforge.bench.scenarios import BUDGET_NAMES
    from lossforge.distill.sr import SRConfig

    d = SRConfig()
    ap = Parser(prog="python -m lossforge.distill", description=_DESCRIPTION, epilog=_EPILOG,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="an ES run directory")
    ap.add_argument("--backend", choices=("deap", "pysr"), default="deap",
                    help="deap: lossforge's typed GP (default); pysr: PySR (needs Julia)")
    ap.add_argument("--name", default=None, help="candidate to distil (default: the best)")
    ap.add_argument("--points", type=int, default=256,
                    help=f"grid points, at least {MIN_POINTS} (default 256)")
    ap.add_argument("--grammar", default=d.grammar, help=f"deap: grammar (default {d.grammar})")
    ap.add_argument("--generations", type=int, default=d.generations,
                    help=f"deap: generations (default {d.generations})")
    ap.add_argument("--population", type=int, default=d.population,
                    help=f"deap: population (default {d.population})")
    ap.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    ap.add_argument("--parsimony", type=float, default=d.parsimony,
                    help=f"error per tree node in the final pick (default {d.parsimony})")
    ap.add_argument("--equations", metavar="CSV", default=None,
                    help="pysr: distil PySR's stored hall-of-fame CSV instead of running PySR")
    ap.add_argument("--no-rescore", action="store_true",
                    help="skip scoring network and formula on the benchmark")
    ap.add_argument("--budget", default=None, choices=BUDGET_NAMES,
                    help="re-scoring budget (default: the run's)")
    ap.add_argument("--workers", type=int, default=None,
                    help="re-scoring workers, at least 1 (default: CPU count)")
    ap.add_argument("--l-range", metavar="LO,HI", default=None,
                    help="fit phi~ over these log-probs, LO < HI <= 0, e.g. -110,-30 "
                         "(default: those the run's fitness feeds the network where known, "
                         "else its l_range, with a note)")
    ledger.add_option(ap, "the re-scoring is recorded in")
    return ap


#: The fewest grid points --points takes: the fit has a scale and a shift to determine, and a
#: handful of points would let almost any tree fit.
MIN_POINTS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, each checked before any work (argparse's one-line usage error, exit 2)."""
    from lossforge.cli import attach_values
    from lossforge.distill.ranges import parse_l_range

    ap = build_parser()
    args = ap.parse_args(attach_values(list(sys.argv[1:] if argv is None else argv),
                                       ["--l-range"]))
    if args.points < MIN_POINTS:
        ap.error(f"--points {args.points}: expected at least {MIN_POINTS}")
    if args.generations < 1:
        ap.error(f"--generations {args.generations}: expected at least 1")
    if args.population < 1:
        ap.error(f"--population {args.population}: expected at least 1")
    if not (math.isfinite(args.parsimony) and args.parsimony >= 0):
        ap.error(f"--parsimony {args.parsimony:g}: expected a finite number >= 0")
    if args.equations is not None and args.backend != "pysr":
        ap.error("--equations is for --backend pysr")
    if args.workers is not None and args.workers < 1:   # as the search's check_common
        ap.error(f"--workers {args.workers}: expected at least 1 (default: CPU count)")
    if args.l_range is not None:
        try:
            args.l_range = parse_l_range(args.l_range)
        except ValueError as exc:
            ap.error(f"--l-range {args.l_range}: {exc}")
    return args


def check_grammar(given: str) -> None:
    """--grammar must be a mirror-map grammar (h(p) or phi~(l)): one of another part (a link
    grammar, say) is refused naming what it is, by the search's own check."""
    from lossforge.errors import ConfigError
    from lossforge.grammar.loader import load_grammar
    from lossforge.search.context import PART_VARIABLES, check_part_grammar
    from lossforge.search.engine import resolve_path

    grammar = load_grammar(resolve_path(given, "grammar"))
    try:
        check_part_grammar("h", grammar, given)
    except ConfigError as exc:
        for part in (p for p in PART_VARIABLES if p != "h"):   # which one it is, if any
            try:
                check_part_grammar(part, grammar, given)
            except ConfigError:
                continue
            kind = f"{'an' if part[0] in 'aeiou' else 'a'} {part} grammar"
            names = ", ".join(sorted(grammar.variable_names))
            raise ConfigError(f"--grammar {given}: grammar {grammar.name!r} is {kind} (variables "
                              f"{names}); distillation fits a mirror map: give a mirror-map "
                              "grammar (variable p or l)") from None
        raise exc from None


def distil(args) -> dict:
    from lossforge.distill import target_from_run

    if args.backend == "deap":
        check_grammar(args.grammar)
    target = target_from_run(args.run, args.name, args.points, args.l_range, args.budget,
                             progress=True)
    if args.backend == "deap":
        from lossforge.distill.sr import SRConfig, fit

        d = fit(target, SRConfig(grammar=args.grammar, population=args.population,
                                 generations=args.generations, seed=args.seed,
                                 parsimony=args.parsimony))
    else:
        from lossforge.distill import pysr_backend

        if args.equations:
            d = pysr_backend.distil_equations(pysr_backend.load_equations(args.equations),
                                              target, parsimony=args.parsimony)
        else:
            d = pysr_backend.fit(target, pysr_backend.PySRConfig(seed=args.seed))
    return {"target": target, "distilled": d}


def rescore(run_dir: Path, target, d, budget: str | None, workers: int | None) -> dict:
    """Network and formula on the same seeds and episodes; DPO from the run (same budget and
    seeds, so the same number it would get again), named the initialisation only where the
    run's start network is DPO (``es.same_as_dpo``). The network's score is the training that
    measured its log-probs, where one ran at this budget (``ranges.Measured``): a fitness
    scores each loss alone, so training it again would give the same number."""
    from lossforge.search import es
    from lossforge.search.executors import LocalExecutor, map_specs
    from lossforge.runfiles import read_json, read_result

    cfg = read_json(run_dir / "config.json")
    conf, scenario = cfg["config"], cfg["scenario_file"]
    budget = budget or conf["budget"]
    hof, _ = read_result(run_dir, "hall_of_fame.json", cfg)
    base = next((b for b in hof["baselines"] if b["spec"]["name"] == "dpo"), {"spec": {}})
    # DPO as the run scored it at this budget; a budget the run never scored DPO at (distill
    # --budget full on a screen run) trains it here, in the same paired call
    extra = [base["spec"]] if base.get(budget) is None and base["spec"].get("name") else []
    measured = _measured(target, budget)
    ex = LocalExecutor(workers)
    try:
        scored = map_specs(ex, conf["fitness"], [d.spec, *extra] if measured else
                           [target.spec, d.spec, *extra], scenario, budget, conf["metric"])
    finally:
        ex.close()
    net, formula, *scored = [measured.result, *scored] if measured else scored
    dpo, beta = (scored[0] if scored else base.get(budget)), base["spec"].get("beta")
    words = [f"beta {beta:g}"] if isinstance(beta, (int, float)) else []
    if es.same_as_dpo(base["spec"], cfg.get("beta", math.nan), conf.get("aggregation", "sum")):
        words.append("the initialisation")
    out = {"budget": budget, "network": net, "formula": formula, "dpo": dpo,
           "dpo_label": "DPO" + (f" ({', '.join(words)})" if words else ""),
           "network_from": "the training that measured its log-probs" if measured
           else "trained here"}
    s = [x["score"] if x and x["status"] == "ok" else None for x in (net, formula, dpo)]
    if None not in s and s[0] > s[2]:   # a gain to keep
        out["gain_kept"] = (s[1] - s[2]) / (s[0] - s[2])
    return out


def _measured(target, budget: str):
    """The training that measured the network's log-probs, if it ran at ``budget``."""
    m = target.measured
    return m if m is not None and m.budget == budget else None


def gain_text(r: dict) -> str | None:
    """What the formula keeps of the network's gain over DPO, or, when the network is not above
    DPO, that there is none to keep and by how much it is below; None without three scores."""
    s = [x["score"] if x and x["status"] == "ok" else None
         for x in (r["network"], r["formula"], r["dpo"])]
    if None in s or not all(math.isfinite(x) for x in s):
        return None
    net, formula, dpo = s
    side = (f"the formula is {'above' if formula > dpo else 'below'} DPO by "
            f"{abs(formula - dpo):.2f}" if formula != dpo else "the formula scores as DPO")
    if net > dpo:
        return (f"the formula keeps {100 * (formula - dpo) / (net - dpo):.0f} % of the "
                f"network's gain over DPO (+{net - dpo:.2f})")
    if net == dpo:
        return f"no gain over DPO to keep: the network scores as DPO does; {side}"
    return f"no gain over DPO to keep: the network is below DPO by {dpo - net:.2f}; {side}"


def _say_distilled(target, d):
    """Print the distilled loss, whole: the mirror map's forms, the fit, the checks, and the
    objective's own text and LaTeX (beta, link and imitation term included); the objective."""
    from lossforge.objectives.mpo import MPOSpec, Objective
    from lossforge.search.summary import known_text

    obj = Objective(MPOSpec.from_json(d.spec))
    if target.note:
        print(f"note: {target.note}")
    print(f"distilled ({d.backend}) from {target.source}:")
    print(f"  h(p)      = {obj.mirror_map.h_text}")
    print(f"  phi^-1(p) = {d.phi_inv}")
    print(f"  phi~(l)   = {d.phi_tilde}")
    print(f"  loss      : {obj.formula()}")
    print(f"  fit over l in [{target.l[0]:g}, {target.l[-1]:g}]: {target.l_from}")
    print(f"  fit: phi~_net ~ {d.scale:.6g} * phi~(l) + {d.shift:.6g}, relative error "
          f"{d.error:.3g} (values {d.value_error:.3g}, slopes {d.slope_error:.3g}); beta "
          f"{target.beta:g} -> {d.spec['beta']:.6g}")
    print(f"  checks: convexity {d.checks['mirror_map']['convex']['status']}, smoke "
          f"{'ok' if d.checks['smoke']['ok'] else 'failed'}")
    known = known_text({"spec": d.spec})   # a network that learned DPO distils to it
    if known:
        print(f"  {known}")
    print("  LaTeX:\n" + obj.latex())
    return obj


def _rescore_and_say(args, argv, run_dir: Path, target, d) -> dict:
    """Record the re-scoring in the ledger (``--ledger``), run it, print the scores."""
    from lossforge import ledger
    from lossforge.runfiles import read_json
    from lossforge.search.summary import fitness_text

    conf = read_json(run_dir / "config.json")["config"]
    fitness = conf["fitness"]
    ledger.record("probe", command=["python -m lossforge.distill",
                                    *(sys.argv[1:] if argv is None else argv)],
                  scenario=conf["scenario"], seeds=None, budget=args.budget or conf["budget"],
                  purpose=f"score the best network of {run_dir} and its distilled formula",
                  path=args.ledger)
    what = ("the formula (the network's score is the training that measured its log-probs)"
            if _measured(target, args.budget or conf["budget"]) else "network and formula")
    print(f"re-scoring {what} with the run's fitness ({fitness}"
          + (": synthetic, says nothing about MuJoCo returns" if fitness == "probe"
             else "") + ") ...", flush=True)
    r = rescore(run_dir, target, d, args.budget, args.workers)
    print(f"  {r['budget']}: network {fitness_text(r['network'])}   formula "
          f"{fitness_text(r['formula'])}   {r['dpo_label']} {fitness_text(r['dpo'])}")
    gain = gain_text(r)
    if gain:
        print(f"  {gain}")
    return r


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from lossforge.io import atomic_write_json, atomic_write_text

        run_dir = Path(args.run)
        res = distil(args)
        target, d = res["target"], res["distilled"]
        obj = _say_distilled(target, d)
        out = {"run": str(run_dir), "target": {"source": target.source, "spec": target.spec,
                                               "l": [target.l[0], target.l[-1], len(target.l)],
                                               "l_from": target.l_from, "note": target.note},
               "distilled": d.to_json(), "loss": obj.formula()}
        if not args.no_rescore:
            out["rescore"] = _rescore_and_say(args, argv, run_dir, target, d)
        path = run_dir / f"distilled-{d.backend}.json"
        atomic_write_json(path, out)
        atomic_write_text(run_dir / f"distilled-{d.backend}.tex", obj.latex() + "\n")
        print(f"written: {path}")
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run_main(main)
