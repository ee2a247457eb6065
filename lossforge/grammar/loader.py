"""Typed grammar files (``grammars/*.toml``) -> ``Grammar``.

A grammar names types (with the open interval their values lie in, and an optional supertype),
its variables (``variable = {...}`` for one, ``variables = [{...}, ...]`` for several: a link
grammar has the margin D and the training progress t), typed constants and typed productions; every production names an op of the op
table. The loader rejects a bad grammar with the file, the line and the reason:

* malformed TOML, unknown keys, a value of the wrong shape (each field: string, table, list of
  type names, integer; a boolean is no number);
* a subtype whose values leave its supertype's; a variable p or l typed outside (0, 1), (-inf, 0);
* an op that is not in the op table, or the wrong number of argument types;
* an unknown type, a duplicate type or production, a supertype cycle;
* an argument type whose interval leaves the op's domain (``log`` of a type that may be <= 0);
* a production whose values leave its declared return interval (checked on sample points);
* a root type that nothing returns;
* a type that no terminal can produce (the classic DEAP strongly-typed-GP generation failure:
  DEAP would raise "tried to add a terminal of type X, but there is none available");
* a seed tree (optional ``[seeds]`` section, ``name = [prefix list of node names]``: the known
  losses a search starts from, e.g. DPO's and ORPO's mirror maps) that is not a well-typed
  tree of this grammar's root type.

The result wraps a DEAP ``PrimitiveSetTyped`` (types become classes, supertypes base classes,
which DEAP honours through ``issubclass``); ``grammar/trees.py`` generates and converts trees.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp
from deap import gp

from lossforge.errors import GrammarError
from lossforge.grammar.ops import OP_BY_NAME, Op

_GRAMMAR_KEYS = {"name", "description", "root", "variable", "variables", "max_depth"}
_TYPE_KEYS = {"interval", "subtype_of", "constants", "description"}
_PROD_KEYS = {"op", "args", "returns"}
#: Variables whose values lossforge fixes whatever the grammar says (trees.variable_symbol):
#: the probability p in (0, 1), the log-probability l in (-inf, 0). Their types must hold these.
_KNOWN_DOMAINS = {"p": (0.0, 1.0), "l": (-math.inf, 0.0)}
_TOML_KINDS = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
               list: "an array", dict: "a table"}


def _shape(value) -> str:
    """A TOML value for a message: its kind and its value, e.g. ``an array ['Cvx']``."""
    return f"{_TOML_KINDS.get(type(value), type(value).__name__)} {value!r}"


@dataclass(frozen=True)
class TypeDef:
    name: str
    interval: tuple[float, float] | None   # open interval; None for constant-only types
    supertype: str | None
    constants: tuple[sp.Rational, ...]
    line: int


@dataclass(frozen=True)
class Production:
    op: Op
    args: tuple[str, ...]
    returns: str
    line: int

    @property
    def key(self) -> str:
        """The DEAP primitive name: unique per (op, signature)."""
        return f"{self.op.name}[{','.join(self.args)}->{self.returns}]"


@dataclass(frozen=True)
class Grammar:
    """A validated grammar and its DEAP primitive set."""

    name: str
    path: str
    root: str
    variable: str                      # the first (main) variable: p for a mirror map
    variable_type: str
    types: dict[str, TypeDef]
    productions: tuple[Production, ...]
    max_depth: int
    pset: gp.PrimitiveSetTyped
    classes: dict[str, type]
    min_depth: dict[str, int]          # smallest tree height that produces each type
    variables: tuple[tuple[str, str], ...] = ()   # every (name, type), the main one first
    seeds: dict[str, list[str]] = field(default_factory=dict)   # [seeds]: name -> prefix list

    def __post_init__(self):
        if not self.variables:
            object.__setattr__(self, "variables", ((self.variable, self.variable_type),))

    @property
    def variable_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.variables)

    def constant_name(self, type_name: str, value: sp.Rational) -> str:
        return f"{value}[{type_name}]"


def load_grammar(path: str | Path) -> Grammar:
    """Load and validate a grammar file; raises ``GrammarError`` naming file, line and reason."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GrammarError(f"{path}: cannot read grammar file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GrammarError(f"{path}: malformed TOML: {exc}") from None
    return _Loader(path, text, data).load()


