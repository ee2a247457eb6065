"""GP search vs the seed paper's ES over a neural phi~ vs ES + distillation, on one scenario.

The whole comparison, reproducible step by step (each step writes into --runs-dir):

    # 1. CMA-ES over the neural phi~ (starts at DPO), every candidate at the screen budget
    python -m lossforge.search --method es --scenario hopper-mixed-quality --budget screen \
        --population 8 --generations 8 --sigma0 0.8 --hidden 4 --seed 0 --workers 2 \
        --runs-dir runs/es-vs-gp --quiet
    # 2. the GP search with the same scenario, budget (screen for every loss, no multi-fidelity),
    #    generations and seed; population 32 because most trees are rejected or duplicates
    #    before training, so the two spend comparable numbers of evaluations
    python benchmarks/es_vs_gp.py gp --es runs/es-vs-gp/<es-run> --population 32 --workers 2
    # 3. distil the best network (lossforge's GP as symbolic regression)
    python -m lossforge.distill runs/es-vs-gp/<es-run> --backend deap
    # 4. re-score DPO, the best network, its formula and the GP's best at the full budget
    #    (5 fresh training seeds, 30 episodes: the searches picked their best on screen scores,
    #    which flatters the winners), then write the table
    python benchmarks/es_vs_gp.py rescore --es runs/es-vs-gp/<es-run> \
        --gp runs/es-vs-gp/<gp-run> --budget full --workers 2
    python benchmarks/es_vs_gp.py table --es runs/es-vs-gp/<es-run> --gp runs/es-vs-gp/<gp-run>

Outputs: benchmarks/results/es_vs_gp-<scenario>.json and .md (with these commands).

Both methods with the same slots (issue 19: the GP with --link-grammar/--imitation-grammar
searches G and Psi too; ES then must as well, or the table compares unlike searches), at an
equal evaluation budget:

    # 1'. ES over phi~ AND a parametric link G and imitation term Psi (lossforge/search/
    #     es_slots.py); the arguments after --slots go to python -m lossforge.search --method es
    python benchmarks/es_vs_gp.py es --slots link,imitation --scenario hopper-mixed-quality \
        --budget screen --population 8 --generations 8 --sigma0 0.8 --seed 0 --workers 2 \
        --runs-dir runs/es-vs-gp --quiet
    # 2'. the GP with the ES run's slots (always: read from its config), generation after
    #     generation until it has trained at least as many losses as the ES did
    python benchmarks/es_vs_gp.py gp --es runs/es-vs-gp/<es-run> --equal-evaluations \
        --population 32 --workers 2
    # 3., 4. as above; the table names the slots and each search's G and Psi

A smoke run of the whole chain on the cheap stand-in fitness (seconds; says nothing about
returns): es --fitness probe ..., gp --equal-evaluations, table --out /tmp/...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.io import atomic_write_json, atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: slot -> (flag of python -m lossforge.search, the grammar both methods are given)
SLOT_GRAMMARS = {"link": ("--link-grammar", "grammars/link.toml"),
                 "imitation": ("--imitation-grammar", "grammars/imitation.toml")}
#: --equal-evaluations: the GP's generations are capped here (a run that trains nothing new
#: for this long stops short of the ES's count and says so)
MAX_GP_GENERATIONS = 200


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _slot_flags(text: str) -> list[str]:
    """``link,imitation`` -> the search's grammar flags for those slots."""
    slots = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in slots if s not in SLOT_GRAMMARS]
    if bad:
        raise SystemExit(f"error: --slots: unknown {', '.join(bad)}; known: "
                         f"{', '.join(SLOT_GRAMMARS)}")
    return [x for s in slots for x in SLOT_GRAMMARS[s]]


def cmd_es(args, rest: list[str]) -> None:
    """The ES run of the comparison: python -m lossforge.search --method es, with the grammar
    flags of ``--slots`` (its own checks, ledger entry and output)."""
    from lossforge.search.__main__ import main as search_main

    raise SystemExit(search_main(["--method", "es", *_slot_flags(args.slots or ""), *rest]))


def _state(run_dir: Path) -> dict | None:
    """A run's last checkpointed state; None for a run killed before its first checkpoint
    (``run_search(resume=...)`` starts its generation 1 again, journaled evaluations kept)."""
    path = run_dir / "checkpoint.json"
    return _read(path)["state"] if path.is_file() else None


