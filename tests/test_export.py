"""The standalone torch export: the file, run in a fresh interpreter WITHOUT lossforge, computes
the same per-example losses and gradients as the lossforge objective it came from."""

import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch

from lossforge import objectives
from lossforge.export import ExportError, export, expr_source, module_source
from lossforge.objectives import MPOSpec, Objective

BINARY_ENTROPY = "p*log(p) + (1-p)*log(1-p)"

# dpo, orpo (reference-free, imitation, mean), ipo (mean, link reads beta), rpo (imitation term
# over n), a temporally aware ORPO-like member (weights over t), two non-trivial mirror maps
# (one with a link over the rewards), and a reference-free SimPO with a shifted link.
MEMBERS = {
    "dpo": objectives.get_spec("dpo"),
    "orpo": objectives.get_spec("orpo"),
    "ipo": objectives.get_spec("ipo"),
    "rpo": objectives.get_spec("rpo"),
    "simpo": objectives.get_spec("simpo"),
    "ta-orpo": MPOSpec("ta-orpo", BINARY_ENTROPY, 1.0, False, "-logsigmoid(D)", imitation="-l",
                       w_pref="t", w_sft="1 - t/2", aggregation="mean"),
    "power-map": MPOSpec("power-map", "p*log(p) + 3*p**2", 0.2, True, "-logsigmoid(D)"),
    "be-rewards": MPOSpec("be-rewards", BINARY_ENTROPY, 0.1, True,
                          "-logsigmoid(D) + 0.1*softplus(-rw)", aggregation="mean"),
}


def _inputs(spec: MPOSpec, b: int = 9) -> dict:
    """Log-probs the member is meant for: summed (down to -500) or per-token means near 0."""
    g = torch.Generator().manual_seed(len(spec.name))
    if spec.aggregation == "sum":
        x = [-(1.0 + 120.0 * torch.rand(b, generator=g, dtype=torch.float64)) for _ in range(4)]
        for v in x:
            v[:3] -= 400.0
    else:
        x = [-torch.logspace(-6, 0.5, b, dtype=torch.float64)[torch.randperm(b, generator=g)]
             for _ in range(4)]
    return {"pc": x[0].tolist(), "pr": x[1].tolist(), "rc": x[2].tolist(), "rr": x[3].tolist(),
            "t": 0.3, "n": [1.0 + k for k in range(b)]}


def _ours(obj: Objective, data: dict):
    pc = torch.tensor(data["pc"], dtype=torch.float64, requires_grad=True)
    pr = torch.tensor(data["pr"], dtype=torch.float64, requires_grad=True)
    losses = obj(pc, pr, torch.tensor(data["rc"], dtype=torch.float64),
                 torch.tensor(data["rr"], dtype=torch.float64), progress=data["t"],
                 chosen_lengths=torch.tensor(data["n"], dtype=torch.float64))
    g = torch.autograd.grad(losses.sum(), (pc, pr), allow_unused=True)
    g = [torch.zeros_like(pc) if x is None else x for x in g]
    return losses.detach(), g[0], g[1]


# Runs in `python -I` from a directory outside the repository: lossforge is blocked on the
# meta path (so an editable install cannot leak in) and the script proves it is not importable.
_RUNNER = textwrap.dedent('''
    import importlib.abc, importlib.util, json, sys

    class _NoLossforge(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "lossforge" or name.startswith("lossforge."):
                raise ImportError("lossforge is blocked in this interpreter")
            return None

    sys.meta_path.insert(0, _NoLossforge())
    try:
        import lossforge  # noqa: F401
        sys.exit("lossforge is importable: the test would prove nothing")
    except ImportError:
        pass
    import torch
    out = {}
    cases = json.load(open("cases.json"))
    for name, data in cases.items():
        spec = importlib.util.spec_from_file_location(name, name.replace("-", "_") + ".py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        f64 = lambda k: torch.tensor(data[k], dtype=torch.float64)
        pc, pr = f64("pc").requires_grad_(True), f64("pr").requires_grad_(True)
        losses = mod.loss(pc, pr, f64("rc"), f64("rr"), progress=data["t"],
                          chosen_lengths=f64("n"))
        gw, gl = torch.autograd.grad(losses.sum(), (pc, pr), allow_unused=True)
        gl = torch.zeros_like(pr) if gl is None else gl
        f32 = mod.loss(f64("pc").float(), f64("pr").float(), f64("rc").float(),
                       f64("rr").float(), progress=data["t"], chosen_lengths=f64("n").float())
        out[name] = {"loss": losses.tolist(), "gw": gw.tolist(), "gl": gl.tolist(),
                     "f32": f32.tolist(), "f32_dtype": str(f32.dtype), "spec": mod.SPEC,
                     "flags": [mod.NEEDS_REFERENCE, mod.TEMPORAL, mod.NEEDS_LENGTHS]}
    assert not any(m == "lossforge" or m.startswith("lossforge.") for m in sys.modules)
    json.dump(out, open("out.json", "w"))
''')


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """Every member exported to tmp/, run once in a fresh lossforge-free interpreter."""
    tmp = tmp_path_factory.mktemp("standalone")
    return _run_standalone(tmp, MEMBERS)


