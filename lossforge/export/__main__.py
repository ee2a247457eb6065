"""``python -m lossforge.export``: write one loss as a standalone torch file, LaTeX or JSON.

    python -m lossforge.export runs/<run> --best --format torch > my_loss.py
    python -m lossforge.export runs/<run> --rank 2 --format latex
    python -m lossforge.export --formula "p*log(p)" --format latex
    python -m lossforge.export --formula "p*log(p) + (1-p)*log(1-p)" --no-reference \\
        --aggregation mean --beta 1 --format torch
    python -m lossforge.export --zoo orpo --format json > orpo.json
    python -m lossforge.export orpo.json --format torch          # a JSON export, loaded back
    python -m lossforge.export RUN/distilled-deap.json --format torch   # a distilled ES network

The loss comes from exactly one source: a search run directory (its hall of fame, ranked from
0 = best), a JSON file written by ``--format json`` or by ``python -m lossforge.distill``, a
mirror-map formula, or a zoo member. An ES run's networks export as torch (the network's
parameters as literals) or JSON; they have no closed form for LaTeX: distil them first. The
objective options (--beta, --link, ...) override the loaded spec field by field; an option left
out keeps the loaded value. Of a JSON file only its "spec" is read (each field type-checked);
its "formula" and "latex" texts are compared with the spec, and a warning says if they differ.
A run's loss changed by an option is marked in the output as not the loss the search scored.
Output goes to stdout, or atomically to ``--output``. Exit code 0 on success, 2 on bad input
(one line on stderr per problem); formulas are parsed by the safe parser, files are read as
JSON only.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from lossforge.cli import Parser, attach_values, positive_float, run_main
from lossforge.errors import ConfigError, LossforgeError
from lossforge.objectives.mpo import AGGREGATIONS


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="python -m lossforge.export",
        description="Export one MPO loss as a standalone torch module (imports only torch), "
                    "LaTeX, or JSON that lossforge loads back.",
        epilog='Examples: python -m lossforge.export runs/RUN --best --format torch > loss.py; '
               'python -m lossforge.export --formula "p*log(p)" --format latex. Exit code 2: '
               'bad input.')
    src = ap.add_argument_group("source (exactly one)")
    src.add_argument("source", nargs="?", metavar="RUN_DIR|SPEC.json",
                     help="a search run directory (GP or ES), or a JSON file from --format "
                          "json or from python -m lossforge.distill (only its \"spec\" is "
                          "read; a warning says if its \"formula\"/\"latex\" text differs)")
    src.add_argument("--formula", metavar="H", help="a mirror map: h(p) in p, e.g. 'p*log(p)', "
                     "or phi~(l) in l, e.g. '-sqrt(-l)'")
    src.add_argument("--zoo", metavar="NAME", help="a known member: dpo, orpo, ipo, simpo, ...")
    pick = ap.add_argument_group("which loss of a run directory (default --best)")
    which = pick.add_mutually_exclusive_group()
    which.add_argument("--best", action="store_true", help="the best loss (same as --rank 0)")
    which.add_argument("--rank", type=int, metavar="N",
                       help="hall-of-fame rank, 0 = best (as `lossforge.search show` "
                            "numbers it)")
    which.add_argument("--loss", metavar="ID", help="a loss by its id, e.g. lf-706647a5")
    obj = ap.add_argument_group(
        "objective options (override the loaded spec)",
        "An option left out keeps the value of the loaded run loss, JSON spec or zoo member; "
        "the defaults named below are those of --formula. Changing a run's loss marks the "
        "output as not the loss the search scored.")
    obj.add_argument("--name", help="name of the exported loss")
    obj.add_argument("--beta", type=positive_float, help="reward scale beta (formula default 0.1)")
    obj.add_argument("--link", metavar="G", help="preference link over D, rw, rl, t "
                                                 "(default -logsigmoid(D), DPO's)")
    obj.add_argument("--imitation", metavar="PSI",
                     help="imitation term over l, n, t, e.g. '-l' (default none)")
    obj.add_argument("--w-pref", metavar="W", help="weight of the link, over t (default 1)")
    obj.add_argument("--w-sft", metavar="W", help="weight of the imitation term (default 1)")
    obj.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                     help="use a reference model's log-probs (default: the loaded spec's for "
                          "a run, JSON file or zoo member; yes for --formula)")
    obj.add_argument("--aggregation", choices=AGGREGATIONS,
                     help="summed or per-token mean log-probs (default sum)")
    obj.add_argument("--param", action="append", default=[], metavar="K=V",
                     help="a named constant used by the link/imitation/weights (repeatable)")
    out = ap.add_argument_group("output")
    out.add_argument("--format", choices=("torch", "latex", "latex-document", "json"),
                     default="torch", help="default torch")
    out.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return ap


#: Options whose value is a formula, which may start with "-" ("-logsigmoid(D)", "-l").
_FORMULA_OPTIONS = ("--formula", "--link", "--imitation", "--w-pref", "--w-sft")


def _params(items: list[str]) -> dict[str, float]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip().isidentifier():
                raise ValueError
            params[key.strip()] = float(value)
            if not math.isfinite(params[key.strip()]):
                raise ValueError
        except ValueError:
            raise ConfigError(f"--param {item!r}: expected NAME=NUMBER (finite), e.g. "
                              "eps=0.1") from None
    return params


def _overrides(args) -> dict:
    fields = {"name": args.name, "beta": args.beta, "link": args.link,
              "imitation": args.imitation, "w_pref": args.w_pref, "w_sft": args.w_sft,
              "reference": args.reference, "aggregation": args.aggregation}
    return {k: v for k, v in fields.items() if v is not None}


#: what a neural (ES) objective has of the options: no weights or named constants (an imitation
#: term since ES searches that slot too: ``NeuralSpec.imitation``)
_NEURAL_FIELDS = {"name", "beta", "link", "imitation", "reference", "aggregation"}


def _distil_hint(args) -> str:
    """How to get a formula for the network the arguments name: distil that network (``--name``:
    distill's default is the run's best, which another rank is not), then export the file
    distill writes. A network from a JSON file is distilled from the ES run it came from."""
    source, name = args.source or "RUN", None
    try:
        if args.source and Path(source).is_file():
            name = _spec_from_file(Path(source)).name
        elif args.source:
            from lossforge.objectives import from_run
            from lossforge.objectives.run import load_run

            name = from_run(load_run(source), args.rank or 0, name=args.loss).spec.name
    except LossforgeError:
        pass
    run = "RUN" if Path(source).is_file() else source
    flag = f" --name {name}" if name else " --name NETWORK"
    where = " (RUN: the ES run it came from)" if run == "RUN" else ""
    return (f"distil it first (python -m lossforge.distill {run}{flag}){where}, then export the "
            f"formula: python -m lossforge.export {run}/distilled-deap.json")


def _spec_from_file(path: Path):
    """The spec of a JSON file (``objectives.files.spec_from_file``), its warnings on stderr."""
    from lossforge.objectives.files import spec_from_file

    spec, notes = spec_from_file(path)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return spec


def _load_spec(args):
    """The spec the source names, and for a run's loss where in the run it is (else None)."""
    from lossforge import objectives
    from lossforge.objectives.run import load_run
    from lossforge.runfiles import unchecked_note

    sources = [s for s in (args.source, args.formula, args.zoo) if s is not None]
    if len(sources) != 1:
        raise ConfigError("give exactly one source: RUN_DIR, SPEC.json, --formula or --zoo")
    picked = args.best or args.rank is not None or args.loss is not None
    if picked and args.source is None:
        raise ConfigError("--best/--rank/--loss choose a loss of a run directory")
    if args.formula is not None:
        return objectives.MPOSpec(name=f"mpo[{args.formula}]", mirror_map=args.formula), None
    if args.zoo is not None:
        return objectives.get_spec(args.zoo), None
    if Path(args.source).suffix.lower() == ".json" and not Path(args.source).exists():
        raise ConfigError(f"{args.source}: file not found")
    if Path(args.source).is_file():
        if picked:
            raise ConfigError(f"{args.source} is a file: --best/--rank/--loss need a run dir")
        return _spec_from_file(Path(args.source)), None
    run = load_run(args.source)
    note = unchecked_note(run)
    if note:
        print(note, file=sys.stderr)
    rank = 0 if args.rank is None else args.rank
    spec = objectives.from_run(run, rank, name=args.loss).spec
    return spec, (f"run {Path(args.source).resolve().name}"
                  + (f", loss {args.loss}" if args.loss else f", hall-of-fame rank {rank} "
                     "(0 = best)"))


