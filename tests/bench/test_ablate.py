"""``benchmarks/ablate.py``: the ablations of a discovered loss are the hand-derived specs, each
replaces exactly its part (checked on loss values against formulas written out by hand and the
zoo's DPO), the sweep they go into is one ``baselines.py sweep`` reads, and the ablation table
of a confirmation report gives the paired differences and Holm p-values computed by hand (df = 2:
P(|T| > t) = 1 - t / sqrt(t^2 + 2)). No training."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from lossforge import objectives
from lossforge.objectives import MPOSpec

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "ablate.py")
WINNERS = REPO / "benchmarks" / "results" / "winners"
ORPO_MAP = "p*log(p) + (1 - p)*log(1 - p)"


def _ablate():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import ablate

    return ablate


def _benchmark(name: str):
    """benchmarks/<name>.py (cells, tuning, confirmation), imported as the scripts there import
    each other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def _plan(spec: MPOSpec, t_value=Fraction(1, 2)) -> dict:
    return {o.ablation: o for o in _ablate().plan(spec, t_value)}


def _winner(name: str) -> MPOSpec:
    return _ablate().load_spec(WINNERS / f"{name}.json")


def _fields(spec: MPOSpec) -> dict:
    d = spec.to_json()
    d.pop("description")
    return d


def _logps(n: int = 64, seed: int = 0, scale: float = 300.0):
    g = torch.Generator().manual_seed(seed)
    pc, pr, rc, rr = (-scale * torch.rand(n, generator=g, dtype=torch.float64) for _ in range(4))
    lengths = torch.randint(50, 250, (n,), generator=g).to(torch.float64)
    return pc, pr, rc, rr, lengths


def test_ablations_of_lf_69d0421b_are_the_hand_derived_specs():
    plan = _plan(_winner("lf-69d0421b"))
    base = {"beta": 0.1, "reference": True, "w_pref": "1", "w_sft": "1", "aggregation": "sum",
            "params": {}}
    want = {
        "dpo-map": {"mirror_map": "p*log(p)", "link": "-2*D - 3/2", "imitation": "-l/10"},
        "dpo-link": {"mirror_map": ORPO_MAP, "link": "-logsigmoid(D)", "imitation": "-l/10"},
        "no-imitation": {"mirror_map": ORPO_MAP, "link": "-2*D - 3/2", "imitation": None},
        "no-preference": {"mirror_map": ORPO_MAP, "link": "0", "imitation": "-l/10"},
    }
    for ab, parts in want.items():
        assert plan[ab].status == "ok", (ab, plan[ab].note)
        assert _fields(plan[ab].spec) == {"name": f"lf-69d0421b-{ab}", **base, **parts}
    assert "-2*D - 3/2 replaced by DPO's -logsigmoid(D)" in plan["dpo-link"].spec.description
    assert "-l/10 removed" in plan["no-imitation"].spec.description
    assert (plan["no-t"].status, plan["no-t"].note) == ("skip", "lf-69d0421b does not use t")


def test_ablations_of_lf_9ccbeb81_skip_the_map_it_shares_with_dpo():
    plan = _plan(_winner("lf-9ccbeb81"))
    psi = "-l*sigmoid(n - 150)"
    assert plan["dpo-map"].status == "skip" and "equals lf-9ccbeb81 itself" in plan["dpo-map"].note
    got = {ab: (o.spec.link, o.spec.imitation, o.spec.mirror_map)
           for ab, o in plan.items() if o.status == "ok"}
    assert got == {"dpo-link": ("-logsigmoid(D)", psi, "p*log(p)"),
                   "no-imitation": ("softplus(1/4 - D/2)", None, "p*log(p)"),
                   "no-preference": ("0", psi, "p*log(p)")}
    assert plan["no-t"].status == "skip"


def test_no_preference_is_the_imitation_term_alone():
    pc, pr, rc, rr, n = _logps()
    for name, by_hand in [("lf-69d0421b", -pc / 10),
                          ("lf-9ccbeb81", -pc / (1 + torch.exp(-(n - 150))))]:
        spec = _plan(_winner(name))["no-preference"].spec
        got = objectives.from_spec(spec.to_json())(pc, pr, rc, rr, chosen_lengths=n)
        torch.testing.assert_close(got, by_hand, rtol=1e-12, atol=1e-12)
        # and the preference term it removed was not zero on these tensors
        full = objectives.from_spec(_winner(name).to_json())(pc, pr, rc, rr, chosen_lengths=n)
        assert (full - by_hand).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["lf-69d0421b", "lf-9ccbeb81", "lf-0fdc3456", "lf-cf853722",
                                  "es-mq-net-distilled-phi"])
