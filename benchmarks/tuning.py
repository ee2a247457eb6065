"""Tuned baselines: a declared sweep on the tuning draw, then frozen picks (the ``sweep``,
``tuned``, ``shortlist``, ``extend``, ``merge`` and ``suite-reference`` commands of
``benchmarks/baselines.py``, whose module docstring describes the protocol: successive
halving, the selection rule, the sweep's identity). A sweep file (TOML, ``benchmarks/sweeps/``)
declares each baseline's grid (``read_sweep``); ``sweep`` runs it with ``cells.run_cells``;
``tuned`` freezes each baseline's best config per scenario in a tuned.json file, which
``read_tuned`` reads back for ``confirmation.py``, ``shortlist``, ``extend``, ``merge`` and
``suite-reference``.

Size: about 700 lines, one protocol (declare, run, pick, extend the picks); reading a sweep
file and picking from its rows share the sweep's identity and halving rules, so they stay
together.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field as dc_field
from pathlib import Path

# cells first: it puts this checkout's lossforge first on sys.path
from cells import (ROOT, configs_from_losses, load_bed, load_candidate, records, repo_path,
                   row_metric, run_cells)

from lossforge.bench.draws import TUNING
from lossforge.bench.scenarios import parse_seeds
from lossforge.errors import ConfigError, LossforgeError
from lossforge.io import atomic_write_json, atomic_write_text

#: Training seeds of the tuning sweep and of confirmation (disjoint; ``confirm`` checks).
TUNING_SEEDS, REPORTING_SEEDS = "100-102", "0-2"
SELECTION = ("auc", "highest mean AUC over the tuning seeds on the tuning draw among the configs "
                    "that ran on every tuning seed (with halving: each baseline's `keep` best by "
                    "AUC on the lowest tuning seed); ties, at both stages: the first in the sweep "
                    "file's order; failed (non-finite) configs never win")

#: The line that opens a sweep file's halving section, which must be the file's last table.
_HALVING_HEADER = re.compile(rb"^[ \t]*\[[ \t]*halving[ \t]*\][ \t]*(#[^\n]*)?\r?$", re.M)


@dataclass(frozen=True)
class SweepFile:
    """A declared sweep file.

    ``grid``: baseline -> its configs as --losses items, in grid order. ``keep``: how many
    configs of each baseline go on to stage 2 (None: no halving, every config on every seed).
    ``listed``: the baselines given as whole configs (a list has no grid edges).
    ``sha256``: the sha256 of the knob section (the bytes before the ``[halving]`` line; the
    whole file if it has none), followed by the bytes of its candidates' spec files, the
    sweep's identity that every row records. ``file_sha256``: the whole file's. ``specs``:
    candidate name -> its spec file (``[candidates]``; their grid is their learning rates)."""
    grid: dict[str, list[str]]
    keep: int | None
    sha256: str
    file_sha256: str
    specs: dict[str, str] = dc_field(default_factory=dict)
    #: baselines given as a list of whole configs (``configs = [...]``), not a product grid
    listed: frozenset = frozenset()

    @property
    def halving(self) -> dict | None:
        """What rows record of the halving section."""
        return None if self.keep is None else {"keep": self.keep}


def load_sweep(path: Path) -> dict[str, list[str]]:
    """The grid of a declared sweep (``read_sweep(path).grid``)."""
    return read_sweep(path).grid


def read_sweep(path: Path) -> SweepFile:
    """A declared sweep (TOML). Layout::

        lr = [1e-4, 3e-4, 1e-3]        # the learning rates of every baseline
        [baselines.dpo]                 # a zoo loss name
        beta = [0.1, 0.5, 2.0]          # each knob a non-empty list; the grid is their product
        lr = [3e-4]                     # optional: this baseline's own learning rates
        [baselines.ipo]                 # or a list of whole configs instead of a grid
        configs = [{beta = 1.0, lr = 3e-4}, {beta = 10.0, lr = 1e-4}]   # (lr: else the budget's)
        [candidates.lf-cf853722]        # optional: a discovered loss, tuned like a baseline
        spec = "benchmarks/results/winners/lf-cf853722.json"   # holds the loss of that name
        lr = [1e-5]                     # optional (else the top-level rates): its only knob
        [halving]                       # optional, and then the file's last table
        keep = 3                        # configs per baseline that go on to stage 2

    The grid is each baseline's knob lists' product, in file order ('dpo:beta=2.0:lr=0.001'),
    or its ``configs`` list as written (``shortlist`` writes such files; the top-level ``lr``
    applies to product grids only).
    The knob section (everything before the ``[halving]`` line) is hashed on its own: a sweep
    begun before the file declared its halving keeps its identity when the section is added
    (baselines.py's module docstring says why). Candidates are tuned exactly as baselines are (their
    learning rate only: the formula is fixed), so a confirmation compares like with like."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the sweep file ({exc})") from None
    data = _toml(raw, where)
    unknown = set(data) - {"description", "lr", "baselines", "candidates", "halving"}
    if unknown:
        raise ConfigError(f"{where}: field '{sorted(unknown)[0]}': unknown key (allowed: "
                          "description, lr, baselines, candidates, halving)")
    knob_bytes, keep = raw, None
    if "halving" in data:
        header = _HALVING_HEADER.search(raw)
        knob_bytes = raw[:header.start()] if header else raw
        rest = {k: v for k, v in data.items() if k != "halving"}
        if header is None or _toml(knob_bytes, where) != rest:
            raise ConfigError(f"{where}: field 'halving': must be the file's last table, opened "
                              "by a '[halving]' line (the bytes before it are the sweep's knob "
                              "section, whose sha256 every row records)")
        keep = _halving_keep(data["halving"], where)

    def grid(values, name: str) -> list[float]:
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise ConfigError(f"{where}: field '{name}': expected a non-empty list of numbers, "
                              f"got {values!r}")
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: field '{name}': repeated value in {values}")
        return [float(v) for v in values]

    lrs = grid(data["lr"], "lr") if "lr" in data else None   # None: the budget's
    baselines = data.get("baselines", {})
    if not isinstance(baselines, dict) or not (baselines or data.get("candidates")):
        raise ConfigError(f"{where}: field 'baselines': expected tables such as [baselines.dpo] "
                          "(a sweep of candidates alone: [candidates.<name>] tables)")
    out = {}
    for name, knobs in baselines.items():
        if not isinstance(knobs, dict):
            raise ConfigError(f"{where}: field 'baselines.{name}': expected a table of knobs")
        if "configs" in knobs:
            out[name] = _listed_configs(name, knobs, where)
            continue
        axes = [(k, grid(v, f"baselines.{name}.{k}")) for k, v in knobs.items() if k != "lr"]
        lr = grid(knobs["lr"], f"baselines.{name}.lr") if "lr" in knobs else lrs
        if lr is not None:
            axes.append(("lr", lr))
        items = [name]
        for k, values in axes:
            items = [f"{it}:{k}={v!r}" for it in items for v in values]
        out[name] = items
    specs, spec_bytes = _sweep_candidates(data.get("candidates", {}), lrs, where)
    clash = sorted(set(specs) & set(out))
    if clash:
        raise ConfigError(f"{where}: field 'candidates.{clash[0]}': also a baseline")
    for name in specs:
        lr = data["candidates"][name].get("lr", lrs)
        out[name] = [f"{name}:lr={v!r}" for v in grid(lr, f"candidates.{name}.lr")]
    return SweepFile(out, keep, hashlib.sha256(knob_bytes + spec_bytes).hexdigest(),
                     hashlib.sha256(raw).hexdigest(), specs,
                     frozenset(n for n, k in baselines.items() if "configs" in k))