#: the spec fields that are formulas, and the Objective attribute holding each parsed
_FORMULA_FIELDS = {"link": "link_expr", "imitation": "imitation_expr", "w_pref": "w_pref_expr",
                   "w_sft": "w_sft_expr"}


def _same(key: str, before, after) -> bool:
    """Whether the objectives ``before`` and ``after`` agree on the spec field ``key``: a
    formula by its parsed expression (``--w-pref 1.0`` for "1" changes nothing)."""
    import sympy as sp

    a, b = getattr(before.spec, key), getattr(after.spec, key)
    if a == b or key not in _FORMULA_FIELDS or not hasattr(before, _FORMULA_FIELDS[key]):
        return a == b
    x, y = (getattr(o, _FORMULA_FIELDS[key]) for o in (before, after))
    return x is not None and y is not None and sp.simplify(x - y) == 0


def _changed_by(args, before, after) -> list[str]:
    """The options that changed the objective ``before`` into ``after``: a new name does not,
    nor a value equal to the old one, nor a new --param constant (only a formula option, listed
    itself, could use it)."""
    flags = [("--reference" if after.spec.reference else "--no-reference")
             if key == "reference" else "--" + key.replace("_", "-")
             for key in _overrides(args) if key != "name" and not _same(key, before, after)]
    old = before.spec.params if isinstance(before.spec.params, dict) else {}
    return flags + (["--param"] if any(after.spec.params[k] != v for k, v in old.items())
                    else [])