def test_dpo_map_link_and_no_imitation_together_are_dpo(name):
    spec = _winner(name)
    dpo_like = _ablate().ablate(spec, ["dpo-map", "dpo-link", "no-imitation"])
    pc, pr, rc, rr, n = _logps(seed=1, scale=20.0 if spec.aggregation == "mean" else 500.0)
    got = objectives.from_spec(dpo_like.to_json())(pc, pr, rc, rr, chosen_lengths=n)
    zoo = objectives.get("dpo", beta=spec.beta)(pc, pr, rc, rr)
    by_hand = -torch.nn.functional.logsigmoid(spec.beta * ((pc - rc) - (pr - rr)))
    torch.testing.assert_close(got, zoo, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, by_hand, rtol=1e-12, atol=1e-12)


def test_the_combined_arms_are_dpo_with_and_without_the_imitation_term():
    """v2-plan.md, Session 22: the suite winner's combined arms. Without the imitation term it
    is DPO at the winner's aggregation and beta (the zoo's DPO and the formula by hand); with
    it, that DPO plus exactly the imitation term the no-preference arm keeps. Only asked for:
    the default plan has the single arms alone."""
    ab = _ablate()
    spec = _winner("lf-29423ee3")
    assert list(_plan(spec)) == list(ab.ABLATIONS)
    arms = {o.ablation: o for o in ab.plan(spec, combined=True)}
    assert list(arms) == [*ab.ABLATIONS, "dpo-map+dpo-link", "dpo-map+dpo-link+no-imitation"]
    assert all(arms[a].status == "ok" for a in ab.COMBINED)
    pc, pr, rc, rr, n = _logps(seed=2, scale=20.0)
    loss = {a: objectives.from_spec(arms[a].spec.to_json())(pc, pr, rc, rr, chosen_lengths=n)
            for a in ("dpo-map+dpo-link", "dpo-map+dpo-link+no-imitation", "no-preference")}
    by_hand = -torch.nn.functional.logsigmoid(spec.beta * ((pc - rc) - (pr - rr)))
    torch.testing.assert_close(loss["dpo-map+dpo-link+no-imitation"], by_hand, rtol=1e-12,
                               atol=1e-12)
    torch.testing.assert_close(loss["dpo-map+dpo-link"] - loss["dpo-map+dpo-link+no-imitation"],
                               loss["no-preference"], rtol=1e-12, atol=1e-12)
    assert "imitation term Psi = softplus(softplus(log1mexp(l))) removed" in \
        arms["dpo-map+dpo-link+no-imitation"].spec.description
    assert ab.row_role("lf-29423ee3-dpo-map+dpo-link[lr=0.001]", "lf-29423ee3") == \
        "dpo-map+dpo-link"


def test_a_combined_arm_equal_to_a_single_arm_is_skipped():
    """lf-9ccbeb81's map is DPO's already, so DPO's map and link together are its dpo-link arm."""
    arms = {o.ablation: o for o in _ablate().plan(_winner("lf-9ccbeb81"), combined=True)}
    assert arms["dpo-map"].status == "skip"
    assert arms["dpo-map+dpo-link"].status == "skip"
    assert arms["dpo-map+dpo-link"].note == "equals the dpo-link arm (same canonical formula)"


def test_an_ablation_equal_to_the_loss_is_skipped_by_canonical_formula_not_string():
    spec = MPOSpec("same", "p*log(p) + 3*p - 1", 0.1, True, "softplus(-D)",
                   imitation="-(l*2)/20", w_sft="2 - 1")
    plan = _plan(spec)
    # h differs from p*log(p) by an affine term (same phi~), softplus(-D) = -logsigmoid(D)
    assert plan["dpo-map"].status == "skip" and plan["dpo-link"].status == "skip"
    assert plan["no-imitation"].status == "ok" and plan["no-preference"].status == "ok"
    # a constant added to the link is another formula: written
    other = _plan(MPOSpec("shifted", link="1 - logsigmoid(D)", imitation="-l"))
    assert other["dpo-link"].status == "ok" and other["dpo-map"].status == "skip"
    # no imitation term: no-imitation equals the loss, no-preference would be the zero loss
    dpo = _plan(objectives.get_spec("dpo"))
    assert {ab: o.status for ab, o in dpo.items()} == {
        "dpo-map": "skip", "dpo-link": "skip", "no-imitation": "skip",
        "no-preference": "skip", "no-t": "skip"}
    assert "zero loss" in dpo["no-preference"].note


