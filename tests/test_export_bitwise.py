"""An exported torch module computes what the compiled objective computes, bit for bit.

The file ``python -m lossforge.export`` writes (``objectives/torch_module.module_source``) is the
loss a user takes away; the compiled objective (``symbolic/compile.py``) is the one the search
trained. Floating-point arithmetic is not associative, so the printer (``symbolic/printers.py``)
must write the compiler's operations in the compiler's order. It did not: it wrote a sum's terms
in ``as_ordered_terms`` order while the compiler adds them in ``args`` order (for the link
``D**2 + 3*D + 1 + exp(D)`` about a fifth of float32 inputs gave another loss), a number over a
denominator as ``2.0 / x`` (Python computes ``x.reciprocal() * 2.0``: two roundings, the
compiler divides once), and a constant such as ``log(2)/3`` as its correctly rounded value
(the compiler computes it op by op in float64).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from lossforge.errors import LossforgeError
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.ops import kernel_sources
from lossforge.grammar.trees import generate, tree_to_sympy
from lossforge.objectives import MPOSpec, Objective
from lossforge.objectives.mpo import D, N, RL, RW, T
from lossforge.objectives.torch_module import module_source
from lossforge.symbolic.compile import compile_torch
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.parser import formula_text, parse_formula
from lossforge.symbolic.printers import expr_source

GRAMMARS = Path(__file__).resolve().parents[1] / "grammars"
DTYPES = (torch.float32, torch.float64)

#: links that reach every place where the printer could order or group otherwise than the
#: compiler: a sum's terms, a number over a denominator, constants that are not numbers,
#: negative coefficients, powers, the kernels (softplus, step, relu)
LINKS = ["D**2 + 3*D + 1 + exp(D)",
         "2/(1 + D**2) - 3/(rw*rw + 1) + t/(2 + D**2) - 1/(1 + rl**2)/(2 + t)",
         "log(2)*D/3 + sqrt(3)*t - softplus(1) + (1 + sqrt(2))*rl + D**log(3)",
         "-3*D*t/7 + (1 + D**2)**(1/3) - sigmoid(-D)*exp(t) + relu(1 - D)**3 + step(D)",
         "softplus(-D) - D/(1 + rw**2)**(1/2) + (2 + D**2)**(-1/2) + 1/rl**2 + t**3 - 5/2"]
#: mirror maps, h(p) or phi~(l): the identity, a power map and phi~ in the log domain
MAPS = ["p*log(p)", "p*log(p) + 3*p**2", "l - log1mexp(l)", "-sqrt(-l) + log(3)*l/7",
        "l + softplus(l + 100)"]


def _module(obj: Objective) -> dict:
    ns: dict = {}
    exec(compile(module_source(obj), f"{obj.name}.py", "exec"), ns)  # our own generated source
    return ns


def _same(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Bitwise equal (``torch.equal``), nan where the other is nan."""
    nan = want.isnan()
    return (got.dtype == want.dtype and got.shape == want.shape
            and torch.equal(got.isnan(), nan) and torch.equal(got[~nan], want[~nan]))


