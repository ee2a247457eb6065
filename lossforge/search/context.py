"""A search's configuration and what a run loads once from it.

    SearchConfig      everything a run depends on (config.json, inside every checkpoint)
    make_context      SearchConfig -> Context: grammars (checked for their part), scenario or
                      suite, fidelity ladder, beta; rebuilt from the config on resume
    resolve_path      a user's file, or one relative to the repository / the installed
                      package data (``grammars/link.toml``, ``benchmarks/scenarios/...``), by
                      the rule every command shares (``resources.find_file``; a scenario:
                      ``resources.find_scenario``); on resume first the file a relative path
                      or a scenario name named when the run started (``recorded_paths``), so a
                      resume works from any working directory
    resolve_scenario  a scenario file or name, or the fitness module's own scenario

The trees generation 0 starts from (DPO's and ORPO's maps, ...) are each grammar file's
``[seeds]`` (``Grammar.seeds``). The search loop that runs on a Context is engine.py.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from lossforge.errors import ConfigError, LossforgeError
from lossforge.grammar.loader import Grammar, load_grammar
from lossforge.bench.result import METRICS
from lossforge.objectives.mpo import AGGREGATIONS, IMITATION_VARS, LINK_VARS
from lossforge.resources import file_candidates, find_file, find_scenario, scenario_candidates
from lossforge.search import genome, gp, suite_fitness
from lossforge.search.executors import fitness_hook
from lossforge.search.journal import Journal
from lossforge.objectives.properties import check_requirements

#: Fidelity ladders: --budget names the top rung; everyone gets the first.
LADDERS = {"quick": ("quick",), "screen": ("quick", "screen"), "full": ("screen", "full")}


def check_common(cfg) -> None:
    """The checks every search method's config shares (GP here, CMA-ES in ``es.py``)."""
    if cfg.executor not in ("local", "ray"):
        raise ConfigError(f"--executor {cfg.executor!r}: expected local or ray")
    if cfg.workers is not None and cfg.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {cfg.workers}")
    if cfg.eval_timeout is not None and not cfg.eval_timeout > 0:
        raise ConfigError(f"--eval-timeout must be a positive number of seconds, got "
                          f"{cfg.eval_timeout}")
    if cfg.eval_timeout is not None and cfg.executor != "local":
        raise ConfigError("--eval-timeout needs the local executor (--executor local)")
    if cfg.aggregation not in AGGREGATIONS:
        raise ConfigError(f"--aggregation must be {' or '.join(AGGREGATIONS)}, got "
                          f"{cfg.aggregation!r}")
    if cfg.beta is not None and not cfg.beta > 0:
        raise ConfigError(f"--beta must be positive, got {cfg.beta}")
    if cfg.metric not in METRICS:
        raise ConfigError(f"metric must be {' or '.join(METRICS)}, got {cfg.metric!r}")


