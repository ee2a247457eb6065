"""What each slot of a discovered loss contributes: ablations, tuned and confirmed like any row.

A discovered loss is an MPO member (``docs/design/mpo.md``)
L = w_pref(t) G(D, t) + w_sft(t) Psi(l_w, n, t), with D built from the mirror map's phi~. Each
ablation replaces one part and keeps the rest:

    dpo-map        mirror map -> DPO's p*log(p) (phi~(l) = l)
    dpo-link       link G -> DPO's -logsigmoid(D)
    no-imitation   Psi -> none
    no-preference  G -> 0 (the preference term removed, Psi kept): is the gain SFT in disguise?
    no-t           t -> a constant (default 1/2, ``--t-value``), only for a loss that reads t

and, with ``specs --combined``, two combined arms: ``dpo-map+dpo-link`` (DPO's map and link,
the loss's imitation term kept) and ``dpo-map+dpo-link+no-imitation`` (DPO itself at the loss's
aggregation and beta). ``table --suite SUITE`` adds the suite-mean test of "the gain comes from
the preference term" (v2-plan.md, Session 22, item 4).

    python benchmarks/ablate.py specs benchmarks/results/winners/lf-69d0421b.json \
        --out-dir benchmarks/results/ablations \
        --sweep-out benchmarks/sweeps/ablate-lf-69d0421b.toml --lr 3e-6,1e-5,3e-5,1e-4,3e-4
    python benchmarks/baselines.py sweep benchmarks/sweeps/ablate-lf-69d0421b.toml \
        --scenarios llm:reverse/mixed-quality --budget full --out S.jsonl    # tuning draw
    python benchmarks/baselines.py tuned S.jsonl
    python benchmarks/baselines.py confirm --tuned BASELINES.tuned.json --tuned S.tuned.json \
        --out C.jsonl                                # writes C.confirm.json
    python benchmarks/ablate.py table C.confirm.json --loss lf-69d0421b --out C.ablation.md

``specs`` writes one JSON spec per ablation, named ``<name>-<ablation>``, whose ``description``
says what was replaced. An ablation equal to the loss itself (same canonical formulas: phi~ up
to a constant, and the SymPy forms of w_pref G and w_sft Psi; e.g. dpo-link of a loss whose link
is -logsigmoid(D) or softplus(-D)) is skipped with a printed note, as is no-t for a loss without
t and no-preference for a loss without an imitation term (that is the zoo's zero_pref). Every
written spec loads through ``lossforge.objectives.from_spec`` with the mirror-map checks and
passes the smoke test (finite loss and gradient on extreme log-probs); one that fails is
reported with the reason and not written. ``--sweep-out`` writes a sweep of ``[candidates]``
alone (the loss itself too, unless ``--without-full``: leave it out when an earlier sweep tunes
it, as ``confirm`` refuses a name tuned twice), read back by ``baselines.read_sweep`` before the
command returns: every arm is tuned on the same learning-rate grid, so no arm of the comparison
gets a better-tuned rate than another.

Why no-preference sets G = 0 and not w_pref = 0: the zoo writes "no preference term" that way
(``sft``, ``length_sft``), and 0 * G is NaN wherever G overflows (exp(-D) at a large negative
margin), while G = 0 is exactly 0.

``table`` reads a confirmation report (``<stem>.confirm.json`` of ``baselines.py report`` or
``confirm``), finds the loss (rows ``NAME`` or ``NAME[lr=...]``) and its ablations
(``NAME-<ablation>``, with or without the suffix) per scenario, and gives each row's mean
± 95 % t-CI over draws, the paired difference full minus ablation draw by draw (the draw is
the unit of analysis) with paired t p-values and Holm's correction across scenarios x
ablations (per budget and metric), for AUC and final, and one computed line per ablation
saying what the numbers say. The loss and each ablation must have run the whole grid of draws
x seeds of their scenario (``stats.require_complete``).
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import sympy as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge.bench.stats import REPORT_METRICS as METRICS  # noqa: E402
from lossforge.bench.stats import (comparison_cells, num_text, read_report,  # noqa: E402
                                   require_complete)
from lossforge.errors import ConfigError, LossforgeError  # noqa: E402
from lossforge.grammar.ops import to_elementary  # noqa: E402
from lossforge.io import atomic_write_json, atomic_write_text  # noqa: E402
from lossforge.objectives.mpo import (  # noqa: E402
    IMITATION_VARS, LINK_VARS, RL, RW, WEIGHT_VARS, D, MPOSpec, Objective, T)
from lossforge.symbolic.logdomain import L  # noqa: E402
from lossforge.symbolic.parser import formula_text, parse_formula  # noqa: E402

DPO_MAP = "p*log(p)"
DPO_LINK = "-logsigmoid(D)"
FULL = "full"

#: ablation -> (what it replaces, the phrase of its "what it says" line)
ABLATIONS: dict[str, tuple[str, str]] = {
    "dpo-map": ("mirror map -> DPO's p*log(p)", "DPO's mirror map in place of its own"),
    "dpo-link": ("link G -> DPO's -logsigmoid(D)", "DPO's link in place of its own"),
    "no-imitation": ("imitation term removed (Psi = 0)", "removing the imitation term"),
    "no-preference": ("preference term removed (G = 0), imitation kept",
                      "removing the preference term"),
    "no-t": ("training progress t fixed at a constant", "fixing t at a constant"),
}

#: combined arms (``specs --combined``; v2-plan.md, Session 22): several parts replaced at
#: once, named by their parts joined with '+' -> (what it replaces, the phrase of its line)
COMBINED: dict[str, tuple[str, str]] = {
    "dpo-map+dpo-link": ("mirror map and link -> DPO's, imitation kept",
                         "DPO's mirror map and link (the loss's imitation term kept)"),
    "dpo-map+dpo-link+no-imitation": (
        "mirror map and link -> DPO's, imitation removed: DPO at the loss's aggregation and beta",
        "DPO itself at the loss's aggregation and beta"),
}
#: every arm ``table`` knows, single then combined
ARMS = {**ABLATIONS, **COMBINED}

#: Why a value of t stands for "no schedule" (the default is 1/2).
T_REASONS = {
    Fraction(1, 2): "the middle of training, where a schedule linear in t equals its average "
                    "over the run: the loss keeps the schedule's mean and loses its timing",
    Fraction(1): "the end of training: the loss the schedule arrives at",
    Fraction(0): "the start of training: the loss the schedule starts from",
}

_SLOTS = (("link", LINK_VARS), ("imitation", IMITATION_VARS), ("w_pref", WEIGHT_VARS),
          ("w_sft", WEIGHT_VARS))


# --------------------------------------------------------------------------------------------
# Ablated specs
# --------------------------------------------------------------------------------------------
def load_spec(path: Path) -> MPOSpec:
    """The symbolic MPO spec of a JSON file (a spec, or {"spec": ...} as winners hold it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the spec ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None
    data = data.get("spec", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object holding an MPO spec")
    if data.get("kind") == "neural":
        raise ConfigError(f"{path}: {data.get('name', '?')} is a neural loss: distil it to a "
                          "formula first (python -m lossforge.distill), then ablate the formula")
    try:
        return MPOSpec.from_json(data)
    except TypeError as exc:
        raise ConfigError(f"{path}: not an MPO spec ({exc})") from None


def parse_t_value(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"--t-value: expected a number in [0, 1] such as 1/2, got "
                          f"{text!r}") from None
    if not 0 <= value <= 1:
        raise ConfigError(f"--t-value: t is training progress, in [0, 1]; got {text!r}")
    return value


def fix_t(spec: MPOSpec, value: Fraction) -> dict[str, str]:
    """The formulas of ``spec`` that read t, with t replaced by ``value`` (named parameters and
    beta stay names)."""
    params = {k: sp.Symbol(k) for k in ("beta", *spec.params)}
    changes = {}
    for slot, variables in _SLOTS:
        text = getattr(spec, slot)
        if text is None:
            continue
        expr = parse_formula(str(text), variables, params)
        if T in expr.free_symbols:
            fixed = expr.subs(T, sp.Rational(value.numerator, value.denominator))
            if fixed.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
                raise ConfigError(f"{slot} {text} is undefined at t = {value}")
            changes[slot] = formula_text(fixed)
    return changes


def ablated(spec: MPOSpec, ablation: str, t_value: Fraction = Fraction(1, 2)) -> MPOSpec:
    """``spec`` with one part replaced (``ABLATIONS``), or each part of a combined arm
    (``COMBINED``) in turn, named ``<name>-<ablation>``, its description saying what was
    replaced. Not checked here (``plan`` checks)."""
    changes, whats = {}, []
    for part in ablation.split("+") if ablation in COMBINED else [ablation]:
        change, what = _replacement(dataclasses.replace(spec, **changes), part, t_value)
        changes.update(change)
        whats.append(what)
    return dataclasses.replace(
        spec, name=f"{spec.name}-{ablation}", **changes,
        description=f"ablation {ablation} of {spec.name}: {'; '.join(whats)}; everything else "
                    "unchanged")


def _replacement(spec: MPOSpec, ablation: str, t_value: Fraction) -> tuple[dict, str]:
    """(the fields one ablation changes, what it replaced, in words)."""
    if ablation == "dpo-map":
        return ({"mirror_map": DPO_MAP},
                f"mirror map h(p) = {spec.mirror_map} replaced by DPO's {DPO_MAP} (phi~(l) = l)")
    if ablation == "dpo-link":
        return {"link": DPO_LINK}, f"link G = {spec.link} replaced by DPO's {DPO_LINK}"
    if ablation == "no-imitation":
        return {"imitation": None}, f"imitation term Psi = {spec.imitation} removed (Psi = 0)"
    if ablation == "no-preference":
        return ({"link": "0", "w_pref": "1"},
                f"preference term {_weighted(spec.w_pref, spec.link)} removed (G = 0, as the "
                f"zoo's sft writes it), imitation term {_weighted(spec.w_sft, spec.imitation)} "
                "kept")
    if ablation == "no-t":
        changes = fix_t(spec, t_value)
        why = T_REASONS.get(t_value, "the value given with --t-value")
        return changes, (f"training progress t fixed at {t_value} ({why}) in "
                         f"{', '.join(changes) or 'no formula'}")
    raise ConfigError(f"unknown ablation {ablation!r}; known: {', '.join(ARMS)}")


def _weighted(weight: str, term: str | None) -> str:
    return str(term) if str(weight).strip() == "1" else f"({weight})*({term})"


def ablate(spec: MPOSpec, ablations, t_value: Fraction = Fraction(1, 2)) -> MPOSpec:
    """Several ablations in turn (e.g. dpo-map, dpo-link, no-imitation: DPO itself)."""
    for ablation in ablations:
        spec = ablated(spec, ablation, t_value)
    return spec


def _is_zero(expr) -> bool:
    """Whether ``expr`` is identically 0, in lossforge's functions or in exp/log."""
    expr = sp.sympify(expr)
    return expr == 0 or sp.simplify(expr) == 0 or sp.simplify(to_elementary(expr)) == 0


def _parts(spec: MPOSpec):
    """(objective, w_pref*G, w_sft*Psi) of ``spec`` as SymPy (parameters as numbers)."""
    obj = Objective(spec, check=False)
    pref = obj.w_pref_expr * obj.link_expr
    sft = 0 if obj.imitation_expr is None else obj.w_sft_expr * obj.imitation_expr
    return obj, pref, sft


def same_loss(a: MPOSpec, b: MPOSpec) -> bool:
    """Whether two specs are the same loss by their canonical formulas: the same w_pref G and
    w_sft Psi (SymPy), aggregation and, where the preference term reads the rewards, the same
    beta, reference and phi~ up to a constant (the map's h up to an affine term)."""
    (oa, pa, sa), (ob, pb, sb) = _parts(a), _parts(b)
    if a.aggregation != b.aggregation or not _is_zero(pa - pb) or not _is_zero(sa - sb):
        return False
    if not pa.free_symbols & {D, RW, RL}:
        return True  # no preference term: map, beta and reference change nothing
    phi_a, phi_b = oa.mirror_map.phi_tilde, ob.mirror_map.phi_tilde
    return (a.beta == b.beta and a.reference == b.reference
            and _is_zero(sp.diff(phi_a - phi_b, L)))


def invalid_reason(spec: MPOSpec) -> str | None:
    """Why ``spec`` fails the project's checks (from_spec with the mirror-map checks, then the
    smoke test), or None."""
    from lossforge.objectives import from_spec
    from lossforge.objectives.smoke import smoke_test

    try:
        obj = from_spec(spec.to_json(), check=True)
    except LossforgeError as exc:
        return str(exc)
    smoke = smoke_test(obj)
    return None if smoke.ok else f"smoke test: {smoke.detail}"


@dataclass(frozen=True)
class Outcome:
    ablation: str
    status: str              # "ok", "skip" or "invalid"
    note: str
    spec: MPOSpec | None = None


def plan(spec: MPOSpec, t_value: Fraction = Fraction(1, 2),
         combined: bool = False) -> list[Outcome]:
    """Every ablation of ``spec`` (and with ``combined`` the combined arms): written ("ok"),
    skipped with the reason, or invalid with the check's reason. A combined arm equal to an
    arm before it (a loss whose link is DPO's already, say) is skipped too."""
    _, _, sft = _parts(spec)
    temporal = Objective(spec, check=False).temporal
    out = []
    for ab in (ARMS if combined else ABLATIONS):
        if ab == "no-t" and not temporal:
            out.append(Outcome(ab, "skip", f"{spec.name} does not use t"))
            continue
        if ab == "no-preference" and _is_zero(sft):
            out.append(Outcome(ab, "skip", f"{spec.name} has no imitation term: without its "
                                           "preference term it is the zero loss (zoo zero_pref)"))
            continue
        try:
            new = ablated(spec, ab, t_value)
            why = invalid_reason(new)
        except LossforgeError as exc:
            new, why = None, str(exc)
        if why is not None:
            out.append(Outcome(ab, "invalid", why))
        elif same_loss(spec, new):
            out.append(Outcome(ab, "skip", f"equals {spec.name} itself (same canonical "
                                           f"formula: {ARMS[ab][0]} changes nothing)"))
        elif ab in COMBINED and any(same_loss(o.spec, new) for o in out if o.status == "ok"):
            twin = next(o.ablation for o in out if o.status == "ok" and same_loss(o.spec, new))
            out.append(Outcome(ab, "skip", f"equals the {twin} arm (same canonical formula)"))
        else:
            out.append(Outcome(ab, "ok", new.description, new))
    return out


# --------------------------------------------------------------------------------------------
# specs: the files and the sweep
# --------------------------------------------------------------------------------------------
def _repo_path(path: Path) -> str:
    """``path`` as a sweep file names a spec: relative to the repository (``read_sweep``
    resolves it there) when inside it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_lrs(text: str) -> list[float]:
    try:
        lrs = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--lr: expected comma-separated numbers, got {text!r}") from None
    if not lrs or not all(0 < x <= 1 for x in lrs) or len(set(lrs)) != len(lrs):
        raise ConfigError(f"--lr: expected distinct learning rates in (0, 1], got {text!r}")
    return lrs


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def sweep_text(candidates: list[tuple[str, Path]], lrs: list[float], keep: int | None,
               description: str, command: str) -> str:
    """A sweep of ``[candidates]`` alone (the layout ``baselines.read_sweep`` reads)."""
    out = [f"# Ablation sweep written by: {command}",
           "# Every candidate is tuned on the same learning rates (its only knob), then frozen by",
           "# 'baselines.py tuned' and confirmed with 'baselines.py confirm --tuned ...'.", "",
           f"description = {json.dumps(description)}",
           "lr = [" + ", ".join(repr(x) for x in lrs) + "]", ""]
    for name, path in candidates:
        out += [f"[candidates.{_toml_key(name)}]", f"spec = {json.dumps(_repo_path(path))}", ""]
    if keep is not None:
        out += ["[halving]", f"keep = {keep}", ""]
    return "\n".join(out)


#: A row name must survive ``--losses`` parsing (',' ':' '=') and the table's '[' suffix.
_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def checked_original(path: Path) -> MPOSpec:
    """The loss to ablate: a name rows can carry, and a loss that passes the checks itself
    (a sweep's candidates are loaded with them)."""
    spec = load_spec(path)
    if not _NAME.fullmatch(spec.name):
        raise ConfigError(f"{path}: field 'name': {spec.name!r} cannot name a row (use letters, "
                          "digits and _ . + -)")
    why = invalid_reason(spec)
    if why is not None:
        raise ConfigError(f"{path}: {spec.name} itself fails the checks: {why}")
    return spec


def specs_cmd(args) -> None:
    spec = checked_original(Path(args.spec))
    t_value = parse_t_value(args.t_value)
    lrs = parse_lrs(args.lr) if args.lr is not None else None
    if args.sweep_out and lrs is None:
        raise ConfigError("--sweep-out needs --lr (the learning rates every candidate is tuned on)")
    if args.keep is not None and args.keep < 1:
        raise ConfigError(f"--keep: expected a whole number >= 1, got {args.keep}")
    command = "python benchmarks/ablate.py " + " ".join(sys.argv[1:])
    out_dir = Path(args.out_dir)
    written = []
    for o in plan(spec, t_value, combined=args.combined):
        if o.status != "ok":
            word = "skip" if o.status == "skip" else "not written (fails the checks)"
            print(f"{spec.name}-{o.ablation}: {word}: {o.note}")
            continue
        path = out_dir / f"{o.spec.name}.json"
        written.append((o.spec.name, path))
        if path.exists():
            # written before (this step in an earlier session, or the arm of another test bed):
            # kept byte for byte, since a sweep's identity covers its spec files' bytes and
            # rewriting one (even its command line) would orphan the rows tuned on it
            if not same_loss(load_spec(path), o.spec):
                raise ConfigError(f"{path}: exists and holds another loss than "
                                  f"{spec.name}'s {o.ablation} ablation; remove it by hand only "
                                  "if no sweep names it")
            print(f"{o.spec.name}: {o.note} -> {path} (kept: written before, the same loss)")
            continue
        atomic_write_json(path, {"spec": o.spec.to_json(), "ablation": o.ablation,
                                 "of": spec.name, "source": str(args.spec), "command": command})
        print(f"{o.spec.name}: {o.note} -> {path}")
    if not written:
        print(f"note: no ablation of {spec.name} differs from it: nothing written")
    if args.sweep_out:
        arms = ([] if args.without_full else [(spec.name, Path(args.spec))]) + written
        if not arms:
            raise ConfigError("--sweep-out: no candidate to tune (nothing written and "
                              "--without-full)")
        write_sweep(Path(args.sweep_out), arms, lrs, args.keep,
                    f"ablations of {spec.name} (benchmarks/ablate.py)", command)


def write_sweep(path: Path, arms, lrs, keep, description: str, command: str) -> None:
    """Write the sweep and read it back as ``baselines.py sweep`` will (a file it refuses is
    an error here, not hours later)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tuning import read_sweep

    atomic_write_text(path, sweep_text(arms, lrs, keep, description, command))
    decl = read_sweep(path)
    print(f"sweep: {path} ({len(decl.specs)} candidates x {len(lrs)} learning rates)")


# --------------------------------------------------------------------------------------------
# table: the ablation table of a confirmation report
# --------------------------------------------------------------------------------------------


def row_role(loss: str, name: str) -> str | None:
    """"full" for the loss itself (``NAME`` or ``NAME[...]``), the ablation for
    ``NAME-<ablation>[...]``, None for any other row."""
    base = loss.split("[", 1)[0]
    if base == name:
        return FULL
    for ab in ARMS:
        if base == f"{name}-{ab}":
            return ab
    return None


def read_summary(path: Path) -> list[dict]:
    """The summary entries of a confirmation report (``stats.read_report`` checks it)."""
    return read_report(path)[0]


def cells_of(summary: list[dict], name: str, where: str) -> dict[tuple, dict[str, dict]]:
    """(budget, scenario) -> role ("full" or an ablation) -> its summary entry."""
    cells: dict[tuple, dict[str, dict]] = {}
    for e in summary:
        role = row_role(e["loss"], name)
        if role is None:
            continue
        cell = cells.setdefault((e["budget"], e["scenario"]), {})
        if role in cell:
            raise ConfigError(f"{where}: {e['scenario']}: two rows for {role}: "
                              f"{cell[role]['loss']} and {e['loss']}")
        cell[role] = e
    if not any(FULL in c for c in cells.values()):
        known = sorted({e["loss"] for e in summary})
        raise ConfigError(f"{where}: no row of loss {name!r} (rows {name} or {name}[...]); "
                          f"the report has: {', '.join(known)}")
    if not any(set(c) - {FULL} for c in cells.values() if FULL in c):
        raise ConfigError(f"{where}: no ablation rows of {name} beside it (rows named "
                          f"{name}-<ablation>, ablations: {', '.join(ARMS)})")
    require_complete([e for c in cells.values() for e in c.values()], where)
    return cells


def _draw_key(d: str):
    return (0, int(d), d) if str(d).isdigit() else (1, 0, str(d))


def comparisons(cells: dict[tuple, dict[str, dict]]) -> list[dict]:
    """Full minus each ablation, draw by draw, paired t over draws; Holm across scenarios x
    ablations per budget and metric."""
    from lossforge.bench import stats

    comps = []
    for (budget, scen), cell in sorted(cells.items()):
        if FULL not in cell:
            continue
        full = cell[FULL]
        for ab in (a for a in ARMS if a in cell):
            for m in METRICS:
                x_draws, y_draws = full[m]["per_draw"], cell[ab][m]["per_draw"]
                draws = sorted(set(x_draws) & set(y_draws), key=_draw_key)
                x = [float(x_draws[d]) for d in draws]
                y = [float(y_draws[d]) for d in draws]
                t = stats.paired_t(x, y)
                comps.append({"budget": budget, "scenario": scen, "ablation": ab, "metric": m,
                              "full": full["loss"], "row": cell[ab]["loss"], "draws": draws,
                              "per_draw_diff": [a - b for a, b in zip(x, y)], **t.to_json()})
    families: dict = {}
    for c in comps:
        families.setdefault((c["budget"], c["metric"]), []).append(c)
    for fam in families.values():
        for c, adj in zip(fam, stats.holm([c["p"] for c in fam])):
            c["p_holm"], c["family_size"] = adj, len(fam)   # an untested one counts in m
    return comps


def says(ab: str, by_metric: dict[str, dict], alpha: float = 0.05,
         metrics: tuple[str, ...] = METRICS) -> str:
    """One computed line: what the paired differences of one ablation in one scenario say."""
    parts = []
    for m in metrics:
        c = by_metric[m]
        d = c["mean"]
        if d != d:
            parts.append(f"{m.upper()} n/a")
            continue
        verb = "costs" if d > 0 else "gains" if d < 0 else "changes nothing in"
        amount = f"{abs(d):.1f} ± {num_text(c['ci95'])} " if d != 0 else ""
        sig = ("n/a" if c["p_holm"] != c["p_holm"] else
               f"{c['p_holm']:.3g}, {'significant' if c['p_holm'] < alpha else 'not significant'}"
               f" at {alpha:g}")
        parts.append(f"{verb} {amount}{'AUC' if m == 'auc' else 'final'} (Holm p {sig})")
    return f"{ARMS[ab][1]} " + "; ".join(parts)


def table_md(cells: dict[tuple, dict[str, dict]], comps: list[dict], name: str,
             metrics: tuple[str, ...] = METRICS) -> str:
    """The page: per scenario, each row's means and the full loss minus each ablation, in the
    ``metrics`` shown (final alone where the AUC is the final score: the LLM bed)."""
    comps = [c for c in comps if c["metric"] in metrics]
    head = " | ".join(f"{'AUC' if m == 'auc' else 'final'} mean ± 95 % CI" for m in metrics)
    out = [f"# Ablations of {name}", "",
           "Unit of analysis: the dataset draw (a value is a draw's mean over its seeds); ± is "
           "the 95 % t-interval over draws. Difference: full loss minus ablation, draw by draw "
           "(positive: the ablated part helps); p: paired t over draws (two-sided); p (Holm): "
           "adjusted across scenarios x ablations, per budget and metric.", ""]
    for (budget, scen), cell in sorted(cells.items()):
        out += [f"## {scen} ({budget} budget)", ""]
        if FULL not in cell:
            out += [f"No row of {name} itself here: its ablations are not compared.", ""]
            continue
        out += [f"| row | ablation | {head} | draws |", "|---" * (len(metrics) + 3) + "|"]
        for role in (FULL, *[a for a in ARMS if a in cell]):
            e = cell[role]
            out.append(f"| {e['loss']} | {role} | " + " | ".join(
                f"{num_text(e[m]['mean'])} ± {num_text(e[m]['ci95'])}" for m in metrics)
                + f" | {len(e['auc']['per_draw'])} |")
        elsewhere = [role for role in cell if role != FULL
                     and cell[role].get("machines") and cell[FULL].get("machines")
                     and cell[role]["machines"] != cell[FULL]["machines"]]
        if elsewhere:
            out += ["", f"**Not clean pairs:** {', '.join(elsewhere)} ran on other machines than "
                    f"{cell[FULL]['loss']} ({', '.join(cell[FULL]['machines'])}); a row differs "
                    "across machines (cross-machine-s17.md). The declared remedy (v2-plan.md, "
                    "Session 22, item 7): confirm the loss's pick again beside the arms."]
        mine = [c for c in comps if (c["budget"], c["scenario"]) == (budget, scen)]
        if not mine:
            out += ["", "No ablation rows here.", ""]
            continue
        out += ["", "| ablation | metric | draws | full − ablation ± 95 % CI | p | p (Holm) | "
                    "per draw |", "|---|---|---|---|---|---|---|"]
        for c in mine:
            out.append(f"| {c['ablation']} | {c['metric']} | {c['n']} | "
                       f"{comparison_cells(c)} |")
        out += ["", "What it says:", ""]
        for ab in dict.fromkeys(c["ablation"] for c in mine):
            by_metric = {c["metric"]: c for c in mine if c["ablation"] == ab}
            out.append(f"- {ab}: {says(ab, by_metric, metrics=metrics)}.")
        out.append("")
    return "\n".join(out)


def preference_term(summary: list[dict], weights: dict[str, float], name: str,
                    suite_name: str, alpha: float = 0.05,
                    metrics: tuple[str, ...] = METRICS) -> list[str]:
    """The suite-mean section (v2-plan.md, Session 22, item 4: "its gain must come from the
    preference term"), with ``headline.suite_mean``'s regret scale and pairing: the full loss
    against each of its arms (Holm over the arms, per metric), and the arm without the
    imitation term (the preference term alone) against the tuned SFT. Shown when, on AUC, the
    full loss beats its no-preference arm and the no-imitation arm beats SFT."""
    import headline

    arms = [a for a in ARMS if any(row_role(e["loss"], name) == a for e in summary)]
    if not arms:
        return []
    res = {m: headline.suite_mean(summary, weights, name, m,
                                  rivals=tuple(f"{name}-{a}" for a in arms)) for m in METRICS}
    md = ["## Suite mean: the full loss against its arms", ""]
    for m in metrics:
        md += headline.suite_markdown(res[m], suite_name, name, "against its ablations",
                                      alpha=alpha)

    judged = "auc" if "auc" in metrics else "final"   # AUC, the primary metric, where measured

    def beats(r: dict, who: str) -> bool:
        return headline.suite_beats(r["comparisons"][who], alpha)

    checks = []
    if "no-preference" in arms:
        checks.append((f"{name} beats its no-preference arm",
                       beats(res[judged], f"{name}-no-preference")))
    if "no-imitation" in arms:
        alone = {m: headline.suite_mean(summary, weights, f"{name}-no-imitation", m,
                                        rivals=("SFT",)) for m in METRICS}
        for m in metrics:
            md += headline.suite_markdown(alone[m], suite_name, f"{name}-no-imitation",
                                          "(the preference term alone) against SFT",
                                          alpha=alpha)
        checks.append(("its no-imitation arm beats SFT", beats(alone[judged], "SFT")))
    shown = len(checks) == 2 and all(ok for _, ok in checks)
    md += ["**The gain comes from the preference term** (v2-plan.md, Session 22, item 4; suite "
           f"mean, {'AUC' if judged == 'auc' else 'final'}, Holm p < {alpha:g}): " + ("shown" if shown else "not shown") + ": "
           + "; ".join(f"{what}: {'yes' if ok else 'no'}" for what, ok in checks)
           + ("" if len(checks) == 2 else "; (an arm is missing, so it cannot be shown)") + ".",
           ""]
    return md


def table_cmd(args) -> None:
    import headline

    path = Path(args.confirm)
    summary = read_summary(path)
    cells = cells_of(summary, args.loss, str(path))
    auc_final = headline.auc_is_final([str(path)])   # the LLM bed: its AUC is the final score
    metrics = ("final",) if auc_final else METRICS
    md = table_md(cells, comparisons(cells), args.loss, metrics)
    if auc_final:
        md += "\n\n" + "\n".join(headline.final_only_note()).rstrip()
    split = headline.split_note(summary)   # rows of one draw on other data (Session 22)
    md += "\n\n" + "\n".join(split) if split else ""
    if args.suite:
        from lossforge.bench.suites import load_suite

        suite = load_suite(args.suite)
        md += "\n\n" + "\n".join(preference_term(summary, suite.weights(), args.loss,
                                                  suite.name, metrics=metrics))
    md += "\n\nMade by: `python benchmarks/ablate.py " + shlex.join(args.argv) + "`"
    print(md)
    if args.out:
        atomic_write_text(args.out, md + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="ablations of a discovered MPO loss "
                                             "(what each slot contributes)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("specs", help="write one JSON spec per ablation (and a sweep of them)")
    s.add_argument("spec", help="the loss's JSON spec (e.g. benchmarks/results/winners/X.json)")
    s.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results" / "ablations"))
    s.add_argument("--t-value", default="1/2",
                   help="the constant t of no-t (default 1/2: the middle of training)")
    s.add_argument("--sweep-out", help="also write a sweep TOML of [candidates] (needs --lr)")
    s.add_argument("--lr", help="the sweep's learning rates, e.g. 3e-6,1e-5,3e-5")
    s.add_argument("--keep", type=int, help="the sweep's [halving] keep (default: no halving)")
    s.add_argument("--without-full", action="store_true",
                   help="leave the loss itself out of the sweep (an earlier sweep tunes it)")
    s.add_argument("--combined", action="store_true",
                   help="also the combined arms: " + ", ".join(COMBINED))
    t = sub.add_parser("table", help="the ablation table of a <stem>.confirm.json")
    t.add_argument("confirm", help="a confirmation report JSON (baselines.py report/confirm)")
    t.add_argument("--loss", required=True, help="the full loss's name, e.g. lf-69d0421b")
    t.add_argument("--suite", help="a suite TOML: also the suite-mean tests of the preference "
                                   "term (v2-plan.md, Session 22)")
    t.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # the page's "Made by"
    try:
        {"specs": specs_cmd, "table": table_cmd}[args.cmd](args)
    except (LossforgeError, OSError) as exc:  # bad input: one line, not a traceback; exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