def _evaluated(run_dir: Path) -> int:
    state = _state(run_dir)
    return sum(state["counters"]["evaluated"].values()) if state else 0


def _generation(run_dir: Path) -> int:
    state = _state(run_dir)
    return int(state["generation"]) if state else 0


def gp_config(es_cfg: dict, population: int | None, generations: int | None,
              equal_evaluations: bool, workers: int | None):
    """The GP search matched to an ES run's config: its scenario, budget (one rung), seed,
    fitness, aggregation, beta and slots."""
    from lossforge.search import SearchConfig

    return SearchConfig(scenario=es_cfg["scenario"], budget=es_cfg["budget"],
                        multi_fidelity=False,
                        population=population or es_cfg["population"],
                        generations=(MAX_GP_GENERATIONS if equal_evaluations
                                     else generations or es_cfg["generations"]),
                        seed=es_cfg["seed"],
                        fitness=es_cfg["fitness"], metric=es_cfg["metric"],
                        aggregation=es_cfg["aggregation"], beta=es_cfg["beta"],
                        baselines=("dpo",), workers=workers,
                        # the ES run's slots (none for runs from before ES had them)
                        link_grammar=es_cfg.get("link_grammar"),
                        imitation_grammar=es_cfg.get("imitation_grammar"))


def cmd_gp(args) -> None:
    from lossforge import ledger
    from lossforge.search import run_search

    es_cfg = _read(Path(args.es) / "config.json")["config"]
    cfg = gp_config(es_cfg, args.population, args.generations, args.equal_evaluations,
                    args.workers)

    ledger.record_script("search", "benchmarks/es_vs_gp.py", sys.argv[1:],
                         scenario=es_cfg["scenario"], seeds=None, budget=es_cfg["budget"],
                         purpose=f"GP vs ES: the GP search beside the ES run {args.es}")
    if args.resume and not args.equal_evaluations:
        run_search(resume=Path(args.resume), quiet=True)
        print(f"run directory: {args.resume}")
        return
    if not args.equal_evaluations:
        run_dir = run_search(cfg, runs_root=args.runs_dir, quiet=True)
        print(f"run directory: {run_dir}")
        return
    target = _evaluated(Path(args.es))
    if args.resume:   # a killed --equal-evaluations run goes on from its last generation
        run_dir = Path(args.resume)
    else:
        run_dir = run_search(cfg, runs_root=args.runs_dir, quiet=True, stop_after=1)
    gens = _generation(run_dir)
    while _evaluated(run_dir) < target and gens < MAX_GP_GENERATIONS:
        run_search(resume=run_dir, quiet=True, stop_after=1)
        gens = _generation(run_dir)
    n = _evaluated(run_dir)
    note = "" if n >= target else f" (stopped at {MAX_GP_GENERATIONS} generations)"
    print(f"GP trained {n} losses in {gens} generations, ES {target}{note}")
    print(f"run directory: {run_dir}")


def _specs(es_dir: Path, gp_dir: Path | None) -> dict[str, dict]:
    """The losses of the table, as specs: DPO, the ES best network, its distilled formula, the
    GP's best formula."""
    hof = _read(es_dir / "hall_of_fame.json")
    out = {"dpo": next(b["spec"] for b in hof["baselines"] if b["spec"]["name"] == "dpo"),
           "es": hof["hall_of_fame"][0]["spec"]}
    dist = es_dir / "distilled-deap.json"
    if dist.is_file():
        out["es+distill"] = _read(dist)["distilled"]["spec"]
    if gp_dir is not None:
        out["gp"] = _read(gp_dir / "hall_of_fame.json")["hall_of_fame"][0]["spec"]
    return out