def test_skipped_ablations_are_reported_and_not_written(tmp_path, capsys):
    _ablate().main(["specs", str(WINNERS / "lf-9ccbeb81.json"), "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lf-9ccbeb81-dpo-link.json", "lf-9ccbeb81-no-imitation.json",
        "lf-9ccbeb81-no-preference.json"]
    assert "lf-9ccbeb81-dpo-map: skip: equals lf-9ccbeb81 itself" in out
    assert "lf-9ccbeb81-no-t: skip: lf-9ccbeb81 does not use t" in out
    cells = _benchmark("cells")
    for p in tmp_path.iterdir():   # every file loads as a candidate, checks included
        obj = cells.load_spec_file(p)
        assert obj.name == p.stem and json.loads(p.read_text())["of"] == "lf-9ccbeb81"


TEMPORAL = MPOSpec("ta", "p*log(p)", 0.1, True, "-logsigmoid(D*(1 + t))", imitation="-l*(1 - t)",
                   w_pref="t + eps", params={"eps": 0.25})


def test_no_t_fixes_t_at_one_half_in_every_formula_that_reads_it():
    o = _plan(TEMPORAL)["no-t"]
    assert o.status == "ok"
    s = o.spec
    assert (s.link, s.imitation, s.w_pref, s.w_sft) == ("-logsigmoid(3*D/2)", "-l/2",
                                                        "eps + 1/2", "1")
    assert s.params == {"eps": 0.25} and "t fixed at 1/2" in s.description
    pc, pr, rc, rr, _ = _logps(seed=2)
    fixed = objectives.from_spec(s.to_json())
    assert not fixed.temporal
    by_hand = (0.5 + 0.25) * -torch.nn.functional.logsigmoid(
        1.5 * 0.1 * ((pc - rc) - (pr - rr))) - pc / 2
    torch.testing.assert_close(fixed(pc, pr, rc, rr), by_hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(objectives.from_spec(TEMPORAL.to_json())(pc, pr, rc, rr,
                                                                        progress=0.5), by_hand)
    at_end = _plan(TEMPORAL, Fraction(1))["no-t"].spec
    assert (at_end.link, at_end.w_pref) == ("-logsigmoid(2*D)", "eps + 1")


def test_an_ablation_that_fails_the_checks_is_reported_with_the_reason_not_written(
        tmp_path, capsys):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"spec": {"name": "bad", "link": "-logsigmoid(D)/(3*t - 1)",
                                         "imitation": "-l/10"}}))
    out_dir = tmp_path / "out"
    _ablate().main(["specs", str(spec), "--out-dir", str(out_dir), "--t-value", "1/3"])
    out = capsys.readouterr().out
    assert ("bad-no-t: not written (fails the checks): link -logsigmoid(D)/(3*t - 1) is "
            "undefined at t = 1/3") in out
    assert not (out_dir / "bad-no-t.json").exists() and (out_dir / "bad-dpo-link.json").exists()