def configs_toml(name: str, configs: list[dict[str, float]]) -> list[str]:
    """``[baselines.<name>] configs = [...]`` as sweep-file lines (``_listed_configs`` reads
    them back)."""
    return [f"[baselines.{name}]", "configs = ["] + [
        "  {" + ", ".join(f"{k} = {float(v)!r}" for k, v in c.items()) + "}," for c in configs
    ] + ["]"]


def _listed_configs(name: str, knobs: dict, where: str) -> list[str]:
    """``[baselines.<name>] configs = [{k = v, ...}, ...]``: its configs as --losses items, in
    list order, each a table of numbers, none twice, nothing else in the table."""
    at = f"{where}: field 'baselines.{name}"
    if set(knobs) != {"configs"}:
        raise ConfigError(f"{at}': a baseline lists whole configs or knob lists, not both "
                          f"(found {', '.join(sorted(set(knobs) - {'configs'}))} beside configs)")
    listed = knobs["configs"]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{at}.configs': expected a non-empty list of tables such as "
                          "{beta = 2.0, lr = 3e-4}")
    items = []
    for i, config in enumerate(listed):
        if not isinstance(config, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in config.values()):
            raise ConfigError(f"{at}.configs[{i}]': expected a table of knob = number, "
                              f"got {config!r}")
        items.append(name + "".join(f":{k}={float(v)!r}" for k, v in config.items()))
    twice = sorted({it for it in items if items.count(it) > 1})
    if twice:
        raise ConfigError(f"{at}.configs': {twice[0]} is listed twice")
    return items


