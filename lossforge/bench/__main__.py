"""``python -m lossforge.bench``: score losses on a MuJoCo preference scenario.

    python -m lossforge.bench --env Hopper-v5 --scenario noisy-0.3 --losses dpo,orpo,ipo,robust,hinge
    python -m lossforge.bench --scenario quick --losses dpo:beta=2,orpo:lam=0.5 --budget quick
    python -m lossforge.bench --scenario hopper-clean --formula "p*log(p) + p**2"
    python -m lossforge.bench --list-scenarios

Every table also scores the reference policy (BC per the scenario's recipe, untrained) and
BC-on-chosen (behaviour cloning on the chosen segments only, one clone per training seed). All
rows share training seeds and evaluation episodes (paired comparisons). Writes results.json,
results.csv and results.png (scores with 95 % CIs, and training curves) into the run directory.
Exit code 2 on bad input.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lossforge.cli import Parser, attach_values, run_main
from lossforge.bench.losses import build_objectives, run_objective
from lossforge.bench.result import METRICS
from lossforge.bench.scenarios import BUDGET_NAMES
from lossforge.errors import ConfigError, LossforgeError
from lossforge.io import claim_new_dir


def resolve_scenario(env: str | None, scenario: str) -> Path:
    """The scenario's file by the rule every command shares (``resources.find_scenario``):
    a name, or with --env Hopper-v5 a short one ('noisy-0.3' -> 'hopper-noisy-0.3'), or a TOML
    path."""
    from lossforge.resources import find_scenario

    return find_scenario(scenario, env=env)


def formula_label(formula: str) -> str:
    """The row label of a scored formula: ``h=...`` for h(p), ``phi~=...`` for phi~(l)."""
    from lossforge.symbolic.mirror_map import MirrorMap

    return f"{'h' if MirrorMap.from_formula(formula).order == 2 else 'phi~'}={formula}"


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m lossforge.bench",
                                 description="Score preference losses on a MuJoCo scenario.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--env", help="environment id, to resolve short scenario names (Hopper-v5)")
    ap.add_argument("--scenario", default="quick", help="scenario name or TOML path")
    ap.add_argument("--losses", default="dpo,orpo,ipo,robust,hinge",
                    help="comma-separated zoo names, each optionally name:key=value[:k=v]")
    ap.add_argument("--formula", action="append", default=[],
                    help="score a mirror map, h(p) or phi~(l), as an MPO loss (DPO link); "
                         "repeatable")
    ap.add_argument("--from-run", action="append", default=[], metavar="RUN[:RANK|:NAME]",
                    help="score a loss found by a search: hall-of-fame rank (0 = best, the "
                         "default) or loss id of a run directory; repeatable")
    ap.add_argument("--budget", default="screen", choices=BUDGET_NAMES)
    ap.add_argument("--seeds", help="training seeds, e.g. 0-4 or 0,3,7 (default: the budget's)")
    ap.add_argument("--episodes", type=int, help="evaluation episodes (default: the budget's)")
    ap.add_argument("--metric", default="auc", choices=METRICS)
    ap.add_argument("--out", help="run directory (default runs/bench-<time>-<scenario>)")
    ap.add_argument("--list-scenarios", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(attach_values(argv, ["--formula"]))  # "-sqrt(-l)" too
    try:
        return _run(args)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from lossforge.bench import draws
    from lossforge.cli import PipeConsole
    from lossforge.bench.scenarios import list_scenarios, load_scenario, parse_seeds

    console = PipeConsole(quiet=False)
    if args.list_scenarios:   # every file, one line each; a file that does not load says why
        broken = 0
        for name in list_scenarios():
            try:
                sc = load_scenario(name)
            except LossforgeError as exc:
                broken += 1
                console.print(f"{name:28s} does not load: {exc}", soft_wrap=True, markup=False,
                              highlight=False)
                continue
            length = "length-ctrl" if sc.length_controlled else "length-leaks"
            console.print(f"{name:28s} {sc.env_id:14s} {length:12s} {sc.description}",
                          soft_wrap=True, markup=False, highlight=False)
        return 2 if broken else 0
    scen = load_scenario(resolve_scenario(args.env, args.scenario))
    if args.env and scen.env_id != args.env:
        raise ConfigError(f"scenario {scen.name} is for {scen.env_id}, not {args.env}")
    budget = scen.budget(args.budget)
    seeds = parse_seeds(args.seeds) if args.seeds else budget.seeds
    episodes = budget.eval_episodes if args.episodes is None else args.episodes
    draws.episode_seeds(0, episodes)   # --episodes 0: refused now, not after the training
    objs = scored_objectives(args, scen)
    if args.out:
        out = Path(args.out)
        make_out_dir(out)
    else:   # a new directory of its own, also beside a bench run started in the same second
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = claim_new_dir("runs", f"bench-{stamp}-{scen.name}")
    with out_lock(out):
        return _score(args, console, scen, budget, seeds, episodes, objs, out)


def _score(args, console, scen, budget, seeds, episodes, objs, out: Path) -> int:
    """Train and score ``objs`` on ``scen``, print the table, write the results to ``out``."""
    from rich.markup import escape
    from rich.table import Table

    from lossforge import ledger  # scoring losses on a scenario is a look at it: listed
    from lossforge.bench import fitness

    ledger.record("bench", command=["python -m lossforge.bench", *sys.argv[1:]],
                  scenario=scen.name, seeds=list(seeds), budget=args.budget,
                  purpose=f"-> {out}")
    start = time.perf_counter()
    progress = not args.quiet
    console.print(f"[bold]{scen.name}[/] ({scen.env_id}), budget {args.budget}: "
                  f"{budget.train_steps} steps x {len(seeds)} seeds, "
                  f"{episodes} episodes; {len(objs)} losses")
    results = fitness.evaluate(objs, scen, args.budget, seeds=seeds, metric=args.metric,
                               progress=progress, episodes=args.episodes)
    rows = [*fixed_rows(scen, args.budget, seeds, args.episodes, progress), *results]
    wall = time.perf_counter() - start

    table = Table(title=f"{scen.name} · {args.budget} · metric {args.metric} (normalised score)")
    for col in ("loss", "score", "95% CI", "seeds", "final", "status"):
        table.add_column(col, justify="right" if col not in ("loss", "status") else "left")
    for r in rows:
        mark = "†" if r.name == fitness.BC_ON_CHOSEN and args.metric != "final" else ""
        table.add_row(escape(r.name), f"{r.score:.1f}{mark}",
                      "—" if r.ci95 != r.ci95 else f"±{r.ci95:.1f}",
                      str(len(r.per_seed)), f"{r.final:.1f}", r.status)
    console.print(table)
    if args.metric != "final":
        bc = rows[1]
        console.print(f"† {fitness.BC_ON_CHOSEN} is scored on its final weights, as in every "
                      f"table, and not ranked on AUC (its AUC over its own checkpoints: "
                      f"{bc.auc:.1f})", markup=False, highlight=False)
    console.print(f"wall time {wall:.0f} s; results in {escape(str(out))}")
    _write(out, args, scen, seeds, rows, objs, wall)
    return 0


def fixed_rows(scen, budget: str, seeds, episodes: int | None, progress: bool) -> list:
    """The reference's row and BC-on-chosen's, by the benchmark tables' own rule
    (``fitness.fixed_policies``, one clone per seed): BC-on-chosen's score and final are its
    final weights' mean over seeds, its AUC the mean of each clone's AUC over
    ``fitness.bc_checkpoints``, its curve the mean curve."""
    from lossforge.bench import fitness

    start = time.perf_counter()
    ref = fitness.fixed_policies(scen, budget, seeds[0], names=(fitness.REFERENCE,),
                                 episodes=episodes, progress=progress)[fitness.REFERENCE]
    clones = [fitness.fixed_policies(scen, budget, s, names=(fitness.BC_ON_CHOSEN,),
                                     episodes=episodes, progress=progress)[fitness.BC_ON_CHOSEN]
              for s in seeds]
    finals = tuple(c.final for c in clones)
    mean = sum(finals) / len(finals)
    curve = tuple((k, sum(c.curve[i][1] for c in clones) / len(clones))
                  for i, (k, _) in enumerate(clones[0].curve))
    bc = fitness.Fitness(fitness.BC_ON_CHOSEN, "ok", mean, fitness.ci95_halfwidth(finals),
                         finals, mean, sum(c.auc for c in clones) / len(clones),
                         time.perf_counter() - start, curve)
    return [ref, bc]


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock (``runfiles.LOCK``, as a search holds its run directory's) while a
    bench run scores into it: two runs given one ``--out`` at once both passed the
    ``results.json`` check, and the one that ended last overwrote the other's results. The
    second is refused by name; that check is made again under the lock."""
    from lossforge.io import LockHeld, hold_lock, os_reason, release_lock
    from lossforge.runfiles import LOCK

    path = out / LOCK
    try:
        fd = hold_lock(path)
    except LockHeld as held:
        raise ConfigError(f"--out {out}: {held.who} is using it ({path} is locked); give "
                          "another directory, or wait for it to end") from None
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot lock it ({os_reason(exc)})") from None
    try:
        _refuse_results(out)
        yield
    finally:
        release_lock(path, fd)