def test_the_sweep_is_one_baselines_reads_with_every_arm_on_the_same_rates(tmp_path, capsys):
    sweep = tmp_path / "abl.toml"
    src = WINNERS / "lf-69d0421b.json"
    _ablate().main(["specs", str(src), "--out-dir", str(tmp_path), "--sweep-out", str(sweep),
                    "--lr", "1e-5,3e-5", "--keep", "2"])
    decl = _benchmark("tuning").read_sweep(sweep)
    names = ["lf-69d0421b"] + [f"lf-69d0421b-{a}" for a in
                               ("dpo-map", "dpo-link", "no-imitation", "no-preference")]
    assert decl.grid == {n: [f"{n}:lr=1e-05", f"{n}:lr=3e-05"] for n in names}
    assert decl.keep == 2
    assert decl.specs["lf-69d0421b"] == "benchmarks/results/winners/lf-69d0421b.json"
    assert (decl.specs["lf-69d0421b-no-preference"]
            == str(tmp_path / "lf-69d0421b-no-preference.json"))
    arm = tmp_path / "lf-69d0421b-no-preference.json"
    before = arm.read_bytes()
    _ablate().main(["specs", str(src), "--out-dir", str(tmp_path), "--sweep-out", str(sweep),
                    "--lr", "1e-5", "--without-full"])
    decl = _benchmark("tuning").read_sweep(sweep)
    assert sorted(decl.grid) == sorted(names[1:]) and decl.keep is None
    # an arm written before is kept byte for byte (a sweep's sha covers its specs' bytes, and
    # the second call's command line differs), and a file of the arm's name that holds another
    # loss is refused, not overwritten
    assert arm.read_bytes() == before
    other = json.loads(before)
    other["spec"]["imitation"] = "-l/2"
    arm.write_text(json.dumps(other))
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        _ablate().main(["specs", str(src), "--out-dir", str(tmp_path)])
    assert stop.value.code == 2
    assert "holds another loss than lf-69d0421b's no-preference" in capsys.readouterr().err
    assert json.loads(arm.read_text()) == other


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------
def _entry(scen: str, loss: str, auc: list, final: list, role: str = "candidate") -> dict:
    def block(xs):   # mean and ci95 as the report writes them (not read by the differences)
        return {"per_draw": {str(d): x for d, x in zip((1, 2, 3), xs)},
                "mean": sum(xs) / 3, "ci95": 1.0}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role,
            "seeds_per_draw": {"1": 1, "2": 1, "3": 1}, "auc": block(auc), "final": block(final),
            "missing": ""}


def _confirm(tmp_path: Path) -> Path:
    summary = [
        _entry("A", "lf-x[lr=1e-05]", [10, 20, 30], [5, 5, 5]),
        _entry("A", "lf-x-no-preference[lr=3e-05]", [9, 18, 27], [4, 4, 5]),   # +1 +2 +3; +1 +1 0
        _entry("A", "lf-x-dpo-link", [8, 18, 25], [6, 7, 5]),                 # +2 +2 +5; -1 -2 0
        _entry("A", "dpo[beta=0.1,lr=1e-05]", [0, 0, 0], [0, 0, 0], "baseline"),
        _entry("A", "lf-xy[lr=1e-05]", [0, 0, 0], [0, 0, 0]),                 # another loss
        _entry("B", "lf-x[lr=1e-05]", [50, 60, 70], [50, 60, 70]),
        _entry("B", "lf-x-no-preference[lr=1e-05]", [40, 48, 50], [40, 48, 50]),  # +10 +12 +20
    ]
    path = tmp_path / "c.confirm.json"
    path.write_text(json.dumps({"summary": summary, "comparisons": []}))
    return path


def _p_df2(t: float) -> float:
    return 1 - abs(t) / math.sqrt(t * t + 2)


def test_the_table_gives_the_hand_computed_differences_and_holm_p_values(tmp_path):
    ab = _ablate()
    cells = ab.cells_of(ab.read_summary(_confirm(tmp_path)), "lf-x", "c")
    comps = {(c["scenario"], c["ablation"], c["metric"]): c for c in ab.comparisons(cells)}
    assert set(comps) == {(s, a, m) for s, a in [("A", "no-preference"), ("A", "dpo-link"),
                                                 ("B", "no-preference")]
                          for m in ("auc", "final")}
    # by hand: t = mean / (sd / sqrt 3) of each difference column
    p = {("A", "no-preference", "auc"): _p_df2(2 * math.sqrt(3)),    # 1,2,3
         ("A", "dpo-link", "auc"): _p_df2(3.0),                        # 2,2,5
         ("B", "no-preference", "auc"): _p_df2(math.sqrt(21)),         # 10,12,20
         ("A", "no-preference", "final"): _p_df2(2.0),                 # 1,1,0
         ("A", "dpo-link", "final"): _p_df2(-math.sqrt(3)),            # -1,-2,0
         ("B", "no-preference", "final"): _p_df2(math.sqrt(21))}
    means = {("A", "no-preference", "auc"): 2.0, ("A", "dpo-link", "auc"): 3.0,
             ("B", "no-preference", "auc"): 14.0, ("A", "no-preference", "final"): 2 / 3,
             ("A", "dpo-link", "final"): -1.0, ("B", "no-preference", "final"): 14.0}
    for k, c in comps.items():
        assert c["p"] == pytest.approx(p[k], rel=1e-9) and c["mean"] == pytest.approx(means[k])
    assert comps[("A", "dpo-link", "final")]["per_draw_diff"] == [-1.0, -2.0, 0.0]
    # Holm over the three comparisons of each metric (ascending p: B, A no-pref, A dpo-link)
    pa, pl, pb = (p[("A", "no-preference", "auc")], p[("A", "dpo-link", "auc")],
                  p[("B", "no-preference", "auc")])
    assert pb < pa < pl
    holm_auc = {"B": 3 * pb, "np": max(3 * pb, 2 * pa), "dl": max(3 * pb, 2 * pa, pl)}
    assert comps[("B", "no-preference", "auc")]["p_holm"] == pytest.approx(holm_auc["B"])
    assert comps[("A", "no-preference", "auc")]["p_holm"] == pytest.approx(holm_auc["np"])
    assert comps[("A", "dpo-link", "auc")]["p_holm"] == pytest.approx(holm_auc["dl"])
    fa, fl = p[("A", "no-preference", "final")], p[("A", "dpo-link", "final")]
    assert pb < fa < fl
    assert comps[("A", "dpo-link", "final")]["p_holm"] == pytest.approx(max(3 * pb, 2 * fa, fl))
    md = ab.table_md(cells, list(comps.values()), "lf-x")
    half = 4.302652729911275 / math.sqrt(3)   # t_{0.975, 2} * sd / sqrt(3), sd = 1
    assert (f"- no-preference: removing the preference term costs 2.0 ± {half:.1f} AUC (Holm p "
            f"{holm_auc['np']:.3g}, not significant at 0.05)") in md
    assert "DPO's link in place of its own costs 3.0 ± " in md
    assert "gains 1.0 ± " in md   # dpo-link's final: the ablation is better there
    assert "lf-xy" not in md and "dpo[beta" not in md


