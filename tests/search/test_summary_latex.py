"""``search show RUN --latex`` prints pareto.tex and then, as its help says, each loss: every
loss of the hall of fame, then each loss of the Pareto front that is not in it, once each."""

from __future__ import annotations

import json

from lossforge.objectives import MPOSpec, Objective
from lossforge.runfiles import write_checked
from lossforge.search.__main__ import main as search_main

MAPS = {"lf-a": "2*p*log(p)", "lf-b": "p*log(p) + p**2", "lf-c": "p*log(p) + (1 - p)**2"}


def _row(name: str) -> dict:
    return {"name": name, "spec": MPOSpec(name, MAPS[name], 0.1).to_json()}


def test_show_latex_prints_every_hall_of_fame_and_front_loss_once(tmp_path, capsys):
    """lf-a only in the hall of fame, lf-b in both, lf-c only on the front (a run directory
    written by hand: only what ``show --latex`` reads)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {"generations": 1}}))
    write_checked(run / "hall_of_fame.json", {"hall_of_fame": [_row("lf-a"), _row("lf-b")],
                                              "baselines": []})
    write_checked(run / "pareto.json", {"pareto": [_row("lf-b"), _row("lf-c")],
                                        "baselines": []})
    (run / "pareto.tex").write_text("TABLE\n")
    assert search_main(["show", str(run), "--latex"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("% ")]
    assert heads == ["% lf-a", "% lf-b", "% lf-c"]
    assert out.startswith("TABLE\n")
    for name in MAPS:
        latex = Objective(MPOSpec(name, MAPS[name], 0.1)).latex()
        assert f"% {name}\n{latex}\n" in out and out.count(latex) == 1


def test_the_quiet_summary_says_when_the_best_loss_is_dpo_at_another_beta():
    """--quiet (print_brief) prints the best loss's formula: a map whose phi~ is 3 l is DPO at
    beta 3 x 0.1, which the full summary and show say, and so does the brief one."""
    import io

    from rich.console import Console

    from lossforge.search.summary import print_brief

    row = {"name": "lf-a", "spec": MPOSpec("lf-a", "3*p*log(p)", 0.1).to_json(),
           "h": "3*p*log(p)", "phi_tilde": "3*l", "loss": "L = -logsigmoid(D)",
           "full": {"status": "ok", "score": 10.0, "ci95": None, "per_seed": [10.0]}}
    buf = io.StringIO()
    print_brief({"hall_of_fame": [row], "pareto": [row], "baselines": []},
                {"ladder": ["full"], "baselines": {}, "config": {}},
                Console(file=buf, width=200))
    assert "  = DPO at beta 0.3, exactly (phi~ is linear in l): not a new loss" in \
        buf.getvalue().splitlines()
