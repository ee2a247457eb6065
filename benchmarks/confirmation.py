"""Confirmation on fresh dataset draws: the ``confirm`` and ``report`` commands of
``benchmarks/baselines.py`` (its module docstring describes them). ``confirm`` runs frozen
configs (tuned.json files of ``tuning.py``) and candidates on reporting draws x seeds with
``cells.run_cells``; ``report`` compares them draw by draw (the draw is the unit of analysis),
with paired t-tests over draws and Holm's correction (``lossforge/bench/stats.py``).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

# cells first: it puts this checkout's lossforge first on sys.path
from cells import (AUC_NOT_MEASURED, LLM_PREFIX, Config, auc_is_final, configs_from_losses,
                   fixed_of, flag_lines, load_bed, load_spec_file, records, row_key, row_metric,
                   row_seconds, run_cells, shortcut_flag)
from tuning import REPORTING_SEEDS, read_tuned

from lossforge.bench.draws import TUNING, parse_draws
from lossforge.bench.scenarios import parse_seeds
from lossforge.bench.stats import num_text
from lossforge.errors import ConfigError
from lossforge.io import atomic_write_json

#: confirm's defaults on the LLM test bed: 8 draws (the unit of analysis: each its own prompts,
#: SFT base and pairs) x one training seed (there the seed is only the minibatch order).
LLM_DRAWS, LLM_SEEDS = "1-8", "0"
#: ... and on MuJoCo (issue 18: at least 5 fresh draws, 3 seeds each)
MUJOCO_DRAWS = "1-5"


def least_grid(scenario: str) -> tuple[int, int]:
    """(draws, seeds per draw) a confirmation of ``scenario`` needs at least: confirm's
    defaults for its bed. A report marks every row short of it (``report``: ``missing``)."""
    llm = scenario.startswith(LLM_PREFIX)
    return (len(parse_draws(LLM_DRAWS if llm else MUJOCO_DRAWS)),
            len(parse_seeds(LLM_SEEDS if llm else REPORTING_SEEDS)))


def confirm(args) -> None:
    """Frozen configs (tuned baselines, candidates) on reporting draws x seeds, then the
    report (see ``report``). Resumable and shareable like ``run``."""
    from lossforge.bench.losses import run_objective

    tuned_files = list(args.tuned)
    frozen = read_tuned(tuned_files)
    candidates = [load_spec_file(Path(f)) for f in args.spec] + \
        [run_objective(r) for r in args.from_run]
    if frozen is None and not candidates:
        raise ConfigError("confirm: nothing to run (give --tuned and/or --spec/--from-run)")
    names = args.scenarios.split(",") if args.scenarios else \
        sorted(frozen["by_file"][tuned_files[0]]) if frozen else []
    llm = any(n.startswith(LLM_PREFIX) for n in names)
    draws = parse_draws(args.draws or (LLM_DRAWS if llm else MUJOCO_DRAWS))
    if 0 in draws or TUNING in draws:
        raise ConfigError(f"--draws {args.draws}: draw 0 is the data searches chose their "
                          "winners on and draw t tuned the baselines; confirm on draws 1, 2, ...")
    seeds = parse_seeds(args.seeds or (LLM_SEEDS if llm else REPORTING_SEEDS))
    budget = args.budget or (frozen and frozen["budget"]) or "full"
    if not names:
        raise ConfigError("confirm: --scenarios is needed without --tuned")
    if frozen is not None:
        if set(seeds) & set(frozen["seeds"]):
            raise ConfigError(f"--seeds {args.seeds}: overlaps the tuning seeds "
                              f"{frozen['seeds']} of {', '.join(tuned_files)}")
        if budget != frozen["budget"]:
            raise ConfigError(f"--budget {budget}: {', '.join(tuned_files)} was tuned at budget "
                              f"{frozen['budget']}")
        for f in tuned_files:
            untuned = [n for n in names if n not in frozen["by_file"][f]]
            if untuned:
                raise ConfigError(f"{f}: no tuned configs for {', '.join(untuned)}")
    want = least_grid(names[0])[0]
    if len(draws) < want:
        print(f"note: {len(draws)} draws; a confirmation wants {want} or more", flush=True)
    scenarios = {n: load_bed(n) for n in names}
    configs = {}
    for name, scen in scenarios.items():
        cs = []
        for baseline, pick in (frozen["scenarios"][name] if frozen else {}).items():
            if "spec" in pick:   # a candidate the sweep tuned (its rate) as it tuned baselines
                cs += configs_from_losses(pick["item"], scen, {baseline: pick["spec"]},
                                          role="candidate", candidate=baseline,
                                          config=pick["config"])
            else:
                cs += configs_from_losses(pick["item"], scen, role="baseline",
                                          baseline=baseline, config=pick["config"])
        cs += [Config(obj, None, {"role": "candidate"}) for obj in candidates]
        if candidates and name.startswith(LLM_PREFIX):
            print(f"note: {name}: --spec/--from-run candidates pick their rate on dev prompts "
                  "per draw while tuned rows keep a frozen one; list them under [candidates] "
                  "of the sweep file to compare like with like", flush=True)
        dup = {c.name for c in cs if [d.name for d in cs].count(c.name) > 1}
        if dup or set(c.name for c in cs) & set(fixed_of(name)):
            raise ConfigError(f"confirm: two rows would be called "
                              f"{sorted(dup or fixed_of(name))[0]!r}")
        configs[name] = cs
    run_cells(Path(args.out), scenarios, configs, draws=draws, seeds=seeds, budget=budget,
              workers=args.workers, fixed=not args.no_fixed,
              command="python benchmarks/baselines.py " + " ".join(sys.argv[1:]))
    report(Path(args.out))


def analyse(path: Path) -> tuple[dict, str]:
    """Per scenario, from a confirm JSONL: every row's per-draw means over seeds (the draw is
    the unit of analysis), their mean ± 95 % t-CI over draws, and every candidate's paired
    difference to every baseline (draw by draw, on the seeds both have) with a paired t-test
    over draws and Holm's correction across scenarios x baselines, separately for each
    candidate and metric; and every row against the best tuned baseline (``versus_best``:
    the baseline with the highest mean over these draws, per metric and scenario, each ranked
    on its finite draws: ``stats.best_row``; paired the same way, uncorrected: issue 22's
    "paired difference to the best tuned baseline" for every loss). AUC and final both. A
    draw where a compared run failed is left out of that comparison and named, except a
    candidate's own failure, which leaves the comparison without a p.
    Every row says what it lacks of its scenario's grid (``missing``, "" when nothing): the
    draws and seeds any row of the scenario has, and at least ``least_grid``'s numbers. A
    report of an unfinished confirmation is a progress view; the claim tables (headline.py,
    field_v2.py, ablate.py table) refuse a row with anything missing (``stats.require_complete``).
    Returns the report (as ``report`` writes it to JSON) and its Markdown; reads only."""
    from lossforge.bench import stats
    from lossforge.bench.fitness import ci95_halfwidth

    rows = [r for r in records(path)
            if None not in row_key(r) and r.get("draw", 0) not in (0, TUNING)]
    if not rows:
        raise ConfigError(f"{path}: no rows on reporting draws")
    # (budget, scenario) -> name -> draw -> seed -> row
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    role = {}
    for r in rows:
        cells[(r["budget"], r["scenario"])][r["loss"]][r["draw"]][r["seed"]] = r
        role[r["loss"]] = r.get("role", "baseline")
    metrics = ("auc", "final")

    def draw_mean(by_seed: dict, metric: str, seeds=None) -> float:
        xs = [row_metric(by_seed[s], metric) for s in (seeds or sorted(by_seed))]
        return float("nan") if any(x is None for x in xs) else sum(xs) / len(xs)

    summary, comparisons, versus_best = [], [], []
    for (budget, scen), by_name in sorted(cells.items()):
        all_draws = sorted({d for v in by_name.values() for d in v})
        all_seeds = sorted({sd for v in by_name.values() for by_seed in v.values()
                            for sd in by_seed})
        split, rebuilt = _data_split_draws(by_name)
        for name, by_draw in by_name.items():
            entry = {"budget": budget, "scenario": scen, "loss": name, "role": role[name],
                     "seeds_per_draw": {str(d): len(by_draw[d]) for d in by_draw},
                     "missing": _missing(by_draw, all_draws, all_seeds, least_grid(scen)),
                     "data_split_draws": split, "rebuilt_draws": rebuilt,
                     "machines": sorted({r["machine"] for by_seed in by_draw.values()
                                         for r in by_seed.values() if r.get("machine")})}
            for m in metrics:
                per = {str(d): draw_mean(by_draw[d], m) for d in sorted(by_draw)}
                vals = list(per.values())
                entry[m] = {"per_draw": per, "mean": sum(vals) / len(vals),
                            "ci95": ci95_halfwidth(vals)}
            summary.append(entry)
        def paired(a: str, b: str, m: str) -> dict:
            """Row a minus row b, draw by draw on the seeds both have, with a paired t-test.
            A candidate's failed run keeps its NaN, so the comparison has no p and the
            candidate does not pass it. Otherwise a draw where either row failed (b, or a that
            is not a candidate) is left out and listed."""
            common = [d for d in all_draws if d in by_name[a] and d in by_name[b]
                      and set(by_name[a][d]) & set(by_name[b][d])]
            x, y, kept, dropped = [], [], [], []
            for d in common:
                shared = sorted(set(by_name[a][d]) & set(by_name[b][d]))
                u, v = draw_mean(by_name[a][d], m, shared), draw_mean(by_name[b][d], m, shared)
                if not (math.isfinite(u) and math.isfinite(v)) and not (
                        role[a] == "candidate" and not math.isfinite(u)):
                    dropped.append(str(d))
                    continue
                kept.append(str(d))
                x.append(u)
                y.append(v)
            return {"draws": kept, "failed_draws": dropped,
                    "per_draw_diff": [u - v for u, v in zip(x, y)],
                    **stats.paired_t(x, y).to_json()}

        cands = [n for n in by_name if role[n] == "candidate"]
        bases = [n for n in by_name if role[n] != "candidate"]
        for c in cands:
            for b in bases:
                for m in metrics:
                    comparisons.append({"budget": budget, "scenario": scen, "candidate": c,
                                        "baseline": b, "metric": m, **paired(c, b, m)})
        mine = {e["loss"]: e for e in summary if (e["budget"], e["scenario"]) == (budget, scen)}
        tuned_rows = [n for n in by_name if role[n] == "baseline"]
        for m in metrics if tuned_rows else ():
            top = stats.best_row([mine[n] for n in tuned_rows], m)   # first of ties
            if top is None:
                continue
            best = top["loss"]
            versus_best += [{"budget": budget, "scenario": scen, "metric": m, "best": best,
                             "loss": n, "role": role[n], **paired(n, best, m)}
                            for n in by_name if n != best]
    # Holm across scenarios x baselines, per candidate, metric and budget: the candidate by
    # name, whatever learning rate each scenario tuned it to ('lf-x[lr=1e-05]' is lf-x)
    families: dict = defaultdict(list)
    for comp in comparisons:
        families[(comp["budget"], comp["candidate"].split("[")[0], comp["metric"])].append(comp)
    for fam in families.values():
        for comp, adj in zip(fam, stats.holm([c["p"] for c in fam])):
            comp["p_holm"], comp["family_size"] = adj, len(fam)
    # the shortcut flag ranks rows as best_row does: on the draws where each did not fail
    flags = {f"{scen} ({budget})": {m: shortcut_flag({
        e["loss"]: (stats.ranking_mean(e[m]), ci95_halfwidth(stats.finite_draws(e[m])))
        for e in summary if (e["budget"], e["scenario"]) == (budget, scen)
        and stats.eligible_best(e[m])}) for m in metrics}
        for budget, scen in sorted({(e["budget"], e["scenario"]) for e in summary})}
    cost = sum(row_seconds(r) for r in rows)
    md = _report_md(summary, comparisons, versus_best, cost, len(rows),
                    sorted({r.get("command", "?") for r in rows}), flags, auc_final_groups(rows))
    result = {"summary": summary, "comparisons": comparisons, "versus_best": versus_best,
              "shortcut_flags": flags, "row_seconds": cost, "rows": len(rows)}
    return result, md


def report(path: Path) -> dict:
    """``analyse``'s report of a confirm JSONL, printed and written to
    <jsonl stem>.confirm.{md,json}; returns the JSON's content."""
    result, md = analyse(path)
    print(md)
    stem = path.with_suffix("")
    Path(f"{stem}.confirm.md").write_text(md + "\n")
    atomic_write_json(Path(f"{stem}.confirm.json"), result)
    print(f"wrote {stem}.confirm.md and {stem}.confirm.json", file=sys.stderr)
    return result


