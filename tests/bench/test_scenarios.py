"""Scenario files: the shipped ones load and agree with the zoo; the loader rejects bad input
with a ConfigError that names the file and the field."""

from __future__ import annotations

import copy
import tomllib

import pytest
import tomli_w

from lossforge.bench.scenarios import (Budget, Scenario, default_dir, dump_scenario,
                                       list_scenarios, load_scenario, scenario_from_dict)
from lossforge.errors import ConfigError

EXPECTED = {f"{env}-{kind}" for env in ("hopper", "ant")
            for kind in ("clean", "noisy-0.1", "noisy-0.2", "noisy-0.3", "noisy-0.4",
                         "mixed-quality", "ambiguous")} | {"quick"}


def test_list_scenarios_prints_one_line_per_scenario_when_piped(capsys):
    """Piped into a file or grep, each scenario is one line with its description whole (rich
    wrapped it at 80 columns)."""
    from lossforge.bench.__main__ import main

    assert main(["--list-scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = list_scenarios()
    assert [ln.split()[0] for ln in lines] == names
    for ln, name in zip(lines, names):
        sc = load_scenario(name)
        assert ln.split()[1] == sc.env_id and ln.endswith(" ".join(sc.description.split()))


def test_shipped_scenarios_load():
    names = set(list_scenarios())
    assert EXPECTED <= names
    for name in names:
        sc = load_scenario(name)
        assert isinstance(sc, Scenario) and sc.name == name
        assert all(isinstance(sc.budget(b), Budget) for b in ("quick", "screen", "full"))
        # budgets grow: quick is cheapest, full the most expensive
        cost = [sc.budget(b).train_steps * len(sc.budget(b).seeds) for b in
                ("quick", "screen", "full")]
        assert cost == sorted(cost)


def test_shipped_scenario_families_are_consistent():
    """Noisy variants differ from clean only in flip_rate (so they share segments and the
    reference); paper sizes; H = 200."""
    for env, n in (("hopper", 5120), ("ant", 1280)):
        clean = load_scenario(f"{env}-clean")
        assert clean.n_pairs == n and clean.horizon == 200 and clean.flip_rate == 0.0
        for eps in (0.1, 0.2, 0.3, 0.4):
            noisy = load_scenario(f"{env}-noisy-{eps}")
            assert noisy.flip_rate == eps
            a, b = clean.to_dict(), noisy.to_dict()
            for k in ("name", "description", "flip_rate"):
                a.pop(k), b.pop(k)
            assert a == b
        amb = load_scenario(f"{env}-ambiguous")
        assert amb.bt_temperature > 5 * clean.bt_temperature
        # mixed quality: half the pair weight on poor-vs-poor pairs, the rest the clean mix
        mixed = load_scenario(f"{env}-mixed-quality")
        poor = {"random", "q05", "q10"}
        w_poor = sum(m.weight for m in mixed.pair_mix if {m.level_a, m.level_b} <= poor)
        assert w_poor == pytest.approx(0.5 * sum(m.weight for m in mixed.pair_mix))
        rest = [m for m in mixed.pair_mix if not {m.level_a, m.level_b} <= poor]
        assert {(m.level_a, m.level_b) for m in rest} == \
            {(m.level_a, m.level_b) for m in clean.pair_mix}


def test_held_out_scenarios_are_fresh_copies_of_their_source():
    """A held-out copy (heldout/<source>-d<k>.toml) must differ from its source in the data
    (dataset_seed) and in nothing else but name and description: a copy that kept the
    source's seed once re-scored a winner on the very data it was searched on."""
    held = sorted((default_dir() / "heldout").glob("*.toml"))
    assert len(held) >= 2
    for path in held:
        copy_ = load_scenario(path)
        source_name, _, k = copy_.name.rpartition("-d")
        source = load_scenario(source_name)
        a, b = source.to_dict(), copy_.to_dict()
        assert b["dataset_seed"] == int(k) != a["dataset_seed"], path.name
        for key in ("name", "description", "dataset_seed"):
            a.pop(key), b.pop(key)
        assert a == b, path.name


def test_shipped_scenarios_name_existing_zoo_levels():
    from lossforge.bench.zoo import list_zoos, load_zoo

    zoos = set(list_zoos())
    checked = 0
    for name in list_scenarios():
        sc = load_scenario(name)
        if sc.env_id not in zoos:
            continue
        levels = set(load_zoo(sc.env_id, verify=False).level_names)
        used = {sc.start_policy} | {m.level_a for m in sc.pair_mix} | \
            {m.level_b for m in sc.pair_mix}
        assert used <= levels, (name, used - levels)
        checked += 1
    assert checked >= 8   # at least the Hopper family and quick


def test_round_trip_through_toml():
    sc = load_scenario("hopper-mixed-quality")
    again = scenario_from_dict(tomllib.loads(dump_scenario(sc)))
    assert again == sc


# -- loader errors --------------------------------------------------------------------------------

@pytest.fixture
def base():
    return tomllib.loads((default_dir() / "hopper-clean.toml").read_text())


def _write(tmp_path, data, name="hopper-clean"):
    p = tmp_path / f"{name}.toml"
    p.write_text(tomli_w.dumps(data))
    return p


def _set(d, path, value):
    d = copy.deepcopy(d)
    cur = d
    for k in path[:-1]:
        cur = cur[k]
    if value is _DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return d


_DELETE = object()

BAD = [
    (("colour",), "red", "colour", "unknown key"),
    (("horizon",), "200", "horizon", "expected an integer"),
    (("horizon",), 0, "horizon", "out of range"),
    (("horizon",), 200.0, "horizon", "expected an integer"),
    (("n_pairs",), True, "n_pairs", "expected an integer"),
    (("flip_rate",), 0.7, "flip_rate", "out of range"),
    (("flip_rate",), -0.1, "flip_rate", "out of range"),
    (("bt_temperature",), -1.0, "bt_temperature", "out of range"),
    (("beta",), 0.0, "beta", "out of range"),
    (("reference",), "best", "reference", "not one of"),
    (("env_id",), _DELETE, "env_id", "missing"),
    (("pair_mix",), [], "pair_mix", "non-empty"),
    (("pair_mix",), [["q25", "expert"]], "pair_mix[0]", "expected [level_a, level_b, weight]"),
    (("pair_mix",), [["q25", "expert", -1.0]], "pair_mix[0][2]", "out of range"),
    (("pair_mix",), [["q25", 3, 1.0]], "pair_mix[0][1]", "non-empty string"),
    (("start_steps",), [10, 5], "start_steps[1]", "out of range"),
    (("budgets", "screen", "lr"), "fast", "budgets.screen.lr", "expected a number"),
    (("budgets", "full", "batch_size"), 0, "budgets.full.batch_size", "out of range"),
    (("budgets", "quick", "seeds"), [0, 0], "budgets.quick.seeds", "repeated"),
    (("budgets", "quick", "seeds"), [], "budgets.quick.seeds", "non-empty list"),
    (("budgets", "quick", "epochs"), 3, "budgets.quick.epochs", "unknown key"),
    (("budgets", "huge"), {}, "budgets.huge", "unknown key"),
    (("budgets", "full"), _DELETE, "budgets.full", "missing"),
    (("description",), 3, "description", "expected a string"),
]


@pytest.mark.parametrize("path,value,field,why", BAD, ids=[".".join(b[0]) + "=" + repr(b[1])[:12]
                                                             for b in BAD])
def test_loader_errors_name_file_and_field(tmp_path, base, path, value, field, why):
    p = _write(tmp_path, _set(base, path, value))
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert str(p) in msg and f"'{field}'" in msg and why in msg, msg


# Exact messages (after "<file>: "): the field named is the one at fault, and the text is the
# whole message, so a later failure elsewhere (zoo, trainer) cannot pass for it.
EXACT = [
    ({"env_id": "Hoppr-v5"}, "field 'env_id': 'Hoppr-v5' is not a supported environment "
     "(supported: Ant-v5, HalfCheetah-v5, Hopper-v5, Walker2d-v5)"),
    ({"env_id": "CartPole-v1"}, "field 'env_id': 'CartPole-v1' is not a supported environment "
     "(supported: Ant-v5, HalfCheetah-v5, Hopper-v5, Walker2d-v5)"),
    ({"n_pairs": 16}, "field 'budgets.screen.batch_size': 32 exceeds the dataset's 16 pairs "
     "(field 'n_pairs')"),
    ({"n_pairs": 4}, "field 'budgets.quick.batch_size': 8 exceeds the dataset's 4 pairs "
     "(field 'n_pairs')"),
    ({"budgets.full.batch_size": 6000}, "field 'budgets.full.batch_size': 6000 exceeds the "
     "dataset's 5120 pairs (field 'n_pairs')"),
    ({"n_pairs": 16, "teacher": "skip", "teacher_threshold": 1.0},
     "field 'budgets.screen.batch_size': 32 exceeds the dataset's at most 16 pairs "
     "(field 'n_pairs')"),
    # the range shown is the one accepted: infinities are refused ("must be finite"), so an
    # infinite end is open
    ({"beta": 0.0}, "field 'beta': 0.0 out of range (0.0, inf)"),
    ({"bt_temperature": -1.0}, "field 'bt_temperature': -1.0 out of range [0.0, inf)"),
    ({"budgets.quick.seeds": [-1]}, "field 'budgets.quick.seeds[0]': -1 out of range [0, inf)"),
]


@pytest.mark.parametrize("changes,expected", EXACT, ids=[repr(e[0])[:40] for e in EXACT])
def test_loader_error_messages_are_exact(tmp_path, base, changes, expected):
    data = base
    for key, value in changes.items():
        data = _set(data, tuple(key.split(".")), value)
    p = _write(tmp_path, data)
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    assert str(ei.value) == f"{p}: {expected}"


def test_every_supported_env_loads_and_a_missing_zoo_keeps_its_message(tmp_path, base,
                                                                      monkeypatch):
    """Walker2d-v5 has a zoo but no shipped scenario; without a zoo a supported env still loads
    and the zoo loader says how to train one."""
    from lossforge.bench.datasets import build_dataset
    from lossforge.bench.scenarios import SUPPORTED_ENVS

    assert {load_scenario(n).env_id for n in list_scenarios()} <= set(SUPPORTED_ENVS)
    for env in SUPPORTED_ENVS:
        assert load_scenario(_write(tmp_path, _set(base, ("env_id",), env))).env_id == env
    sc = load_scenario(_write(tmp_path, _set(base, ("env_id",), "Walker2d-v5")))
    monkeypatch.setenv("LOSSFORGE_ZOO", str(tmp_path / "no-zoos"))
    with pytest.raises(ConfigError, match=r"no zoo for 'Walker2d-v5'.*train --env Walker2d-v5"):
        build_dataset(sc, cache=False)


def test_base_file_itself_is_valid(tmp_path, base):
    # guards the parametrised test above: only the modification makes it fail
    assert load_scenario(_write(tmp_path, base)).name == "hopper-clean"


def test_name_must_match_file_and_toml_errors_name_the_file(tmp_path, base):
    p = _write(tmp_path, base, name="other")
    with pytest.raises(ConfigError, match=r"other\.toml.*'name'"):
        load_scenario(p)
    bad = tmp_path / "broken.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"broken\.toml.*not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="no scenario 'nope'.*available: .*hopper-clean"):
        load_scenario("nope")


def test_integer_seeds_expand_to_a_range(tmp_path, base):
    sc = load_scenario(_write(tmp_path, _set(base, ("budgets", "full", "seeds"), 3)))
    assert sc.full.seeds == (0, 1, 2)


def test_seed_lists_parse_and_bad_ones_are_named():
    from lossforge.bench.scenarios import parse_seeds

    assert parse_seeds("0-4,7") == (0, 1, 2, 3, 4, 7)
    assert parse_seeds("3") == (3,)
    for bad in ("a", "1-", "", "-2"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