def _sweep_candidates(table, lrs, where: str) -> tuple[dict[str, str], bytes]:
    """A sweep file's ``[candidates.<name>]`` tables: (name -> spec file, the spec files'
    bytes in file order), every spec loaded and checked to hold the loss of that name."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: field 'candidates': expected tables such as "
                          "[candidates.lf-cf853722]")
    specs, spec_bytes = {}, b""
    for name, fields in table.items():
        at = f"{where}: field 'candidates.{name}"
        if not isinstance(fields, dict) or not isinstance(fields.get("spec"), str):
            raise ConfigError(f"{at}.spec': expected the path of the candidate's JSON spec")
        unknown = set(fields) - {"spec", "lr"}
        if unknown:
            raise ConfigError(f"{at}.{sorted(unknown)[0]}': unknown key (allowed: spec, lr; a "
                              "candidate's formula is fixed, its learning rate is its knob)")
        if "lr" not in fields and lrs is None:
            raise ConfigError(f"{at}.lr': no learning rates (set lr here or at the top)")
        try:
            load_candidate(name, fields["spec"])
        except LossforgeError as exc:
            raise ConfigError(f"{at}.spec': {exc}") from None
        specs[name] = fields["spec"]
        spec_bytes += repo_path(fields["spec"]).read_bytes()
    return specs, spec_bytes


def _toml(raw: bytes, where: str) -> dict:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None


def _halving_keep(table, where: str) -> int:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: field 'halving': expected a table with keep = N")
    unknown = set(table) - {"keep"}
    if unknown:
        raise ConfigError(f"{where}: field 'halving.{sorted(unknown)[0]}': unknown key "
                          "(allowed: keep)")
    keep = table.get("keep")
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ConfigError(f"{where}: field 'halving.keep': expected a whole number >= 1 (configs "
                          f"per baseline that go on to stage 2), got {keep!r}")
    return keep


def stage_seeds(seeds) -> tuple[int, list[int]]:
    """(stage-1 seed, stage-2 seeds): the lowest tuning seed, then the others in order."""
    first = min(seeds)
    return first, sorted(set(seeds) - {first})


def stage_one(labels: list[str], auc: dict[str, float | None], keep: int | None) -> list[str]:
    """The configs of one baseline that go on to stage 2: the ``keep`` with the highest stage-1
    AUC, best first, ties in file order (``labels``' order); a config that failed (non-finite
    AUC) never goes on. ``keep`` None (no halving): every config, in file order."""
    if keep is None:
        return list(labels)
    finite = [lb for lb in labels if auc[lb] is not None and math.isfinite(auc[lb])]
    return sorted(finite, key=lambda lb: -auc[lb])[:keep]   # sorted is stable: file order


def failed_pick(labels: list[str], item_of: dict, tried: list[dict], stage1: dict, cells: dict,
                scen: str, seeds: list[int], first: int, cut: list[dict]) -> dict:
    """The pick of an item none of whose configs ran without failing on the tuning draw: the
    config with the most runs that did not fail (on stage 2's seeds if any config reached it,
    else on stage 1's seed), ties in grid order. Marked ``failed_on_tuning``, with no AUC or
    final (null) and no grid edge (it is not extended)."""
    def ok_runs(label: str) -> int:
        on = seeds if tried else [first]
        return sum(1 for sd in on if (r := cells.get((scen, label, sd))) is not None
                   and r.get("status") == "ok")

    pool = [t["loss"] for t in tried] or [lb for lb in labels if lb in stage1]
    label = max(pool, key=lambda lb: (ok_runs(lb), -pool.index(lb)))
    return {"item": item_of[label], "loss": label, "config": _knobs(label), "auc": None,
            "final": None, "failed_on_tuning": True, "n_seeds": len(seeds), "tried": tried,
            "cut_at_stage1": cut, "on_edge": []}


def _sweep_cells(rows: list[dict]) -> dict[tuple, dict]:
    """(scenario, loss, seed) -> the sweep row of that run."""
    return {(r["scenario"], r["loss"], r["seed"]): r for r in rows}


def _stage_one_of(scen: str, grid_labels: dict[str, list[str]], cells: dict, first: int,
                  keep: int | None) -> tuple[dict, dict, list]:
    """One scenario's stage 1 from its rows: (baseline -> stage-1 AUC by label, baseline ->
    labels kept for stage 2, [(scenario, label, seed)] of stage-1 rows missing). A baseline
    with a stage-1 row missing has no kept labels: stage 2 waits for the whole of stage 1."""
    scores, kept, absent = {}, {}, []
    for baseline, labels in grid_labels.items():
        rows = {lb: cells.get((scen, lb, first)) for lb in labels}
        gone = [(scen, lb, first) for lb, r in rows.items() if r is None]
        absent += gone
        scores[baseline] = {lb: row_metric(r, "auc") for lb, r in rows.items() if r is not None}
        kept[baseline] = [] if gone else stage_one(labels, scores[baseline], keep)
    return scores, kept, absent


def _check_sweep_rows(rows: list[dict], decl: SweepFile, where: str) -> None:
    """Refuse rows recorded under another knob section, or under another halving section
    (rows that record none, as rows written before halving existed, fit any: stage-1 rows are
    the same runs either way, and tuning reads only the stage-2 rows its halving keeps)."""
    other = sorted({r["sweep"]["sha256"] for r in rows} - {decl.sha256})
    if other:
        raise ConfigError(f"{where}: has rows of a sweep whose knob section had sha256 "
                          f"{other[0]}, not {decl.sha256}: the sweep file's baselines or "
                          "learning rates changed since they ran")
    halvings = {json.dumps(r["sweep"]["halving"], sort_keys=True) for r in rows
                if r["sweep"].get("halving") is not None}
    if halvings - {json.dumps(decl.halving, sort_keys=True)}:
        raise ConfigError(f"{where}: field 'halving' changed since the sweep ran (rows record "
                          f"{', '.join(sorted(halvings))}, the file says "
                          f"{json.dumps(decl.halving)})")


def _shown(path: Path) -> str:
    """A file as the repository names it, else where it is."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def sweep(args) -> None:
    """A declared sweep on the tuning draw, scenario by scenario, resumable: stage 1 runs every
    config on the lowest tuning seed; stage 2, once stage 1 of the scenario is complete, runs
    each baseline's ``keep`` best configs by stage-1 AUC on the other tuning seeds (without a
    halving section: every config)."""
    path, out = Path(args.sweep_file), Path(args.out)
    decl = read_sweep(path)
    seeds = parse_seeds(args.seeds)
    overlap = set(seeds) & set(parse_seeds(REPORTING_SEEDS))
    if overlap:
        raise ConfigError(f"--seeds {args.seeds}: seeds {sorted(overlap)} are reporting seeds "
                          f"({REPORTING_SEEDS}); tune on others (default {TUNING_SEEDS})")
    first, rest = stage_seeds(seeds)
    earlier = [r for r in records(out) if r.get("role") == "sweep"] if out.exists() else []
    _check_sweep_rows(earlier, decl, str(out))   # before anything trains
    budgets = sorted({r["budget"] for r in earlier} - {args.budget})
    if budgets:
        raise ConfigError(f"{out}: has sweep rows at budget {budgets[0]}; tune one budget per "
                          f"file (--budget {args.budget})")
    tag = {"role": "sweep", "sweep": {"file": _shown(path), "sha256": decl.sha256,
                                      "file_sha256": decl.file_sha256,
                                      "halving": decl.halving, "seeds": sorted(set(seeds))}}
    scenarios = {name: load_bed(name) for name in args.scenarios.split(",")}
    configs = {}
    for name, scen in scenarios.items():
        configs[name] = []
        for baseline, items in decl.grid.items():
            for c in configs_from_losses(",".join(items), scen, decl.specs, **tag,
                                         baseline=baseline):
                c.fields["config"] = _knobs(c.name)
                configs[name].append(c)
    n = sum(len(items) for items in decl.grid.values())   # configs a scenario
    kept_n = n if decl.keep is None else sum(min(decl.keep, len(v)) for v in decl.grid.values())
    full, halved = n * (1 + len(rest)), n + kept_n * len(rest)
    print(f"sweep {path}: {n} configs on seed {first}, then "
          + (f"each baseline's best {decl.keep} ({kept_n} configs)" if decl.keep else "all")
          + f" on seeds {rest or 'none'}, on the tuning draw ({len(configs)} scenarios, budget "
          f"{args.budget}): {halved} runs a scenario"
          + (f" instead of {full}: halving saves {full - halved} ({(full - halved) / full:.0%})"
             if decl.keep else ""), flush=True)
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    grid_labels = {b: [_label(it) for it in items] for b, items in decl.grid.items()}
    for name, scen in scenarios.items():   # both stages of a scenario before the next
        common = dict(draws=(TUNING,), budget=args.budget, workers=args.workers, fixed=False,
                      command=command)
        run_cells(out, {name: scen}, {name: configs[name]}, seeds=[first], **common)
        cells = _sweep_cells([r for r in records(out) if r.get("role") == "sweep"
                              and r.get("draw") == TUNING and r.get("budget") == args.budget])
        _, kept, absent = _stage_one_of(name, grid_labels, cells, first, decl.keep)
        if absent:   # run_cells returns only when the file has every row it set out to write
            raise LossforgeError(f"{out}: stage 1 of {name} lacks {len(absent)} rows after "
                                 "running it")
        stage2 = {lb for labels in kept.values() for lb in labels}
        if decl.keep is not None:
            print(f"{name}: stage 1 done; stage 2 on seeds {rest}: "
                  + "; ".join(f"{b} {', '.join(lbs) or 'none (all failed)'}"
                              for b, lbs in kept.items()), flush=True)
        if rest and stage2:
            run_cells(out, {name: scen}, {name: [c for c in configs[name] if c.name in stage2]},
                      seeds=rest, **common)


