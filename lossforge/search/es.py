"""The seed paper's method beside the symbolic search: CMA-ES over a neural mirror map.

``python -m lossforge.search --method es`` evolves the flat parameter vector of a
``NeuralMap`` (``objectives/neural.py``: phi~ a monotone network, valid by construction) with
CMA-ES from the maintained ``cma`` library (``pip install 'lossforge[es]'``), starting exactly
at DPO (phi~(l) = l). Given ``--link-grammar`` and/or ``--imitation-grammar`` (the GP's slot
flags) it also evolves a parametric link G and/or imitation term Psi (``es_slots.py``: valid by
construction, DPO's link and no imitation term at the start) in the same vector, after phi~'s
parameters, so both methods search the same slots; each candidate's G and Psi are formulas in
its spec (``NeuralSpec.link``, ``.imitation``), trained as written. Everything else is the GP
search's: the benchmark fitness through the same executors (local pool or Ray; a neural spec is
JSON like a symbolic one) and evaluation journal, the same run directory, a checksummed JSON
checkpoint per generation, resume, the live table. The checkpoint's config names the slots;
the logged vectors must have their length (``_check_dimension``), else resume stops.

The start network is DPO's loss at the run's beta and aggregation: where --beta or
--aggregation make that another loss than the DPO baseline (the scenario's beta, summed
log-probs), ``step`` scores it once (``state["init"]``) and ``init_score`` is its score, not
DPO's.

One generation (``step``): ask ``population`` parameter vectors, score each as an objective at
the run's budget (common random numbers: every candidate the same seeds and episodes), tell
CMA-ES the negated scores (a failed training scores ``FAILED_LOSS``).

The CMA state is never pickled or dumped: the checkpoint keeps the ask/tell log (every vector
asked, every value told) and the strategy is re-derived from it by replaying the same
asks and tells from the seed (its Gaussian draws come from a ``numpy.random.Generator`` seeded
by the run seed, never numpy's global RNG). The replay must reproduce every logged vector
bit for bit and the logged mean and step size; anything else (another ``cma`` version, an
edited log) stops with a ``CheckpointError``. So a resumed run continues exactly where the
checkpoint left it, and the same seed gives the same run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lossforge.errors import CheckpointError, ConfigError
from lossforge.io import atomic_write_json, atomic_write_text
from lossforge.objectives.neural import DEFAULT_L_RANGE, NeuralMap, NeuralSpec, n_params
from lossforge.search import engine, es_slots, rundir
from lossforge.search.export import pareto_table

STATE_VERSION = 1
METHOD = "es"
#: the value told to CMA-ES (it minimises) for a candidate whose training failed
FAILED_LOSS = 1e3


@dataclass(frozen=True)
class ESConfig:
    """Everything an ES run depends on (config.json and every checkpoint)."""

    scenario: str = "quick"
    budget: str = "screen"               # every candidate is scored at this one budget
    generations: int = 6
    population: int = 8                  # CMA-ES lambda
    sigma0: float = 0.5                  # initial step size (parameters are O(1))
    seed: int = 0
    hidden: int = 4                      # tanh units of the monotone network
    l_range: tuple[float, float] | None = None   # None: by aggregation (DEFAULT_L_RANGE)
    executor: str = "local"
    workers: int | None = None
    eval_timeout: float | None = None    # seconds per evaluation before it is stopped, failed
    fitness: str = "bench"               # bench | probe | module:function
    metric: str = "auc"
    aggregation: str = "sum"
    beta: float | None = None            # None: the scenario's
    baselines: tuple[str, ...] = ("dpo",)
    hall_of_fame: int = 10
    method: str = METHOD
    link_grammar: str | None = None      # a link grammar file: G is searched too (es_slots.py)
    imitation_grammar: str | None = None  # an imitation grammar file: Psi is searched too

    def __post_init__(self):
        if self.method != METHOD:
            raise ConfigError(f"ES config: method must be {METHOD!r}")
        if self.budget not in ("quick", "screen", "full"):
            raise ConfigError(f"--budget {self.budget!r}: expected quick, screen or full")
        if self.generations < 1:
            raise ConfigError(f"--generations must be >= 1, got {self.generations}")
        if self.population < 3:  # cma's tell() refuses fewer (after a whole generation ran)
            raise ConfigError(f"--population must be >= 3 for CMA-ES, got {self.population}")
        if not self.sigma0 > 0:
            raise ConfigError(f"--sigma0 must be positive, got {self.sigma0}")
        if self.hidden < 1:
            raise ConfigError(f"--hidden must be >= 1, got {self.hidden}")
        engine.check_common(self)
        rng = self.l_range or DEFAULT_L_RANGE[self.aggregation]
        NeuralMap.at_dpo(self.hidden, tuple(rng))  # validates l_range
        object.__setattr__(self, "l_range", tuple(float(x) for x in rng))
        object.__setattr__(self, "baselines", tuple(self.baselines))

    @property
    def slots(self) -> tuple[str, ...]:
        """The open slots, in vector order (``es_slots.SIZES``)."""
        return tuple(s for s, g in (("link", self.link_grammar),
                                    ("imitation", self.imitation_grammar)) if g)

    @property
    def dimension(self) -> int:
        """Length of the CMA-ES vector: phi~'s parameters, then the slots'."""
        return n_params(self.hidden) + es_slots.size(self.slots)

    def to_json(self) -> dict:
        d = asdict(self)
        d["baselines"] = list(self.baselines)
        d["l_range"] = list(self.l_range)
        for key in ("link_grammar", "imitation_grammar"):
            if d[key] is None:  # runs without slots keep the config they always had
                del d[key]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ESConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"ES config has unknown fields: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class Context:
    config: ESConfig
    scenario_path: str
    scenario: Any
    ladder: tuple[str, ...]
    beta: float
    grammar: None = None      # (the GP context's field; the driver never needs it here)
    journal: Any = None       # finished evaluations of the run directory (journal.py)
    progress: Any = None      # progress(rung, done, total, seconds) after each round
    run: str | None = None    # the run's identity (runfiles.run_identity), set by run.py

    @property
    def x0(self) -> list[float]:
        c = self.config
        return list(NeuralMap.at_dpo(c.hidden, c.l_range).params) + es_slots.start(c.slots)


def make_context(config: ESConfig) -> Context:
    """The run's context; a slot grammar must be that slot's (the check the GP makes: a link
    grammar in D, t; an imitation grammar in l, n, t). ES searches the slot's parametric
    family (es_slots.py), not the grammar's trees."""
    for slot, text in (("link", config.link_grammar), ("imitation", config.imitation_grammar)):
        if text:
            from lossforge.grammar.loader import load_grammar

            engine.check_part_grammar(slot, load_grammar(engine.resolve_path(
                text, f"{slot} grammar")), text)
    path, scenario = engine.resolve_scenario(config.scenario, config.fitness)
    return Context(config, str(path), scenario, (config.budget,),
                   float(config.beta if config.beta is not None else scenario.beta))


