"""LLM transfer: DPO, ORPO and a discovered MPO loss fine-tuning a small language model on
mixed-quality preference data, scored exactly by a program.

    nice -n 5 python benchmarks/llm_transfer.py                 # default budget (see the results)
    python benchmarks/llm_transfer.py --seeds 0-9 --also robust,ipo
    python benchmarks/llm_transfer.py --formula "p*log(p) + p**2" --aggregation sum
    python benchmarks/llm_transfer.py --run runs/<run> --rank 0

The seed paper's last step takes losses found on MuJoCo to LLM alignment. Nothing can be
downloaded here, so every piece is built locally and is small enough for 2 CPU cores:

* task: two-digit addition, prompt "07+48=", answer "55" (operands zero-padded so every prompt
  has 6 characters; answers have 1-3 digits). ``score`` checks a response by computing the sum:
  the quality of every answer is known exactly.
* tokenizer: a character-level ``tokenizers`` WordLevel model wrapped as a transformers
  ``PreTrainedTokenizerFast`` (TRL's ``processing_class``), built in code.
* model: a ~0.5M-parameter Llama (``LlamaConfig``, random init), supervised-fine-tuned by a plain
  loop on correct answers until it is partially competent (about half the held-out sums right).
  The SFT base is cached per seed under ``$LOSSFORGE_CACHE/llm_transfer/<config hash>/`` as a
  safetensors model directory, so reruns skip it.
* preference data, mixed quality (as the paper's modified data set): for each prompt the
  rejected response is a wrong answer sampled from the SFT model (a perturbed answer when all its
  samples are right); the chosen response is the correct answer, except for a fixed fraction of
  pairs (``wrong_chosen_frac``) whose chosen response is itself wrong (one digit off).
* preference training: every loss through ``lossforge.integrations.trl.LossforgeDPOTrainer``
  (TRL's DPOTrainer with the loss swapped; the tests check it equals TRL's own DPO), same data,
  same order, same optimiser and steps for every loss; the SFT model is the reference. Only the
  learning rate differs: DPO-type losses and ORPO want rates two orders of magnitude apart
  here, so each loss gets its best rate from ``lr_grid`` on a separate tuning seed (its own
  SFT base, pairs and eval prompts; never reported): the same tuning effort for every loss.
* score: exact-match accuracy of greedy decoding on held-out prompts (never trained on).

The task, tokenizer, model, SFT and TRL training are ``lossforge.llm`` (``tasks.Addition``,
``model``), shared with the search's ``--fitness llm``; this script is the experiment around
them (rejected answers sampled from the SFT model, learning-rate tuning, tables).

Every loss starts from the same SFT base and sees the same pairs in the same order within a
seed (paired comparison); seeds differ in SFT initialisation, data split and sampling. Results:
mean accuracy with a 95 % t-interval over seeds, and the paired difference to DPO, in
``benchmarks/results/llm_transfer.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lossforge.bench.scenarios import parse_seeds  # noqa: E402
from lossforge.llm import model as M  # noqa: E402
from lossforge.llm.tasks import Addition, build_sampled_preferences  # noqa: E402
from lossforge.objectives import MPOSpec, Objective, from_run, get  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BINARY_ENTROPY = "p*log(p) + (1-p)*log(1-p)"

# ---- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Everything that determines the numbers (hashed into the SFT cache key where relevant)."""

    seeds: tuple[int, ...] = tuple(range(8))
    # task and splits
    n_eval: int = 500                  # held-out prompts, scored by greedy decoding
    n_pref: int = 1500                 # preference pairs (prompts disjoint from eval and SFT)
    # model (Llama, random init)
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    intermediate: int = 256
    # supervised fine-tuning (plain loop, AdamW, constant lr)
    sft_steps: int = 300
    sft_batch: int = 128
    sft_lr: float = 1e-3
    # preference data
    wrong_chosen_frac: float = 0.3     # fraction of pairs whose chosen answer is wrong
    samples_per_prompt: int = 4        # SFT samples (temperature 1) to find a wrong rejected
    # preference training (TRL; identical for every loss except the tuned learning rate)
    po_epochs: int = 2
    po_batch: int = 32
    po_lr: float | None = None         # None: tune per loss on tune_seed over lr_grid
    lr_grid: tuple[float, ...] = (1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4)
    tune_seed: int = 100               # its own SFT base, data and eval split; not reported
    threads: int = 1

    def sft_key(self, seed: int) -> str:
        """Cache key of the SFT base of ``seed``: everything the base depends on."""
        import transformers

        fields = {k: getattr(self, k) for k in ("n_eval", "n_pref", "hidden", "layers", "heads",
                                                "intermediate", "sft_steps", "sft_batch",
                                                "sft_lr")}
        blob = json.dumps({"v": 1, "seed": seed, **fields, "torch": torch.__version__,
                           "transformers": transformers.__version__}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---- the pieces, from lossforge.llm ---------------------------------------------------------

ADD = Addition()
CHARS = ADD.chars
MAX_NEW = 4  # up to three answer digits + EOS


def model_config(cfg: Config) -> M.ModelConfig:
    return M.ModelConfig(hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
                         intermediate=cfg.intermediate, max_positions=16)


def splits(seed: int, n_eval: int, n_pref: int) -> dict[str, list[str]]:
    """All 10,000 prompts, shuffled by ``seed`` into disjoint eval / pref / sft sets."""
    s = ADD.splits(seed, n_eval, n_pref)
    return {k: s[k] for k in ("eval", "pref", "sft")}


def accuracy(model, tokenizer, prompts: list[str]) -> float:
    return M.accuracy(model, tokenizer, prompts, ADD.score, MAX_NEW)


def cache_dir() -> Path:
    return M.cache_dir("llm_transfer")


def sft_base(cfg: Config, tokenizer, seed: int, log=print) -> tuple[Path, bool]:
    """Directory of the SFT base of ``seed`` (safetensors; trained now unless cached)."""
    def build():
        return M.train_sft(model_config(cfg), M.SFTConfig(cfg.sft_steps, cfg.sft_batch,
                                                          cfg.sft_lr),
                           tokenizer, splits(seed, cfg.n_eval, cfg.n_pref)["sft"], ADD.answer,
                           seed, log)

    return M.cached_model(cache_dir() / cfg.sft_key(seed), build, tokenizer,
                          {"seed": seed, "config": dataclasses.asdict(cfg)})


def preference_data(cfg: Config, model, tokenizer, seed: int) -> list[dict]:
    """Mixed-quality pairs whose rejected answers are wrong samples of the SFT model."""
    prompts = splits(seed, cfg.n_eval, cfg.n_pref)["pref"]
    g = torch.Generator().manual_seed(seed + 20_000)
    samples: dict[str, list[str]] = {p: [] for p in prompts}
    for _ in range(cfg.samples_per_prompt):
        for p, s in zip(prompts, M.decode(model, tokenizer, prompts, MAX_NEW, generator=g)):
            samples[p].append(s)
    return build_sampled_preferences(ADD, prompts, cfg.wrong_chosen_frac,
                                     np.random.default_rng(seed + 30_000), samples)


def train_preference(cfg: Config, base: Path, tokenizer, objective: Objective,
                     pairs: list[dict], seed: int, lr: float):
    return M.train_preference(M.POConfig(cfg.po_epochs, cfg.po_batch), base, tokenizer,
                              objective, pairs, seed, lr)


# ---- the experiment --------------------------------------------------------------------------


@dataclass
class Loss:
    key: str
    label: str
    objective: Objective


def discovered_losses(args) -> list[Loss]:
    if args.run:
        obj = from_run(args.run, args.rank)
        return [Loss(obj.name, f"discovered: search run {Path(args.run).name}, rank "
                               f"{args.rank}", obj)]
    formula = args.formula or BINARY_ENTROPY
    default = args.formula is None
    spec = MPOSpec(name="mpo-binary-entropy" if default else f"mpo[{formula}]",
                   mirror_map=formula, beta=args.beta, reference=not args.no_reference,
                   aggregation=args.aggregation,
                   description="binary-entropy mirror map with a reference model and "
                               "length-normalised log-probs" if default else "")
    label = "grammar member (search candidate)" if default else "user formula"
    return [Loss(spec.name, label, Objective(spec))]


def all_losses(args) -> list[Loss]:
    losses = [Loss("dpo", "baseline: DPO (TRL sigmoid), beta 0.1, summed log-probs", get("dpo")),
              Loss("orpo", "baseline: ORPO, lambda 0.1, mean log-probs, NLL on chosen",
                   get("orpo"))]
    for name in [n for n in (args.also or "").split(",") if n]:
        losses.append(Loss(name, f"baseline: zoo {name}", get(name)))
    return losses + discovered_losses(args)


def t_summary(values: list[float]) -> dict:
    from lossforge.bench.fitness import ci95_halfwidth

    mean = float(np.mean(values))
    h = ci95_halfwidth(values)
    return {"mean": mean, "ci95": None if math.isnan(h) else h,
            "interval": None if math.isnan(h) else [mean - h, mean + h],
            "per_seed": [float(v) for v in values]}


@dataclass
class Seed:
    """What every loss of one seed shares: SFT base, its accuracy, pairs, eval prompts."""

    seed: int
    base: Path
    base_accuracy: float
    pairs: list[dict]
    eval_prompts: list[str]
    info: dict


def prepare_seed(cfg: Config, tokenizer, seed: int, log) -> Seed:
    t0 = time.time()
    base, cached = sft_base(cfg, tokenizer, seed, log)
    base_model = M.load_base(base)
    eval_prompts = splits(seed, cfg.n_eval, cfg.n_pref)["eval"]
    acc = accuracy(base_model, tokenizer, eval_prompts)
    pairs = preference_data(cfg, base_model, tokenizer, seed)
    info = {"seed": seed, "accuracy": acc, "cached": cached, "path": str(base),
            "pairs": len(pairs),
            "chosen_wrong": sum(not p["chosen_correct"] for p in pairs) / len(pairs),
            "rejected_from_model": sum(p["rejected_source"] == "model" for p in pairs)
            / len(pairs), "seconds": time.time() - t0}
    log(f"[seed {seed}] SFT base accuracy {acc:.3f} ({'cached' if cached else 'trained'}, "
        f"{info['seconds']:.0f} s); pairs: {info['chosen_wrong']:.0%} wrong chosen, "
        f"{info['rejected_from_model']:.0%} rejected sampled from the model")
    return Seed(seed, base, acc, pairs, eval_prompts, info)


def train_and_score(cfg: Config, tokenizer, s: Seed, loss: Loss, lr: float, log) -> dict:
    t0 = time.time()
    model, metrics = train_preference(cfg, s.base, tokenizer, loss.objective, s.pairs, s.seed, lr)
    acc = accuracy(model, tokenizer, s.eval_prompts)
    log(f"[seed {s.seed}] {loss.key:20s} lr {lr:<7g} accuracy {acc:.3f}  "
        f"({acc - s.base_accuracy:+.3f} vs base, {time.time() - t0:.0f} s)")
    return {"seed": s.seed, "loss": loss.key, "lr": lr, "accuracy": acc,
            "seconds": time.time() - t0, "last_logged": metrics}


def tune(cfg: Config, tokenizer, losses: list[Loss], log) -> tuple[dict[str, float], list[dict]]:
    """Each loss's learning rate: the best accuracy on the tuning seed over ``lr_grid``
    (ties: the smaller rate). The tuning seed has its own base, pairs and eval prompts and is
    never reported, so every loss gets the same tuning effort and none sees the test seeds."""
    s = prepare_seed(cfg, tokenizer, cfg.tune_seed, log)
    trials = [train_and_score(cfg, tokenizer, s, loss, lr, log)
              for loss in losses for lr in cfg.lr_grid]
    best = {}
    for loss in losses:
        mine = [t for t in trials if t["loss"] == loss.key]
        best[loss.key] = max(mine, key=lambda t: (t["accuracy"], -t["lr"]))["lr"]
    log("tuned learning rates: " + ", ".join(f"{k} {v:g}" for k, v in best.items()))
    return best, [{**t, "base_accuracy": s.base_accuracy} for t in trials]


def run(cfg: Config, losses: list[Loss], log=print) -> dict:
    tokenizer = M.build_tokenizer(CHARS)
    t_start = time.time()
    if cfg.po_lr is None:
        lrs, tuning = tune(cfg, tokenizer, losses, log)
    else:
        lrs, tuning = {lo.key: cfg.po_lr for lo in losses}, []
    records, bases = [], []
    for seed in cfg.seeds:
        s = prepare_seed(cfg, tokenizer, seed, log)
        bases.append(s.info)
        records += [train_and_score(cfg, tokenizer, s, loss, lrs[loss.key], log)
                    for loss in losses]
    wall = time.time() - t_start
    by_loss = {lo.key: [r["accuracy"] for r in records if r["loss"] == lo.key] for lo in losses}
    summary = {"sft-base": t_summary([b["accuracy"] for b in bases]),
               **{k: t_summary(v) for k, v in by_loss.items()}}
    paired = {k: t_summary([a - b for a, b in zip(v, by_loss["dpo"])])
              for k, v in by_loss.items() if k != "dpo"}
    return {"config": dataclasses.asdict(cfg), "wall_seconds": wall,
            "losses": {lo.key: {"label": lo.label, "lr": lrs[lo.key],
                                "spec": lo.objective.spec.to_json(),
                                "formula": lo.objective.formula()} for lo in losses},
            "tuning": tuning, "sft_bases": bases, "runs": records, "summary": summary,
            "paired_vs_dpo": paired}


def _fmt(s: dict) -> str:
    if s["ci95"] is None:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {s['ci95']:.3f}"


def _signed(s: dict) -> str:
    return f"{s['mean']:+.3f}" + ("" if s["ci95"] is None else f" ± {s['ci95']:.3f}")


def verdict(result: dict, key: str) -> str:
    d = result["paired_vs_dpo"][key]
    if d["interval"] is None:
        return f"{key}: one seed only, no interval"
    lo, hi = d["interval"]
    if lo > 0:
        word = "better than DPO (the paired 95 % interval excludes 0)"
    elif hi < 0:
        word = "worse than DPO (the paired 95 % interval excludes 0)"
    else:
        word = "not distinguishable from DPO at this budget (the paired 95 % interval contains 0)"
    return f"{key}: {d['mean']:+.3f} accuracy vs DPO, [{lo:+.3f}, {hi:+.3f}]: {word}"


def _paired(result: dict, a: str, b: str) -> list[float]:
    acc = {(r["loss"], r["seed"]): r["accuracy"] for r in result["runs"]}
    return [acc[a, seed] - acc[b, seed] for seed in result["config"]["seeds"]]


def markdown(result: dict) -> str:
    cfg = result["config"]
    seeds = ", ".join(map(str, cfg["seeds"]))
    tuned = ("learning rate tuned per loss on seed "
             f"{cfg['tune_seed']} (not reported) over {', '.join(f'{x:g}' for x in cfg['lr_grid'])}"
             if cfg["po_lr"] is None else f"learning rate {cfg['po_lr']:g} for every loss")
    lines = ["# LLM transfer: DPO, ORPO and a discovered MPO loss on mixed-quality preferences",
             "", "Generated by `benchmarks/llm_transfer.py` (its docstring describes the set-up).",
             "", "```", result["command"], "```", "",
             f"Seeds {seeds}; wall time {result['wall_seconds'] / 60:.1f} min on "
             f"{result['machine']}. Task: two-digit addition, exact match by greedy decoding "
             f"on {cfg['n_eval']} held-out prompts per seed. Model: Llama, "
             f"{result['parameters']:,} parameters, SFT {cfg['sft_steps']} steps. "
             f"{cfg['n_pref']} pairs, {cfg['wrong_chosen_frac']:.0%} with a wrong chosen answer, "
             "rejected answers sampled from the SFT model. Every loss: "
             f"{cfg['po_epochs']} epochs of batch {cfg['po_batch']}, AdamW, constant {tuned}.",
             "", "| loss | what | lr | accuracy (mean ± 95 % CI) | per seed "
             "| Δ vs DPO (paired, mean ± 95 % CI) |", "|---|---|---|---|---|---|"]
    s = result["summary"]["sft-base"]
    lines.append(f"| sft-base | starting point (no preference training) | | {_fmt(s)} | "
                 + ", ".join(f"{v:.3f}" for v in s["per_seed"]) + " | |")
    for key, info in result["losses"].items():
        s = result["summary"][key]
        d = result["paired_vs_dpo"].get(key)
        lines.append(f"| {key} | {info['label']} | {info['lr']:g} | {_fmt(s)} | "
                     + ", ".join(f"{v:.3f}" for v in s["per_seed"])
                     + f" | {'' if d is None else _signed(d)} |")
    lines += ["", "Losses:", ""]
    lines += [f"- `{k}`: {v['formula']}" for k, v in result["losses"].items()]
    if "mpo-binary-entropy" in result["losses"]:
        lines += ["", "`mpo-binary-entropy` is a member of the search grammar, not the winner of "
                  "a search on this task: ORPO's mirror map (binary entropy, phi~ = log-odds) "
                  "used the DPO way (reference model, no NLL term) on per-token mean "
                  "log-probs. Its mirror map is `lf-f2d9edbf` of the quick MuJoCo search "
                  "`runs/20261125-173431-quick-s0` (9th of 10 in its hall of fame, from_run "
                  "rank 8; summed log-probs there, same score as DPO); that search's best, "
                  "`4*p*log(p)`, is DPO with beta 0.4, so it would say nothing new here."]
    if result["tuning"]:
        t0 = result["tuning"][0]
        lines += ["", f"Learning-rate tuning (seed {cfg['tune_seed']}, SFT base accuracy "
                      f"{t0['base_accuracy']:.3f}; accuracy after training):", "",
                  "| loss | " + " | ".join(f"{x:g}" for x in cfg["lr_grid"]) + " |",
                  "|---|" + "---|" * len(cfg["lr_grid"])]
        for key in result["losses"]:
            accs = {t["lr"]: t["accuracy"] for t in result["tuning"] if t["loss"] == key}
            lines.append(f"| {key} | " + " | ".join(f"{accs[x]:.3f}" for x in cfg["lr_grid"])
                         + " |")
    lines += ["", "Verdict (computed from the table):", ""]
    lines += [f"- {verdict(result, k)}" for k in result["losses"] if k != "dpo"]
    baselines = [k for k, v in result["losses"].items() if v["label"].startswith("baseline")]
    for key in (k for k in result["losses"] if k not in baselines):
        for other in (b for b in baselines if b != "dpo"):
            d = t_summary(_paired(result, key, other))
            if d["interval"] is not None:
                lo, hi = d["interval"]
                lines.append(f"- {key} vs {other} (paired): {d['mean']:+.3f} accuracy, "
                             f"[{lo:+.3f}, {hi:+.3f}]")
    lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    d = Config()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default=f"{d.seeds[0]}-{d.seeds[-1]}",
                    help="e.g. 0-4 or 0,3,7 (default %(default)s)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--formula", help="mirror map of the discovered loss (default: binary "
                                       "entropy with a reference and mean log-probs)")
    src.add_argument("--run", help="take the discovered loss from a search run directory")
    ap.add_argument("--rank", type=int, default=0, help="hall-of-fame rank with --run (0 = best)")
    ap.add_argument("--beta", type=float, default=0.1, help="beta of the formula loss")
    ap.add_argument("--aggregation", choices=("sum", "mean"), default="mean",
                    help="log-prob aggregation of the formula loss (default mean)")
    ap.add_argument("--no-reference", action="store_true", help="formula loss without reference")
    ap.add_argument("--also", help="more zoo baselines, comma-separated (e.g. robust,ipo)")
    ap.add_argument("--wrong-chosen-frac", type=float, default=d.wrong_chosen_frac)
    ap.add_argument("--sft-steps", type=int, default=d.sft_steps)
    ap.add_argument("--po-epochs", type=int, default=d.po_epochs)
    ap.add_argument("--po-lr", type=float, default=d.po_lr,
                    help="one learning rate for every loss (default: tune each on --tune-seed)")
    ap.add_argument("--tune-seed", type=int, default=d.tune_seed)
    ap.add_argument("--threads", type=int, default=d.threads, help="torch threads (default 1)")
    ap.add_argument("--out", default=str(RESULTS / "llm_transfer"),
                    help="results path without extension (.json and .md are written)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--render", metavar="JSON", help="only rewrite the markdown table of a "
                                                     "results JSON file")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.render:
        result = json.loads(Path(args.render).read_text())
        Path(args.render).with_suffix(".md").write_text(markdown(result))
        return 0
    cfg = Config(seeds=parse_seeds(args.seeds), wrong_chosen_frac=args.wrong_chosen_frac,
                 sft_steps=args.sft_steps, po_epochs=args.po_epochs, po_lr=args.po_lr,
                 tune_seed=args.tune_seed,
                 threads=args.threads)
    torch.set_num_threads(cfg.threads)
    M.quiet_libraries()
    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    losses = all_losses(args)
    log(f"llm_transfer: seeds {list(cfg.seeds)}, losses {[lo.key for lo in losses]}, "
        f"{cfg.threads} thread(s); SFT cache {cache_dir()}")
    result = run(cfg, losses, log)
    result["command"] = ("python benchmarks/llm_transfer.py " +
                         " ".join(map(shlex.quote, argv))).rstrip()
    result["machine"] = (f"{os.cpu_count()} CPU cores (shared; 1-min load average "
                         f"{os.getloadavg()[0]:.1f} at the end), torch {cfg.threads} thread(s)")
    result["parameters"] = M.n_parameters(M.build_model(model_config(cfg),
                                                         M.build_tokenizer(CHARS), 0))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from lossforge.io import atomic_write_json, atomic_write_text

    atomic_write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), markdown(result))
    log(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
