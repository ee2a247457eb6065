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
import re
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lossforge.bench.scenarios import parse_seeds  # noqa: E402
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


# ---- task: two-digit addition, scored by a program -----------------------------------------

_PROMPT = re.compile(r"^(\d\d)\+(\d\d)=$")


def prompt_of(a: int, b: int) -> str:
    return f"{a:02d}+{b:02d}="


def answer_of(prompt: str) -> str:
    m = _PROMPT.match(prompt)
    if m is None:
        raise ValueError(f"not an addition prompt: {prompt!r}")
    return str(int(m.group(1)) + int(m.group(2)))


def score(prompt: str, response: str) -> bool:
    """Exact match: the response (EOS stripped) is the sum written without leading zeros."""
    try:
        want = answer_of(prompt)
    except ValueError:
        return False
    return response.split(EOS)[0] == want


def splits(seed: int, n_eval: int, n_pref: int) -> dict[str, list[str]]:
    """All 10,000 prompts, shuffled by ``seed`` into disjoint eval / pref / sft sets."""
    rng = np.random.default_rng(seed)
    prompts = [prompt_of(a, b) for a in range(100) for b in range(100)]
    order = rng.permutation(len(prompts))
    shuffled = [prompts[i] for i in order]
    return {"eval": shuffled[:n_eval], "pref": shuffled[n_eval:n_eval + n_pref],
            "sft": shuffled[n_eval + n_pref:]}


# ---- tokenizer: characters, built in code ----------------------------------------------------

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = "0123456789+="


