"""Benchmark scenarios: one TOML file each under ``benchmarks/scenarios/``.

A scenario fixes everything a preference benchmark run depends on except the candidate loss:
environment, segment length, pair count, which zoo levels are compared (the pair mix), the
Bradley-Terry teacher's temperature and flip noise, how the reference policy is made, a
default beta, and three budgets (``quick`` for tests, ``screen`` for the search's hurdle,
``full`` for reported results).

File layout (every key is checked; unknown keys, wrong types and out-of-range values raise
:class:`~lossforge.errors.ConfigError` naming the file and the field)::

    name = "hopper-clean"            # must equal the file stem
    description = "..."
    env_id = "Hopper-v5"             # one of SUPPORTED_ENVS: Ant, HalfCheetah, Hopper, Walker2d -v5
    horizon = 200                    # H, steps per segment
    n_pairs = 5120
    dataset_seed = 0
    bt_temperature = 1.0             # teacher: P(seg0 preferred) = sigmoid((R0 - R1) / T); 0 = argmax
    flip_rate = 0.0                  # then each label flips with this probability
    reference = "all"                # BC reference on "all" segments or on "chosen" ones
    beta = 0.1
    start_policy = "expert"          # zoo level that walks from reset to the start states s0
                                     # (levels of the env's zoo.json, checked by load_scenario)
    start_steps = [0, 400]           # s0 after a uniform number of steps in [lo, hi]
    pair_mix = [["q25", "expert", 2.0], ["q50", "expert", 1.0]]   # (level_a, level_b, weight)
    length_control = "none"          # "none": a segment stops where its episode terminates, and
                                     # the loss sees its valid length n and a sum over n steps
                                     # (Hopper/Ant: length leaks quality). "absorbing": padded to
                                     # H with an absorbing state; the loss sees n = H and padded
                                     # steps add a policy-independent log-prob (absorbing_logp)
    absorbing_logp = "reference-mean"  # absorbing only: what a padded step adds to log pi
                                     # (lossforge/bench/lengths.py; chosen by measured leak)
    teacher = "bt"                   # "bt": BT on segment returns; "myopic": BT on discounted
                                     # returns sum_t gamma^(H-1-t) r_t (teacher_gamma, B-Pref);
                                     # "skip": pairs with |R0 - R1| < teacher_threshold dropped;
                                     # "equal": those pairs labelled 1/2 (symmetrised loss)
    teacher_gamma = 0.9              # myopic only
    teacher_threshold = 10.0         # skip / equal only, in return units (skip: a build that
                                     # keeps fewer pairs than a batch is refused)

    [budgets.quick]
    train_steps = 20
    batch_size = 8
    lr = 3e-4
    seeds = [0]                      # or an int n, meaning [0, ..., n-1]
    eval_episodes = 2
    eval_every = 10                  # at most train_steps (else the AUC is the final score)
    [budgets.screen]  ...
    [budgets.full]    ...
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lossforge.errors import ConfigError
from lossforge.resources import data_dir

BUDGET_NAMES = ("quick", "screen", "full")
REFERENCE_RECIPES = ("all", "chosen")
LENGTH_CONTROLS = ("none", "absorbing")            # see lossforge/bench/lengths.py
ABSORBING_LOGPS = ("reference-mean", "segment-mean")
TEACHERS = ("bt", "myopic", "skip", "equal")
#: The environments a scenario may use: the MuJoCo tasks lossforge's policies and zoo are made
#: for (continuous [-1, 1] action boxes; lossforge/bench/envs.py, benchmarks/zoo). Whether a zoo
#: has been trained for one is checked later, when the zoo is loaded.
SUPPORTED_ENVS = ("Ant-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-4,7' -> (0, 1, 2, 3, 4, 7): the --seeds syntax of every benchmark command."""
    out: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-")
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ConfigError(f"--seeds {text!r}: expected integers and ranges such as 0-4,7") \
                from None
    if not out or any(s < 0 for s in out):
        raise ConfigError(f"--seeds {text!r}: expected non-negative integers such as 0-4,7")
    return tuple(out)