def _bad(tmp_path: Path):
    notjson = tmp_path / "x.json"
    notjson.write_text("{not json")
    badname, concave = tmp_path / "badname.json", tmp_path / "concave.json"
    badname.write_text(json.dumps({"name": "a:b"}))
    concave.write_text(json.dumps({"name": "concave", "mirror_map": "-p**2"}))
    confirm = _confirm(tmp_path)
    lonely = tmp_path / "lonely.confirm.json"
    lonely.write_text(json.dumps({"summary": [_entry("A", "lf-x", [1, 2, 3], [1, 2, 3])],
                                  "comparisons": []}))
    return [
        (["specs", str(tmp_path / "missing.json")], "missing.json: cannot read the spec"),
        (["specs", str(notjson)], "x.json: not JSON"),
        (["specs", str(WINNERS / "es-mq-net.json")], "is a neural loss"),
        (["specs", str(badname)], "field 'name': 'a:b' cannot name a row"),
        (["specs", str(concave)], "concave itself fails the checks: "),
        (["specs", str(WINNERS / "lf-69d0421b.json"), "--sweep-out", str(tmp_path / "s.toml")],
         "--sweep-out needs --lr"),
        (["table", str(tmp_path / "nope.json"), "--loss", "lf-x"], "cannot read"),
        (["table", str(notjson), "--loss", "lf-x"], "not JSON"),
        (["table", str(confirm), "--loss", "lf-zzz"], "no row of loss 'lf-zzz'"),
        (["table", str(lonely), "--loss", "lf-x"], "no ablation rows of lf-x"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for argv, said in _bad(tmp_path):
        with pytest.raises(SystemExit) as exc:
            _ablate().main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and said in err and err.count("\n") == 1, (argv, err)


def test_the_command_line_exits_2_with_one_line(tmp_path):
    argv, said = _bad(tmp_path)[8]
    r = subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode == 2 and said in r.stderr and r.stderr.count("\n") == 1


def test_the_table_reads_the_report_that_baselines_writes(tmp_path, capsys):
    """The layout contract: a confirm JSONL (MuJoCo's grid: 5 draws x 3 seeds) through
    ``confirmation.report``, then the table; the draw means are the seeds' means, paired draw
    by draw. With one run missing, the report marks the row and the table refuses it."""
    auc = {"lf-x[lr=1e-05]": {1: (10, 12, 14), 2: (20, 20, 20), 3: (30, 34, 32),
                              4: (40, 40, 40), 5: (50, 50, 50)},
           "lf-x-no-imitation[lr=1e-05]": {1: (9, 9, 9), 2: (19, 17, 18), 3: (29, 29, 29),
                                           4: (38, 38, 38), 5: (47, 48, 49)},
           "dpo[beta=0.1,lr=1e-05]": {d: (1, 1, 1) for d in range(1, 6)}}
    rows = [{"scenario": "A", "draw": d, "seed": s, "budget": "full", "loss": loss,
             "status": "ok", "auc": v, "final": v + 1, "score": v,
             "role": "baseline" if loss.startswith("dpo") else "candidate"}
            for loss, by_draw in auc.items() for d, vs in by_draw.items()
            for s, v in enumerate(vs)]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _benchmark("confirmation").report(jsonl)
    capsys.readouterr()
    out = tmp_path / "abl.md"
    _ablate().main(["table", str(tmp_path / "c.confirm.json"), "--loss", "lf-x",
                    "--out", str(out)])
    md = out.read_text()
    # draw means 12, 20, 32, 40, 50 against 9, 18, 29, 38, 48: differences 3, 2, 3, 2, 2
    assert "| no-imitation | auc | 5 | +2.4 ± " in md and "+3.0, +2.0, +3.0, +2.0, +2.0 |" in md
    assert "| no-imitation | final | 5 | +2.4 ± " in md
    assert "removing the imitation term costs 2.4 ± " in md
    assert md.rstrip().endswith(f"Made by: `python benchmarks/ablate.py table "
                                f"{tmp_path / 'c.confirm.json'} --loss lf-x --out {out}`")
    assert capsys.readouterr().out == md   # printed as written
    # the arm's seed 2 of draw 5 never ran (a killed job): its draw mean would be 47.5
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows
                             if (r["loss"][:9], r["draw"], r["seed"]) != ("lf-x-no-i", 5, 2)))
    _benchmark("confirmation").report(jsonl)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        _ablate().main(["table", str(tmp_path / "c.confirm.json"), "--loss", "lf-x"])
    assert ("A: lf-x-no-imitation[lr=1e-05]: draw 5: seeds 2 not run; finish the confirmation"
            in capsys.readouterr().err)