@dataclass(frozen=True)
class SearchConfig:
    """Everything a run depends on (serialised as config.json and inside every checkpoint)."""

    scenario: str = "quick"
    grammar: str = "grammars/mirror_map_dcp.toml"
    budget: str = "full"                 # top rung of the fidelity ladder (LADDERS)
    generations: int = 8
    population: int = 16
    seed: int = 0
    executor: str = "local"
    workers: int | None = None           # None: os.cpu_count()
    eval_timeout: float | None = None    # seconds per evaluation before it is stopped, failed
    fitness: str = "bench"               # bench | probe | module:function
    metric: str = "auc"
    top_fraction: float = 0.25           # share of each generation promoted to the top rung
    immigrants: float = 0.125            # share of offspring that are fresh random trees
    max_height: int | None = None        # None: the grammar's max_depth
    max_size: int = 25
    operator_weights: dict = field(default_factory=lambda: dict(gp.DEFAULT_OPERATOR_WEIGHTS))
    baselines: tuple[str, ...] = suite_fitness.DEFAULT_BASELINES
    check_time_limit_s: float = 0.5
    hall_of_fame: int = 10
    aggregation: str = "sum"             # log-probs of candidates: summed (as DPO) or mean
    beta: float | None = None            # candidates' beta; None: the scenario's
    dedup: bool = True                   # False (benchmarks only): retrain repeats/duplicates
    multi_fidelity: bool = True          # False: every loss straight at the top rung
    link_grammar: str | None = None      # open the link slot G(D, t) with this grammar file
    imitation_grammar: str | None = None  # open the imitation slot Psi(l, n, t) with this one
    require: tuple[str, ...] = ()        # properties every candidate must have (--require)
    suite: str | None = None             # score on every scenario of this suite (suite_fitness)
    suite_objective: str = "mean"        # suite runs select on mean or worst regret
    race: bool = True                    # suite runs: racing over (scenario, seed) units
    race_delta: float = suite_fitness.DEFAULT_DELTA   # racing's bound on dropping the top loss
    suite_baselines: str | None = None   # JSON of per-scenario best/reference scores (frozen)

    def __post_init__(self):
        if self.budget not in LADDERS:
            raise ConfigError(f"--budget {self.budget!r}: expected one of {', '.join(LADDERS)}")
        if self.generations < 1:
            raise ConfigError(f"--generations must be >= 1, got {self.generations}")
        if self.population < 4:
            raise ConfigError(f"--population must be >= 4, got {self.population}")
        if not 0 < self.top_fraction <= 1:
            raise ConfigError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        check_common(self)
        if self.suite_objective not in ("mean", "worst"):
            raise ConfigError(f"--suite-objective must be mean or worst, got "
                              f"{self.suite_objective!r}")
        if not 0 < self.race_delta < 1:
            raise ConfigError(f"--race-delta must be in (0, 1), got {self.race_delta}")
        bad = set(self.operator_weights) - set(gp.OPERATORS)
        if bad:
            raise ConfigError(f"unknown operator(s) {sorted(bad)}; known: {gp.OPERATORS}")
        object.__setattr__(self, "baselines", tuple(self.baselines))
        object.__setattr__(self, "require", check_requirements(tuple(self.require)))
        if "redescending" in self.require and self.link_grammar is None:
            raise ConfigError("--require redescending needs --link-grammar (e.g. "
                              "grammars/link.toml): without it every candidate has DPO's link "
                              "-logsigmoid(D), which is not redescending (G' -> -1 as D -> "
                              "-inf), so the search would reject every one")

    def to_json(self) -> dict:
        d = asdict(self)
        d["baselines"] = list(self.baselines)
        d["require"] = list(self.require)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "SearchConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"config has unknown fields: {', '.join(sorted(unknown))}")
        return cls(**d)


# ---- set-up ----------------------------------------------------------------------------------


#: (kind, relative path) -> (the file it named when the run being resumed started, the digest
#: of its content then or None)
_RECORDED: ContextVar[dict] = ContextVar("recorded_paths", default={})


@contextmanager
def recorded_paths(paths: dict[tuple[str, str], tuple[Path, str | None]]) -> Iterator[dict]:
    """While the ``with`` block runs, ``resolve_path(text, kind)`` of a relative ``text`` with
    an entry ``paths[(kind, text)] = (file, digest)`` gives, of that file and the ones ``text``
    names from here, the first whose content has that digest (``inputs.digest``; None: the
    recorded file first), else the first that exists: a resumed run reads the files it started
    with whatever the working directory (the caller may fill ``paths`` inside the block: it is
    yielded). ``inputs.check`` still refuses a file whose content changed since."""
    token = _RECORDED.set(paths)
    try:
        yield paths
    finally:
        _RECORDED.reset(token)


def resolve_path(text: str, kind: str) -> Path:
    """The file ``text`` names by the rule every command shares (``resources.find_file``; a
    scenario: ``resources.find_scenario``, also for a name): a user path, or one relative to
    the repository (grammars/..., benchmarks/...), which an installed wheel finds in its package
    data; in a resumed run, a relative path or a name as the run recorded it
    (``recorded_paths``)."""
    scenario = kind == "scenario"
    entry = None if Path(text).is_absolute() else _RECORDED.get().get((kind, str(Path(text))))
    if entry is None or not entry[0].is_file():
        return find_scenario(text) if scenario else find_file(text, kind)
    recorded, digest = entry
    cands = scenario_candidates(text) if scenario else file_candidates(text)
    files = [recorded, *(c for c in cands if c.is_file())]
    if digest is not None:
        from lossforge.search.inputs import digest as digest_of

        files.sort(key=lambda f: digest_of(f) != digest)   # stable: the recorded first
    return files[0].resolve()


def resolve_scenario(text: str, fitness: str = "bench"):
    """(absolute path, Scenario) for a scenario file or a name under benchmarks/scenarios
    (``resolve_path``); (text, the fitness's scenario) when the fitness module reads scenarios
    itself (``search_scenario``, e.g. ``--fitness llm``: ``reverse/mixed-quality``)."""
    from lossforge.bench.scenarios import load_scenario

    own = fitness_hook(fitness, "search_scenario")
    if own is not None:
        try:
            return text, own(text)
        except LossforgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a fitness of one's own: its error, one line
            raise ConfigError(f"--scenario {text!r}: the search_scenario of --fitness "
                              f"{fitness} raised {type(exc).__name__}: {exc}") from None
    path = resolve_path(text, "scenario")
    return path, load_scenario(path)