def load_objective(args):
    """The objective the arguments name (see the module docstring), and the notes on where it
    came from: a run's loss, or one modified from it (then no longer what the search scored)."""
    from lossforge import objectives

    spec, where = _load_spec(args)
    over = _overrides(args)
    if isinstance(spec, objectives.NeuralSpec):
        bad = sorted(set(over) - _NEURAL_FIELDS) + (["param"] if args.param else [])
        if bad:
            raise ConfigError(f"{spec.name!r} is a neural objective (an ES network): "
                              f"--{', --'.join(b.replace('_', '-') for b in bad)} "
                              f"{'does' if len(bad) == 1 else 'do'} not apply; "
                              + _distil_hint(args))
        build = objectives.NeuralObjective
        new = dataclasses.replace(spec, **over)
    else:
        build = objectives.Objective
        new = dataclasses.replace(spec, params={**spec.params, **_params(args.param)}, **over)
    objective = build(new)
    if where is None:
        return objective, []
    changed = _changed_by(args, build(spec), objective)
    return objective, [f"Modified from {where} by {', '.join(changed)}: not the loss the "
                       "search scored." if changed else f"From {where}."]


def _rejection_warning(objective, notes: list[str]) -> str | None:
    """One warning line when a symbolic loss the user wrote (``--formula`` or a SPEC.json) is
    one the search rejects before training (``candidates.training_rejection``, as ``formula``
    says it): it is exported as asked. No check for a run's loss, changed or not (its search
    checked it at its own fitness's scale, which the export does not know), nor for a loss of a
    zoo member's form at any beta or constants (a published loss: cDPO is not monotone by
    design)."""
    from lossforge.objectives import Objective
    from lossforge.objectives.zoo import ZOO
    from lossforge.search.candidates import training_rejection

    if notes or not isinstance(objective, Objective):
        return None
    form = dict(name="", description="", beta=1.0, params={})
    if any(dataclasses.replace(objective.spec, **form) == dataclasses.replace(z, **form)
           for z in ZOO.values()):
        return None
    found = training_rejection(objective)
    return None if found is None else (
        f"warning: a search would reject this loss before training ({found[0]}: {found[1]}); "
        "exported as asked")


def _reason(exc: OSError) -> str:
    """An ``OSError`` as a short phrase: "is a directory", "permission denied", ..."""
    from lossforge.io import os_reason

    return "is a directory" if isinstance(exc, IsADirectoryError) else os_reason(exc)


def _write_output(path: Path, text: str) -> str | None:
    """Write ``text`` to ``path`` atomically; None when written, else why not as a phrase. A
    missing directory is not created (a typo in it would be): it is the problem named."""
    from lossforge.io import atomic_write_text, file_in_the_way

    parent = path.parent
    if not parent.is_dir():
        blocked = file_in_the_way(parent)
        return (f"{blocked} is not a directory" if blocked is not None
                else f"directory {parent} does not exist")
    try:
        atomic_write_text(path, text)
    except FileNotFoundError as exc:   # the directory is there: the system refuses (/proc)
        return f"cannot create a file in {parent} ({_reason(exc)})"
    except OSError as exc:  # a directory, no permission, ...
        return _reason(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(attach_values(argv, _FORMULA_OPTIONS))
    try:
        from lossforge.export import export

        from lossforge.objectives import NeuralObjective

        objective, notes = load_objective(args)
        if isinstance(objective, NeuralObjective) and args.format.startswith("latex"):
            raise ConfigError(f"{objective.name!r} is a neural objective (an ES network) with no "
                              f"closed form to write as LaTeX (--format torch and json export "
                              f"the network); {_distil_hint(args)}")
        text = export(objective, args.format, notes=notes)
        warning = _rejection_warning(objective, notes)
    except LossforgeError as exc:
        for line in str(exc).splitlines():  # one line per problem (a JSON file's fields)
            print(f"error: {line}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)
    if args.output:
        problem = _write_output(Path(args.output), text)
        if problem:
            print(f"error: -o {args.output}: {problem}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    run_main(main)
