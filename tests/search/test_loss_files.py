"""A run's losses/ folder: one standalone torch file per loss of the hall of fame and front, or,
for a loss that cannot be one, a one-line note saying so (never a silent skip; B3)."""

import importlib.util
import warnings

import pytest
import torch

from lossforge.objectives import MPOSpec, Objective
from lossforge.search.rundir import write_loss_files


def _row(name: str, imitation: str) -> dict:
    spec = MPOSpec(name, "p*log(p)", imitation=imitation)
    return {"name": name, "spec": spec.to_json(), "screen": {"status": "ok", "score": 0.5,
                                                              "ci95": 0.1}}


def _write(run_dir, rows):
    write_loss_files(run_dir, rows, "quick", "screen", "auc")


@pytest.mark.parametrize("constant", ["softplus(0)", "sigmoid(0)", "softplus(1)",
                                      "log1mexp(-1)"])
def test_a_loss_with_a_constant_subtree_gets_its_torch_file(tmp_path, constant):
    row = _row("const", f"{constant}*l")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _write(tmp_path, [row])
    assert sorted(p.name for p in (tmp_path / "losses").iterdir()) == ["const.py"]
    spec = importlib.util.spec_from_file_location("const", tmp_path / "losses" / "const.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pc, pr, rc, rr = (torch.tensor([-3.0, -0.2], dtype=torch.float64) * k for k in (1, 2, 3, 4))
    want = Objective(MPOSpec.from_json(row["spec"]))(pc, pr, rc, rr)
    torch.testing.assert_close(mod.loss(pc, pr, rc, rr), want, rtol=1e-6, atol=0)


def test_a_loss_that_cannot_be_exported_is_said_in_one_line_not_skipped(tmp_path):
    rows = [_row("fine", "softplus(0)*l"), _row("complex", "log1mexp(1)*l")]
    with pytest.warns(UserWarning, match=r"^complex: no standalone torch file .*"
                                         r"log1mexp\(1\) is not a real number$"):
        _write(tmp_path, rows)
    losses = tmp_path / "losses"
    assert sorted(p.name for p in losses.iterdir()) == ["complex.not-exported.txt", "fine.py"]
    note = (losses / "complex.not-exported.txt").read_text()
    assert note.count("\n") == 1 and note.startswith("complex: ")
    assert "constant log1mexp(1) is not a real number" in note
    # written again after the next generation: the same note, and no second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _write(tmp_path, rows)
    assert (losses / "complex.not-exported.txt").read_text() == note


def test_a_stale_note_goes_when_the_loss_exports(tmp_path):
    (tmp_path / "losses").mkdir()
    (tmp_path / "losses" / "const.not-exported.txt").write_text("const: old lossforge\n")
    _write(tmp_path, [_row("const", "softplus(0)*l")])
    assert sorted(p.name for p in (tmp_path / "losses").iterdir()) == ["const.py"]


def _listing(losses) -> list[str]:
    return sorted(str(p.relative_to(losses)) for p in losses.rglob("*") if p.is_file())


def test_files_of_losses_that_left_the_results_move_to_former_and_come_back(tmp_path):
    """losses/ holds the files of the hall of fame and front alone: a loss that dropped out
    (after a later generation) has its file moved to losses/former/, not left beside the
    current ones nor deleted; one that comes back is written in losses/ again."""
    losses = tmp_path / "losses"
    losses.mkdir()
    (losses / "mine.py").write_text("# the user's own file\n")
    (losses / "notes.txt").write_text("the user's notes\n")
    a, b, c = (_row(n, "softplus(0)*l") for n in "abc")
    bad = _row("bad", "log1mexp(1)*l")
    with pytest.warns(UserWarning, match="^bad: no standalone torch file"):
        _write(tmp_path, [a, b, bad])
    first_a = (losses / "a.py").read_text()
    _write(tmp_path, [b, c])
    assert _listing(losses) == ["b.py", "c.py", "former/a.py", "former/bad.not-exported.txt",
                                "mine.py", "notes.txt"]
    assert (losses / "former" / "a.py").read_text() == first_a
    (losses / "former" / "bad.not-exported.txt").write_text("bad: edited by the user\n")
    (losses / "odd.py").mkdir()    # a name like a loss file's that cannot be read as one
    _write(tmp_path, [a, c])
    assert _listing(losses) == ["a.py", "c.py", "former/b.py", "former/bad.not-exported.txt",
                                "mine.py", "notes.txt"]
    assert (losses / "mine.py").read_text() == "# the user's own file\n"
    assert (losses / "odd.py").is_dir()
    with pytest.warns(UserWarning, match="^bad: no standalone torch file"):
        _write(tmp_path, [bad])      # back: its note is written again; the edited copy stays
    assert (losses / "former" / "bad.not-exported.txt").read_text() == "bad: edited by the user\n"
    assert (losses / "bad.not-exported.txt").read_text().startswith("bad: no standalone torch")