def build_tokenizer():
    """A character-level tokenizer as a ``PreTrainedTokenizerFast`` (TRL's processing_class).

    Ids: <pad> 0, <eos> 1, <unk> 2, then one id per character of CHARS. Special tokens are
    matched as whole strings (TRL appends the EOS *text* to completions); decoding fuses the
    characters back without spaces.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, EOS, UNK]
    vocab = {t: i for i, t in enumerate(specials + list(CHARS))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, padding_side="left")


def build_model(cfg: Config, tokenizer, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden,
                         intermediate_size=cfg.intermediate, num_hidden_layers=cfg.layers,
                         num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                         max_position_embeddings=16, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)  # transformers initialises weights from the global generator
    return LlamaForCausalLM(config)


# ---- decoding --------------------------------------------------------------------------------

MAX_NEW = 4  # up to three answer digits + EOS


@torch.no_grad()
def decode(model, tokenizer, prompts: list[str], *, generator: torch.Generator | None = None,
           batch: int = 1000) -> list[str]:
    """Greedy responses (or samples at temperature 1 with ``generator``), EOS and after cut.

    Every prompt has the same length, so no padding is needed; the loop re-runs the whole
    (at most 10-token) sequence each step, which is cheap at this size and needs no cache.
    """
    was_training = model.training
    model.eval()
    out: list[str] = []
    eos = tokenizer.eos_token_id
    for i in range(0, len(prompts), batch):
        ids = torch.tensor([tokenizer(p)["input_ids"] for p in prompts[i:i + batch]])
        n = ids.shape[1]
        for _ in range(MAX_NEW):
            logits = model(input_ids=ids, use_cache=False).logits[:, -1].float()
            if generator is None:
                nxt = logits.argmax(dim=-1)
            else:
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]
            ids = torch.cat([ids, nxt[:, None]], dim=1)
        for row in ids[:, n:].tolist():
            row = row[:row.index(eos)] if eos in row else row
            out.append(tokenizer.decode(row, skip_special_tokens=False))
    model.train(was_training)
    return out


def accuracy(model, tokenizer, prompts: list[str]) -> float:
    responses = decode(model, tokenizer, prompts)
    return sum(score(p, r) for p, r in zip(prompts, responses)) / len(prompts)


# ---- supervised fine-tuning, cached ----------------------------------------------------------


def _sft_batch(tokenizer, prompts: list[str]):
    seqs = [tokenizer(p + answer_of(p) + EOS)["input_ids"] for p in prompts]
    plen = len(tokenizer(prompts[0])["input_ids"])
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        labels[i, plen:len(s)] = torch.tensor(s[plen:])  # loss on the answer and EOS only
        mask[i, :len(s)] = 1
    return ids, mask, labels


def train_sft(cfg: Config, tokenizer, prompts: list[str], seed: int, log=print):
    model = build_model(cfg, tokenizer, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr, weight_decay=0.0)
    rng = np.random.default_rng(seed + 10_000)
    model.train()
    for step in range(1, cfg.sft_steps + 1):
        chunk = [prompts[i] for i in rng.choice(len(prompts), cfg.sft_batch, replace=False)]
        ids, mask, labels = _sft_batch(tokenizer, chunk)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == cfg.sft_steps:
            log(f"    sft step {step}/{cfg.sft_steps}  loss {loss.item():.3f}")
    return model


def cache_dir() -> Path:
    from lossforge.bench.cache import cache_root

    return cache_root() / "llm_transfer"


def sft_base(cfg: Config, tokenizer, seed: int, log=print) -> tuple[Path, bool]:
    """Directory of the SFT base of ``seed`` (safetensors; trained now unless cached)."""
    from transformers import LlamaForCausalLM

    path = cache_dir() / cfg.sft_key(seed)
    if (path / "model.safetensors").is_file() and (path / "sft.json").is_file():
        return path, True
    model = train_sft(cfg, tokenizer, splits(seed, cfg.n_eval, cfg.n_pref)["sft"], seed, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "sft.json").write_text(json.dumps({"seed": seed, "config": dataclasses.asdict(
            cfg)}, indent=2))
        LlamaForCausalLM.from_pretrained(tmp)  # a torn directory never becomes the cache entry
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path, False


def load_base(path: Path):
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)


# ---- mixed-quality preference data -----------------------------------------------------------


def perturb(answer: str, rng: np.random.Generator, avoid: set[str] = frozenset()) -> str:
    """A wrong answer one digit away from ``answer`` (never in ``avoid``, no leading zero)."""
    for _ in range(100):
        digits = list(answer)
        k = int(rng.integers(len(digits)))
        choices = [d for d in "0123456789" if d != digits[k] and not (k == 0 and d == "0"
                                                                       and len(digits) > 1)]
        digits[k] = choices[int(rng.integers(len(choices)))]
        cand = "".join(digits)
        if cand != answer and cand not in avoid:
            return cand
    raise RuntimeError(f"no perturbation of {answer!r} outside {sorted(avoid)}")


def build_preferences(prompts: list[str], wrong_chosen_frac: float, rng: np.random.Generator,
                      samples: dict[str, list[str]] | None = None) -> list[dict]:
    """Pairs {prompt, chosen, rejected, chosen_correct, rejected_source} (see module docstring).

    Exactly round(wrong_chosen_frac * len(prompts)) pairs get a wrong chosen answer (one digit
    off the sum, different from the rejected one); the rejected answer is the first wrong model
    sample of the prompt in ``samples``, or a perturbation of the sum when there is none.
    """
    if not 0.0 <= wrong_chosen_frac < 1.0:
        raise ValueError(f"wrong_chosen_frac must be in [0, 1), got {wrong_chosen_frac}")
    n_wrong = round(wrong_chosen_frac * len(prompts))
    wrong_chosen = set(rng.permutation(len(prompts))[:n_wrong].tolist())
    pairs = []
    for i, p in enumerate(prompts):
        right = answer_of(p)
        sampled = [s for s in (samples or {}).get(p, []) if s and not score(p, s)]
        rejected = sampled[0] if sampled else perturb(right, rng)
        chosen = perturb(right, rng, avoid={rejected}) if i in wrong_chosen else right
        pairs.append({"prompt": p, "chosen": chosen, "rejected": rejected,
                      "chosen_correct": i not in wrong_chosen,
                      "rejected_source": "model" if sampled else "perturbed"})
    return pairs


def preference_data(cfg: Config, model, tokenizer, seed: int) -> list[dict]:
    prompts = splits(seed, cfg.n_eval, cfg.n_pref)["pref"]
    g = torch.Generator().manual_seed(seed + 20_000)
    samples: dict[str, list[str]] = {p: [] for p in prompts}
    for _ in range(cfg.samples_per_prompt):
        for p, s in zip(prompts, decode(model, tokenizer, prompts, generator=g)):
            samples[p].append(s)
    return build_preferences(prompts, cfg.wrong_chosen_frac, np.random.default_rng(seed + 30_000),
                             samples)


# ---- preference training through the TRL adapter --------------------------------------------


def train_preference(cfg: Config, base: Path, tokenizer, objective: Objective,
                     pairs: list[dict], seed: int, lr: float):
    """Fine-tune a copy of the SFT base with ``objective``; returns (model, last logged metrics)."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig

    from lossforge.integrations.trl import LossforgeDPOTrainer

    model = load_base(base)
    ref = load_base(base) if objective.needs_reference else None
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")}
                              for r in pairs])
    with tempfile.TemporaryDirectory(prefix="lf-llm-") as out:
        args = DPOConfig(output_dir=out, per_device_train_batch_size=cfg.po_batch,
                         num_train_epochs=cfg.po_epochs, learning_rate=lr,
                         lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                         logging_steps=10, save_strategy="no", report_to="none", bf16=False,
                         use_cpu=True, seed=seed, data_seed=seed, gradient_checkpointing=False,
                         disable_tqdm=True, max_length=None, dataloader_num_workers=0)
        trainer = LossforgeDPOTrainer(model=model, ref_model=ref, args=args, train_dataset=data,
                                      processing_class=tokenizer, objective=objective)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        logged = [h for h in trainer.state.log_history if "rewards/margins" in h]
    return trainer.model, (logged[-1] if logged else {})


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
    base_model = load_base(base)
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
    tokenizer = build_tokenizer()
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
    _quiet_libraries()
    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    losses = all_losses(args)
    log(f"llm_transfer: seeds {list(cfg.seeds)}, losses {[lo.key for lo in losses]}, "
        f"{cfg.threads} thread(s); SFT cache {cache_dir()}")
    result = run(cfg, losses, log)
    result["command"] = ("python benchmarks/llm_transfer.py " +
                         " ".join(map(shlex.quote, argv))).rstrip()
    result["machine"] = (f"{os.cpu_count()} CPU cores (shared; 1-min load average "
                         f"{os.getloadavg()[0]:.1f} at the end), torch {cfg.threads} thread(s)")
    result["parameters"] = sum(p.numel() for p in build_model(cfg, build_tokenizer(), 0)
                               .parameters())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from lossforge.bench._io import atomic_write_json, atomic_write_text

    atomic_write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), markdown(result))
    log(markdown(result))
    return 0


def _quiet_libraries() -> None:
    """Silence library chatter (deprecation notices, progress bars) in the progress output."""
    import datasets
    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="trl")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


if __name__ == "__main__":
    sys.exit(main())