def init_state(ctx: Context) -> dict:
    import cma

    return {
        "version": STATE_VERSION,
        "method": METHOD,
        "config": ctx.config.to_json(),
        "generation": 0,
        "ladder": list(ctx.ladder),
        "x0": ctx.x0,
        "cma_version": cma.__version__,
        "asked": [],          # per generation: the parameter vectors CMA-ES asked for
        "told": [],           # per generation: the values told back (negated scores)
        "cma": {"mean": ctx.x0, "sigma": ctx.config.sigma0},
        "candidates": {},     # name -> {"spec", "born", <budget>: fitness}
        "baselines": {},
        "counters": {"evaluated": {ctx.config.budget: 0}, "failed_training": 0},
        "history": [],
        "timing": {"elapsed_s": 0.0},
    }


# ---- the strategy, re-derived from the log ---------------------------------------------------


class _Randn:
    """CMA-ES's Gaussian source: ``randn(lam, n)`` from an explicit numpy Generator."""

    def __init__(self, seed: int):
        self.gen = np.random.Generator(np.random.PCG64(seed))

    def __call__(self, *shape):
        return self.gen.standard_normal(shape)


def strategy(state: dict, config: ESConfig):
    """A ``cma.CMAEvolutionStrategy`` in the state the checkpoint describes (replayed)."""
    import cma

    if state["cma_version"] != cma.__version__:
        raise CheckpointError(f"this run was made with cma {state['cma_version']}, installed is "
                              f"{cma.__version__}: its CMA-ES state cannot be re-derived")
    opts = {"popsize": config.population, "seed": math.nan, "randn": _Randn(config.seed),
            "CMA_mirrors": 0, "verbose": -9, "verb_disp": 0, "verb_log": 0,
            "tolfun": 0, "tolfunhist": 0, "tolx": 0, "tolflatfitness": 10**9,
            "tolstagnation": 10**9, "maxiter": 10**9, "maxfevals": math.inf}
    _check_dimension(state, config)
    es = cma.CMAEvolutionStrategy(list(state["x0"]), config.sigma0, opts)
    for gen, (asked, told) in enumerate(zip(state["asked"], state["told"]), 1):
        xs = es.ask()
        if not all(np.array_equal(x, np.asarray(a)) for x, a in zip(xs, asked)):
            raise CheckpointError(f"replaying CMA-ES generation {gen} did not reproduce the "
                                  "logged parameter vectors (edited log or another numpy/cma)")
        es.tell(xs, list(told))
    if state["asked"] and (list(map(float, es.mean)) != state["cma"]["mean"]
                           or float(es.sigma) != state["cma"]["sigma"]):
        raise CheckpointError("replaying the CMA-ES log gave another mean or step size than "
                              "the checkpoint recorded")
    return es