def _refuse_results(out: Path) -> None:
    if (out / "config.json").exists():
        raise ConfigError(f"--out {out}: a search's run directory (config.json); give a "
                          "directory of the bench run's own")
    if (out / "results.json").exists():
        raise ConfigError(f"--out {out}: already holds a bench run's results (results.json); "
                          "give another directory, or remove that one to run again")


def make_out_dir(out: Path) -> None:
    """The run directory (and its parents); ``ConfigError`` naming it and why it cannot be one
    (``io.make_dirs``), or when it already holds a bench run's results, which the run would
    overwrite once it ends (hours of work lost to a reused ``--out``)."""
    from lossforge.io import make_dirs

    _refuse_results(out)
    why = make_dirs(out)
    if why is not None:
        raise ConfigError(f"--out {out}: {why}")


def scored_objectives(args, scen) -> list:
    """The losses a bench run scores: --losses, then each --formula and --from-run."""
    from lossforge import objectives

    objs = build_objectives(args.losses, scen)
    for f in args.formula:
        objs.append(objectives.from_mirror_map(f, beta=scen.beta, name=formula_label(f)))
    for ref in args.from_run:
        objs.append(run_objective(ref))
    if not objs:
        raise ConfigError("nothing to score: give --losses and/or --formula")
    return objs