def test_an_llm_table_shows_final_alone_because_its_auc_is_the_final_score(tmp_path, capsys):
    """The LLM bed scores once, at the end ("auc_over": "final-only", auc == final): the page
    shows final alone and says why, with the same final differences it always had; it used to
    print every AUC row twice, once as "auc"."""
    final = {"lf-x[lr=1e-05]": (40, 50, 60, 40, 50, 60, 40, 50),   # the LLM grid: 8 draws
             "lf-x-dpo-map[lr=3e-05]": (38, 47, 58, 38, 47, 58, 38, 47),
             "dpo[beta=0.1,lr=1e-05]": (30,) * 8}
    rows = [{"scenario": "llm:reverse/mixed-quality", "draw": d, "seed": 0, "budget": "full",
             "loss": loss, "status": "ok", "auc": v, "final": v, "score": v, "curve": [],
             "auc_over": "final-only",
             "role": "baseline" if loss.startswith("dpo") else "candidate"}
            for loss, vs in final.items() for d, v in enumerate(vs, 1)]
    jsonl = tmp_path / "llm.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _benchmark("confirmation").report(jsonl)
    capsys.readouterr()
    _ablate().main(["table", str(tmp_path / "llm.confirm.json"), "--loss", "lf-x"])
    md = capsys.readouterr().out
    # differences 2, 3, 2, 2, 3, 2, 2, 3: mean 19/8, printed +2.4
    assert "| dpo-map | final | 8 | +2.4 ± " in md and "+2.0, +3.0, +2.0, +2.0, +3.0" in md
    table_lines = [ln for ln in md.splitlines() if ln.startswith("|") or ln.startswith("- ")]
    assert table_lines and not any("auc" in ln.lower() for ln in table_lines), table_lines
    assert "| row | ablation | final mean ± 95 % CI | draws |" in md
    assert _benchmark("cells").AUC_NOT_MEASURED in md
    assert "DPO's mirror map in place of its own costs 2.4 ± " in md


def _suite_entry(scen: str, loss: str, role: str, xs) -> dict:
    m = {"per_draw": {str(d): float(x) for d, x in zip((1, 2, 3), xs)},
         "mean": sum(xs) / 3, "ci95": 1.0}
    return {"budget": "full", "scenario": scen, "loss": loss, "role": role, "auc": m,
            "final": m, "seeds_per_draw": {"1": 3, "2": 3, "3": 3}, "missing": ""}