def default_dir() -> Path:
    """``$LOSSFORGE_SCENARIOS`` or the repository's ``benchmarks/scenarios`` (an installed
    wheel's copy: lossforge/resources.py)."""
    return data_dir("scenarios", env="LOSSFORGE_SCENARIOS")


@dataclass(frozen=True)
class Budget:
    train_steps: int      # Adam steps per training run
    batch_size: int       # pairs per step
    lr: float
    seeds: tuple[int, ...]  # training seeds (shared by every candidate: common random numbers)
    eval_episodes: int    # evaluation episodes per checkpoint and seed
    eval_every: int       # evaluate every this many training steps (and at the end)


@dataclass(frozen=True)
class PairMix:
    level_a: str
    level_b: str
    weight: float


@dataclass(frozen=True)
class Scenario:
    name: str
    env_id: str
    horizon: int
    n_pairs: int
    pair_mix: tuple[PairMix, ...]
    bt_temperature: float
    flip_rate: float
    reference: str
    beta: float
    quick: Budget
    screen: Budget
    full: Budget
    dataset_seed: int = 0
    start_policy: str = "expert"
    start_steps: tuple[int, int] = (0, 400)
    bc_steps: int = 1500          # Adam steps of the behaviour-cloning reference (and BC-on-chosen)
    length_control: str = "none"  # "none" (length-leaking on terminating envs) | "absorbing"
    absorbing_logp: str = "reference-mean"  # absorbing only: "reference-mean" | "segment-mean"
    teacher: str = "bt"           # "bt" | "myopic" | "skip" | "equal"
    teacher_gamma: float = 1.0    # myopic only
    teacher_threshold: float = 0.0  # skip / equal only (return units)
    description: str = ""
    source: str = field(default="", compare=False)   # file it was loaded from, if any

    def budget(self, name: str) -> Budget:
        if name not in BUDGET_NAMES:
            raise ConfigError(f"budget {name!r}: expected one of {', '.join(BUDGET_NAMES)}")
        return getattr(self, name)

    @property
    def length_controlled(self) -> bool:
        """Whether a loss cannot read a segment's length (see ``length_control``)."""
        return self.length_control != "none"

    @property
    def step_rewards(self) -> bool:
        """Whether the segments cache keeps per-step rewards: for the myopic teacher, and for
        every length-controlled scenario (v2 datasets), so one build serves every teacher.
        Old scenarios keep their cache key (and their bit-identical arrays)."""
        return self.length_controlled or self.teacher == "myopic"

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict (round-trips through :func:`scenario_from_dict`)."""
        d = asdict(self)
        d.pop("source")
        if self.length_control != "absorbing":
            d.pop("absorbing_logp")
        if self.teacher != "myopic":
            d.pop("teacher_gamma")
        if self.teacher not in ("skip", "equal"):
            d.pop("teacher_threshold")
        d["pair_mix"] = [[m.level_a, m.level_b, m.weight] for m in self.pair_mix]
        d["start_steps"] = list(self.start_steps)
        d["budgets"] = {b: {**d.pop(b), "seeds": list(getattr(self, b).seeds)}
                        for b in BUDGET_NAMES}
        return d


# ----------------------------------------------------------------------------------------------
# Strict loading
# ----------------------------------------------------------------------------------------------

_TOP_REQUIRED = ("name", "env_id", "horizon", "n_pairs", "pair_mix", "bt_temperature",
                 "flip_rate", "reference", "beta", "budgets")
_TOP_OPTIONAL = ("description", "dataset_seed", "start_policy", "start_steps", "bc_steps",
                 "length_control", "absorbing_logp", "teacher", "teacher_gamma",
                 "teacher_threshold")
_BUDGET_KEYS = ("train_steps", "batch_size", "lr", "seeds", "eval_episodes", "eval_every")


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, fieldname: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.where}: field '{fieldname}': {msg}")

    def keys(self, table: dict, required: tuple, optional: tuple, prefix: str = "") -> None:
        for k in table:
            if k not in required and k not in optional:
                allowed = ", ".join(required + optional)
                raise self.fail(prefix + k, f"unknown key (allowed: {allowed})")
        for k in required:
            if k not in table:
                raise self.fail(prefix + k, "missing")

    def int_(self, v: Any, f: str, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f, f"expected an integer, got {type(v).__name__} {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(f, f"{v} out of range {_range(lo, hi)}")
        return v

    def float_(self, v: Any, f: str, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(f, f"expected a number, got {type(v).__name__} {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise self.fail(f, f"must be finite, got {v}")
        bad = (lo is not None and (v < lo or (lo_open and v == lo))) or \
              (hi is not None and (v > hi or (hi_open and v == hi)))
        if bad:
            raise self.fail(f, f"{v} out of range {_range(lo, hi, lo_open, hi_open)}")
        return v

    def str_(self, v: Any, f: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(f, f"expected a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            raise self.fail(f, f"{v!r} is not one of {', '.join(choices)}")
        return v


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False
           ) -> str:
    """The accepted interval as text, e.g. ``(0.0, inf)``; a missing bound is an infinity, which
    is never accepted (numbers must be finite), so its side is open."""
    lb = "[" if lo is not None and not lo_open else "("
    rb = "]" if hi is not None and not hi_open else ")"
    return f"{lb}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{rb}"


def _budget(c: _Checker, table: Any, name: str) -> Budget:
    f = f"budgets.{name}"
    if not isinstance(table, dict):
        raise c.fail(f, f"expected a table, got {type(table).__name__}")
    c.keys(table, _BUDGET_KEYS, (), prefix=f + ".")
    seeds = table["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        c.int_(seeds, f + ".seeds", 1, 1000)
        seeds = tuple(range(seeds))
    elif isinstance(seeds, list) and seeds:
        seeds = tuple(c.int_(s, f"{f}.seeds[{i}]", 0) for i, s in enumerate(seeds))
        if len(set(seeds)) != len(seeds):
            raise c.fail(f + ".seeds", f"repeated seed in {list(seeds)}")
    else:
        raise c.fail(f + ".seeds", f"expected a positive integer or a non-empty list of "
                                   f"integers, got {seeds!r}")
    b = Budget(train_steps=c.int_(table["train_steps"], f + ".train_steps", 1, 10**7),
               batch_size=c.int_(table["batch_size"], f + ".batch_size", 1, 1 << 16),
               lr=c.float_(table["lr"], f + ".lr", 0.0, 1.0, lo_open=True),
               seeds=seeds,
               eval_episodes=c.int_(table["eval_episodes"], f + ".eval_episodes", 1, 10**4),
               eval_every=c.int_(table["eval_every"], f + ".eval_every", 1, 10**7))
    if b.eval_every > b.train_steps:
        raise c.fail(f + ".eval_every", f"{b.eval_every} exceeds {f}.train_steps "
                                        f"{b.train_steps}: no checkpoint before the end, so the "
                                        f"budget's AUC would be its final score alone")
    return b


def scenario_from_dict(data: dict, where: str = "<scenario>") -> Scenario:
    """Validate a TOML-shaped dict; ``where`` names the file in error messages."""
    c = _Checker(where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table at top level")
    c.keys(data, _TOP_REQUIRED, _TOP_OPTIONAL)
    name = c.str_(data["name"], "name")
    env_id = c.str_(data["env_id"], "env_id")
    if env_id not in SUPPORTED_ENVS:
        raise c.fail("env_id", f"{env_id!r} is not a supported environment "
                               f"(supported: {', '.join(SUPPORTED_ENVS)})")
    horizon = c.int_(data["horizon"], "horizon", 1, 10_000)
    n_pairs = c.int_(data["n_pairs"], "n_pairs", 2, 10**7)
    mix_raw = data["pair_mix"]
    if not isinstance(mix_raw, list) or not mix_raw:
        raise c.fail("pair_mix", "expected a non-empty list of [level_a, level_b, weight]")
    mix = []
    for i, m in enumerate(mix_raw):
        f = f"pair_mix[{i}]"
        if not isinstance(m, list) or len(m) != 3:
            raise c.fail(f, f"expected [level_a, level_b, weight], got {m!r}")
        mix.append(PairMix(c.str_(m[0], f + "[0]"), c.str_(m[1], f + "[1]"),
                           c.float_(m[2], f + "[2]", 0.0, lo_open=True)))
    budgets = data["budgets"]
    if not isinstance(budgets, dict):
        raise c.fail("budgets", "expected a table with quick, screen and full")
    c.keys(budgets, BUDGET_NAMES, (), prefix="budgets.")
    start = data.get("start_steps", [0, 400])
    if not isinstance(start, list) or len(start) != 2:
        raise c.fail("start_steps", f"expected [lo, hi], got {start!r}")
    lo = c.int_(start[0], "start_steps[0]", 0, 10**6)
    hi = c.int_(start[1], "start_steps[1]", lo, 10**6)
    sc = Scenario(
        name=name, env_id=env_id, horizon=horizon, n_pairs=n_pairs, pair_mix=tuple(mix),
        bt_temperature=c.float_(data["bt_temperature"], "bt_temperature", 0.0),
        flip_rate=c.float_(data["flip_rate"], "flip_rate", 0.0, 0.5),
        reference=c.str_(data["reference"], "reference", REFERENCE_RECIPES),
        beta=c.float_(data["beta"], "beta", 0.0, lo_open=True),
        quick=_budget(c, budgets["quick"], "quick"),
        screen=_budget(c, budgets["screen"], "screen"),
        full=_budget(c, budgets["full"], "full"),
        dataset_seed=c.int_(data.get("dataset_seed", 0), "dataset_seed", 0, 2**63 - 1),
        start_policy=c.str_(data.get("start_policy", "expert"), "start_policy"),
        start_steps=(lo, hi),
        bc_steps=c.int_(data.get("bc_steps", 1500), "bc_steps", 1, 10**7),
        description=_description(c, data.get("description", "")),
        source=where,
        **_length_and_teacher(c, data),
    )
    _check_batches(c, sc)
    return sc


def _check_batches(c: _Checker, sc: Scenario) -> None:
    """A budget's batch must fit in the dataset. It has ``n_pairs`` pairs, except with teacher
    "skip", which drops near-ties when the dataset is built: there ``n_pairs`` is an upper bound
    and the build checks the batch again against the pairs kept (``teachers.check_pairs_kept``)."""
    for b in BUDGET_NAMES:
        size = sc.budget(b).batch_size
        if size > sc.n_pairs:
            most = " at most" if sc.teacher == "skip" else ""
            raise c.fail(f"budgets.{b}.batch_size", f"{size} exceeds the dataset's{most} "
                                                    f"{sc.n_pairs} pairs (field 'n_pairs')")


def _length_and_teacher(c: _Checker, data: dict) -> dict[str, Any]:
    """The v2 fields; a parameter given for a mode that does not use it is an error (a typo
    there would otherwise be a silent no-op)."""
    control = c.str_(data.get("length_control", "none"), "length_control", LENGTH_CONTROLS)
    if "absorbing_logp" in data and control != "absorbing":
        raise c.fail("absorbing_logp", 'only used with length_control = "absorbing"')
    teacher = c.str_(data.get("teacher", "bt"), "teacher", TEACHERS)
    out: dict[str, Any] = {
        "length_control": control,
        "absorbing_logp": c.str_(data.get("absorbing_logp", "reference-mean"), "absorbing_logp",
                                 ABSORBING_LOGPS),
        "teacher": teacher}
    uses = {"teacher_gamma": ("myopic",), "teacher_threshold": ("skip", "equal")}
    for key, teachers in uses.items():
        if key in data and teacher not in teachers:
            raise c.fail(key, f"only used with teacher = {' or '.join(map(repr, teachers))}")
        if key not in data and teacher in teachers:
            raise c.fail(key, f"required with teacher = {teacher!r}")
    if teacher == "myopic":
        out["teacher_gamma"] = c.float_(data["teacher_gamma"], "teacher_gamma", 0.0, 1.0,
                                        lo_open=True)
    if teacher in ("skip", "equal"):
        out["teacher_threshold"] = c.float_(data["teacher_threshold"], "teacher_threshold",
                                            0.0, lo_open=True)
    return out


def _description(c: _Checker, v: Any) -> str:
    if not isinstance(v, str):
        raise c.fail("description", f"expected a string, got {type(v).__name__}")
    return v


def scenario_file(path_or_name: str | os.PathLike, directory: str | os.PathLike | None = None
                  ) -> Path:
    """The file of a scenario given by file path, or by name in ``directory`` (default
    ``benchmarks/scenarios`` or ``$LOSSFORGE_SCENARIOS``), by the rule every command shares
    (``resources.find_scenario``: a folder or a suffix-less file named like a scenario in the
    working directory is not it)."""
    from lossforge.resources import find_scenario

    return find_scenario(path_or_name, directory=directory)


def load_scenario(path_or_name: str | os.PathLike, directory: str | os.PathLike | None = None
                  ) -> Scenario:
    """Load a scenario by file path, or by name from ``directory`` (default
    ``benchmarks/scenarios``). The ``name`` field must equal the file stem."""
    p = scenario_file(path_or_name, directory)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: scenario file not found") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    sc = scenario_from_dict(data, where=str(p))
    if sc.name != p.stem:
        raise ConfigError(f"{p}: field 'name': {sc.name!r} differs from the file name "
                          f"{p.stem!r}")
    _check_levels(sc, str(p))
    return sc


def zoo_level_names(env_id: str) -> tuple[str, ...] | None:
    """The level names of ``env_id``'s zoo as its ``zoo.json`` lists them (the zoo in use:
    ``$LOSSFORGE_ZOO`` or the shipped one, as ``zoo.loader.default_root``), read without loading
    a policy; None when there is no readable zoo.json (``load_zoo`` then says why, later)."""
    import json

    path = data_dir("zoo", env="LOSSFORGE_ZOO") / env_id / "zoo.json"
    try:
        names = tuple(lv["name"] for lv in json.loads(path.read_text())["levels"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return names if all(isinstance(n, str) for n in names) else None


def _check_levels(sc: Scenario, where: str) -> None:
    """Every zoo level a scenario file names (``start_policy``, ``pair_mix``) is one of its env's
    zoo, checked at load when the zoo's level names can be read (else when the dataset is built,
    ``datasets._spec_for``, which also serves a zoo given in code)."""
    names = zoo_level_names(sc.env_id)
    if names is None:
        return
    used = []
    for i, m in enumerate(sc.pair_mix):
        used += [(f"pair_mix[{i}][0]", m.level_a), (f"pair_mix[{i}][1]", m.level_b)]
    used.append(("start_policy", sc.start_policy))
    for fieldname, level in used:
        if level not in names:
            raise ConfigError(f"{where}: field '{fieldname}': no zoo level {level!r} for "
                              f"{sc.env_id} (levels: {', '.join(names)})")


def list_scenarios(directory: str | os.PathLike | None = None) -> list[str]:
    d = Path(directory) if directory is not None else default_dir()
    if not d.exists():
        return []
    return sorted(p.stem for p in d.glob("*.toml"))


def dump_scenario(sc: Scenario) -> str:
    """TOML text of a scenario (tomli_w)."""
    import tomli_w

    return tomli_w.dumps(sc.to_dict())
