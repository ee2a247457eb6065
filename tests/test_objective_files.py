"""``objectives.from_file``: a loss saved as JSON (an export, a distill output, a bare spec) read
back in Python as the export command reads it, so a file cut short or edited by hand is not
taken silently; ``from_spec`` given a whole file says where its spec is; a zoo name in another
case or with a typo gets a "did you mean"."""

from __future__ import annotations

import json

import pytest
import torch

from lossforge import objectives
from lossforge.errors import ConfigError
from lossforge.export.__main__ import main as export_main

BATCH = (torch.tensor([-3.0, -5.0, -2.5]), torch.tensor([-4.0, -4.5, -6.0]),
         torch.tensor([-3.5, -4.8, -3.0]), torch.tensor([-3.9, -4.4, -5.0]))


def _export(tmp_path, capsys, *args) -> dict:
    path = tmp_path / "loss.json"
    assert export_main([*args, "--format", "json", "-o", str(path)]) == 0
    capsys.readouterr()
    return path


@pytest.mark.parametrize("source", [["--zoo", "orpo"], ["--formula", "p*log(p) + p**2"]])
def test_an_export_reads_back_as_the_loss_it_was(tmp_path, capsys, source, recwarn):
    path = _export(tmp_path, capsys, *source)
    want = objectives.get("orpo") if source[0] == "--zoo" else objectives.from_mirror_map(
        "p*log(p) + p**2", name="mpo[p*log(p) + p**2]")
    got = objectives.from_file(path)
    assert got.spec == want.spec
    assert torch.equal(got(*BATCH), want(*BATCH))
    assert not recwarn.list


def test_a_file_with_fields_cut_from_its_spec_warns_naming_the_file(tmp_path, capsys):
    """orpo with aggregation and w_pref deleted reads as another loss (sum, lambda 1): its
    texts no longer match, which the warning says."""
    path = _export(tmp_path, capsys, "--zoo", "orpo")
    data = json.loads(path.read_text())
    del data["spec"]["aggregation"], data["spec"]["w_pref"]
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match=f'^{path}: its "formula" and "latex" texts do not '
                                         r'match its "spec" .*a field missing from the spec is '
                                         'read at its default'):
        got = objectives.from_file(path)
    assert (got.spec.aggregation, got.spec.w_pref) == ("sum", "1")   # the defaults, as said


def test_a_distill_output_reads_its_distilled_formula(tmp_path):
    spec = objectives.from_mirror_map("p*log(p)", beta=0.7, name="distilled").spec
    path = tmp_path / "distilled-deap.json"
    path.write_text(json.dumps({"run": "r", "distilled": {"spec": spec.to_json()}}))
    assert objectives.from_file(path).spec == spec


def test_from_spec_given_a_whole_file_says_where_its_spec_is(tmp_path, capsys):
    data = json.loads(_export(tmp_path, capsys, "--zoo", "dpo").read_text())
    with pytest.raises(ConfigError, match=r"this is a whole file: its spec is at \['spec'\] \(an "
                                          r"export --format json file\), or read the file with "
                                          r"lossforge\.objectives\.from_file\(path\)$"):
        objectives.from_spec(data)
    assert objectives.from_spec(data["spec"]).spec == objectives.get_spec("dpo")


def test_a_torch_file_is_not_a_json_source_and_says_so(tmp_path, capsys):
    path = tmp_path / "my_loss.py"
    assert export_main(["--zoo", "dpo", "--format", "torch", "-o", str(path)]) == 0
    capsys.readouterr()
    with pytest.raises(ConfigError, match="a .py file from --format torch is for training "
                                          "without lossforge"):
        objectives.from_file(path)
    assert export_main([str(path), "--format", "latex"]) == 2
    assert "is for training without lossforge" in capsys.readouterr().err


@pytest.mark.parametrize("name,near", [("DPO", "dpo"), ("orp", "orpo"), ("simPO", "simpo")])
def test_a_zoo_name_in_another_case_or_with_a_typo_gets_did_you_mean(name, near):
    with pytest.raises(ConfigError, match=f"^unknown objective '{name}' \\(did you mean "
                                          f"'{near}'\\?\\); known: "):
        objectives.get(name)


def test_a_name_like_no_zoo_name_gets_the_list_only():
    with pytest.raises(ConfigError, match="^unknown objective 'qqqqqq'; known: apo_down, "):
        objectives.get("qqqqqq")


def test_an_empty_json_object_is_not_read_as_a_default_loss(tmp_path):
    """{} is a valid bare spec of defaults (DPO): as a file it is far likelier a mistake."""
    path = tmp_path / "empty.json"
    path.write_text("{}")
    with pytest.raises(ConfigError, match=f"^{path}: expected a JSON object holding a loss"):
        objectives.from_file(path)