@dataclass
class Context:
    """What a run needs beside its state: loaded once, rebuilt on resume from the config."""

    config: SearchConfig
    grammar: Grammar                 # the mirror maps'
    space: genome.Space              # the mirror maps' grammar and the open slots'
    scenario_path: str
    scenario: Any
    limits: gp.Limits
    ladder: tuple[str, ...]
    beta: float
    journal: Journal | None = None   # finished evaluations of the run directory (journal.py)
    suite: list | None = None        # suite runs: suite_fitness.SuiteScenario per scenario
    progress: Any = None             # progress(rung, done, total, seconds) after each round
    run: str | None = None           # the run's identity (runfiles.run_identity), set by run.py


#: The variables each part of a genome may use: the mirror map is written in p (h(p)) or in l
#: (phi~(l)); the slots' variables are the objective's (``objectives/mpo.py``).
PART_VARIABLES = {"h": ({"p"}, {"l"}), "link": (set(LINK_VARS),),
                  "imitation": (set(IMITATION_VARS),)}
_PART_FLAGS = {"h": "--grammar", "link": "--link-grammar", "imitation": "--imitation-grammar"}
_PART_NAMES = {"h": "the mirror-map grammar", "link": "a link grammar",
               "imitation": "an imitation grammar"}


def _fits(part: str, have: set[str]) -> bool:
    allowed = PART_VARIABLES[part]
    return have in allowed if part == "h" else have <= allowed[0]


def check_part_grammar(part: str, grammar: Grammar, given: str) -> None:
    """A grammar given for the wrong part (e.g. the link grammar as the mirror maps') would
    have every tree rejected: refuse it before the run starts, naming file and variables."""
    have = set(grammar.variable_names)
    if _fits(part, have):
        return
    want = ("one variable, p (h(p)) or l (phi~(l))" if part == "h"
            else f"variables among {', '.join(sorted(PART_VARIABLES[part][0]))}")
    other = next((p for p in PART_VARIABLES if p != part and _fits(p, have)), None)
    hint = f" (is it {_PART_NAMES[other]}? give it as {_PART_FLAGS[other]})" if other else ""
    raise ConfigError(f"{_PART_FLAGS[part]} {given}: grammar {grammar.name!r} has variables "
                      f"{', '.join(sorted(have))}; {_PART_NAMES[part]} needs {want}{hint}")


def make_context(config: SearchConfig) -> Context:
    grammar = load_grammar(resolve_path(config.grammar, "grammar"))
    slots = {slot: load_grammar(resolve_path(text, f"{slot} grammar"))
             for slot, text in (("link", config.link_grammar),
                                ("imitation", config.imitation_grammar)) if text}
    given = {"h": config.grammar, "link": config.link_grammar,
             "imitation": config.imitation_grammar}
    for part, g in (("h", grammar), *slots.items()):
        check_part_grammar(part, g, given[part])
    space = genome.Space(grammar, slots)
    suite = None
    if config.suite:  # the first scenario stands for the suite where one is needed (budgets)
        suite_name, suite = suite_fitness.load(config.suite)
        path = Path(suite[0].path)
        scenario = replace(suite[0].scenario, name=f"suite-{suite_name}", beta=(
            config.beta if config.beta is not None else suite_fitness.suite_beta(suite)))
    else:
        path, scenario = resolve_scenario(config.scenario, config.fitness)
    height = config.max_height or grammar.max_depth
    if height < grammar.min_depth[grammar.root]:
        raise ConfigError(f"max_height {height} is below the grammar's minimum "
                          f"{grammar.min_depth[grammar.root]}")
    ladder = LADDERS[config.budget] if config.multi_fidelity else LADDERS[config.budget][-1:]
    if config.suite_baselines:   # checked now, before the run directory is made
        if suite is None:
            raise ConfigError("--suite-baselines is for suite runs (--suite)")
        for rung in ladder:
            suite_fitness.frozen_table(config.suite_baselines, rung,
                                       suite_fitness.units_of(suite, rung), config.metric)
    beta = float(config.beta if config.beta is not None else scenario.beta)
    return Context(config, grammar, space, str(path), scenario,
                   gp.Limits(height, config.max_size), ladder, beta, suite=suite)
