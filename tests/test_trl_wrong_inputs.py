"""What a user passes ``LossforgeDPOTrainer`` by mistake gets one line that says what to pass
instead (a new user's walkthrough found each of these ending in a bare AttributeError or a
TypeError with no way on): another kind of config, a JSON spec, a saved file's JSON or name, a
function (an exported torch file's ``loss``), a zoo name in capitals. An ES network's spec,
which ``from_run(...).spec`` gives, is taken as a symbolic spec is."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the TRL adapter's checks need TRL (the test extra has it)")

import torch  # noqa: E402
from transformers import TrainingArguments  # noqa: E402

from lossforge import objectives  # noqa: E402
from lossforge.errors import ConfigError  # noqa: E402
from lossforge.integrations import trl as adapter  # noqa: E402
from lossforge.objectives import NeuralObjective, NeuralSpec  # noqa: E402


def test_another_kind_of_config_is_refused_naming_dpoconfig(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    with pytest.raises(ConfigError, match=r"^args must be a trl\.DPOConfig, got "
                                          r"TrainingArguments: DPOConfig\(output_dir=\.\.\., "):
        adapter._check_args(args, objectives.get("dpo"))
    with pytest.raises(ConfigError, match="got dict"):
        adapter._check_args({"output_dir": str(tmp_path)}, objectives.get("dpo"))


@pytest.mark.parametrize("given,hint", [
    ({"name": "x", "mirror_map": "p*log(p)"}, "a JSON spec: pass lossforge.objectives.from_spec"),
    ({"formula": "L", "latex": "L", "spec": {}}, "read the file with lossforge.objectives"
                                                ".from_file(path)"),
    ({"run": "r", "distilled": {"spec": {}}}, "read the file with lossforge.objectives"
                                             ".from_file(path)"),
    (lambda *a, **k: None, "a function, as a --format torch file's loss is: that file is for "
                           "training without lossforge"),
])
def test_what_is_not_an_objective_says_how_to_make_one(given, hint):
    with pytest.raises(TypeError) as info:
        adapter._as_objective(given)
    assert hint in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name,message", [
    ("DPO", "unknown objective 'DPO' (did you mean 'dpo'?); known: "),
    ("orpo.json", "objective 'orpo.json' is a path, not a zoo name: pass "
                  "objective=lossforge.objectives.from_file('orpo.json')"),
    ("ORPO.JSON", "objective 'ORPO.JSON' is a path, not a zoo name: pass "
                  "objective=lossforge.objectives.from_file('ORPO.JSON')"),
    ("my_loss.py", "objective 'my_loss.py' is a path, not a zoo name: an exported --format "
                   "torch file is for training without lossforge"),
    ("runs/x", "objective 'runs/x' is a path, not a zoo name: pass objective=lossforge"
               ".objectives.from_run(run_dir) or from_file(path)"),
])
def test_a_name_that_is_almost_a_zoo_name_or_a_path_says_which(name, message):
    with pytest.raises(ConfigError) as info:
        adapter._as_objective(name)
    assert str(info.value).startswith(message)


def test_a_run_directory_or_a_path_object_says_how_to_load_it(tmp_path):
    with pytest.raises(ConfigError, match=r"pass objective=lossforge\.objectives\.from_run\("):
        adapter._as_objective(str(tmp_path))
    with pytest.raises(TypeError, match=r"not a path: pass objective=lossforge\.objectives"
                                        r"\.from_file\('orpo\.json'\)"):
        adapter._as_objective(Path("orpo.json"))


def test_a_network_spec_is_taken_and_computes_its_objective():
    spec = NeuralSpec(name="net", hidden=2, beta=0.3)
    got = adapter._as_objective(spec)
    want = NeuralObjective(spec)
    lc, lr, rc, rr = (torch.tensor([-30.0, -41.0]), torch.tensor([-35.0, -38.0]),
                      torch.tensor([-32.0, -40.0]), torch.tensor([-33.0, -39.0]))
    assert isinstance(got, NeuralObjective)
    assert torch.equal(got(lc, lr, rc, rr), want(lc, lr, rc, rr))
