"""``python -m lossforge.formula "p*log(p)"``: inspect one mirror map.

Prints h, phi^-1 = h', the log-domain link phi~(l), every validity check with its status
(proved / sampled / failed / timeout) and witness, the properties of the loss in the margin D
(``objectives/properties.py``; of DPO's link -log sigmoid(D) unless ``--link`` gives another, with
``--imitation`` for an imitation term), the search's smoke test of that loss (finite loss and
gradients on extreme log-probs, summed unless ``--aggregation mean``), and the LaTeX. Exit code 0 when the map is a valid mirror map
whose loss passes the smoke test, 1 when a check fails (the map's, or the smoke test: the search
would reject the loss before training), 2 on bad input (nothing in the formula is executed). The
properties never change the exit code: they describe the loss, they do not validate the map.
"""

from __future__ import annotations

import argparse
import json
import sys

from lossforge.cli import Parser, attach_values, positive_float, run_main
from lossforge.errors import LossforgeError


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="python -m lossforge.formula",
        description="Check a mirror map, given as h(p) on (0,1) or directly as phi~(l) for "
                    "l = log p < 0, and show its MPO link phi~(l).",
        epilog='Example: python -m lossforge.formula "p*log(p) + (1-p)*log(1-p)" --json. '
               "Exit code 0: valid, 1: a check failed, 2: bad input.")
    ap.add_argument("formula", help="h(p) in p, or phi~(l) in l (e.g. 'p*log(p)', '-sqrt(-l)'); "
                                    "functions: log exp sqrt log1p expm1 softplus sigmoid tanh "
                                    "sin cos ...")
    ap.add_argument("--latex", action="store_true", help="print only the LaTeX block")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--time-limit", type=positive_float, default=2.0, metavar="S",
                    help="seconds allowed for each symbolic proof (default 2)")
    ap.add_argument("--link", default="-logsigmoid(D)", metavar="G",
                    help="the link G(D, rw, rl, t) whose properties are printed: a formula "
                         "in the margin D, the rewards rw and rl, progress t and beta "
                         "(default DPO's -logsigmoid(D))")
    ap.add_argument("--imitation", default=None, metavar="PSI",
                    help="an imitation term Psi(l, n, t) (properties: whether it reads n)")
    ap.add_argument("--no-reference", action="store_true",
                    help="the loss is reference-free (r = beta phi~(l))")
    ap.add_argument("--aggregation", choices=("sum", "mean"), default="sum",
                    help="log-probs the loss would train on, for the smoke test: summed (DPO's, "
                         "the default) or per-token mean (search --aggregation mean)")
    return ap


def _formula_last(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Let a formula start with '-' ("-log(p)"): move it behind '--' so argparse takes it as
    the positional argument instead of an unknown option; likewise option values ("--imitation
    -l") are joined to their option. The options, and which take a value, are the parser's."""
    actions = [a for a in parser._actions if a.option_strings]
    known = {s for a in actions for s in a.option_strings}
    valued = [s for a in actions if a.nargs != 0 for s in a.option_strings]
    out, formula = [], []
    joined = attach_values(argv, valued)   # as one "--opt=value": "-l/n" is a value
    for i, a in enumerate(joined):
        if a == "--":
            formula += joined[i + 1:]
            break
        (out if a.split("=")[0] in known else formula).append(a)
    return out + ["--"] + formula if formula else out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(_formula_last(argv, parser))
    from lossforge.symbolic.mirror_map import MirrorMap
    from lossforge.symbolic.parser import sum_text

    from lossforge.objectives.mpo import MPOSpec
    from lossforge.objectives.properties import properties

    try:
        mm = MirrorMap.from_formula(args.formula)
        report = mm.check(time_limit_s=args.time_limit)
        # one spec for the properties (which do not read the aggregation) and the smoke test
        spec = MPOSpec(mirror_map=args.formula, link=args.link, imitation=args.imitation,
                       reference=not args.no_reference, aggregation=args.aggregation)
        props = properties(spec, time_limit_s=args.time_limit)
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # a valid map whose loss the search would still reject before training (non-finite on
    # extreme log-probs) fails here too
    smoke = _smoke(spec) if report.valid else None
    code = 0 if report.valid and smoke is None else 1
    texts = mm.texts() if report.valid else None
    if args.json:
        out = {"formula": args.formula, "h": mm.h_text, "checks": report.to_dict(),
               "link": args.link, "properties": props.to_json()}
        if report.valid:
            out |= {"phi_inv": texts["phi_inv"], "phi_tilde": texts["phi_tilde"],
                    "latex": mm.latex(), "semantic_hash": mm.semantic_hash(),
                    "smoke": {"ok": smoke is None, "detail": smoke or "ok"}}
        print(json.dumps(out, indent=2))
        return code
    if args.latex:
        if not report.valid:
            print(f"error: not a valid mirror map: {_first_failure(report)}", file=sys.stderr)
            return code
        if smoke:
            print(f"error: a valid mirror map, but {smoke_failed(args.aggregation)}: {smoke}",
                  file=sys.stderr)
        print(mm.latex_block())
        return code
    print(f"h(p)          = {mm.h_text}")
    if report.valid:
        print(f"phi^-1 = h'   = {texts['phi_inv']}   (+ const)")
        print(f"phi~(l)       = {texts['phi_tilde']}   (+ const; l = log p < 0)")
    for name in ("convex", "differentiable", "legendre"):
        c = getattr(report, name)
        if c is None:
            continue
        what = {"convex": "strictly convex", "differentiable": "C2 on (0,1)",
                "legendre": "Legendre (h' -> -inf at 0)"}[name]
        witness = f", witness p = {c.witness:.15g}" if c.witness is not None else ""
        print(f"{what:28s}: {'yes' if c.holds else 'NO':3s} [{c.status}{witness}] {c.detail}")
    print(f"checked in {report.seconds * 1000:.1f} ms")
    print(f"loss L = {sum_text(args.link, args.imitation)}; {props.line()}")
    if report.valid:
        print("valid mirror map: strictly convex and C2 on (0,1) (Legendre type is recorded, "
              "not required; the loss's properties are not validity conditions: "
              "search --require asks for them)")
        if smoke:
            print(f"but {smoke_failed(args.aggregation)}: {smoke}")
        print(f"semantic hash : {mm.semantic_hash()}")
        print("LaTeX:")
        print(mm.latex_block())
    else:
        print(f"not a valid mirror map: {_first_failure(report)}")
    return code


def smoke_failed(aggregation: str) -> str:
    """What a valid map whose loss fails the smoke test is, in words."""
    how = {"sum": "summed", "mean": "per-token mean"}[aggregation]
    return (f"a search on {how} log-probs (--aggregation {aggregation}) would reject its loss "
            "before training (the checks every candidate passes first)")


def _smoke(spec) -> str | None:
    """Why the search would reject the loss of ``spec`` before training, as the search decides
    it (``candidates.training_rejection``: the smoke test on extreme log-probs, then whether it
    trains the policy at MuJoCo segments' scale and uses the rejected response), or None."""
    from lossforge.objectives import Objective
    from lossforge.search.candidates import training_rejection

    try:
        obj = Objective(spec)
    except LossforgeError as exc:
        return f"it does not compile to a loss: {exc}"
    found = training_rejection(obj)
    return None if found is None else f"{found[0]}: {found[1]}"


def _first_failure(report) -> str:
    c = report.convex if not report.convex.holds else report.differentiable
    witness = f" (witness p = {c.witness:.15g})" if c.witness is not None else ""
    return c.detail + witness


if __name__ == "__main__":
    run_main(main)
