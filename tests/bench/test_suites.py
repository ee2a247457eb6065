"""Train/test suites: strict loading, disjointness, only length-controlled scenarios."""

from __future__ import annotations

import pytest

from lossforge.bench.scenarios import load_scenario
from lossforge.bench.suites import check_disjoint, load_suite, load_suites
from lossforge.errors import ConfigError

GOOD = '''name = "{name}"
role = "{role}"
[[scenarios]]
name = "{scenario}"
weight = 2.0
'''


def write(tmp_path, name="train", role="train", scenario="hopper-padded-clean", extra="",
          top=""):
    p = tmp_path / f"{name}.toml"
    p.write_text(top + GOOD.format(name=name, role=role, scenario=scenario) + extra)
    return p


def test_repo_suites_load_disjoint_and_length_controlled():
    train, test = load_suites()
    assert set(train.scenarios).isdisjoint(test.scenarios)
    for name in train.scenarios + test.scenarios:
        assert load_scenario(name).length_control != "none", name
    envs = {load_scenario(n).env_id for n in train.scenarios}
    test_envs = {load_scenario(n).env_id for n in test.scenarios}
    assert test_envs - envs >= {"HalfCheetah-v5"}   # an environment train never uses
    flips = {load_scenario(n).flip_rate for n in train.scenarios}
    assert {load_scenario(n).flip_rate for n in test.scenarios} - flips  # other flip rates
    assert {load_scenario(n).teacher for n in test.scenarios} >= {"myopic", "skip", "equal"}
    assert abs(sum(test.weights().values()) - 1.0) < 1e-12


def test_loader_accepts_a_good_file(tmp_path):
    s = load_suite(write(tmp_path))
    assert s.scenarios == ("hopper-padded-clean",) and s.entries[0].weight == 2.0


def test_loader_rejects_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="field 'colour': unknown key"):
        load_suite(write(tmp_path, top='colour = "red"\n'))
    with pytest.raises(ConfigError, match="field 'role': 'dev' is not one of train, test"):
        load_suite(write(tmp_path, role="dev"))


@pytest.mark.parametrize("extra, fragment", [
    ('[[scenarios]]\nname = "hopper-padded-noisy-0.1"\nweight = 1.0\nseed = 3\n',
     "field 'scenarios[1].seed': unknown key"),
    ('[[scenarios]]\nname = "hopper-padded-noisy-0.1"\nweight = 0\n',
     "field 'scenarios[1].weight': expected a number > 0"),
    ('[[scenarios]]\nname = "hopper-clean"\nweight = 1.0\n',
     "field 'scenarios[1].name': scenario 'hopper-clean' is not length-controlled"),
    ('[[scenarios]]\nname = "no-such-scenario"\nweight = 1.0\n', "no scenario 'no-such-scenario'"),
    ('[[scenarios]]\nname = "hopper-padded-clean"\nweight = 1.0\n', "listed twice"),
])
def test_loader_rejects_bad_files_in_one_line(tmp_path, extra, fragment):
    p = write(tmp_path, extra=extra)
    with pytest.raises(ConfigError) as e:
        load_suite(p)
    assert fragment in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_train_and_test_must_not_share_a_scenario(tmp_path):
    train = load_suite(write(tmp_path, extra='[[scenarios]]\nname = "halfcheetah-clean"\n'
                                             'weight = 1.0\n'))
    test = load_suite(write(tmp_path, "test", "test", "halfcheetah-clean"))
    with pytest.raises(ConfigError, match="halfcheetah-clean also in the train suite"):
        check_disjoint(train, test)
    with pytest.raises(ConfigError, match="halfcheetah-clean also in the train suite"):
        load_suites(tmp_path)