def _check_dimension(state: dict, config: ESConfig) -> None:
    """The logged vectors must have the length the configured slots give (a checkpoint whose
    config was edited to other slots, or vectors of another run, cannot be replayed)."""
    lengths = {len(state["x0"])} | {len(x) for gen in state["asked"] for x in gen}
    if lengths != {config.dimension}:
        raise CheckpointError(
            f"checkpoint vectors have {sorted(lengths)} numbers but hidden {config.hidden} with "
            f"slots [{', '.join(config.slots) or 'none'}] needs {config.dimension}: the run was "
            "made with other slots")


# ---- one generation --------------------------------------------------------------------------


def spec_for(ctx: Context, params, name: str) -> dict:
    """The candidate of one ES vector: phi~'s parameters, and G, Psi as formulas of their
    rounded slot parameters (``es_slots``)."""
    c = ctx.config
    phi, parts = es_slots.split(params, n_params(c.hidden), c.slots)
    slots = es_slots.formulas(parts, getattr(ctx.scenario, "response_steps", None))
    what = "" if not c.slots else f" and {' and '.join(c.slots)} (lossforge.search.es_slots)"
    return NeuralSpec(name=name, params=tuple(phi), hidden=c.hidden,
                      l_range=c.l_range, beta=ctx.beta, aggregation=c.aggregation,
                      description="CMA-ES over a monotone-network phi~ (lossforge.search.es)"
                      + what, **slots).to_json()


def _score(f: dict | None) -> float:
    return f["score"] if f and f["status"] == "ok" and f["score"] is not None else math.nan


def step(state: dict, ctx: Context, executor) -> dict:
    """Run one generation in place; returns its summary (also appended to the history)."""
    cfg, budget = ctx.config, ctx.config.budget
    if state["generation"] == 0 and not state["baselines"]:
        engine.evaluate_baselines(state, ctx, executor)
    # the start network is another loss than the DPO baseline (--beta, --aggregation): scored
    # once, here (a checkpoint from before this was scored gets it on resume)
    if "init" not in state and not init_is_dpo(state):
        state["init"] = {"spec": spec_for(ctx, ctx.x0, "es-init")}
        state["init"][budget] = engine.run_rung(ctx, executor, budget, [state["init"]["spec"]])[0]
    es = strategy(state, cfg)
    gen = state["generation"] + 1
    xs = es.ask()
    specs = [spec_for(ctx, x, f"es-g{gen}-{i}") for i, x in enumerate(xs)]
    results = engine.run_rung(ctx, executor, budget, specs)  # journaled, as the GP's
    scores = [_score(f) for f in results]
    told = [FAILED_LOSS if math.isnan(s) else -s for s in scores]
    es.tell(xs, told)
    for spec, f in zip(specs, results):
        state["candidates"][spec["name"]] = {"spec": spec, "born": gen, budget: f}
    state["asked"].append([[float(v) for v in x] for x in xs])
    state["told"].append(told)
    state["cma"] = {"mean": [float(v) for v in es.mean], "sigma": float(es.sigma)}
    state["counters"]["evaluated"][budget] += len(specs)
    state["counters"]["failed_training"] += sum(math.isnan(s) for s in scores)
    state["generation"] = gen
    ok = [s for s in scores if not math.isnan(s)]
    best = best_candidate(state)
    summary = {
        "generation": gen,
        "best": max(ok) if ok else None,
        "mean": sum(ok) / len(ok) if ok else None,
        "best_so_far": _score(best[budget]) if best else None,
        "best_name": best["spec"]["name"] if best else None,
        "init": init_score(state),
        "sigma": float(es.sigma),
        "failed": len(scores) - len(ok),
        "total_evaluated": dict(state["counters"]["evaluated"]),
    }
    state["history"].append(summary)
    return summary