def _knobs(label: str) -> dict[str, float]:
    """'dpo[beta=2,lr=0.001]' -> {'beta': 2.0, 'lr': 0.001} (the label parse_losses makes)."""
    inside = label.partition("[")[2].rstrip("]")
    return {k: float(v) for k, _, v in (kv.partition("=") for kv in inside.split(",") if kv)}


def tuned(args) -> None:
    """Each baseline's best config per scenario from a finished sweep, frozen in a JSON file,
    with the configs halving cut at stage 1 and their stage-1 AUC."""
    path = Path(args.sweep_jsonl)
    rows = [r for r in records(path) if r.get("role") == "sweep"] if path.exists() else []
    if not rows:
        raise ConfigError(f"{path}: no sweep rows (made by 'baselines.py sweep')")
    sweeps = {(r["sweep"]["file"], r["sweep"]["sha256"]) for r in rows}
    budgets = {r["budget"] for r in rows}
    if len(sweeps) > 1 or len(budgets) > 1:
        raise ConfigError(f"{path}: rows of {len(sweeps)} sweep files and {len(budgets)} budgets; "
                          "tune one sweep at one budget per file")
    (sweep_file, sha), budget = sweeps.pop(), budgets.pop()
    decl = declared_sweep(sweep_file, sha)
    _check_sweep_rows(rows, decl, str(path))
    # the tuning seeds: rows of this code record them; older rows only their own
    seeds = sorted({r["seed"] for r in rows}
                   | {s for r in rows for s in r["sweep"].get("seeds", ())})
    first, rest = stage_seeds(seeds)
    if decl.keep is not None and not rest:
        raise ConfigError(f"{path}: the sweep is not finished: its rows hold seed {first} only, "
                          "and the file declares halving: stage 2 has not run; run the same "
                          "sweep command again")
    cells = _sweep_cells(rows)
    grid_labels = {b: [_label(it) for it in items] for b, items in decl.grid.items()}
    item_of = {_label(it): it for items in decl.grid.values() for it in items}
    scenarios = sorted({r["scenario"] for r in rows})
    absent, picks, unpicked = [], {}, []
    for scen in scenarios:
        picks[scen] = {}
        stage1, kept, absent1 = _stage_one_of(scen, grid_labels, cells, first, decl.keep)
        absent += absent1
        for baseline, labels in grid_labels.items():
            tried = []
            for label in labels:   # file order: max below keeps the first of ties
                if label not in kept[baseline]:
                    continue
                rs = [cells.get((scen, label, sd)) for sd in seeds]
                absent += [(scen, label, sd) for sd, r in zip(seeds, rs) if r is None]
                if None in rs:
                    continue
                auc = [row_metric(r, "auc") for r in rs]
                fin = [row_metric(r, "final") for r in rs]
                tried.append({"item": item_of[label], "loss": label, "config": _knobs(label),
                              "auc": sum(auc) / len(auc), "final": sum(fin) / len(fin),
                              "stage1_auc": stage1[baseline][label]})
            cut = [{"loss": lb, "stage1_auc": stage1[baseline][lb]} for lb in labels
                   if lb in stage1[baseline] and lb not in kept[baseline]]
            finite = [t for t in tried if t["auc"] == t["auc"]]
            if finite:
                best = max(finite, key=lambda t: t["auc"])   # max keeps the first of ties
                picks[scen][baseline] = {**best, "n_seeds": len(seeds), "tried": tried,
                                         "cut_at_stage1": cut,
                                         "on_edge": [] if baseline in decl.listed else
                                         on_edge(best["config"], [_knobs(lb) for lb in labels])}
            elif not absent:
                # no config ran without failing: it is still confirmed, at a declared config
                # (v2-plan.md, Session 19), so its failure counts in every table (no test,
                # p = 1 in Holm's m) instead of the loss silently leaving them
                picks[scen][baseline] = failed_pick(labels, item_of, tried, stage1[baseline],
                                                    cells, scen, seeds, first, cut)
                unpicked.append(f"{scen}: {baseline}")
            if baseline in decl.specs and baseline in picks[scen]:   # a candidate, tuned as
                picks[scen][baseline]["spec"] = decl.specs[baseline]  # the baselines are
    if absent:
        raise ConfigError(f"{path}: the sweep is not finished: {len(absent)} runs missing "
                          f"(e.g. {absent[0][0]} {absent[0][1]} seed {absent[0][2]}); run "
                          "the same sweep command again")
    out = Path(args.out) if args.out else path.with_suffix(".tuned.json")
    frozen = {"selection": SELECTION[1], "metric": SELECTION[0], "budget": budget,
              "draw": TUNING, "seeds": seeds, "halving": decl.halving, "stage1_seed": first,
              "sweep_file": sweep_file, "sweep_sha256": sha,
              "sweep_file_sha256": decl.file_sha256, "sweep_jsonl": str(path),
              "sweep_commands": sorted({r.get("command", "?") for r in rows}),
              "command": "python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
              "scenarios": picks, "failed_everywhere": unpicked}
    atomic_write_json(out, frozen)
    if unpicked:
        print("no config ran without failing, so no tuned setting; confirmed at the config "
              "with the most runs that did not fail, where its failures count: "
              + "; ".join(unpicked))
    for scen, by in picks.items():
        print(f"{scen}: " + ", ".join(
            f"{b} -> {v['loss']} (failed on the tuning draw)" if v.get("failed_on_tuning") else
            f"{b} -> {v['loss']} (AUC {v['auc']:.1f}, final {v['final']:.1f})"
            for b, v in by.items()))
        edges = [f"{b} ({', '.join(v['on_edge'])})" for b, v in by.items() if v["on_edge"]]
        if edges:
            print(f"  picks on an edge of their grid (the optimum may lie beyond it): "
                  + "; ".join(edges))
        if decl.keep is not None:
            for b, v in by.items():
                print(f"  {b}: cut at stage 1 (AUC on seed {first}): "
                      + (", ".join(f"{c['loss']} {c['stage1_auc']:.1f}" for c in
                                   v["cut_at_stage1"]) or "none"))
    print(f"wrote {out}")


