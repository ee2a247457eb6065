"""Grammar files: the shipped grammars load and generate; bad grammars are named precisely."""

import random
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import sympy as sp

from lossforge.errors import GrammarError
from lossforge.grammar.loader import load_grammar
from lossforge.grammar.trees import generate, tree_from_names, tree_to_names, tree_to_sympy
from lossforge.search.candidates import tree_to_mirror_map
from lossforge.symbolic.checks import _mp_eval, mp_lambdify
from lossforge.symbolic.mirror_map import P

ROOT = Path(__file__).resolve().parents[1] / "grammars"
DOMAIN = ROOT / "mirror_map.toml"
DCP = ROOT / "mirror_map_dcp.toml"


@pytest.fixture(scope="module")
def domain():
    return load_grammar(DOMAIN)


@pytest.fixture(scope="module")
def dcp():
    return load_grammar(DCP)


def test_generation_is_reproducible_and_seed_dependent(domain):
    a = [tree_to_names(generate(domain, random.Random(5))) for _ in range(1)]
    b = [tree_to_names(generate(domain, random.Random(5))) for _ in range(1)]
    rng1, rng2 = random.Random(1), random.Random(2)
    c = [tree_to_names(generate(domain, rng1)) for _ in range(20)]
    d = [tree_to_names(generate(domain, rng2)) for _ in range(20)]
    assert a == b and c != d


def test_trees_respect_height_limits_and_round_trip(domain, dcp):
    rng = random.Random(0)
    for g in (domain, dcp):
        for _ in range(200):
            tree = generate(g, rng, max_height=4)
            assert tree.height <= 4
            names = tree_to_names(tree)
            assert tree_from_names(g, names) == tree
    with pytest.raises(GrammarError, match="does not define"):
        tree_from_names(domain, ["nosuchop[Real->Real]", "p"])


def test_domain_grammar_trees_are_real_and_finite_on_the_open_interval(domain):
    """The domain types keep log/sqrt/div/pow inside their domains: every tree is real and
    finite at interior points (40-digit evaluation; magnitudes beyond evaluation are skipped)."""
    rng = random.Random(3)
    points = ["0.013", "0.2", "0.5", "0.77", "0.991"]
    for _ in range(300):
        h = tree_to_sympy(domain, generate(domain, rng))
        fn = mp_lambdify(P, h)
        for x in points:
            v = _mp_eval(fn, float(x))
            assert v is not None, f"{h} undefined at p={x}"


def test_dcp_grammar_trees_are_all_strictly_convex(dcp):
    """Thousands of random trees of the DCP grammar: every one convex (proved or sampled).
    Trees with the same h share one check (small trees repeat often)."""
    rng = random.Random(11)
    statuses = Counter()
    checked = {}
    for _ in range(2000):
        mm = tree_to_mirror_map(dcp, generate(dcp, rng))
        key = str(mm.h)
        if key not in checked:
            checked[key] = mm.check(legendre=False, time_limit_s=0.3).convex
        assert checked[key].holds, (key, checked[key])
        statuses[checked[key].status] += 1
    assert len(checked) > 400  # the test exercised many distinct maps
    assert statuses["proved"] > 0.8 * sum(statuses.values())


def test_both_zoo_mirror_maps_are_in_the_dcp_grammar(dcp):
    """DPO's p log p and ORPO's binary entropy are expressible, so the search can seed them."""
    names = tree_from_names(dcp, ["xlogx[Aff->Cvx]", "p"])
    assert sp.simplify(tree_to_sympy(dcp, names) - P * sp.log(P)) == 0
    be = tree_from_names(dcp, ["add[Cvx,Cvx->Cvx]", "xlogx[Aff->Cvx]", "p", "xlogx[Aff->Cvx]",
                               "sub[One,Aff->Aff]", "1[One]", "p"])
    assert sp.simplify(tree_to_sympy(dcp, be) - (P * sp.log(P) + (1 - P) * sp.log(1 - P))) == 0


GOOD_HEAD = """
[grammar]
name = "t"
root = "Real"
variable = { name = "p", type = "Prob" }

[types]
Real = { interval = [-inf, inf] }
Prob = { interval = [0, 1], subtype_of = "Real" }
"""

PROD = """
[[productions]]
op = "{op}"
args = {args}
returns = "{ret}"
"""


def _write(tmp_path, body: str) -> Path:
    f = tmp_path / "g.toml"
    f.write_text(textwrap.dedent(body))
    return f