#: what a row records of the data it trained on (``fitness.data_digests``)
DIGESTS = ("dataset_sha256", "reference_sha256")


def _data_split_draws(by_name: dict) -> tuple[list[str], list[str]]:
    """(split, rebuilt): the draws of one scenario where the rows of one training seed did not
    all train on the same dataset and reference (v2-plan.md, Session 22: the losses' pairs on
    that seed are not clean pairs), and the draws whose seeds trained on different builds of
    the draw (a session on another machine took the later seeds) while every seed's rows share
    one: each pair is clean there, and the draw's mean pools two builds. Rows written before
    rows recorded digests say nothing either way."""
    seen: dict = defaultdict(set)    # (draw, seed) -> the digests its rows trained on
    for by_draw in by_name.values():
        for d, by_seed in by_draw.items():
            for sd, r in by_seed.items():
                if all(k in r for k in DIGESTS):
                    seen[(d, sd)].add(tuple(r[k] for k in DIGESTS))
    draws = sorted({d for d, _ in seen})
    split = [d for d in draws if any(len(v) > 1 for (dd, _), v in seen.items() if dd == d)]
    rebuilt = [d for d in draws if d not in split
               and len({x for (dd, _), v in seen.items() if dd == d for x in v}) > 1]
    return [str(d) for d in split], [str(d) for d in rebuilt]


