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
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def cmd_gp(args) -> None:
    from lossforge.search import SearchConfig, run_search

    es_cfg = _read(Path(args.es) / "config.json")["config"]
    cfg = SearchConfig(scenario=es_cfg["scenario"], budget=es_cfg["budget"],
                       multi_fidelity=False,
                       population=args.population or es_cfg["population"],
                       generations=args.generations or es_cfg["generations"],
                       seed=es_cfg["seed"],
                       fitness=es_cfg["fitness"], metric=es_cfg["metric"],
                       aggregation=es_cfg["aggregation"], beta=es_cfg["beta"],
                       baselines=("dpo",), workers=args.workers)
    run_dir = run_search(cfg, runs_root=args.runs_dir, quiet=True)
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

    es_dir, gp_dir = Path(args.es), Path(args.gp) if args.gp else None
    cfg = _read(es_dir / "config.json")
    specs = _specs(es_dir, gp_dir)
    if args.only:
        specs = {k: v for k, v in specs.items() if k in args.only.split(",")}
    path = es_dir / f"rescore-{args.budget}.json"
    old = _read(path) if path.is_file() else {"commands": [], "seconds": 0.0, "results": {}}
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
    path.write_text(json.dumps(out, indent=2) + "\n")
    for k in specs:
        f = out["results"][k]["fitness"]
        print(f"{k:12s} {args.budget}: {f['score']:.2f} ± {f['ci95']:.2f}  per seed "
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
    rows = [
        {"method": "DPO (zoo; the ES initialisation)", "search_score": dpo.get(budget),
         "evaluations": 1, "wall_s": None, "formula": "h = p log p, beta "
         f"{dpo['spec']['beta']:g}", "key": "dpo"},
        {"method": "GP search (typed grammar, NSGA-II)", "search_score": gp_best.get(budget),
         "evaluations": n_gp, "wall_s": gp_state["timing"]["elapsed_s"],
         "formula": f"h = {gp_best['h']}, beta {gp_best['spec']['beta']:g}", "key": "gp"},
        {"method": "ES (CMA-ES, neural phi~, 13 params)", "search_score": es_best.get(budget),
         "evaluations": n_es, "wall_s": es_state["timing"]["elapsed_s"], "formula": "neural",
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"es_vs_gp-{scenario}.json").write_text(json.dumps(out, indent=2) + "\n")
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
    (RESULTS / f"es_vs_gp-{scenario}.md").write_text("\n".join(md))
    print("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gp", help="the GP search matched to an ES run")
    g.add_argument("--es", required=True)
    g.add_argument("--workers", type=int, default=None)
    g.add_argument("--population", type=int, default=None,
                   help="default: the ES run's (most GP trees are rejected or duplicates before "
                        "training, so a larger population spends about as many evaluations)")
    g.add_argument("--generations", type=int, default=None, help="default: the ES run's")
    g.add_argument("--runs-dir", default="runs/es-vs-gp")
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
    args = ap.parse_args()
    {"gp": cmd_gp, "rescore": cmd_rescore, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