def cmd_rescore(args) -> None:
    from lossforge.search.executors import LocalExecutor, map_specs
    from lossforge.search.summary import fitness_text

    es_dir, gp_dir = Path(args.es), Path(args.gp) if args.gp else None
    cfg = _read(es_dir / "config.json")
    specs = _specs(es_dir, gp_dir)
    if args.only:
        specs = {k: v for k, v in specs.items() if k in args.only.split(",")}
    path = es_dir / f"rescore-{args.budget}.json"
    old = _read(path) if path.is_file() else {"commands": [], "seconds": 0.0, "results": {}}
    from lossforge import ledger

    ledger.record_script("probe", "benchmarks/es_vs_gp.py", sys.argv[1:],
                         scenario=Path(cfg["scenario_file"]).stem, seeds=None,
                         budget=args.budget, purpose=f"GP vs ES: re-score {', '.join(specs)}")
    t0 = time.time()
    ex = LocalExecutor(args.workers)
    try:
        res = map_specs(ex, cfg["config"]["fitness"], list(specs.values()),
                        cfg["scenario_file"], args.budget, cfg["config"]["metric"])
    finally:
        ex.close()
    out = {"commands": old["commands"] + ["python benchmarks/es_vs_gp.py "
                                          + " ".join(sys.argv[1:])],
           "budget": args.budget, "seconds": old["seconds"] + time.time() - t0,
           "results": {**old["results"], **{k: {"spec": s, "fitness": f}
                                            for (k, s), f in zip(specs.items(), res)}}}
    atomic_write_json(path, out)   # a killed re-score keeps the previous file whole
    for k in specs:
        f = out["results"][k]["fitness"]
        print(f"{k:12s} {args.budget}: {fitness_text(f)}  per seed "   # "n/a (1 seed)"
              f"{[round(x, 1) for x in f['per_seed']]}")
    print(f"written: {path}")


def _fmt(f: dict | None) -> str:
    if not f or f.get("status") != "ok" or f.get("score") is None:
        return "-"
    ci = f.get("ci95")
    return f"{f['score']:.2f} ± {ci:.2f}" if ci is not None else f"{f['score']:.2f}"