def shortlist(args) -> None:
    """A sweep file of each baseline's shortlist: its tuned pick on any scenario of the given
    tuned files (``--take stage2``: every config that reached stage 2, its ``tried``), in the
    source sweep's grid order, deduplicated; a pick off the grid (a merged file's pick from an
    edge extension, ``merge``) follows its baseline's grid picks. Benchmark v2 tunes the test
    suite on the train suite's shortlist (``benchmarks/results/v2-plan.md`` declares the rule):
    per-scenario tuning, at about half the runs of the full grid. Candidates are left out
    (they get their own sweep file).

    ``--take grid+picks``: every entry's whole grid, candidates included, then its tuned picks
    off the grid. It is for a sweep whose only knob is the learning rate (the candidates', the
    trained shortcut's): on the test suite they keep their three rates and gain the edge
    extensions they picked on the train suite, as the baselines' shortlist holds theirs
    (v2-plan.md, "Session 22")."""
    if args.keep < 1:
        raise ConfigError(f"--keep {args.keep}: expected a whole number >= 1")
    frozen, sources = [], set()
    for f in args.tuned:
        one = _tuned_file(f, ("budget", "scenarios", "sweep_file", "sweep_sha256"))
        sources.add((one["sweep_file"], one["sweep_sha256"], one["budget"]))
        frozen.append((f, one["scenarios"]))
    if len(sources) != 1:
        raise ConfigError("shortlist: the tuned files come from "
                          f"{len(sources)} sweeps or budgets: " + "; ".join(
                              f"{a} (sha256 {b[:12]}, budget {c})" for a, b, c in sorted(sources))
                          + "; shortlist one sweep at a time")
    sweep_file, sha, budget = sources.pop()
    decl = declared_sweep(sweep_file, sha)
    covered = sorted({scen for _, scenarios in frozen for scen in scenarios})
    if args.suite:
        from lossforge.bench.suites import load_suite

        want = load_suite(args.suite).scenarios
        gap = sorted(set(want) - set(covered))
        if gap:
            raise ConfigError(f"shortlist: {args.suite} has scenarios no tuned file covers: "
                              f"{', '.join(gap)} (finish their sweeps first)")
    whole = args.take == "grid+picks"
    chosen = defaultdict(set)
    for _, scenarios in frozen:
        for picks in scenarios.values():
            for baseline, pick in picks.items():
                # a candidate has its own sweep file (unless the whole grid is taken: then this
                # is it); a pick that failed on its tuning draw is no tuned setting to carry over
                if ("spec" not in pick or whole) and not pick.get("failed_on_tuning"):
                    chosen[baseline].update([t["item"] for t in pick["tried"]]
                                            if args.take == "stage2" else [pick["item"]])
    if whole:
        for name, items in decl.grid.items():
            other = sorted({k for it in items for k in _item_knobs(it)} - {"lr"})
            if other:
                raise ConfigError(f"shortlist --take grid+picks: {sweep_file}: {name} has the "
                                  f"knob {other[0]} beside lr (the whole grid is taken for a "
                                  "sweep of learning rates only)")
            chosen[name].update(items)
    # each baseline's picks in its grid's order, then those off the grid (edge extensions)
    listed = {b: [it for it in decl.grid.get(b, []) if it in items]
              + sorted(items - set(decl.grid.get(b, []))) for b, items in chosen.items()}
    off = sum(len(items - set(decl.grid.get(b, []))) for b, items in chosen.items())
    lines = [f"# Benchmark v2 shortlist sweep, written by (do not edit: rows record the sha256 "
             "of the knob section):",
             "#   python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
             "# Each baseline's " + {"picks": "tuned pick", "stage2": "configs that reached "
                                     "stage 2", "grid+picks": "(and candidate's) whole grid and "
                                     "tuned picks"}[args.take]
             + f" in {sweep_file} (sha256 {sha[:12]}, budget {budget})",
             f"# on any of these scenarios ({len(covered)}): {', '.join(covered)}."
             + (f" {off} of them are off that grid: picks of edge extensions (merge)."
                if off else ""),
             "# The rule and why: benchmarks/results/v2-plan.md.",
             f'description = "shortlist ({args.take}) of {sweep_file} from {len(covered)} '
             'scenario(s)"',
             ""]
    n = 0
    for baseline in [*decl.grid, *sorted(set(chosen) - set(decl.grid))]:
        mine = listed.get(baseline, [])
        if not mine:
            continue
        n += len(mine)
        if baseline in decl.specs:
            lines += [f"[candidates.{baseline}]", f"spec = {json.dumps(decl.specs[baseline])}",
                      "lr = [" + ", ".join(repr(_item_knobs(it)["lr"]) for it in mine) + "]"]
        else:
            lines += configs_toml(baseline, [_item_knobs(it) for it in mine])
    lines += ["[halving]", f"keep = {args.keep}", ""]
    out = Path(args.out)
    atomic_write_text(out, "\n".join(lines))
    check = read_sweep(out)   # what was written reads back as a valid sweep file
    kept = sum(min(args.keep, len(v)) for v in check.grid.values())
    entries = len(check.grid)
    print(f"wrote {out}: {n} configs of {entries} "
          + (("entry" if entries == 1 else "entries") + " (their grids: " if whole
             else "baselines (full grid: ")
          + f"{sum(len(v) for b, v in decl.grid.items() if whole or b not in decl.specs)}); a "
          f"scenario costs {n} + {kept} x (tuning seeds - 1) runs")