@pytest.mark.parametrize("body,line,fragment", [
    (GOOD_HEAD + PROD.format(op="nosuch", args='["Real"]', ret="Real"), 11, "unknown op 'nosuch'"),
    (GOOD_HEAD + PROD.format(op="log", args='["Real"]', ret="Real"), 11,
     "log is defined only on (0, inf)"),
    (GOOD_HEAD + PROD.format(op="exp", args='["Prob"]', ret="Prob"), 11,
     "outside the return type 'Prob'"),
    (GOOD_HEAD + PROD.format(op="add", args='["Real"]', ret="Real"), 11, "takes 2 argument"),
    (GOOD_HEAD + PROD.format(op="neg", args='["Ghost"]', ret="Real"), 11, "unknown type 'Ghost'"),
    (GOOD_HEAD + PROD.format(op="neg", args='["Real"]', ret="Real") * 2, 16, "duplicate production"),
    (GOOD_HEAD.replace('Real = { interval = [-inf, inf] }',
                       'Real = { interval = [-inf, inf] }\nNope = { interval = [0, inf] }')
     + PROD.format(op="log", args='["Nope"]', ret="Real"), 12, "no terminal can produce it"),
    (GOOD_HEAD.replace('root = "Real"', 'root = "Lonely"').replace(
        'Real = { interval = [-inf, inf] }',
        'Real = { interval = [-inf, inf] }\nLonely = { interval = [-inf, inf] }')
     + PROD.format(op="neg", args='["Real"]', ret="Real"), 4, "no production or terminal returns"),
    # a root whose trees are all constants (exponents, say): no map of it mentions p
    (GOOD_HEAD.replace('root = "Real"', 'root = "Expo"').replace(
        'Real = { interval = [-inf, inf] }',
        'Real = { interval = [-inf, inf] }\nExpo = { interval = [-inf, inf], constants = ["2"] }')
     + PROD.format(op="neg", args='["Expo"]', ret="Expo")
     + PROD.format(op="neg", args='["Real"]', ret="Real"), 4,
     "root type 'Expo': no tree of it contains a variable (p)"),
    (GOOD_HEAD.replace('subtype_of = "Real"', 'subtype_of = "Prob"')
     + PROD.format(op="neg", args='["Real"]', ret="Real"), 9, "supertype cycle"),
    (GOOD_HEAD + "\n[[productions]]\nop = \"neg\"\nargs = [\"Real\"]\n", 11, "missing returns"),
    (GOOD_HEAD.replace("[types]", "[types]\nbad = 3"), 8, "must be a table"),
    # a key's error names the key's line, not the section's
    (GOOD_HEAD.replace('root = "Real"', 'root = "Real"\nmax_dept = 4'), 5,
     "[grammar] has unknown key(s): max_dept"),
    (GOOD_HEAD.replace('root = "Real"', 'root = "Real"\nmax_depth = "four"'), 5,
     "max_depth must be an integer in [1, 17], got 'four'"),
    (GOOD_HEAD + "this is = not toml [", None, "malformed TOML"),
])
def test_bad_grammar_named_with_file_line_and_reason(tmp_path, body, line, fragment):
    path = _write(tmp_path, body)
    with pytest.raises(GrammarError) as info:
        load_grammar(path)
    message = str(info.value)
    assert fragment in message
    prefix = f"{path}:{line}:" if line else f"{path}:"
    assert message.startswith(prefix), message


def test_missing_grammar_file_is_a_clear_error(tmp_path):
    with pytest.raises(GrammarError, match="cannot read grammar file"):
        load_grammar(tmp_path / "absent.toml")


def test_shipped_seeds_are_dpo_and_orpo(domain, dcp):
    """Each grammar file's [seeds] are the known losses, checked against their closed forms."""
    entropy = P * sp.log(P) + (1 - P) * sp.log(1 - P)
    for g in (domain, dcp):
        assert list(g.seeds) == ["dpo", "orpo"]
        got = {k: tree_to_sympy(g, tree_from_names(g, v)) for k, v in g.seeds.items()}
        assert sp.simplify(got["dpo"] - P * sp.log(P)) == 0
        assert sp.simplify(got["orpo"] - entropy) == 0
    from lossforge.grammar.ops import to_elementary

    link = load_grammar(ROOT / "link.toml")
    for name, closed in (("dpo", lambda x: sp.log(1 + sp.exp(-x))),     # -log sigmoid(D)
                         ("hinge", lambda x: sp.Max(0, 1 - x))):
        expr = to_elementary(tree_to_sympy(link, tree_from_names(link, link.seeds[name])))
        (sym,) = expr.free_symbols
        for x in (-3, sp.Rational(1, 2), 2):
            assert abs(sp.N(expr.subs(sym, x) - closed(sp.sympify(x)), 30)) < 1e-25, name
    assert list(load_grammar(ROOT / "imitation.toml").seeds) == ["none", "sft"]


@pytest.mark.parametrize("seed,fragment", [
    ('["nosuch"]', "'nosuch' is no production, variable or constant"),
    ('["p", "p"]', "'p' is left over after a complete tree"),
    ('["neg[Real->Real]"]', "the tree is incomplete (1 argument(s) missing)"),
    ('["log[Prob->Real]", "neg[Real->Real]", "p"]', "'neg[Real->Real]' returns Real where Prob"),
    ('[]', "must be a non-empty list of node names"),
])
def test_bad_seed_named_with_file_line_and_reason(tmp_path, seed, fragment):
    body = (GOOD_HEAD + PROD.format(op="neg", args='["Real"]', ret="Real")
            + PROD.format(op="log", args='["Prob"]', ret="Real")
            + f'\n[seeds]\nok = ["p"]\nx = {seed}\n')
    path = _write(tmp_path, body)
    line = path.read_text().splitlines().index(f"x = {seed}") + 1
    with pytest.raises(GrammarError) as info:
        load_grammar(path)
    assert str(info.value).startswith(f"{path}:{line}:"), str(info.value)
    assert fragment in str(info.value)


def test_seeds_keep_file_order_and_a_grammar_may_have_none(tmp_path):
    body = GOOD_HEAD + PROD.format(op="neg", args='["Real"]', ret="Real")
    assert load_grammar(_write(tmp_path, body)).seeds == {}
    seeds = '\n[seeds]\nz = ["p"]\na = ["neg[Real->Real]", "p"]\n'
    g = load_grammar(_write(tmp_path, body + seeds))
    assert list(g.seeds) == ["z", "a"]