def _write(out: Path, args, scen, seeds, rows, objs, wall) -> None:
    from lossforge.io import atomic_write_text

    record = {
        "command": "python -m lossforge.bench " + " ".join(sys.argv[1:]),
        "scenario": scen.to_dict(), "budget": args.budget, "seeds": list(seeds),
        "metric": args.metric, "wall_seconds": wall,
        "objectives": {o.name: o.spec.to_json() for o in objs},
        "results": [r.to_json() for r in rows],
    }
    atomic_write_text(out / "results.json", json.dumps(record, indent=2) + "\n")
    with open(out / "results.csv.tmp", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["loss", "score", "ci95", "n_seeds", "final", "auc", "status", "per_seed"])
        for r in rows:
            w.writerow([r.name, r.score, r.ci95, len(r.per_seed), r.final, r.auc, r.status,
                        " ".join(f"{x:.3f}" for x in r.per_seed)])
    Path(out / "results.csv.tmp").replace(out / "results.csv")
    _plot(out / "results.png", rows, f"{scen.name} ({args.budget}, {args.metric})")


def _plot(path: Path, rows, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r.name for r in rows]
    ax1.barh(names, [r.score for r in rows],
             xerr=[0 if r.ci95 != r.ci95 else r.ci95 for r in rows], color="#4c72b0")
    ax1.invert_yaxis()
    ax1.set_xlabel("normalised score (95 % CI over seeds)")
    ax1.set_title(title)
    for r in rows:
        if r.curve:
            steps, vals = zip(*r.curve)
            ax2.plot(steps, vals, marker="o", label=r.name)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("normalised score (mean over seeds)")
    ax2.set_title("training curves")
    if ax2.get_legend_handles_labels()[0]:  # no curve (eval_every > train_steps): no legend
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".tmp.png"), dpi=110)
    plt.close(fig)
    path.with_suffix(".tmp.png").replace(path)


if __name__ == "__main__":
    run_main(main)