def suite_reference(args) -> None:
    """The regret reference of a suite search from tuned baselines (issue 19: regret to the best
    *tuned* baseline of each scenario). Every baseline of the tuned files, at its tuned config,
    trains on the search's own units: draw 0 of each suite scenario, each rung's seeds (rows
    in ``--runs``, resumable). Per rung and scenario the file holds the best baseline by mean
    score, its score on every seed (so the search's regret stays paired per seed) and the
    reference's score: ``python -m lossforge.search --suite ... --suite-baselines FILE``.

    Written once: an existing file is kept as it is (nothing is checked or trained). It records
    the table a search started from, and the search's checkpoint holds a copy; the reference
    policy's score is evaluated afresh here, and on another machine it gives other digits, so
    a rewrite would make the committed file disagree with the table the search used."""
    from lossforge.search import suite_fitness as sf

    if Path(args.out).exists():
        print(f"{args.out}: exists, kept (a search reads it; remove it by hand to redo it)")
        return
    frozen = read_tuned(list(args.tuned))
    suite_name, members = sf.load(args.suite)
    gap = [m.name for m in members if m.name not in frozen["scenarios"]]
    if gap:
        raise ConfigError(f"suite-reference: no tuned configs for {', '.join(gap)} (finish "
                          "their sweeps and run tuned first)")
    rungs = [r for r in args.rungs.split(",") if r]
    runs, out = Path(args.runs), Path(args.out)
    command = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    result = {"suite": suite_name, "metric": "auc", "draw": 0, "tuned": list(args.tuned),
              "runs": _shown(runs), "command": command}
    for rung in rungs:
        for m in members:
            scen = load_bed(m.name)
            cs = [c for b, pick in frozen["scenarios"][m.name].items() if "spec" not in pick
                  for c in configs_from_losses(pick["item"], scen, role="suite-reference",
                                               baseline=b, config=pick["config"])]
            run_cells(runs, {m.name: scen}, {m.name: cs}, draws=(0,),
                      seeds=scen.budget(rung).seeds, budget=rung, workers=args.workers,
                      fixed=False, command=command)
        units = sf.units_of(members, rung)
        rows = [r for r in records(runs) if r.get("role") == "suite-reference"
                and r["budget"] == rung and r["draw"] == 0]
        scores, label = defaultdict(dict), {}
        for r in rows:
            if r["loss"] == frozen["scenarios"][r["scenario"]][r["baseline"]]["loss"]:
                # a run stopped for a non-finite loss keeps a score (of its last finite
                # parameters), but failed, as a candidate's unit in that state does: such a
                # baseline is not the best (baseline_table takes only baselines finite on
                # every unit)
                scores[r["baseline"]][sf.Unit(r["scenario"], r["seed"])] = \
                    r["score"] if r.get("status") == "ok" else None
                label[r["scenario"], r["baseline"]] = r["loss"]
        refs = {m.name: sf.reference_score("bench", m.path, rung, "auc") for m in members}
        table = sf.baseline_table(dict(scores), units, refs)
        result[rung] = {s: {"best": t["best_score"], "reference": t["reference"],
                            "baseline": label[s, t["best"]], "per_seed": t["per_seed"]}
                        for s, t in table.items()}
        for s, t in result[rung].items():
            print(f"{rung} {s}: best tuned {t['baseline']} {t['best']:.1f}, reference "
                  f"{t['reference']:.1f}", flush=True)
    atomic_write_json(out, result)
    print(f"wrote {out}")