def best_candidate(state: dict) -> dict | None:
    budget = state["ladder"][-1]
    scored = [c for c in state["candidates"].values() if not math.isnan(_score(c.get(budget)))]
    return max(scored, key=lambda c: _score(c[budget])) if scored else None


def same_as_dpo(dpo_spec: dict | None, beta: float, aggregation: str) -> bool:
    """Whether the network at init (phi~(l) = l, DPO's link, no imitation term: the same loss
    as DPO, tested) at ``beta`` on ``aggregation`` log-probs is the DPO baseline ``dpo_spec``
    (the scenario's beta, summed log-probs): not with --beta or --aggregation set otherwise."""
    return bool(dpo_spec) and float(dpo_spec.get("beta", math.nan)) == float(beta) \
        and dpo_spec.get("aggregation", "sum") == aggregation


def init_is_dpo(state: dict) -> bool:
    """Whether DPO's score in this run is the initialisation's (``same_as_dpo``)."""
    c, dpo = state["config"], state["baselines"].get("dpo", {}).get("spec")
    beta = c["beta"] if c.get("beta") is not None else (dpo or {}).get("beta", math.nan)
    return same_as_dpo(dpo, beta, c.get("aggregation", "sum"))


def init_label(state: dict) -> str:
    """What the initialisation is, for "vs its initialisation (...)": "DPO", or the start
    network's loss when --beta or --aggregation make it another one than the DPO baseline."""
    if init_is_dpo(state):
        return "DPO"
    spec = (state.get("init") or {}).get("spec") or {}
    return start_text(spec.get("beta"), state["config"].get("aggregation", "sum"))


def start_text(beta, aggregation: str) -> str:
    """The start network as another loss than the DPO baseline, in words: "phi~(l) = l at beta
    0.5 on mean log-probs, not the DPO baseline" (the label and the live table's title)."""
    return ("phi~(l) = l" + (f" at beta {beta:g}" if isinstance(beta, (int, float)) else "")
            + f" on {aggregation} log-probs, not the DPO baseline")


def init_score(state: dict) -> float | None:
    """The score of the starting point. The network at init is DPO exactly (tested): where it
    is the DPO baseline (``init_is_dpo``), DPO's score in this run is the initialisation's (no
    second training of the same loss); otherwise (--beta, --aggregation) the start network is
    scored on its own (``state["init"]``, in ``step``). None when neither is known: a
    checkpoint from before this distinction, not yet resumed, never calls DPO's score its
    initialisation's."""
    top = state["ladder"][-1]
    rec = state["baselines"].get("dpo", {}) if init_is_dpo(state) else state.get("init") or {}
    s = _score(rec.get(top))
    return None if math.isnan(s) else s


# ---- run directory ---------------------------------------------------------------------------


def write_start(run_dir: Path, ctx: Context, *, config_json: bool = True) -> None:
    """As ``rundir.write_start``, for an ES run."""
    cfg = ctx.config
    if config_json:
        atomic_write_json(run_dir / "config.json", {
            "config": cfg.to_json(), "method": METHOD, "scenario_file": ctx.scenario_path,
            "ladder": list(ctx.ladder), "beta": ctx.beta, "n_params": cfg.dimension})
    atomic_write_json(run_dir / "seeds.json", {
        "search_seed": cfg.seed,
        "fitness_seeds": {cfg.budget: list(ctx.scenario.budget(cfg.budget).seeds)},
        "note": "CMA-ES draws from numpy PCG64(search_seed); fitness seeds are the scenario "
                "budget's training/evaluation seeds, shared by every candidate"})