def _inputs(dtype: torch.dtype, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Log-probs at the scales lossforge sees (per-token means near 0 to sums of hundreds),
    margins and rewards around 0, progress in [0, 1], lengths up to hundreds."""
    g = torch.Generator().manual_seed(seed)

    def logps():
        return -torch.exp(3 * torch.rand(n, generator=g, dtype=torch.float64) - 2) ** 2

    out = {k: logps() for k in ("pc", "pr", "rc", "rr", "l")}
    for k in ("D", "rw", "rl"):
        out[k] = 4 * torch.randn(n, generator=g, dtype=torch.float64)
    out["t"] = torch.rand(n, generator=g, dtype=torch.float64)
    out["n"] = torch.exp(6 * torch.rand(n, generator=g, dtype=torch.float64))
    return {k: v.to(dtype) for k, v in out.items()}


def _mismatches(obj: Objective, n: int = 20000, seed: int = 0) -> list[str]:
    """The pieces of the exported module of ``obj`` (and its loss) that differ from the
    compiled objective on float32 and float64 inputs."""
    ns, bad = _module(obj), []
    pieces = [("phi_tilde", obj.mirror_map.phi_tilde, [L], ["l"]),
              ("link", obj.link_expr, [D, RW, RL, T], ["D", "rw", "rl", "t"])]
    if "imitation" in ns:
        pieces += [("imitation", obj.imitation_expr, [L, N, T], ["l", "n", "t"]),
                   ("w_sft", obj.w_sft_expr, [T], ["t"])]
    if "w_pref" in ns:
        pieces.append(("w_pref", obj.w_pref_expr, [T], ["t"]))
    for dtype in DTYPES:
        x = _inputs(dtype, n, seed)
        for name, expr, variables, args in pieces:
            if not _same(ns[name](*(x[a] for a in args)), compile_torch(expr, variables)(
                    *(x[a] for a in args))):
                bad.append(f"{name} {dtype}: {formula_text(expr)}")
        batch = (x["pc"], x["pr"], x["rc"], x["rr"], x["t"], x["n"])
        if not _same(ns["loss"](*batch), obj(*batch)):
            bad.append(f"loss {dtype}")
    return bad


@pytest.mark.parametrize("formula", [
    "D**2 + 3*D + 1 + exp(D)",    # a sum: the compiler adds 1 + D**2 + 3*D + exp(D)
    "3/(D*rw)",                   # a number over a denominator: one division, not 1/x * 3
    "D*log(2)**2",                # a constant: log(2)**2 as computed in float64, op by op
    "-D*rw/(1 + rl**2)",          # a negative coefficient: a negation (exact)
])
def test_each_operation_is_printed_as_the_compiler_computes_it(formula):
    """One expression per place where the printer could order or group otherwise than the
    compiler, evaluated as the exported module evaluates its source (the kernels in scope)."""
    expr = parse_formula(formula, {"D": D, "rw": RW, "rl": RL})
    variables = sorted(expr.free_symbols, key=str)
    names = {v: str(v) for v in variables}
    ns = {"torch": torch, "F": torch.nn.functional}
    exec("".join(kernel_sources()), ns)   # the op table's own kernels, as the module has them
    for dtype in DTYPES:
        x = _inputs(dtype, 100_000, seed=1)
        args = [x[names[v]] for v in variables]
        got = eval(expr_source(expr, names), ns, dict(zip(names.values(), args)))
        assert _same(got, compile_torch(expr, variables)(*args)), (formula, dtype)


def test_the_review_s_link_is_exported_bit_for_bit():
    obj = Objective(MPOSpec("review", link="D**2 + 3*D + 1 + exp(D)"))
    assert _mismatches(obj, n=100_000) == []


@pytest.mark.parametrize("link", LINKS)
def test_written_losses_are_exported_bit_for_bit(link):
    for i, mm in enumerate(MAPS):
        spec = MPOSpec(f"m{i}", mm, beta=0.3, reference=i % 2 == 0, link=link,
                       imitation="-l/3 + log(2)*l*n/100 - 2/(1 + n)", w_pref="1 - t/2",
                       w_sft="2/(3 + t)", aggregation="mean" if i % 2 else "sum")
        assert _mismatches(Objective(spec), seed=i) == [], (link, mm)


def _constant_piece(obj: Objective) -> bool:
    """Whether a piece of ``obj`` is a constant that is not a number (``2*softplus(0)``): the
    compiled piece is then float64 whatever the inputs' dtype (``compile_torch`` returns the
    constant's float64 tensor), and so is the compiled loss, while the exported piece has the
    inputs' dtype. A separate difference (of dtype, not of order), not the printer's."""
    exprs = [obj.mirror_map.phi_tilde, obj.link_expr, obj.w_pref_expr, obj.w_sft_expr]
    exprs += [obj.imitation_expr] if obj.imitation_expr is not None else []
    return any(not e.free_symbols and not e.is_Number for e in exprs)


def _grammar_specs(grammar: str, slot: str, count: int, seed: int) -> list[MPOSpec]:
    """``count`` random trees of a shipped grammar, each in its slot of an objective."""
    g, rng = load_grammar(GRAMMARS / f"{grammar}.toml"), random.Random(seed)
    specs = []
    while len(specs) < count:
        text = formula_text(tree_to_sympy(g, generate(g, rng)))
        specs.append(MPOSpec(f"{grammar}{len(specs)}", reference=len(specs) % 2 == 0,
                             **{slot: text}))
    return specs


@pytest.mark.parametrize("grammar, slot", [("link", "link"), ("imitation", "imitation"),
                                           ("phi_tilde", "mirror_map"),
                                           ("mirror_map", "mirror_map")])
def test_random_losses_of_the_grammars_are_exported_bit_for_bit(grammar, slot):
    compiled = 0
    for spec in _grammar_specs(grammar, slot, 12, seed=2024):
        try:
            obj = Objective(spec, check=False)
        except LossforgeError:   # a map whose log-domain form does not compile or verify
            continue
        if _constant_piece(obj):
            continue
        compiled += 1
        assert _mismatches(obj, n=5000) == [], spec
    assert compiled >= 6