def on_edge(config: dict[str, float], grid: list[dict[str, float]]) -> list[str]:
    """The knobs of ``config`` at the smallest or largest value ``grid`` tries for them
    ('lr max', 'beta min'); knobs the grid holds at one value are not edges."""
    out = []
    for k, v in config.items():
        values = {g[k] for g in grid if k in g}
        if len(values) > 1 and v in (min(values), max(values)):
            out.append(f"{k} {'min' if v == min(values) else 'max'}")
    return out


#: Knob values a zoo loss accepts, where not every positive number does (open intervals): rDPO's
#: and cDPO's eps divide by or weigh 1 - 2 eps; a learning rate above 1 is not one.
KNOB_DOMAIN = {"eps": (0.0, 0.5), "lr": (0.0, 1.0)}


def beyond(values: list[float], side: str, knob: str) -> float | None:
    """One grid step past the ``side`` ("min" or "max") end of ``values``: the grid's own ratio
    between its last two values there, 2 significant digits; halfway to the knob's bound when
    that step leaves ``KNOB_DOMAIN``; None when no step stays inside it."""
    lo, hi = KNOB_DOMAIN.get(knob, (0.0, math.inf))
    v = sorted(set(values))
    if len(v) < 2 or v[0] <= 0:
        return None
    new = v[-1] * v[-1] / v[-2] if side == "max" else v[0] * v[0] / v[1]
    if not lo < new < hi:
        new = (v[-1] + hi) / 2 if side == "max" else (v[0] + lo) / 2
    new = float(f"{new:.2g}")
    return new if lo < new < hi and new not in v else None


def extend(args) -> None:
    """A sweep file that extends every pick on an edge of its grid one step past that edge
    (``beyond``): the pick's config with each non-empty subset of its edge knobs moved. No
    halving: every new config runs on every tuning seed, so ``merge`` can compare its mean
    with the pick's. One scenario per tuned file (edges differ between scenarios)."""
    one = _tuned_file(args.tuned, ("budget", "scenarios", "sweep_file", "sweep_sha256"))
    if len(one["scenarios"]) != 1:
        raise ConfigError(f"{args.tuned}: {len(one['scenarios'])} scenarios; extend one "
                          "scenario's picks at a time (their edges differ)")
    (scen, picks), = one["scenarios"].items()
    decl = declared_sweep(one["sweep_file"], one["sweep_sha256"])
    base_lines, cand_lines, n, skipped = [], [], 0, []
    for name, pick in picks.items():
        grid = [_knobs(_label(it)) for it in decl.grid[name]]
        moved = {}
        edges = pick["on_edge"] if "on_edge" in pick else (   # (tuned files before on_edge)
            [] if name in decl.listed else on_edge(pick["config"], grid))
        for edge in edges:
            knob, side = edge.split()
            new = beyond([g[knob] for g in grid if knob in g], side, knob)
            if new is None:
                skipped.append(f"{name} {knob} ({side}: no step inside the knob's domain)")
            else:
                moved[knob] = new
        if not moved:
            continue
        keys = sorted(moved)
        subsets = [[k for i, k in enumerate(keys) if mask >> i & 1]
                   for mask in range(1, 2 ** len(keys))]
        configs = [{**pick["config"], **{k: moved[k] for k in sub}} for sub in subsets]
        n += len(configs)
        if name in decl.specs:   # a candidate: its only knob is lr
            cand_lines += [f"[candidates.{name}]", f'spec = "{decl.specs[name]}"',
                           f"lr = [{', '.join(repr(c['lr']) for c in configs)}]"]
        else:
            base_lines += configs_toml(name, configs)
    if skipped:
        print("not extended: " + "; ".join(skipped))
    if not n:
        print(f"{args.tuned}: no pick can move past an edge of its grid; nothing to extend")
        return
    out = Path(args.out)
    atomic_write_text(out, "\n".join([
        "# Extension of a tuning sweep past the edges of its grid, written by (do not edit):",
        "#   python benchmarks/baselines.py " + " ".join(sys.argv[1:]),
        f"# Picks of {args.tuned} ({scen}) on an edge of {one['sweep_file']}: each moved one",
        "# grid step past that edge (benchmarks/baselines.py beyond). Every config on every",
        "# tuning seed; then: tuned, and merge with the original picks.",
        f'description = "extension of {one["sweep_file"]} past the edges of {scen}\'s picks"',
        "", *base_lines, *cand_lines, ""]))
    read_sweep(out)   # reads back as a valid sweep file
    print(f"wrote {out}: {n} configs (run it with the sweep's tuning seeds and budget on "
          f"{scen}, then tuned, then merge)")