def _run_standalone(tmp, specs: dict) -> tuple[dict, dict]:
    """Export each spec (name -> MPOSpec) as a torch file in ``tmp``, run them all in the
    lossforge-free interpreter (``_RUNNER``); (inputs per name, what the files computed)."""
    cases = {}
    for name, spec in specs.items():
        (tmp / (name.replace("-", "_") + ".py")).write_text(export(Objective(spec), "torch"))
        cases[name] = _inputs(spec)
    (tmp / "cases.json").write_text(json.dumps(cases))
    (tmp / "runner.py").write_text(_RUNNER)
    r = subprocess.run([sys.executable, "-I", "runner.py"], cwd=tmp, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return cases, json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("name", list(MEMBERS))
def test_standalone_file_matches_the_objective(standalone, name):
    cases, out = standalone
    obj = Objective(MEMBERS[name])
    loss, gw, gl = _ours(obj, cases[name])
    got = out[name]
    assert torch.isfinite(loss).all()
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(f64(got["loss"]), loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(f64(got["gw"]), gw, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(f64(got["gl"]), gl, rtol=1e-12, atol=1e-14)
    # float32 inputs stay float32 and agree to float32 precision
    assert got["f32_dtype"] == "torch.float32"
    torch.testing.assert_close(f64(got["f32"]), loss, rtol=2e-5, atol=2e-5)
    # the file carries its spec and flags: lossforge loads it back unchanged
    assert MPOSpec.from_json(got["spec"]) == MEMBERS[name]
    assert got["flags"] == [obj.needs_reference, obj.temporal, obj.needs_lengths]


# Constants SymPy cannot evaluate: lossforge's own functions at a number, with their values by
# hand (B3: the printer called float() on them and the export failed).
CONSTANTS = {
    "softplus(0)": math.log(2.0),
    "sigmoid(0)": 0.5,
    "softplus(1)": math.log1p(math.e),
    "log1mexp(-1)": math.log(1.0 - math.exp(-1.0)),
}


def _constant_spec(text: str) -> MPOSpec:
    return MPOSpec(f"const-{list(CONSTANTS).index(text)}", "p*log(p)", imitation=f"{text}*l")


@pytest.fixture(scope="module")
def constant_standalone(tmp_path_factory):
    """A loss per constant, exported and run in the lossforge-free interpreter."""
    tmp = tmp_path_factory.mktemp("constants")
    return _run_standalone(tmp, {s.name: s for s in map(_constant_spec, CONSTANTS)})


@pytest.mark.parametrize("text", list(CONSTANTS))
def test_constant_subtree_exports_and_computes_the_objectives_loss(constant_standalone, text):
    """``--imitation "softplus(0)*l"``: the torch file is written, runs without lossforge and
    gives the objective's losses; its constant is the function's value to float64 precision."""
    cases, out = constant_standalone
    spec = _constant_spec(text)
    obj = Objective(spec)
    loss, gw, _ = _ours(obj, cases[spec.name])
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(f64(out[spec.name]["loss"]), loss, rtol=1e-6, atol=0)
    torch.testing.assert_close(f64(out[spec.name]["gw"]), gw, rtol=1e-6, atol=0)
    # the imitation term at l = 1 is the constant: in the file and in lossforge's compiled loss
    ns: dict = {}
    exec(compile(export(obj, "torch"), "const.py", "exec"), ns)  # our own generated source
    one = torch.ones(1, dtype=torch.float64)
    assert ns["imitation"](one, one, one).item() == pytest.approx(CONSTANTS[text], rel=1e-15)
    from lossforge.objectives.mpo import IMITATION_VARS
    from lossforge.symbolic.compile import compile_torch

    ours = compile_torch(obj.imitation_expr, list(IMITATION_VARS.values()))(one, one, one)
    assert ours.item() == pytest.approx(CONSTANTS[text], rel=1e-15)


def test_constants_print_as_their_values_and_as_functions_in_latex():
    import sympy as sp

    from lossforge.grammar.ops import Log1mexp, Sigmoid, Softplus
    from lossforge.symbolic.printers import latex

    lv = sp.Symbol("l")
    assert expr_source(Softplus(0) * lv, {lv: "l"}) == f"l * {math.log(2.0)!r}"
    # -log1mexp(-1) is positive: added, not "l - -0.458..."
    minus = expr_source(lv - Log1mexp(-1), {lv: "l"})
    plus = expr_source(lv + Log1mexp(-1), {lv: "l"})
    assert minus.startswith("l + ") and plus.startswith("l - ")
    from lossforge.symbolic.compile import constant_float

    for text in (minus, plus):  # the value the compiled objective uses (its log1mexp kernel's
        # log1p(-exp(-1)) in float64, here 1 ulp from the correctly rounded value)
        assert float(text[4:]) == constant_float(-Log1mexp(-1))
        assert float(text[4:]) == pytest.approx(-math.log1p(-math.exp(-1)), rel=1e-15)
    assert latex(Softplus(0)) == r"\operatorname{softplus}\left(0\right)"
    assert latex(Sigmoid(0) * lv) == r"l \sigma\left(0\right)"
    assert latex(Log1mexp(-1)) == r"\log\left(1 - e^{-1}\right)"
    with pytest.raises(ExportError, match=r"constant log1mexp\(1\) is not a real number"):
        expr_source(Log1mexp(1) * lv, {lv: "l"})


def test_members_cover_reference_free_temporal_imitation_and_lengths():
    objs = [Objective(s) for s in MEMBERS.values()]
    assert any(not o.needs_reference for o in objs)
    assert any(o.temporal for o in objs)
    assert any(o.imitation_expr is not None for o in objs)
    assert any(o.needs_lengths for o in objs)
    assert any(o.aggregation == "mean" for o in objs)


def test_dpo_file_value_by_hand(tmp_path):
    """DPO from its exported file against the closed form, -log sigmoid(beta * margin)."""
    src = export(objectives.get("dpo", beta=0.5), "torch")
    ns: dict = {}
    exec(compile(src, "dpo.py", "exec"), ns)  # our own generated source, not user text
    pc, pr, rc, rr = (torch.tensor([v], dtype=torch.float64) for v in (-3.0, -5.0, -4.0, -4.5))
    want = math.log1p(math.exp(-0.5 * ((-3.0 + 4.0) - (-5.0 + 4.5))))
    assert ns["loss"](pc, pr, rc, rr).item() == pytest.approx(want, rel=1e-15)
    with pytest.raises(ValueError, match="needs reference log-probs"):
        ns["loss"](pc, pr)


def test_names_and_descriptions_cannot_inject_code(tmp_path):
    evil = 'x"""\nimport os; os.system("touch PWNED")\n"""\\'
    spec = MPOSpec(name=evil, description=evil)
    src = export(Objective(spec), "torch")
    ns: dict = {}
    exec(compile(src, "evil.py", "exec"), ns)
    assert ns["NAME"] == evil and ns["SPEC"]["description"] == evil
    assert "os" not in ns  # the text stayed inside the docstring and string literals


def test_expr_source_spells_stable_kernels():
    from lossforge.symbolic.logdomain import L
    from lossforge.symbolic.mirror_map import MirrorMap

    phi = MirrorMap.from_formula(BINARY_ENTROPY).phi_tilde
    assert expr_source(phi, {L: "l"}) == "l - log1mexp(l)"
    with pytest.raises(ExportError, match="not an input"):
        expr_source(phi, {})


def test_neural_like_objective_without_closed_form_is_refused():
    obj = objectives.get("dpo")
    obj.mirror_map = None
    with pytest.raises(ExportError, match="no closed-form mirror map"):
        module_source(obj)


def test_module_docstring_json_load_back_calls_work(tmp_path):
    """What ``lossforge.export``'s docstring says loads a JSON export back, called exactly as
    written (it once named ``objectives.from_json``, which does not exist)."""
    import re

    import lossforge.export

    doc = lossforge.export.__doc__
    json_item = doc[doc.index("\n    json "):doc.index("\n\n", doc.index("\n    json "))]
    calls = [c for c in re.findall(r"``([^`]+)``", json_item)
             if "from_" in c or c.startswith("data = ")]
    assert any(c.startswith("objectives.") for c in calls), json_item
    for name in ("orpo", "dpo"):
        path = tmp_path / f"{name}.json"
        path.write_text(export(objectives.get(name), "json"))
        with open(path) as file:
            scope = {"json": json, "file": file, "objectives": objectives, "MPOSpec": MPOSpec,
                     "data": json.loads(path.read_text())}
            for call in calls:
                if call.startswith("data = "):
                    scope["data"] = eval(call[len("data = "):], scope)  # our own docstring
                    continue
                got = eval(call, scope)
                spec = got if isinstance(got, MPOSpec) else got.spec
                assert spec == objectives.get_spec(name), call


@pytest.mark.parametrize("name,title", [
    ("x {y} \\oops %", r"x \{y\} \textbackslash{}oops \%"),
    ("a_b #1 & $2 ^ ~", r"a\_b \#1 \& \$2 \textasciicircum{} \textasciitilde{}"),
])
def test_latex_document_escapes_every_special_character_of_the_title(name, title):
    text = export(Objective(MPOSpec(name=name)), "latex-document")
    assert f"\\section*{{{title}}}\n" in text


def test_latex_document_carries_the_provenance_notes_escaped():
    from lossforge.export import objective_latex

    text = objective_latex(objectives.get("dpo"), document=True,
                           notes=["Modified from run r_1, rank 0 by --beta: 50% off."])
    title, rest = text.split("\\section*{dpo}\n")
    assert rest.startswith("Modified from run r\\_1, rank 0 by --beta: 50\\% off.\n\\[\n")


def test_trl_message_on_one_ignored_field_says_it_not_them(tmp_path):
    pytest.importorskip("trl")
    from trl import DPOConfig

    from lossforge.errors import ConfigError
    from lossforge.integrations.trl import _check_args

    def config(**changed):
        return DPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False,
                         **changed)

    dpo = objectives.get("dpo")
    with pytest.raises(ConfigError, match="loss_type would be ignored: leave it at its "
                                          "default$"):
        _check_args(config(loss_type=["ipo"]), dpo)
    with pytest.raises(ConfigError, match="would be ignored: leave them at their defaults$"):
        _check_args(config(loss_type=["ipo"], label_smoothing=0.1), dpo)


def test_a_map_with_relu_compiles_and_exports(tmp_path):
    """h = p log p + relu(p - 0.3)^3 (strictly convex, C2): h' = log p + 1 + 3 relu(p - 0.3)^2,
    which SymPy writes with Heaviside(p - 0.3) (the op table's ``step``), so phi~(l) =
    l + 3 max(0, e^l - 0.3)^2 + const by hand. It compiles, passes the smoke test (before, no
    op compiled Heaviside and the search rejected the map) and its torch file runs alone."""
    from lossforge.objectives.smoke import smoke_test

    spec = MPOSpec("relu3", "p*log(p) + relu(p - 0.3)**3")
    obj = Objective(spec)
    assert smoke_test(obj).ok
    l = torch.tensor([-3.0, -1.5, math.log(0.3), -0.5, -1e-3], dtype=torch.float64)
    hand = l + 3 * torch.clamp(torch.exp(l) - 0.3, min=0) ** 2
    got = obj.phi_tilde(l)
    torch.testing.assert_close(got - got[0], hand - hand[0], rtol=1e-12, atol=1e-12)
    cases, out = _run_standalone(tmp_path, {"relu3": spec})
    loss, gw, gl = _ours(obj, cases["relu3"])
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(f64(out["relu3"]["loss"]), loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(f64(out["relu3"]["gw"]), gw, rtol=1e-12, atol=1e-14)


def test_expr_source_refuses_text_and_runs_none_of_it(tmp_path):
    """``expr_source`` is public (``lossforge.export``); given a string, SymPy's ``sympify``
    ran it as Python. Text is refused before any of it runs."""
    from lossforge.export import expr_source

    marker = tmp_path / "ran"
    with pytest.raises(TypeError, match="takes a SymPy expression, not str"):
        expr_source(f"__import__('pathlib').Path({str(marker)!r}).touch()", {})
    assert not marker.exists()