def cmd_table(args) -> None:
    es_dir, gp_dir = Path(args.es), Path(args.gp)
    es_state = _read(es_dir / "checkpoint.json")["state"]
    gp_state = _read(gp_dir / "checkpoint.json")["state"]
    es_hof, gp_hof = _read(es_dir / "hall_of_fame.json"), _read(gp_dir / "hall_of_fame.json")
    budget = es_state["ladder"][-1]
    dist_path = es_dir / "distilled-deap.json"
    dist = _read(dist_path) if dist_path.is_file() else None
    rescores = {p.stem.split("-", 1)[1]: _read(p) for p in sorted(es_dir.glob("rescore-*.json"))}
    dpo = next(b for b in es_hof["baselines"] if b["spec"]["name"] == "dpo")
    es_best, gp_best = es_hof["hall_of_fame"][0], gp_hof["hall_of_fame"][0]
    n_es = es_state["counters"]["evaluated"][budget]
    n_gp = sum(gp_state["counters"]["evaluated"].values())
    es_cfg = _read(es_dir / "config.json")
    slots = [s for s in SLOT_GRAMMARS if es_cfg["config"].get(f"{s}_grammar")]
    gp_slots = [s for s in SLOT_GRAMMARS if gp_state["config"].get(f"{s}_grammar")]
    if slots != gp_slots:
        raise SystemExit(f"error: the ES run searched slots {slots or 'none'}, the GP run "
                         f"{gp_slots or 'none'}: not a comparison of like with like")
    with_slots = f" + {', '.join(slots)}" if slots else ""
    from lossforge.search.es import init_is_dpo, init_label

    init = ("the ES initialisation" if init_is_dpo(es_state) else
            f"not the ES initialisation, {init_label(es_state)}")
    rows = [
        {"method": f"DPO (zoo; {init})", "search_score": dpo.get(budget),
         "evaluations": 1, "wall_s": None, "formula": "h = p log p, beta "
         f"{dpo['spec']['beta']:g}", "key": "dpo"},
        {"method": f"GP search (typed grammar{with_slots}, NSGA-II)",
         "search_score": gp_best.get(budget),
         "evaluations": n_gp, "wall_s": gp_state["timing"]["elapsed_s"],
         "formula": f"h = {gp_best['h']}, beta {gp_best['spec']['beta']:g}"
         + (f"; {gp_best['loss'].split(',  D = ')[0]}" if slots else ""), "key": "gp"},
        {"method": f"ES (CMA-ES, neural phi~{with_slots}, {es_cfg['n_params']} params)",
         "search_score": es_best.get(budget),
         "evaluations": n_es, "wall_s": es_state["timing"]["elapsed_s"],
         "formula": "neural" + (f"; {es_best['loss'].split(',  D = ')[0]}" if slots else ""),
         "key": "es"},
    ]
    if dist:
        d = dist["distilled"]
        rows.append({"method": "ES + distillation (deap)",
                     "search_score": dist.get("rescore", {}).get("formula"),
                     "evaluations": n_es + 1, "wall_s": es_state["timing"]["elapsed_s"],
                     "formula": f"h = {d['h']}, beta {d['spec']['beta']:.4g} (fit error "
                                f"{d['error']:.3f})", "key": "es+distill"})
    specs = {"dpo": dpo["spec"], "gp": gp_best["spec"], "es": es_best["spec"]}
    if dist:
        specs["es+distill"] = dist["distilled"]["spec"]
    for r in rows:
        r["spec"] = specs[r["key"]]   # every loss of the table, runnable without the run dirs
        for b, rs in rescores.items():
            r[f"rescore_{b}"] = rs["results"].get(r["key"], {}).get("fitness")
    scenario = es_hof["scenario"]
    cmds = [c for rs in rescores.values() for c in rs.get("commands", [])]
    out = {"scenario": scenario, "budget": budget, "es_run": str(es_dir), "gp_run": str(gp_dir),
           "rows": rows, "distilled": dist, "es_history": es_state["history"],
           "gp_history": gp_state["history"], "rescore_commands": cmds}
    results = Path(args.out) if args.out else RESULTS
    results.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results / f"es_vs_gp-{scenario}.json", out)
    head = ["method", f"best score ({budget}, search)", "evaluations", "wall time"]
    head += [f"re-scored ({b})" for b in rescores] + ["formula"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        wall = "-" if r["wall_s"] is None else f"{r['wall_s'] / 60:.0f} min"
        cells = [r["method"], _fmt(r["search_score"]), str(r["evaluations"]), wall]
        cells += [_fmt(r.get(f"rescore_{b}")) for b in rescores] + [r["formula"]]
        lines.append("| " + " | ".join(cells) + " |")
    md = [f"# GP search vs ES (neural phi~) vs ES + distillation: {scenario}", "",
          *lines, ""]
    if args.notes:
        md += [Path(args.notes).read_text().rstrip(), ""]
    atomic_write_text(results / f"es_vs_gp-{scenario}.md", "\n".join(md))
    print("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("es", help="the ES run: python -m lossforge.search --method es with "
                                  "the slots' grammar flags (other arguments are passed on)")
    e.add_argument("--slots", default=None, metavar="SLOT[,SLOT]",
                   help="link and/or imitation: search them with ES as the GP does (default: "
                        "none, phi~ alone as before)")
    g = sub.add_parser("gp", help="the GP search matched to an ES run (and its slots)")
    g.add_argument("--es", required=True)
    g.add_argument("--equal-evaluations", action="store_true",
                   help="run GP generations until it has trained at least as many losses as "
                        "the ES run (default: the ES run's number of generations)")
    g.add_argument("--workers", type=int, default=None)
    g.add_argument("--population", type=int, default=None,
                   help="default: the ES run's (most GP trees are rejected or duplicates before "
                        "training, so a larger population spends about as many evaluations)")
    g.add_argument("--generations", type=int, default=None, help="default: the ES run's")
    g.add_argument("--runs-dir", default="runs/es-vs-gp")
    g.add_argument("--resume", default=None, metavar="GP_RUN",
                   help="go on with this GP run of the comparison (after a kill) instead of "
                        "starting one")
    r = sub.add_parser("rescore", help="DPO, network, formula and GP best at one budget")
    r.add_argument("--es", required=True)
    r.add_argument("--gp", default=None)
    r.add_argument("--budget", default="full")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--only", default=None,
                   help="comma-separated subset of dpo,es,es+distill,gp (results are merged "
                        "into an existing rescore file)")
    t = sub.add_parser("table", help="write benchmarks/results/es_vs_gp-<scenario>.{json,md}")
    t.add_argument("--es", required=True)
    t.add_argument("--gp", required=True)
    t.add_argument("--notes", default=None, help="a markdown file appended under the table")
    t.add_argument("--out", default=None,
                   help="directory for the table files (default benchmarks/results)")
    args, rest = ap.parse_known_args()
    if args.cmd == "es":
        cmd_es(args, rest)
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    {"gp": cmd_gp, "rescore": cmd_rescore, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
