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


# ---- wrong value shapes and unsound types: one line naming the file, the line and the field ----

def _types(extra: str) -> str:
    """GOOD_HEAD with ``extra`` type lines after Prob (line 9), and one production (line 11+)."""
    return (GOOD_HEAD.replace('subtype_of = "Real" }', 'subtype_of = "Real" }\n' + extra)
            + PROD.format(op="neg", args='["Real"]', ret="Real"))


NEG_PROD = PROD.format(op="neg", args='["Real"]', ret="Real")


@pytest.mark.parametrize("body,line,fragment", [
    # B7: a value of the wrong TOML shape in every field the loader reads
    (GOOD_HEAD + NEG_PROD.replace('returns = "Real"', 'returns = ["Real"]'), 11,
     "production returns must be a non-empty string, got an array ['Real']"),
    (GOOD_HEAD.replace('subtype_of = "Real"', 'subtype_of = ["Real"]') + NEG_PROD, 9,
     "type 'Prob': subtype_of must be a non-empty string, got an array ['Real']"),
    ("productions = [1, 2]\n" + GOOD_HEAD, 1,
     "production 1 must be a table with op, args and returns, got an integer 1"),
    ('productions = ["sub"]\n' + GOOD_HEAD, 1,
     "production 1 must be a table with op, args and returns, got a string 'sub'"),
    (GOOD_HEAD.replace('root = "Real"', 'root = "Real"\nmax_depth = true') + NEG_PROD, 5,
     "max_depth must be an integer in [1, 17], got True"),
    (GOOD_HEAD.replace('name = "t"', "name = 5") + NEG_PROD, 3,
     "[grammar] name must be a non-empty string, got an integer 5"),
    (GOOD_HEAD.replace('name = "t"', 'name = ""') + NEG_PROD, 3,
     "[grammar] name must be a non-empty string, got a string ''"),
    (GOOD_HEAD.replace('name = "t"', 'name = "t"\ndescription = 3') + NEG_PROD, 4,
     "[grammar] description must be a string, got an integer 3"),
    (GOOD_HEAD.replace('root = "Real"', 'root = ["Real"]') + NEG_PROD, 4,
     "[grammar] root must be a non-empty string, got an array ['Real']"),
    (GOOD_HEAD.replace('type = "Prob" }', 'type = ["Prob"] }') + NEG_PROD, 5,
     "a variable's type must be a non-empty string, got an array ['Prob']"),
    (GOOD_HEAD.replace('name = "p"', "name = true") + NEG_PROD, 5,
     "a variable's name must be a non-empty string, got a boolean True"),
    (GOOD_HEAD + NEG_PROD.replace('op = "neg"', "op = 3"), 11,
     "production op must be a non-empty string, got an integer 3"),
    (GOOD_HEAD + PROD.format(op="neg", args="[1]", ret="Real"), 11,
     "production args must be a list of type names (strings), got an array [1]"),
    (GOOD_HEAD + PROD.format(op="neg", args='"Real"', ret="Real"), 11,
     "production args must be a list of type names (strings), got a string 'Real'"),
    (GOOD_HEAD.replace("interval = [0, 1]", "interval = [false, true]") + NEG_PROD, 9,
     "type 'Prob': interval must be [lo, hi] (two numbers, lo < hi), got an array [False, True]"),
    (_types('Coef = { constants = ["1/0"] }'), 10, "type 'Coef': constant '1/0' is not a finite"),
    (GOOD_HEAD.replace('subtype_of = "Real" }', 'subtype_of = "Real", description = 3 }')
     + NEG_PROD, 9, "type 'Prob': description must be a string, got an integer 3"),
    # B8: a subtype whose values leave its supertype's would make the domain checks unsound
    (_types('Pos = { interval = [0, inf], subtype_of = "Real" }\n'
            'Neg = { interval = [-inf, 0], subtype_of = "Pos" }'), 11,
     "type 'Neg' (interval (-inf, 0)) is not inside its supertype 'Pos' (interval (0, inf))"),
    (_types('Wide = { interval = [0, 2], subtype_of = "Prob" }'), 10,
     "type 'Wide' (interval (0, 2)) is not inside its supertype 'Prob' (interval (0, 1))"),
    (_types('Five = { constants = ["5"], subtype_of = "Prob" }'), 10,
     "type 'Five' (constants 5) is not inside its supertype 'Prob' (interval (0, 1))"),
    # the supertype's interval is open: its endpoint is no value of it
    (_types('Zero = { constants = ["0"], subtype_of = "Prob" }'), 10,
     "type 'Zero' (constants 0) is not inside its supertype 'Prob' (interval (0, 1))"),
    (_types('Coef = { constants = ["1", "2"] }\n'
            'Big = { interval = [0, inf], subtype_of = "Coef" }'), 11,
     "type 'Big' (interval (0, inf)) is not inside its supertype 'Coef' (constants 1, 2)"),
    # a variable whose values lossforge fixes (l is a log-prob, < 0) typed outside them
    (GOOD_HEAD.replace('name = "p"', 'name = "l"') + NEG_PROD, 5,
     "variable 'l' takes values in (-inf, 0) but its type 'Prob' is interval (0, 1)"),
])
def test_wrong_value_shape_or_unsound_type_is_one_line_naming_the_field(tmp_path, body, line,
                                                                         fragment):
    path = _write(tmp_path, body)
    with pytest.raises(GrammarError) as info:
        load_grammar(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_subtypes_inside_their_supertype_load(tmp_path):
    """Equal intervals, a constant strictly inside, a constant on a constant-only supertype's
    own hull, and p, l typed by a wider type: all sound, all accepted."""
    g = load_grammar(_write(tmp_path, _types(
        'Unit = { interval = [0, 1], subtype_of = "Prob" }\n'
        'Half = { constants = ["1/2"], subtype_of = "Unit" }\n'
        'Coef = { constants = ["1", "3"] }\n'
        'Three = { constants = ["3"], subtype_of = "Coef" }')))
    assert g.types["Half"].supertype == "Unit" and g.types["Three"].supertype == "Coef"
    body = GOOD_HEAD.replace('name = "p", type = "Prob"', 'name = "l", type = "Real"')
    assert load_grammar(_write(tmp_path, body + NEG_PROD)).variable == "l"


def test_the_walkthroughs_neg_under_pos_is_refused(tmp_path):
    """The reported case: grammars/mirror_map.toml with Neg declared a subtype of Pos loaded,
    and log[Pos] then received negative values."""
    text = DOMAIN.read_text().replace('Neg = { interval = [-inf, 0], subtype_of = "Real" }',
                                      'Neg = { interval = [-inf, 0], subtype_of = "Pos" }')
    assert 'subtype_of = "Pos" }\nOne' in text   # the replacement happened
    path = tmp_path / "mirror_map.toml"
    path.write_text(text)
    line = text.splitlines().index('Neg = { interval = [-inf, 0], subtype_of = "Pos" }') + 1
    with pytest.raises(GrammarError) as info:
        load_grammar(path)
    assert str(info.value) == (f"{path}:{line}: type 'Neg' (interval (-inf, 0)) is not inside "
                               "its supertype 'Pos' (interval (0, inf)): a subtype's values "
                               "must lie in its supertype's")


def test_every_shipped_grammar_loads():
    """The checkout's grammars/, the folder in use, and the packaged copy where one exists (an
    editable checkout has none; test_package_data checks a wheel carries these files)."""
    from lossforge.resources import data_dir, packaged_dir

    folders = {ROOT, Path(data_dir("grammars"))} | {
        d for d in [Path(packaged_dir("grammars"))] if d.is_dir()}
    files = sorted(f for folder in folders for f in folder.glob("*.toml"))
    assert len(files) >= 5
    for f in files:
        assert load_grammar(f).name == f.stem


@pytest.mark.parametrize("old,new,fragment", [
    ('args = ["Prob"]\nreturns = "Neg"', 'args = ["Prob"]\nreturns = ["Neg"]',
     "production returns must be a non-empty string, got an array ['Neg']"),
    ('Neg = { interval = [-inf, 0], subtype_of = "Real" }',
     'Neg = { interval = [-inf, 0], subtype_of = "Pos" }',
     "type 'Neg' (interval (-inf, 0)) is not inside its supertype 'Pos' (interval (0, inf))"),
])
def test_search_cli_refuses_a_malformed_grammar_in_one_line_with_exit_2(tmp_path, old, new,
                                                                        fragment):
    import subprocess
    import sys

    text = DOMAIN.read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    p = subprocess.run([sys.executable, "-m", "lossforge.search", "--grammar", str(bad),
                        "--fitness", "probe", "--population", "4", "--generations", "1"],
                       cwd=ROOT.parent, capture_output=True, text=True, timeout=300)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1, p.stderr
    assert err[0].startswith(f"error: {bad}:") and fragment in err[0], err