def _row(c: dict, budget: str, size: int) -> dict:
    """A hall-of-fame row. ``size``: the numbers CMA-ES searched (phi~'s weights and any open
    slot's); ``properties``: those of its link and imitation term, as for a GP row."""
    spec = c["spec"]
    net = NeuralSpec.from_json(spec).map
    return {"name": spec["name"], "loss_id": spec["name"], "complexity": size,
            "h": "neural (no closed form; distil with python -m lossforge.distill)",
            "phi_inv": "neural", "phi_tilde": net.describe(), "loss": rundir.loss_text(spec),
            "spec": spec, "born": c["born"], "origin": "cma-es", "tree": None,
            "properties": rundir.properties_of(spec), budget: c.get(budget)}


def write_results(run_dir: Path, state: dict, ctx: Context, *, plot: bool = False) -> dict:
    """hall_of_fame.json (best networks first), pareto.json and pareto.tex (the best network:
    every network has the same complexity) and losses/*.py (each network as a torch module), in
    the GP run directory's format; the plot is es.png (score by generation), not a front."""
    budget = state["ladder"][-1]
    cands = [c for c in state["candidates"].values() if not math.isnan(_score(c.get(budget)))]
    cands.sort(key=lambda c: (-_score(c[budget]), c["spec"]["name"]))
    hof = [_row(c, budget, ctx.config.dimension) for c in cands[:ctx.config.hall_of_fame]]
    baselines = [dict(b) for b in state["baselines"].values()]
    common = {"scenario": ctx.scenario.name, "method": METHOD, "ladder": state["ladder"],
              "metric": ctx.config.metric, "generation": state["generation"],
              "baselines": baselines, "counters": state["counters"],
              "init_score": init_score(state), "cma": state["cma"]}
    rundir.write_result_files(run_dir, ctx.run, common, hof, hof[:1])
    atomic_write_text(run_dir / "pareto.tex", pareto_table(hof[:1], baselines, budget))
    rundir.write_loss_files(run_dir, hof, ctx.scenario.name, budget, ctx.config.metric)
    if plot and state["history"]:
        write_plot(run_dir, state)
    return {"hall_of_fame": hof, "pareto": hof[:1], "baselines": baselines}


def write_plot(run_dir: Path, state: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = state["ladder"][-1]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c in state["candidates"].values():
        s = _score(c.get(budget))
        if not math.isnan(s):
            ax.scatter(c["born"], s, s=12, c="0.6")
    gens = [h["generation"] for h in state["history"]]
    ax.plot(gens, [h["best_so_far"] for h in state["history"]], c="tab:red", label="best so far")
    if init_score(state) is not None:
        ax.axhline(init_score(state), ls="--", c="k", lw=1,
                   label=f"the initialisation ({init_label(state)})")
    ax.set_xlabel("generation")
    ax.set_ylabel(f"score ({state['config']['metric']}, {budget})")
    ax.set_title("lossforge CMA-ES over a neural phi~")
    if ax.get_legend_handles_labels()[0]:   # an empty legend is a matplotlib warning
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = run_dir / ".es.png.tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(run_dir / "es.png")


# ---- what the driver (run.py) shows ----------------------------------------------------------


def title(ctx: Context) -> str:
    c = ctx.config
    slots = "".join(f" + {s} ({es_slots.SIZES[s]})" for s in c.slots)
    return (f"lossforge CMA-ES: {ctx.scenario.name}, neural phi~ ({n_params(c.hidden)} params)"
            f"{slots}, "
            f"pop {c.population}, sigma0 {c.sigma0:g}, seed {c.seed}; score = {c.metric} at "
            f"{c.budget}; init = {_init_words(ctx)}")


def _init_words(ctx: Context) -> str:
    """What the "init" column holds: DPO's score when the start network is the DPO baseline,
    else the start network's own (the title's last words)."""
    dpo = engine._baseline_specs(ctx, ["dpo"])[0] if "dpo" in ctx.config.baselines else None
    if same_as_dpo(dpo, ctx.beta, ctx.config.aggregation):
        return "the start network (= DPO)"
    return f"the start network ({start_text(ctx.beta, ctx.config.aggregation)})"


#: "init": the start network's score (DPO's where it is the DPO baseline; ``title`` says
#: which)
COLUMNS = ("gen", "best", "mean", "best so far", "init", "sigma", "failed")


def row(h: dict) -> list[str]:
    def f(x, nd=2):
        return "-" if x is None else f"{x:.{nd}f}"
    return [str(h["generation"]), f(h["best"]), f(h["mean"]), f(h["best_so_far"]),
            f(h["init"]), f(h["sigma"], 3), str(h["failed"])]