class _Loader:
    def __init__(self, path: Path, text: str, data: dict):
        self.path, self.text, self.data = path, text, data
        self.lines = text.splitlines()

    def fail(self, line: int | None, why: str) -> GrammarError:
        where = f"{self.path}:{line}" if line else str(self.path)
        return GrammarError(f"{where}: {why}")

    def line_of(self, pattern: str, occurrence: int = 0) -> int | None:
        rx = re.compile(pattern)
        hits = [i + 1 for i, line in enumerate(self.lines) if rx.search(line)]
        return hits[occurrence] if occurrence < len(hits) else None

    def key_line(self, key: str, default: int | None) -> int | None:
        return self.line_of(rf"^\s*{re.escape(key)}\s*=") or default

    def need_str(self, value, line: int | None, what: str, empty_ok: bool = False) -> str:
        if not isinstance(value, str) or not (value or empty_ok):
            raise self.fail(line, f"{what} must be a {'' if empty_ok else 'non-empty '}string, "
                            f"got {_shape(value)}")
        return value

    # ---- sections --------------------------------------------------------------------------

    def load(self) -> Grammar:
        unknown = set(self.data) - {"grammar", "types", "productions", "seeds"}
        if unknown:
            raise self.fail(None, f"unknown section(s): {', '.join(sorted(unknown))}")
        head = self.data.get("grammar")
        if not isinstance(head, dict):
            raise self.fail(self.key_line("grammar", None), "missing [grammar] section" if
                            head is None else f"[grammar] must be a table, got {_shape(head)}")
        g_line = self.line_of(r"^\s*\[grammar\]")
        bad = set(head) - _GRAMMAR_KEYS
        if bad:
            first = sorted(bad)[0]
            raise self.fail(self.key_line(first, g_line),
                            f"[grammar] has unknown key(s): {', '.join(sorted(bad))}")
        for key in ("name", "root"):
            if key not in head:
                raise self.fail(g_line, f"[grammar] is missing {key!r}")
            self.need_str(head[key], self.key_line(key, g_line), f"[grammar] {key}")
        if "description" in head:
            self.need_str(head["description"], self.key_line("description", g_line),
                          "[grammar] description", empty_ok=True)
        types = self.load_types()
        variables = self.load_variables(head, types, g_line)
        root = head["root"]
        if root not in types:
            raise self.fail(self.line_of(r"^\s*root\s*="), f"unknown root type {root!r}")
        max_depth = head.get("max_depth", 6)
        if type(max_depth) is not int or not 1 <= max_depth <= 17:   # a bool is no depth
            raise self.fail(self.key_line("max_depth", g_line),
                            f"max_depth must be an integer in [1, 17], got {max_depth!r}")
        productions = self.load_productions(types)
        ground = self.ground_depths(types, productions, {t for _, t in variables})
        returned = {t for t in types if ground.get(t) is not None}
        if root not in returned:
            raise self.fail(self.line_of(r"^\s*root\s*="),
                            f"root type {root!r}: no production or terminal returns it")
        for prod in productions:
            for arg in prod.args:
                if ground.get(arg) is None:
                    raise self.fail(prod.line, f"type {arg!r} (argument of {prod.op.name}): no "
                                    "terminal can produce it, so tree generation would fail")
        if root not in self.variable_types(types, productions, {t for _, t in variables}):
            raise self.fail(self.line_of(r"^\s*root\s*="),
                            f"root type {root!r}: no tree of it contains a variable "
                            f"({', '.join(v for v, _ in variables)}), so every map would be a "
                            "constant")
        pset, classes = self.build_pset(head["name"], types, productions, variables, root)
        return Grammar(name=head["name"], path=str(self.path), root=root,
                       variable=variables[0][0], variable_type=variables[0][1], types=types,
                       productions=tuple(productions), max_depth=max_depth, pset=pset,
                       classes=classes, min_depth={t: d for t, d in ground.items() if d is not None},
                       variables=tuple(variables), seeds=self.load_seeds(pset, classes[root]))

    def load_seeds(self, pset: gp.PrimitiveSetTyped, root: type) -> dict[str, list[str]]:
        """``[seeds]``: name -> prefix list of node names, each a complete tree whose every node
        returns the type (or a subtype of the type) its parent's slot takes, the root's type
        at the top. In file order (a search's generation 0 takes them in that order)."""
        raw = self.data.get("seeds", {})
        line = self.line_of(r"^\s*\[seeds\]")
        if not isinstance(raw, dict):
            raise self.fail(line, "[seeds] must be a table of name = [node names]")
        for name, names in raw.items():
            where = self.line_of(rf"^\s*{re.escape(name)}\s*=") or line
            if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
                raise self.fail(where, f"seed {name!r} must be a non-empty list of node names")
            want = [root]                       # the slots still to fill, last one next
            for n in names:
                node = pset.mapping.get(n)
                if node is None:
                    raise self.fail(where, f"seed {name!r}: {n!r} is no production, variable or "
                                    "constant of this grammar")
                if not want:
                    raise self.fail(where, f"seed {name!r}: {n!r} is left over after a "
                                    "complete tree")
                slot = want.pop()
                if not issubclass(node.ret, slot):
                    raise self.fail(where, f"seed {name!r}: {n!r} returns {node.ret.__name__} "
                                    f"where {slot.__name__} is needed")
                want.extend(reversed(getattr(node, "args", [])))
            if want:
                raise self.fail(where, f"seed {name!r}: the tree is incomplete ({len(want)} "
                                "argument(s) missing)")
        return {name: list(names) for name, names in raw.items()}

    def load_variables(self, head: dict, types: dict, g_line) -> list[tuple[str, str]]:
        """``variable = {name, type}`` or ``variables = [{name, type}, ...]``."""
        if ("variable" in head) == ("variables" in head):
            raise self.fail(g_line, "[grammar] needs exactly one of 'variable' (a table) or "
                            "'variables' (a list of tables)")
        key = "variable" if "variable" in head else "variables"
        line = self.line_of(rf"^\s*{key}\s*=")
        raw = [head[key]] if key == "variable" else head[key]
        if not isinstance(raw, list) or not raw:
            raise self.fail(line, "variables must be a non-empty list of tables")
        out: list[tuple[str, str]] = []
        for var in raw:
            if not (isinstance(var, dict) and set(var) == {"name", "type"}):
                raise self.fail(line, "a variable must be a table { name = \"p\", type = \"...\" }")
            for k in ("name", "type"):
                self.need_str(var[k], line, f"a variable's {k}")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(var["name"])):
                raise self.fail(line, f"variable name {var['name']!r} must be an identifier")
            if var["type"] not in types:
                raise self.fail(line, f"variable {var['name']!r}: unknown type {var['type']!r}")
            if var["name"] in {n for n, _ in out}:
                raise self.fail(line, f"duplicate variable {var['name']!r}")
            self.check_known_domain(var["name"], types[var["type"]], line)
            out.append((var["name"], var["type"]))
        return out

    def check_known_domain(self, var: str, t: TypeDef, line: int | None) -> None:
        """Else every tree would be domain-checked on values the variable never takes."""
        lo, hi = _KNOWN_DOMAINS.get(var, (-math.inf, math.inf))
        if var in _KNOWN_DOMAINS and not (t.interval and t.interval[0] <= lo < hi <= t.interval[1]):
            raise self.fail(line, f"variable {var!r} takes values in ({lo:g}, {hi:g}) but its "
                            f"type {t.name!r} is {self.describe(t)}")

    def load_types(self) -> dict[str, TypeDef]:
        raw = self.data.get("types")
        if not isinstance(raw, dict) or not raw:
            raise self.fail(self.key_line("types", None), "missing or empty [types] section")
        types = {name: self.load_type(name, spec) for name, spec in raw.items()}
        for t in types.values():
            seen = {t.name}
            sup = t.supertype
            while sup is not None:
                if sup not in types:
                    raise self.fail(t.line, f"type {t.name!r}: unknown supertype {sup!r}")
                if sup in seen:
                    raise self.fail(t.line, f"type {t.name!r}: supertype cycle through {sup!r}")
                seen.add(sup)
                sup = types[sup].supertype
        for t in types.values():
            if t.supertype is not None and not self.inside(t, types[t.supertype]):
                sup = types[t.supertype]
                raise self.fail(t.line, f"type {t.name!r} ({self.describe(t)}) is not inside its "
                                f"supertype {sup.name!r} ({self.describe(sup)}): a subtype's "
                                "values must lie in its supertype's")
        return types

    def load_type(self, name: str, spec) -> TypeDef:
        line = self.line_of(rf"^\s*(\[types\.{re.escape(name)}\]|{re.escape(name)}\s*=)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise self.fail(line, f"type name {name!r} must be an identifier")
        if not isinstance(spec, dict):
            raise self.fail(line, f"type {name!r} must be a table, got {_shape(spec)}")
        bad = set(spec) - _TYPE_KEYS
        if bad:
            raise self.fail(line, f"type {name!r} has unknown key(s): {', '.join(sorted(bad))}")
        for key in [k for k in ("subtype_of", "description") if k in spec]:
            self.need_str(spec[key], line, f"type {name!r}: {key}", key == "description")
        interval = spec.get("interval")
        if interval is not None:
            if (not isinstance(interval, list) or len(interval) != 2
                    or not all(type(v) in (int, float) for v in interval)   # no bools
                    or not interval[0] < interval[1]):
                raise self.fail(line, f"type {name!r}: interval must be [lo, hi] (two numbers, "
                                f"lo < hi), got {_shape(interval)}")
            interval = (float(interval[0]), float(interval[1]))
        consts = spec.get("constants", [])
        if not isinstance(consts, list):
            raise self.fail(line, f"type {name!r}: constants must be a list, got {_shape(consts)}")
        values = []
        for c in consts:
            try:
                values.append(sp.Rational(str(c)))
                if isinstance(c, bool) or not math.isfinite(float(values[-1])):
                    raise ValueError(c)
            except (TypeError, ValueError, ZeroDivisionError, sp.SympifyError):
                raise self.fail(line, f"type {name!r}: constant {c!r} is not a finite number "
                                "(write integers, decimals or 'a/b' strings)") from None
        if len(set(values)) != len(values):
            raise self.fail(line, f"type {name!r}: duplicate constants")
        if interval is None and not values:
            raise self.fail(line, f"type {name!r} needs an interval or constants")
        if interval is not None:
            outside = [v for v in values if not interval[0] < float(v) < interval[1]]
            if outside:
                raise self.fail(line, f"type {name!r}: constant {outside[0]} is outside "
                                f"its interval {interval}")
        return TypeDef(name, interval, spec.get("subtype_of"), tuple(values), line)

    def describe(self, t: TypeDef) -> str:
        return (f"interval ({t.interval[0]:g}, {t.interval[1]:g})" if t.interval is not None
                else f"constants {', '.join(str(c) for c in t.constants)}")

    def inside(self, sub: TypeDef, sup: TypeDef) -> bool:
        """Every value of ``sub`` is one of ``sup``'s: a type with an interval holds that OPEN
        interval, a constant-only one its constants (the domain checks read their closed hull)."""
        lo, hi = sup.interval or (float(min(sup.constants)), float(max(sup.constants)))
        if sub.interval is not None:
            return lo <= sub.interval[0] and sub.interval[1] <= hi
        return all(lo < v < hi or (sup.interval is None and lo <= v <= hi)
                   for v in map(float, sub.constants))

    def load_productions(self, types: dict[str, TypeDef]) -> list[Production]:
        raw = self.data.get("productions")
        if raw is None or raw == []:
            raise self.fail(None, "missing [[productions]]")
        if not isinstance(raw, list):
            raise self.fail(self.key_line("productions", None), "productions must be an array of "
                            f"tables ([[productions]] sections), got {_shape(raw)}")
        out: list[Production] = []
        seen: dict[str, int] = {}
        for i, spec in enumerate(raw):
            line = (self.line_of(r"^\s*\[\[productions\]\]", i)
                    or self.key_line("productions", None))
            if not isinstance(spec, dict):
                raise self.fail(line, f"production {i + 1} must be a table with op, args and "
                                f"returns, got {_shape(spec)}")
            bad = set(spec) - _PROD_KEYS
            if bad:
                raise self.fail(line, f"production has unknown key(s): {', '.join(sorted(bad))}")
            missing = _PROD_KEYS - set(spec)
            if missing:
                raise self.fail(line, f"production is missing {', '.join(sorted(missing))}")
            self.need_str(spec["op"], line, "production op")
            self.need_str(spec["returns"], line, "production returns")
            op = OP_BY_NAME.get(spec["op"])
            if op is None:
                raise self.fail(line, f"unknown op {spec['op']!r} (known: "
                                f"{', '.join(sorted(OP_BY_NAME))})")
            args = spec["args"]
            if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
                raise self.fail(line, "production args must be a list of type names (strings), "
                                f"got {_shape(args)}")
            if len(args) != op.arity:
                raise self.fail(line, f"op {op.name!r} takes {op.arity} argument type(s), got "
                                f"{args!r}")
            for t in [*args, spec["returns"]]:
                if t not in types:
                    raise self.fail(line, f"unknown type {t!r}")
            prod = Production(op, tuple(args), spec["returns"], line)
            if prod.key in seen:
                raise self.fail(line, f"duplicate production {prod.key} (first at line "
                                f"{seen[prod.key]})")
            seen[prod.key] = line
            self.check_domain(prod, types)
            out.append(prod)
        return out

    # ---- semantic checks -------------------------------------------------------------------

    def type_samples(self, t: TypeDef) -> list[float]:
        if t.constants:
            return [float(c) for c in t.constants]
        lo, hi = t.interval
        if math.isinf(lo) and math.isinf(hi):
            return [-4.0, -0.5, 0.0, 0.3, 3.0]
        if math.isinf(hi):
            return [lo + d for d in (1e-3, 0.2, 1.0, 5.0)]
        if math.isinf(lo):
            return [hi - d for d in (5.0, 1.0, 0.2, 1e-3)]
        w = hi - lo
        return [lo + w * f for f in (1e-3, 0.25, 0.5, 0.75, 1 - 1e-3)]

    def interval_of(self, t: TypeDef) -> tuple[float, float]:
        if t.interval is not None:
            return t.interval
        vals = [float(c) for c in t.constants]
        return (min(vals) - 1e-12, max(vals) + 1e-12)

    def check_domain(self, prod: Production, types: dict[str, TypeDef]) -> None:
        import itertools

        import torch

        for k, (arg, dom) in enumerate(zip(prod.args, prod.op.domain)):
            lo, hi = self.interval_of(types[arg])
            if lo < dom[0] or hi > dom[1]:
                raise self.fail(prod.line, f"{prod.op.name}: argument {k + 1} of type {arg!r} "
                                f"spans ({lo:g}, {hi:g}) but {prod.op.name} is defined only on "
                                f"({dom[0]:g}, {dom[1]:g})")
        r_lo, r_hi = self.interval_of(types[prod.returns])
        samples = [self.type_samples(types[a]) for a in prod.args]
        for point in itertools.product(*samples):
            v = prod.op.torch(*(torch.tensor(x, dtype=torch.float64) for x in point)).item()
            if not (math.isfinite(v) and r_lo < v < r_hi) and not (
                    math.isinf(v) and (math.isinf(r_hi) if v > 0 else math.isinf(r_lo))):
                raise self.fail(prod.line, f"{prod.key}: value {v:g} at arguments {point} is "
                                f"outside the return type {prod.returns!r} ({r_lo:g}, {r_hi:g})")

    def subtypes(self, types: dict[str, TypeDef], name: str) -> set[str]:
        out = {name}
        changed = True
        while changed:
            changed = False
            for t in types.values():
                if t.supertype in out and t.name not in out:
                    out.add(t.name)
                    changed = True
        return out

    def variable_types(self, types, productions, var_types: set[str]) -> set[str]:
        """The types with a tree that contains a variable (every argument type can be produced:
        load checks that first), by fixpoint."""
        out = {t for t in types if self.subtypes(types, t) & var_types}
        changed = True
        while changed:
            changed = False
            for prod in productions:
                if any(a in out for a in prod.args):
                    for t in types:
                        if t not in out and prod.returns in self.subtypes(types, t):
                            out.add(t)
                            changed = True
        return out

    def ground_depths(self, types, productions, var_types: set[str]) -> dict[str, int | None]:
        """Smallest tree height producing each type (0 = a terminal), by fixpoint."""
        depth: dict[str, int | None] = {t: None for t in types}
        for t in types.values():
            if t.constants or self.subtypes(types, t.name) & var_types:
                depth[t.name] = 0
        for t in types:  # constants of subtypes are terminals of the supertype too
            if any(types[s].constants for s in self.subtypes(types, t)):
                depth[t] = 0
        changed = True
        while changed:
            changed = False
            for prod in productions:
                if all(depth[a] is not None for a in prod.args):
                    d = 1 + max(depth[a] for a in prod.args)
                    for t in types:
                        if prod.returns in self.subtypes(types, t):
                            if depth[t] is None or d < depth[t]:
                                depth[t] = d
                                changed = True
        return depth

    # ---- DEAP ------------------------------------------------------------------------------

    def build_pset(self, name, types, productions, variables, root):
        classes: dict[str, type] = {}

        def cls(t: str) -> type:
            if t not in classes:
                sup = types[t].supertype
                bases = (cls(sup),) if sup else (object,)
                classes[t] = type(t, bases, {"__module__": __name__})
            return classes[t]

        for t in types:
            cls(t)
        pset = gp.PrimitiveSetTyped(name, [], classes[root])
        for prod in productions:
            pset.addPrimitive(prod.op.name, [classes[a] for a in prod.args],
                              classes[prod.returns], name=prod.key)
        for var_name, var_type in variables:
            pset.addTerminal(var_name, classes[var_type], name=var_name)
        for t in types.values():
            for c in t.constants:
                pset.addTerminal(c, classes[t.name], name=f"{c}[{t.name}]")
        return pset, classes