def _missing(by_draw: dict, draws: list, seeds: list, least: tuple[int, int]) -> str:
    """What a row lacks of its scenario's grid (``draws`` x ``seeds``, which every row must
    have, and at least ``least`` = (draws, seeds)), in words; "" when nothing."""
    out = []
    if len(draws) < least[0] or len(seeds) < least[1]:
        out.append(f"the scenario has {len(draws)} draws x {len(seeds)} seeds of the "
                   f"{least[0]} x {least[1]} a confirmation needs")
    for d in draws:
        lack = [sd for sd in seeds if sd not in by_draw.get(d, {})]
        if lack:
            out.append(f"draw {d}: " + ("no run" if len(lack) == len(seeds) else
                                        "seeds " + ",".join(map(str, lack)) + " not run"))
    return "; ".join(out)


def departure_text(scenarios: set[str]) -> str | None:
    """The test suite's departure label (v2-plan.md, Session 22: "Reports that use the test
    suite's rows carry this label"), with the test scenarios it covers, as Markdown; None for a
    report with none of them. The report's Markdown and its HTML page (``lossforge/report/
    table.py``) both carry this text."""
    from headline import DEPARTURE   # this directory's: headline reads no confirmation code
    from lossforge.bench.suites import held_out_names

    test = sorted(set(scenarios) & held_out_names()[1])
    return (DEPARTURE + " Test-suite scenarios in this report: " + ", ".join(test) + "."
            if test else None)