def test_the_preference_term_is_shown_on_the_suite_mean_or_said_not_shown():
    """v2-plan.md, Session 22, item 4, on two scenarios (weights 1/4 and 3/4; scales 30 - 10 =
    20 and 61 - 50 = 11, DPO being each one's best tuned row). By hand, the full loss's suite
    gain over its no-preference arm is 0.875, 0.9, 0.8875 on draws 1-3; the no-imitation arm's
    over SFT 0.3727, 0.3727, 0.5773 (t = 6.47 on 2 df, p = 0.023): shown. With the
    no-imitation arm below SFT on the heavy scenario: not shown, and the line says which."""
    ab = _ablate()
    names = ("reference (BC)", "dpo[beta=1]", "sft[lr=0.001]", "lf-w[lr=0.001]",
             "lf-w-no-preference[lr=0.001]", "lf-w-no-imitation[lr=0.001]")
    roles = ("fixed", "baseline", "baseline", "candidate", "candidate", "candidate")
    rows = {"a": dict(zip(names, zip(roles, [(10, 10, 10), (30, 31, 29), (20, 21, 19),
                                             (32, 33, 34), (22, 21, 23), (28, 29, 27)]))),
            "b": dict(zip(names, zip(roles, [(50, 50, 50), (61, 60, 62), (55, 56, 54),
                                             (63, 64, 62), (52, 53, 51), (59, 60, 61)])))}

    def summary():
        return [_suite_entry(s, loss, role, xs) for s, r in rows.items()
                for loss, (role, xs) in r.items()]

    import headline

    weights = {"a": 0.25, "b": 0.75}
    res = headline.suite_mean(summary(), weights, "lf-w", "auc",
                              rivals=("lf-w-no-imitation", "lf-w-no-preference"))
    got = [res["regret"]["lf-w-no-preference"][d] - res["regret"]["candidate"][d]
           for d in ("1", "2", "3")]
    assert got == pytest.approx([0.875, 0.9, 0.8875])
    md = "\n".join(ab.preference_term(summary(), weights, "lf-w", "duo"))
    gain = [0.25 * 8 / 20 + 0.75 * 4 / 11, 0.25 * 8 / 20 + 0.75 * 4 / 11,
            0.25 * 8 / 20 + 0.75 * 7 / 11]
    mean = sum(gain) / 3
    sd = math.sqrt(sum((g - mean) ** 2 for g in gain) / 2)
    t = mean / (sd / math.sqrt(3))
    assert f"+{mean:.3f} ± " in md and f"({_p_df2(t):.3g})" in md
    assert ("**The gain comes from the preference term** (v2-plan.md, Session 22, item 4; suite "
            "mean, AUC, Holm p < 0.05): shown: lf-w beats its no-preference arm: yes; its "
            "no-imitation arm beats SFT: yes.") in md
    # on a bed whose AUC is its final score (the LLM's) the same test is said to be on final
    md = "\n".join(ab.preference_term(summary(), weights, "lf-w", "duo", metrics=("final",)))
    assert "(v2-plan.md, Session 22, item 4; suite mean, final, Holm p < 0.05): shown" in md
    assert "AUC" not in md
    rows["b"]["lf-w-no-imitation[lr=0.001]"] = ("candidate", (50, 51, 52))
    md = "\n".join(ab.preference_term(summary(), weights, "lf-w", "duo"))
    assert "): not shown: lf-w beats its no-preference arm: yes; its no-imitation arm beats " \
           "SFT: no." in md


def test_arms_confirmed_on_another_machine_than_the_loss_are_flagged(tmp_path):
    """v2-plan.md, Session 22, item 7: the report records each row's machines; an arm whose
    rows ran elsewhere than the full loss's is named as not a clean pair, and rows of one
    machine (or rows from before machines were recorded) are not."""
    ab = _ablate()
    summary = ab.read_summary(_confirm(tmp_path))
    for e in summary:
        e["machines"] = ["m2"] if e["loss"].startswith("lf-x-dpo-link") else ["m1"]
    md = ab.table_md(ab.cells_of(summary, "lf-x", "c"), [], "lf-x")
    a, b = md.split("## B (full budget)")
    assert "**Not clean pairs:** dpo-link ran on other machines than lf-x[lr=1e-05] (m1)" in a
    assert "Not clean pairs" not in b
    for e in summary:
        e["machines"] = ["m1"]
    assert "Not clean pairs" not in ab.table_md(ab.cells_of(summary, "lf-x", "c"), [], "lf-x")
