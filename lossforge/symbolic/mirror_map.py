"""``MirrorMap``: a mirror map h on (0,1) with everything derived from it.

    mm = MirrorMap.from_formula("p*log(p)")
    mm.h            # p*log(p)
    mm.phi_inv      # h'(p) without its constant term: log(p)   (h is defined up to affine terms)
    mm.phi_tilde    # phi~(l) = phi^-1(exp(l)) in stable log-domain form: l
    mm.check()      # CheckReport: convex / differentiable / legendre, each proved|sampled|...
    mm.latex()      # dict of LaTeX strings; mm.semantic_hash() equal for h and h + a*p + b
    mm.compile()    # torch function l -> phi~(l), with a numeric self-check of the rewrite

A map can also be written directly as phi~(l), a formula in the log-probability l < 0:

    mm = MirrorMap.from_formula("-sqrt(-l)")      # phi~(l) = -sqrt(-l), h'(p) = -sqrt(-log p)
    mm.h            # Integral(-sqrt(-log(p)), p): its antiderivative need not be elementary
    mm.h_text       # what to print: the antiderivative if SymPy finds one, else a statement

Only h' enters a loss, so such a map is checked one derivative lower (h' finite and strictly
increasing on (0, 1), i.e. phi~ strictly increasing in l) and is the same kind of object
everywhere else. This is how formulas reach slopes that depend on l at summed log-probs of
long responses (l ~ -600, p = e^l ~ 0), where every elementary h(p) reduces to c * p log p.

Maps are shared: ``from_formula`` and ``from_expr`` return the same object for the same formula
within a process (memoised, up to ``SHARED_MAPS`` distinct formulas), and a map computes its
derived forms, checks and verified torch function once. So a formula on its way through a
search (validation, the objective, its fingerprint, every evaluation, every export) is parsed,
derived and verified once per process, not once per step.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from functools import cached_property

import mpmath
import numpy as np
import sympy as sp
import torch

from lossforge.errors import CheckError, FormulaError
from lossforge.grammar.ops import to_elementary
from lossforge.grammar.symbols import P
from lossforge.symbolic import printers
from lossforge.symbolic.checks import (CheckReport, check_mirror_map, mp_lambdify,
                                       numeric_derivatives)
from lossforge.symbolic.compile import compile_torch
from lossforge.symbolic.logdomain import L, log_domain
from lossforge.symbolic.parser import formula_text, parse_formula

#: How many distinct formulas a process keeps parsed maps of (least recently used ones go).
SHARED_MAPS = 1024
#: the largest finite float64: a value beyond it can only be +-inf in the compiled map
FLOAT_MAX = float(np.finfo(np.float64).max)

#: The variables a map formula may use: h(p), or phi~(l).
_MAP_VARIABLES = {"p": P, "l": L}

#: Fixed points where h'' is evaluated for the semantic hash.
_HASH_POINTS = np.array([0.05, 0.2, 0.5, 0.7, 0.93])


def _without_constant(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    const, rest = expr.as_independent(var, as_Add=True)  # no expand: it breaks numerics
    return rest if rest != 0 else expr


class MirrorMap:
    """A candidate mirror map h(p); see the module docstring."""

    def __init__(self, h: sp.Expr, source: str | None = None):
        if not isinstance(h, sp.Expr):
            raise FormulaError(f"h must be a SymPy expression, got {type(h).__name__}")
        extra = h.free_symbols - {P}
        if extra:
            names = ", ".join(sorted(map(str, extra)))
            raise FormulaError(f"mirror map {source or h} uses unknown variables {names}; "
                               "only p is allowed")
        self.h = h
        self.given = h            # the formula as given: h(p), or phi~(l) (see from_expr)
        self.order = 2            # derivatives from the given formula to h''
        self.source = source if source is not None else str(h)
        #: check reports by time limit: (report, whether a proof was attempted)
        self._reports: dict[float, tuple[CheckReport, bool]] = {}
        self._phi_fn = None       # the compiled phi~ (``compile``)
        self._verified = False    # ... and whether its log-domain rewrite was verified

    @classmethod
    def from_expr(cls, expr: sp.Expr, source: str | None = None) -> "MirrorMap":
        """h(p) when expr is in p; phi~(l) when it is in l (the module docstring). The same
        expression and source give the same (shared) map within a process."""
        if not isinstance(expr, sp.Expr):
            raise FormulaError(f"a mirror map must be a SymPy expression, got "
                               f"{type(expr).__name__}")
        return _shared_map(expr, str(expr) if source is None else source)

    @classmethod
    def _build(cls, expr: sp.Expr, source: str) -> "MirrorMap":
        if L not in expr.free_symbols:
            return cls(expr, source)
        if P in expr.free_symbols:
            raise FormulaError(f"mirror map {source} uses both p and l: write h(p) in p "
                               "or phi~(l) in l")
        h_prime = expr.subs(L, sp.log(P))
        mm = cls(sp.Integral(h_prime, P), source)
        mm.given, mm.order = expr, 1
        mm.__dict__["h_prime"] = h_prime   # seed the cached property: no diff of an Integral
        return mm

    @classmethod
    def from_formula(cls, text: str) -> "MirrorMap":
        """Parse a user formula: h in p, or phi~ in l (safe parser: nothing is executed).
        Each distinct text is parsed once per process; the map is shared (``from_expr``)."""
        expr = _parse_map(text) if isinstance(text, str) else parse_formula(text, _MAP_VARIABLES)
        return cls.from_expr(expr, source=text)

    @property
    def formula(self) -> str:
        """The canonical text of the given formula (parses back to the same map)."""
        return formula_text(self.given)

    def __repr__(self) -> str:
        return f"MirrorMap({self.source!r})"

    # ---- derived forms ---------------------------------------------------------------------

    @cached_property
    def h_prime(self) -> sp.Expr:
        return sp.diff(self.h, P)

    @cached_property
    def h_second(self) -> sp.Expr:
        return sp.diff(self.h_prime, P)

    @property
    def _derivatives(self):
        """The derivatives of the given formula up to h'' for the checks, computed only if a
        check needs them (lazily)."""
        return _LazyDerivatives(self)

    @cached_property
    def h_text(self) -> str:
        """h(p) as text for people: h itself when given; for a map given as phi~(l) the
        antiderivative of h' when SymPy's rule-based integrator finds a closed form (fast: no
        Risch), else a statement of what defines h (never an unevaluated ``Integral(...)``)."""
        if self.order == 2:
            return formula_text(self.h)
        from sympy.integrals.manualintegrate import manualintegrate

        try:
            antiderivative = manualintegrate(self.h_prime, P)
        except Exception:  # noqa: BLE001 - no closed form is an answer too
            antiderivative = None
        if antiderivative is not None and not antiderivative.has(sp.Integral):
            return formula_text(antiderivative)
        return (f"(no closed form) the h with h'(p) = phi~(log p), phi~(l) = "
                f"{formula_text(self.given)}")

    @cached_property
    def phi_inv(self) -> sp.Expr:
        """phi^-1 = h', with its additive constant dropped (it cancels in every reward margin)."""
        return _without_constant(sp.expand_log(self.h_prime), P)

    @cached_property
    def _phi_tilde_parts(self) -> tuple[sp.Expr, sp.Expr]:
        full = log_domain(self.phi_inv, P)
        const, rest = full.as_independent(L, as_Add=True)
        return (const, rest) if rest != 0 else (sp.S.Zero, full)

    @property
    def phi_tilde(self) -> sp.Expr:
        """phi~(l) = phi^-1(exp(l)) for l < 0, rewritten into stable kernels, constant dropped."""
        return self._phi_tilde_parts[1]

    # ---- checks ----------------------------------------------------------------------------

    def check(self, *, time_limit_s: float = 1.0, legendre: bool = True,
              prove: bool = True) -> CheckReport:
        """Validity checks of mpo.md (cached per time limit; a later call asking for more
        recomputes).

        ``prove=False``: sampling only (fast screen); ``legendre``: also the Legendre property."""
        have, proved = self._reports.get(time_limit_s, (None, False))
        if have is None or (legendre and have.legendre is None) or (prove and not proved):
            have = check_mirror_map(self._checked, P, time_limit_s=time_limit_s,
                                    legendre=legendre, derivatives=self._derivatives,
                                    numeric=self._numeric, prove=prove, order=self.order)
            self._reports[time_limit_s] = (have, prove)
        return have

    def require_valid(self) -> CheckReport:
        report = self.check(legendre=False)
        if not report.valid:
            c = report.convex if not report.convex.holds else report.differentiable
            raise CheckError(f"mirror map {self.source!r} is not valid: {c.detail}")
        return report

    # ---- identity --------------------------------------------------------------------------

    @property
    def _checked(self) -> sp.Expr:
        """What the checks differentiate: h, or h' for a map given as phi~(l)."""
        return self.h if self.order == 2 else self.h_prime

    @cached_property
    def _numeric(self):
        """float64 function p -> [f, f', f''] by autograd for f = h (or h' when given as phi~),
        shared by the checks and the hash; h'' is entry ``order``."""
        return numeric_derivatives(to_elementary(self._checked), P)

    def semantic_hash(self) -> str:
        """Hash of h'' at fixed points (10 significant digits): equal for h and h + a*p + b,
        and for expanded and factored forms of the same map."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                h2 = self._numeric(_HASH_POINTS)[self.order]
                values = np.broadcast_to(np.asarray(h2, dtype=complex), _HASH_POINTS.shape)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError, NameError):
                values = np.full(_HASH_POINTS.shape, np.nan, dtype=complex)
        parts = [f"{v.real:.10g}" if np.isfinite(v) and v.imag == 0 else "nan" for v in values]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    # ---- output ----------------------------------------------------------------------------

    def latex(self) -> dict[str, str]:
        return {
            "h": printers.latex(self.h),
            "phi_inv": printers.latex(self.phi_inv),
            "phi_tilde": printers.latex(self.phi_tilde.subs(L, sp.Symbol(r"\ell"))),
        }

    def latex_block(self) -> str:
        """A printable LaTeX block (amsmath ``aligned``) of h, phi^-1 and phi~."""
        tex = self.latex()
        return ("\\begin{aligned}\n"
                f"  h(p) &= {tex['h']} \\\\\n"
                f"  \\phi^{{-1}}(p) = h'(p) &= {tex['phi_inv']} + \\text{{const}} \\\\\n"
                f"  \\tilde\\phi(\\ell) = \\phi^{{-1}}(e^{{\\ell}}) &= {tex['phi_tilde']}"
                " + \\text{const}\n\\end{aligned}")

    def texts(self) -> dict[str, str]:
        """h, phi^-1 and phi~ in formula syntax (``parser.formula_text``: ``relu``, not SymPy's
        ``Max(0, x)``; h as ``h_text``: for a map given as phi~, its closed form or a sentence,
        never an ``Integral``), as the search's results, distill, ``formula --json`` and this
        map's JSON write them."""
        return {"h": self.h_text, "phi_inv": formula_text(self.phi_inv),
                "phi_tilde": formula_text(self.phi_tilde)}

    def to_json(self) -> dict:
        report = self.check()
        return {
            "formula": self.source,
            "given": "h" if self.order == 2 else "phi_tilde",
            **self.texts(),
            "latex": self.latex(),
            "checks": report.to_dict(),
            "semantic_hash": self.semantic_hash(),
        }

    # ---- compilation -----------------------------------------------------------------------

    def compile(self, verify: bool = True):
        """torch function l -> phi~(l). With ``verify`` the stable rewrite is checked against
        40-digit evaluation of phi^-1(exp(l)) on l in [-30, -1e-6] (relative 1e-9). Both are
        done once per map: later calls return the same function."""
        if self._phi_fn is None:
            self._phi_fn = compile_torch(self.phi_tilde, [L])
        if verify and not self._verified:
            self._verify_log_domain(self._phi_fn)
            self._verified = True
        return self._phi_fn

    def _verify_log_domain(self, fn) -> None:
        ls = -np.logspace(-6, np.log10(30.0), 25)
        got = fn(torch.tensor(ls, dtype=torch.float64)).numpy()
        direct = mp_lambdify(P, self.phi_inv)
        const = self._phi_tilde_parts[0]
        with mpmath.workdps(40):
            offset = mpmath.mpf(sp.N(const, 40)) if const != 0 else mpmath.mpf(0)
            for x, g in zip(ls, got):
                try:
                    w = direct(mpmath.exp(mpmath.mpf(float(x))))
                except (ZeroDivisionError, ValueError, OverflowError):
                    continue
                if isinstance(w, mpmath.mpc):
                    if abs(w.imag) > 1e-20:
                        continue
                    w = w.real
                if not mpmath.isfinite(w):
                    continue
                w = w - offset
                overflows = np.isinf(g) and (g > 0) == (w > 0)
                close = (bool(np.isfinite(g))
                         and abs(w - mpmath.mpf(float(g))) <= 1e-9 * (1 + abs(w)))
                if abs(w) > FLOAT_MAX:   # beyond float64: the compiled value must overflow alike
                    ok = overflows
                elif abs(w) > 1e300:     # near the limit: an intermediate may overflow first
                    ok = close or overflows
                else:
                    ok = close
                if not ok:
                    raise CheckError(
                        f"log-domain form of {self.source!r} disagrees with phi^-1(exp(l)) at "
                        f"l = {x:.6g}: compiled {float(g)!r}, exact {mpmath.nstr(w, 15)}")


@functools.lru_cache(maxsize=SHARED_MAPS)
def _parse_map(text: str) -> sp.Expr:
    return parse_formula(text, _MAP_VARIABLES)


@functools.lru_cache(maxsize=SHARED_MAPS)
def _shared_map(expr: sp.Expr, source: str) -> MirrorMap:
    return MirrorMap._build(expr, source)


def clear_shared_maps() -> None:
    """Forget every shared map and parsed formula (the next use parses and verifies again)."""
    _parse_map.cache_clear()
    _shared_map.cache_clear()


class _LazyDerivatives:
    """Iterates to (h', h'') on first use, so maps that fail sampling never pay for SymPy's diff."""

    def __init__(self, mm: MirrorMap):
        self.mm = mm

    def __iter__(self):
        mm = self.mm
        return iter((mm.h_prime, mm.h_second) if mm.order == 2 else (mm.h_second,))