def _departure(scenarios: set[str]) -> list[str]:
    """``departure_text`` as the report's lines; [] for a report with no test scenario."""
    text = departure_text(scenarios)
    return [text, ""] if text else []


def auc_final_groups(rows: list[dict]) -> set[tuple[str, str]]:
    """The (budget, scenario) groups of ``rows`` whose AUC is only the final score
    (``cells.auc_is_final``: the LLM bed measures once, at the end of training)."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["budget"], r["scenario"])].append(r)
    return {key for key, group in groups.items() if auc_is_final(group)}


#: The header's sentence on the metrics, and where every group's AUC is its final score
#: (``auc_final_groups``) what it says instead.
METRICS_TEXT = ("AUC: mean score over the training checkpoints (the reference does not train: "
                "its AUC is its score); final: the last parameters.")
FINAL_ONLY_TEXT = (AUC_NOT_MEASURED + " (one measurement, at the end of training; the "
                   "reference does not train: its score is the untrained base's), so the "
                   "tables show final alone.")


def _header_md(every_final: bool) -> list[str]:
    """The report's title and its paragraph on the numbers; where every group's AUC is its
    final score (``every_final``) it says so instead of defining an AUC."""
    return ["# Confirmation on fresh dataset draws", "",
            "Unit of analysis: the dataset draw (each value a draw's mean over its training "
            "seeds). ± is the 95 % t-interval over draws. "
            + (FINAL_ONLY_TEXT if every_final else METRICS_TEXT)
            + " Paired differences: candidate minus baseline, draw by draw on the seeds "
            "both have; p: paired t-test over draws (two-sided); p (Holm): adjusted across "
            "scenarios x baselines, per candidate and metric.", ""]


def _report_md(summary, comparisons, versus_best, cost: float, n_rows: int, commands,
               flags, auc_final: set = frozenset()) -> str:
    """The report's Markdown. ``auc_final``: the (budget, scenario) groups whose AUC is only
    their final score, whose tables show final alone under a note saying so."""
    from lossforge.bench import stats

    groups = sorted({(e["budget"], e["scenario"]) for e in summary})
    every = bool(groups) and set(groups) <= set(auc_final)
    out = _header_md(every)
    out += _departure({e["scenario"] for e in summary})
    for (budget, scen) in groups:
        entries = [e for e in summary if (e["budget"], e["scenario"]) == (budget, scen)]
        draws = sorted({d for e in entries for d in e["auc"]["per_draw"]}, key=int)
        metrics = ("final",) if (budget, scen) in auc_final else ("auc", "final")
        out += [f"## {scen} ({budget} budget)", ""]
        if len(metrics) == 1 and not every:
            out += [FINAL_ONLY_TEXT, ""]
        out += ["| row | role | metric | " + " | ".join(f"draw {d}" for d in draws)
                + " | mean ± 95 % CI | seeds per draw |",
                "|---|---|---|" + "---|" * len(draws) + "---|---|"]
        for e in entries:
            for m in metrics:
                per = e[m]["per_draw"]
                out.append(f"| {e['loss']} | {e['role']} | {m} | "
                           + " | ".join(num_text(per.get(d, float('nan'))) for d in draws)
                           + f" | {num_text(e[m]['mean'])} ± {num_text(e[m]['ci95'])} | "
                           + ",".join(str(e["seeds_per_draw"].get(d, 0)) for d in draws) + " |")
        short = [f"{e['loss']}: {e['missing']}" for e in entries if e["missing"]]
        if short:
            out += ["", "**Unfinished: not a claim** (the claim tables refuse these rows): "
                    + "; ".join(short) + "."]
        split = entries[0].get("data_split_draws", [])
        if split:
            out += ["", f"**Not clean pairs on draw(s) {', '.join(split)}:** rows of one draw "
                    "trained on different datasets or references there (their "
                    "dataset_sha256/reference_sha256 differ: a rebuild, on another machine, "
                    "say). A difference there also measures that."]
        rebuilt = entries[0].get("rebuilt_draws", [])
        if rebuilt:
            out += ["", f"**Draw(s) {', '.join(rebuilt)} pool two builds:** their training "
                    "seeds did not all train on the same build of the draw's dataset or "
                    "reference (a later session on another machine rebuilt it), but every "
                    "seed's rows share one, so each pair is clean."]
        out += ["", *flag_lines({m.replace("auc", "AUC"): f for m, f in
                                 flags[f"{scen} ({budget})"].items() if m in metrics})]
        comps = [c for c in comparisons if (c["budget"], c["scenario"]) == (budget, scen)
                 and c["metric"] in metrics]
        if comps:
            out += ["", "| candidate | baseline | metric | draws | difference ± 95 % CI | p | "
                        "p (Holm) | per draw |", "|---|---|---|---|---|---|---|---|"]
            for c in comps:
                out.append(f"| {c['candidate']} | {c['baseline']} | {c['metric']} | {c['n']} | "
                           f"{stats.comparison_cells(c)} |")
        pairs = ([(c["candidate"], c["baseline"], c) for c in comps]
                 + [(v["loss"], v["best"], v) for v in versus_best
                    if (v["budget"], v["scenario"]) == (budget, scen)])
        gaps = sorted({(a, b, d) for a, b, c in pairs for d in c.get("failed_draws", [])})
        if gaps:
            out += ["", "Draws left out of a comparison because a run of it failed there (a "
                    "candidate's failure is never left out: that test has no p): "
                    + "; ".join(f"{a} vs {b} draw {d}" for a, b, d in gaps) + "."]
        vs = [c for c in versus_best if (c["budget"], c["scenario"]) == (budget, scen)
              and c["metric"] in metrics]
        if vs:
            best = {c["metric"]: c["best"] for c in vs}
            out += ["", "Every row against the best tuned baseline (the highest mean over these "
                        "draws, each row ranked on the draws where it did not fail; per metric: "
                    + "; ".join(f"{m.replace('auc', 'AUC')} {b}" for m, b in best.items())
                    + "; picked on the reporting draws, which favours it). Not corrected for "
                      "multiple comparisons.", "",
                    "| row | role | metric | draws | difference ± 95 % CI | p | per draw |",
                    "|---|---|---|---|---|---|---|"]
            for c in vs:
                out.append(f"| {c['loss']} | {c['role']} | {c['metric']} | {c['n']} | "
                           f"{stats.comparison_cells(c, holm=False)} |")
        out.append("")
    out += [f"Cost: {n_rows} rows, {cost / 3600:.2f} h of wall time in all (each row's share "
            "of its job's, cells.row_seconds).", "", "Commands:"] + [f"    {c}" for c in commands]
    return "\n".join(out)


def report_cmd(args) -> None:
    report(Path(args.jsonl))
