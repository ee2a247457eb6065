"""The tiny language model of the LLM test bed: a character tokenizer and a randomly initialised
Llama built in code, greedy decoding, supervised fine-tuning (cached), and preference training
through TRL with any lossforge objective.

Nothing is downloaded: the tokenizer is a ``tokenizers`` WordLevel model over a task's
characters wrapped as a transformers ``PreTrainedTokenizerFast`` (TRL's ``processing_class``);
the model is ``LlamaForCausalLM(LlamaConfig(...))`` with weights drawn from a seed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_tokenizer(chars: str):
    """A character-level tokenizer as a ``PreTrainedTokenizerFast`` (TRL's processing_class).

    Ids: <pad> 0, <eos> 1, <unk> 2, then one id per character of ``chars``. Special tokens are
    matched as whole strings (TRL appends the EOS *text* to completions); decoding fuses the
    characters back without spaces.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if len(set(chars)) != len(chars):
        raise ValueError(f"tokenizer characters repeat: {chars!r}")
    specials = [PAD, EOS, UNK]
    vocab = {t: i for i, t in enumerate(specials + list(chars))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, padding_side="left")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the Llama (random init; about 0.5M parameters at the defaults)."""

    hidden: int = 128
    layers: int = 3
    heads: int = 4
    intermediate: int = 256
    max_positions: int = 16   # rotary embeddings: changes no weight, only the longest sequence


def build_model(cfg: ModelConfig, tokenizer, seed: int):
    """A randomly initialised ``LlamaForCausalLM``; same seed, same weights.

    transformers initialises weights from torch's global generator: it is seeded here inside
    ``fork_rng``, so the caller's global RNG state is left as it was.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden,
                         intermediate_size=cfg.intermediate, num_hidden_layers=cfg.layers,
                         num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                         max_position_embeddings=cfg.max_positions, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- decoding --------------------------------------------------------------------------------


@torch.no_grad()
def decode(model, tokenizer, prompts: list[str], max_new: int, *,
           generator: torch.Generator | None = None, batch: int = 1000) -> list[str]:
    """Greedy responses (or samples at temperature 1 with ``generator``), EOS and after cut.

    Every prompt of a task has the same length, so no padding is needed; the loop re-runs the
    whole (short) sequence each step, which is cheap at this size and needs no cache.
    """
    if len({len(p) for p in prompts}) > 1:
        raise ValueError("decode needs prompts of one length (no padding)")
    was_training = model.training
    model.eval()
    out: list[str] = []
    eos = tokenizer.eos_token_id
    for i in range(0, len(prompts), batch):
        ids = torch.tensor([tokenizer(p)["input_ids"] for p in prompts[i:i + batch]])
        n = ids.shape[1]
        for _ in range(max_new):
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


def accuracy(model, tokenizer, prompts: list[str], score: Callable[[str, str], bool],
             max_new: int) -> float:
    """Share of ``prompts`` whose greedy response ``score`` accepts."""
    responses = decode(model, tokenizer, prompts, max_new)
    return sum(score(p, r) for p, r in zip(prompts, responses)) / len(prompts)


# ---- supervised fine-tuning, cached ----------------------------------------------------------


def sft_batch(tokenizer, prompts: list[str], answer: Callable[[str], str]):
    """(input ids, attention mask, labels) of prompt + answer + EOS; loss on answer and EOS."""
    seqs = [tokenizer(p + answer(p) + EOS)["input_ids"] for p in prompts]
    plen = len(tokenizer(prompts[0])["input_ids"])
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        labels[i, plen:len(s)] = torch.tensor(s[plen:])
        mask[i, :len(s)] = 1
    return ids, mask, labels


@dataclass(frozen=True)
class SFTConfig:
    """The plain supervised loop: AdamW, constant learning rate, batches drawn by a seed."""

    steps: int = 300
    batch: int = 128
    lr: float = 1e-3


def train_sft(model_cfg: ModelConfig, sft: SFTConfig, tokenizer, prompts: list[str],
              answer: Callable[[str], str], seed: int, log=print):
    """A fresh model (init from ``seed``) fitted to ``answer`` on ``prompts``."""
    model = build_model(model_cfg, tokenizer, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=sft.lr, weight_decay=0.0)
    rng = np.random.default_rng(seed + 10_000)
    model.train()
    for step in range(1, sft.steps + 1):
        chunk = [prompts[i] for i in rng.choice(len(prompts), sft.batch, replace=False)]
        ids, mask, labels = sft_batch(tokenizer, chunk, answer)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == sft.steps:
            log(f"    sft step {step}/{sft.steps}  loss {loss.item():.3f}")
    return model


def cached_model(path: Path, build: Callable[[], object], tokenizer, meta: dict
                 ) -> tuple[Path, bool]:
    """``path`` as a safetensors model directory: built by ``build()`` and saved unless there.

    The directory is written beside ``path`` and renamed into place once it loads, so a torn
    write never becomes the cache entry (two processes building it at once: the last wins, both
    with the same content). Returns (path, was cached).
    """
    from transformers import LlamaForCausalLM

    if (path / "model.safetensors").is_file() and (path / "sft.json").is_file():
        return path, True
    model = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "sft.json").write_text(json.dumps(meta, indent=2))
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


def cache_dir(name: str) -> Path:
    from lossforge.bench.cache import cache_root

    return cache_root() / name


# ---- preference training through the TRL adapter --------------------------------------------


@dataclass(frozen=True)
class POConfig:
    """Preference training: identical for every loss but the learning rate."""

    epochs: int = 2
    batch: int = 32


def train_preference(po: POConfig, base: Path, tokenizer, objective, pairs: list[dict],
                     seed: int, lr: float):
    """Fine-tune a copy of the SFT base with ``objective`` (TRL's DPOTrainer with the loss
    swapped; the base is the reference); returns (model, last logged metrics)."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig

    from lossforge.integrations.trl import LossforgeDPOTrainer

    model = load_base(base)
    ref = load_base(base) if objective.needs_reference else None
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")}
                              for r in pairs])
    with tempfile.TemporaryDirectory(prefix="lf-llm-") as out:
        args = DPOConfig(output_dir=out, per_device_train_batch_size=po.batch,
                         num_train_epochs=po.epochs, learning_rate=lr,
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


def quiet_libraries() -> None:
    """Silence library chatter (deprecation notices, progress bars) in the progress output."""
    import datasets
    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="trl")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