def merge(args) -> None:
    """Tuned picks of a sweep and of its extension (``extend``), merged: per scenario and
    baseline the higher mean AUC over the same tuning seeds (ties: the original pick)."""
    base = _tuned_file(args.base)
    ext = _tuned_file(args.extension)
    for key in ("budget", "seeds", "draw"):
        if base.get(key) != ext.get(key):
            raise ConfigError(f"{args.extension}: {key} {ext.get(key)!r}, {args.base} has "
                              f"{base.get(key)!r}: merge picks of one tuning protocol")
    unknown = sorted(set(ext["scenarios"]) - set(base["scenarios"]))
    if unknown:
        raise ConfigError(f"{args.extension}: scenario {unknown[0]} is not in {args.base}")
    merged = json.loads(json.dumps(base))
    changed = []
    for scen, picks in ext["scenarios"].items():
        for name, pick in picks.items():
            old = merged["scenarios"][scen].get(name)
            if old is None:
                raise ConfigError(f"{args.extension}: {scen}: {name} has no pick in {args.base}")
            if pick["auc"] is not None and (old["auc"] is None or pick["auc"] > old["auc"]):
                merged["scenarios"][scen][name] = {**pick, "extended_from": old["loss"]}
                changed.append(f"{scen}: {name} {old['loss']} ("
                               + ("failed" if old["auc"] is None else f"{old['auc']:.1f}")
                               + f") -> {pick['loss']} ({pick['auc']:.1f})")
    merged["merged_from"] = [args.base, args.extension]
    merged["command"] = "python benchmarks/baselines.py " + " ".join(sys.argv[1:])
    atomic_write_json(Path(args.out), merged)
    print("\n".join(changed) if changed else "no extended config beat its original pick")
    print(f"wrote {args.out}")


def declared_sweep(sweep_file: str, sha: str) -> SweepFile:
    """The sweep file that rows or a tuned file name, refused if it is missing or its knob
    section no longer has the sha256 they recorded (declare, then run)."""
    path = repo_path(sweep_file)
    decl = read_sweep(path) if path.exists() else None
    if decl is None or decl.sha256 != sha:
        raise ConfigError(f"{sweep_file}: missing or changed since the sweep ran (sha256 {sha} "
                          "of its knob section)")
    return decl


def _label(item: str) -> str:
    from lossforge.bench.losses import parse_losses

    return parse_losses(item)[0][0]


def _item_knobs(item: str) -> dict[str, float]:
    """'dpo:beta=2.0:lr=0.001' -> {'beta': 2.0, 'lr': 0.001}, exactly (a label rounds each
    value to six digits)."""
    from lossforge.bench.losses import parse_losses

    return parse_losses(item)[0][2]


# --------------------------------------------------------------------------------------------
# Tuned files: the frozen picks ``tuned`` writes, read by confirm, shortlist, extend, merge and
# suite-reference
# --------------------------------------------------------------------------------------------
def _tuned_file(f: str, keys: tuple[str, ...] = ("budget", "seeds", "scenarios")) -> dict:
    """One tuned.json with ``keys``, or a one-line refusal naming it."""
    try:
        one = json.loads(Path(f).read_text())
        for key in keys:
            one[key]   # noqa: B018 - present, or the refusal below
        return one
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{f}: not a tuned file made by 'baselines.py tuned' "
                          f"({type(exc).__name__}: {exc})") from None


def read_tuned(paths: list[str]) -> dict | None:
    """The frozen picks of one or more tuned.json files, merged per scenario (a later sweep's
    candidates join the baselines of an earlier one: the same budget and tuning seeds, no
    name twice). None without files. ``by_file``: each file's scenarios."""
    if not paths:
        return None
    merged: dict = {"scenarios": defaultdict(dict), "by_file": {}}
    for f in paths:
        one = _tuned_file(f)
        budget, seeds, scenarios = one["budget"], one["seeds"], one["scenarios"]
        for key, value in (("budget", budget), ("seeds", sorted(seeds))):
            if merged.setdefault(key, value) != value:
                raise ConfigError(f"{f}: tuned at {key} {value}, {paths[0]} at "
                                  f"{merged[key]}: confirm one protocol at a time")
        merged["by_file"][f] = set(scenarios)
        for scen, picks in scenarios.items():
            twice = sorted(set(picks) & set(merged["scenarios"][scen]))
            if twice:
                raise ConfigError(f"{f}: {scen}: {twice[0]} is tuned in an earlier --tuned "
                                  "file too")
            merged["scenarios"][scen].update(picks)
    merged["scenarios"] = dict(merged["scenarios"])
    return merged
