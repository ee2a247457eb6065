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
formula: phi~ is sampled on a grid over the network's log-prob range and fitted with trees of
a typed grammar (--backend deap: lossforge's own GP; --backend pysr: PySR, which needs Julia).
Only phi~ up to a positive scale (folded into beta) and a constant matters to the loss. The
chosen formula passes the search's checks (convexity, verified compile, smoke test), is printed
as h(p), phi^-1, phi~ and LaTeX, written to RUN/distilled-<backend>.json, and scored on the
benchmark next to the network (same scenario, budget and seeds as the run).
"""

_EPILOG = """\
examples:
  python -m lossforge.distill runs/es-vs-gp/20261125-192801-hopper-mixed-quality-s0
  python -m lossforge.distill RUN --backend deap --generations 30 --no-rescore
  python -m lossforge.distill RUN --backend pysr                       # needs PySR + Julia
  python -m lossforge.distill RUN --backend pysr --equations hall_of_fame.csv   # stored output
"""



def build_parser() -> argparse.ArgumentParser:
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
                    help="re-scoring workers (default: CPU count)")
    return ap


#: The fewest grid points --points takes: the fit has a scale and a shift to determine, and a
#: handful of points would let almost any tree fit.
MIN_POINTS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, each checked before any work (argparse's one-line usage error, exit 2)."""
    ap = build_parser()
    args = ap.parse_args(argv)
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
    target = target_from_run(args.run, args.name, args.points)
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
    """Network and formula in one fitness call (paired: same seeds and episodes); DPO from the
    run (same budget and seeds, so the same number it would get again)."""
    from lossforge.search.executors import LocalExecutor, map_specs
    from lossforge.runfiles import read_checked, read_json

    cfg = read_json(run_dir / "config.json")
    conf, scenario = cfg["config"], cfg["scenario_file"]
    budget = budget or conf["budget"]
    ex = LocalExecutor(workers)
    try:
        net, formula = map_specs(ex, conf["fitness"], [target.spec, d.spec], scenario, budget,
                                 conf["metric"])
    finally:
        ex.close()
    hof, _ = read_checked(run_dir / "hall_of_fame.json")
    dpo = next((b.get(budget) for b in hof["baselines"] if b["spec"]["name"] == "dpo"), None)
    out = {"budget": budget, "network": net, "formula": formula, "dpo": dpo}
    s = [x["score"] if x and x["status"] == "ok" else None for x in (net, formula, dpo)]
    if None not in s and s[0] != s[2]:
        out["gain_kept"] = (s[1] - s[2]) / (s[0] - s[2])
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from lossforge.io import atomic_write_json, atomic_write_text
        from lossforge.runfiles import read_json
        from lossforge.search.summary import known_text
        from lossforge.symbolic.mirror_map import MirrorMap

        run_dir = Path(args.run)
        res = distil(args)
        target, d = res["target"], res["distilled"]
        mm = MirrorMap.from_formula(d.formula)
        print(f"distilled ({d.backend}) from {target.source}:")
        print(f"  h(p)      = {mm.h_text}")
        print(f"  phi^-1(p) = {d.phi_inv}")
        print(f"  phi~(l)   = {d.phi_tilde}")
        print(f"  fit: phi~_net ~ {d.scale:.6g} * phi~(l) + {d.shift:.6g}, relative RMS error "
              f"{d.error:.3g} over l in [{target.l[0]:g}, {target.l[-1]:g}]; beta "
              f"{target.beta:g} -> {d.spec['beta']:.6g}")
        print(f"  checks: convexity {d.checks['mirror_map']['convex']['status']}, smoke "
              f"{'ok' if d.checks['smoke']['ok'] else 'failed'}")
        known = known_text({"spec": d.spec})   # a network that learned DPO distils to it
        if known:
            print(f"  {known}")
        print("  LaTeX:\n" + mm.latex_block())
        out = {"run": str(run_dir), "target": {"source": target.source, "spec": target.spec,
                                               "l": [target.l[0], target.l[-1], len(target.l)]},
               "distilled": d.to_json()}
        if not args.no_rescore:
            from lossforge import ledger

            conf = read_json(run_dir / "config.json")["config"]
            fitness = conf["fitness"]
            ledger.record("probe", command=["python -m lossforge.distill",
                                            *(sys.argv[1:] if argv is None else argv)],
                          scenario=conf["scenario"], seeds=None,
                          budget=args.budget or conf["budget"],
                          purpose=f"score the best network of {run_dir} and its distilled "
                                  "formula")
            print(f"re-scoring network and formula with the run's fitness ({fitness}"
                  + (": synthetic, says nothing about MuJoCo returns" if fitness == "probe"
                     else "") + ") ...", flush=True)
            r = rescore(run_dir, target, d, args.budget, args.workers)
            out["rescore"] = r
            from lossforge.search.summary import fitness_text
            print(f"  {r['budget']}: network {fitness_text(r['network'])}   formula "
                  f"{fitness_text(r['formula'])}   DPO (the initialisation) "
                  f"{fitness_text(r['dpo'])}")
            if "gain_kept" in r and math.isfinite(r["gain_kept"]):
                print(f"  the formula keeps {100 * r['gain_kept']:.0f} % of the network's gain "
                      "over DPO")
        path = run_dir / f"distilled-{d.backend}.json"
        atomic_write_json(path, out)
        atomic_write_text(run_dir / f"distilled-{d.backend}.tex", mm.latex_block() + "\n")
        print(f"written: {path}")
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run_main(main)
