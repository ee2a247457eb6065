"""``LossforgeDPOTrainer`` against TRL's own ``DPOTrainer`` and against lossforge's objectives.

A tiny random Llama and the benchmark's character tokenizer; batches come from TRL's own
dataset preparation and collator, so the adapter sees exactly what TRL's loss sees.
"""

import copy
import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict, IterableDataset
from transformers import LlamaConfig, LlamaForCausalLM
from trl import DPOConfig, DPOTrainer

from lossforge import objectives
from lossforge.errors import ConfigError
from lossforge.integrations import trl as adapter
from lossforge.integrations.trl import LossforgeDPOTrainer
from lossforge.objectives import MPOSpec

ROOT = Path(__file__).resolve().parents[1]
from lossforge.llm.model import build_tokenizer  # noqa: E402  (the character tokenizer)
from lossforge.llm.tasks import Addition  # noqa: E402

PAIRS = [("07+48=", "55", "54"), ("91+19=", "110", "100"), ("00+03=", "3", "13"),
         ("45+45=", "90", "9"), ("12+34=", "46", "47"), ("99+99=", "198", "189")]
METRICS = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
           "logps/chosen", "logps/rejected", "entropy", "mean_token_accuracy", "logits/chosen",
           "logits/rejected", "num_tokens")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(Addition().chars)


def _model(tokenizer, seed):
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=16, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _config(tmp_path, **kw):
    fields = dict(output_dir=str(tmp_path), per_device_train_batch_size=len(PAIRS),
                  report_to="none", bf16=False, use_cpu=True, gradient_checkpointing=False,
                  max_length=None, disable_tqdm=True, max_steps=2, logging_steps=1,
                  save_strategy="no")
    return DPOConfig(**{**fields, **kw})


def _pairs():
    return Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])


def _trainer(cls, tokenizer, tmp_path, model, ref_model=None, **kw):
    args = kw.pop("args", None) or _config(tmp_path, **kw.pop("config", {}))
    data = kw.pop("train_dataset", None) or _pairs()
    return cls(model=model, ref_model=ref_model, args=args, train_dataset=data,
               processing_class=tokenizer, **kw)


def _batch(trainer):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])


def _loss_and_grads(trainer, batch):
    loss = trainer.compute_loss(trainer.model, batch)
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    return loss.detach(), torch.autograd.grad(loss, params)


def test_dpo_objective_equals_trl_dpo_loss_gradients_and_metrics(tokenizer, tmp_path):
    policy, ref = _model(tokenizer, 0), _model(tokenizer, 1)  # ref differs: margins are not 0
    trl_trainer = _trainer(DPOTrainer, tokenizer, tmp_path / "trl", copy.deepcopy(policy),
                           copy.deepcopy(ref))
    lf_trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path / "lf", copy.deepcopy(policy),
                          copy.deepcopy(ref), objective=objectives.get("dpo"))
    batch = _batch(trl_trainer)
    assert torch.equal(batch["input_ids"], _batch(lf_trainer)["input_ids"])
    trl_loss, trl_grads = _loss_and_grads(trl_trainer, batch)
    lf_loss, lf_grads = _loss_and_grads(lf_trainer, batch)
    assert 0.1 < trl_loss.item() and abs(trl_loss.item() - 0.6931) > 1e-3  # not a trivial batch
    torch.testing.assert_close(lf_loss, trl_loss, rtol=1e-6, atol=0)
    assert len(lf_grads) == len(trl_grads) > 10
    for a, b in zip(lf_grads, trl_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9)
    assert any(g.abs().max() > 1e-4 for g in trl_grads)
    for key in METRICS:  # logged under TRL's names, with TRL's values
        assert lf_trainer._metrics["train"][key] == pytest.approx(
            trl_trainer._metrics["train"][key], rel=1e-5, abs=1e-7), key


def _mean_completion_logps(model, batch):
    """Per-token mean log-probs of each completion, from plain logits (no TRL code)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp = logits[:, :-1].log_softmax(-1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    mask = batch["completion_mask"][:, 1:].to(logp.dtype)
    return ((logp * mask).sum(1) / mask.sum(1)).chunk(2)


def test_reference_free_orpo_needs_no_reference_and_matches_the_objective(tokenizer, tmp_path):
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       objective="orpo")
    assert trainer.ref_model is None

    def no_reference(*args, **kwargs):
        raise AssertionError("a reference forward ran for a reference-free objective")

    trainer.compute_ref_log_probs = no_reference
    batch = _batch(trainer)
    assert "ref_chosen_logps" not in batch
    loss, grads = _loss_and_grads(trainer, batch)
    chosen, rejected = _mean_completion_logps(trainer.model, batch)
    want = objectives.get("orpo")(chosen, rejected).mean()
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    torch.testing.assert_close(loss, want.detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, torch.autograd.grad(want, params)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    rewards = trainer._metrics["train"]["rewards/chosen"][-1]  # ORPO's reward: log-odds (beta 1)
    odds = (chosen - torch.log(-torch.expm1(chosen))).mean().item()
    assert rewards == pytest.approx(odds, rel=1e-5)
    trainer.train()  # TRL's whole loop, two steps, still without any reference model
    assert any("rewards/accuracies" in h for h in trainer.state.log_history)


def _orpo_trainer(tokenizer, tmp_path, model, lam):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    fields = {k: v for k, v in _config(tmp_path).to_dict().items()
              if k in ("output_dir", "per_device_train_batch_size", "report_to", "bf16",
                       "use_cpu", "gradient_checkpointing", "disable_tqdm", "max_steps")}
    trainer = ORPOTrainer(model=model, args=ORPOConfig(beta=lam, **fields),
                          train_dataset=_pairs(), processing_class=tokenizer)
    return trainer, trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])


def _tokens(ids, mask):
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


def test_orpo_end_to_end_is_trls_orpotrainer_but_for_its_nll_over_prompt_and_batch(tokenizer,
                                                                                   tmp_path):
    """TRL's ORPOTrainer against the adapter with ORPO, one batch, the same model. They see the
    same tokens and the same mean log-probs, and their odds-ratio terms agree in value and
    gradient; the loss differs only in the NLL: ORPOTrainer's is one cross-entropy over every
    prompt and chosen token of the batch (TRL PR 1516, kept by 2527), lossforge's is -l_w, the
    chosen completion's mean log-prob, averaged over pairs (README, "A batch's NLL term")."""
    model = _model(tokenizer, 0)
    orpo, orpo_batch = _orpo_trainer(tokenizer, tmp_path / "orpo", copy.deepcopy(model), 0.1)
    ours = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path / "lf", copy.deepcopy(model),
                    objective="orpo")
    batch = _batch(ours)
    chosen_ids = _tokens(orpo_batch["chosen_input_ids"], orpo_batch["chosen_attention_mask"])
    rejected_ids = _tokens(orpo_batch["rejected_input_ids"],
                           orpo_batch["rejected_attention_mask"])
    assert _tokens(batch["input_ids"], batch["attention_mask"]) == chosen_ids + rejected_ids

    trl_loss, metrics = orpo.get_batch_loss_metrics(orpo.model, orpo_batch)
    trl_grads = torch.autograd.grad(trl_loss, list(orpo.model.parameters()))
    chosen, rejected = _mean_completion_logps(ours.model, batch)
    assert metrics["logps/chosen"] == pytest.approx(chosen.mean().item(), rel=1e-6)
    assert metrics["logps/rejected"] == pytest.approx(rejected.mean().item(), rel=1e-6)

    # TRL's NLL by hand: next-token cross-entropy pooled over the prompt and chosen tokens
    ids, mask = orpo_batch["chosen_input_ids"], orpo_batch["chosen_attention_mask"]
    logits = ours.model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    keep = mask[:, 1:].bool()
    trl_nll = torch.nn.functional.cross_entropy(logits[keep], ids[:, 1:][keep])
    odds_term = objectives.Objective(dataclasses.replace(
        objectives.zoo.get_spec("orpo"), name="orpo-odds-term", imitation=None))
    want = odds_term(chosen, rejected).mean() + trl_nll
    params = list(ours.model.parameters())
    torch.testing.assert_close(trl_loss.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(trl_grads, torch.autograd.grad(want, params, retain_graph=True)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # and the adapter's loss is that odds term plus lossforge's NLL, which is not TRL's here
    loss = ours.compute_loss(ours.model, batch)
    torch.testing.assert_close(loss, odds_term(chosen, rejected).mean() - chosen.mean(),
                               rtol=1e-5, atol=1e-6)
    assert abs(trl_nll.item() + chosen.mean().item()) > 1e-3


def test_orpotrainer_puts_a_bos_token_before_the_prompt_and_dpotrainer_does_not(tokenizer,
                                                                                tmp_path):
    """Why ORPOTrainer's log-probs differ from the adapter's for a tokenizer with a BOS token
    (README): every sequence it trains on starts with one more token."""
    bos_tokenizer = copy.deepcopy(tokenizer)
    bos_tokenizer.bos_token = "<unk>"   # the character tokenizer has none: borrow an id
    model = _model(bos_tokenizer, 0)
    _, orpo_batch = _orpo_trainer(bos_tokenizer, tmp_path / "orpo", copy.deepcopy(model), 0.1)
    ours = _trainer(LossforgeDPOTrainer, bos_tokenizer, tmp_path / "lf", model, objective="orpo")
    batch = _batch(ours)
    theirs = _tokens(orpo_batch["chosen_input_ids"], orpo_batch["chosen_attention_mask"])
    mine = _tokens(batch["input_ids"], batch["attention_mask"])[:len(PAIRS)]
    assert theirs == [[bos_tokenizer.bos_token_id] + row for row in mine]


def test_temporal_objective_gets_progress_and_lengths(tokenizer, tmp_path):
    spec = MPOSpec("ta-rpo", beta=0.1, reference=True, link="-logsigmoid(D)", w_pref="t",
                   imitation="-l/n", w_sft="1 - t")
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       _model(tokenizer, 1), objective=spec)
    trainer.state.global_step, trainer.state.max_steps = 3, 4
    batch = _batch(trainer)
    loss, _ = _loss_and_grads(trainer, batch)
    # independent: summed log-probs from plain logits, lengths from the completion mask
    n = batch["completion_mask"][:, 1:].sum(1).float()
    means = _mean_completion_logps(trainer.model, batch)
    with torch.no_grad():
        ref = _mean_completion_logps(trainer.ref_model, batch)
    (nc, nr) = n.chunk(2)
    want = objectives.Objective(spec)(means[0] * nc, means[1] * nr, ref[0] * nc, ref[1] * nr,
                                      progress=0.75, chosen_lengths=nc).mean()
    torch.testing.assert_close(loss, want.detach(), rtol=1e-5, atol=1e-6)
    assert trainer._metrics["train"]["progress"] == [0.75]


@pytest.mark.parametrize("config,message", [
    ({"loss_type": ["ipo"]}, "loss_type would be ignored"),
    ({"label_smoothing": 0.1}, "label_smoothing would be ignored"),
    ({"beta": 0.5}, "set beta on the objective"),
])
def test_loss_settings_of_dpoconfig_are_refused(tokenizer, tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                 _model(tokenizer, 1), objective="dpo", config=config)


def test_a_reference_loss_on_a_model_built_in_memory_says_to_pass_a_reference(tokenizer, tmp_path):
    """DPO without ref_model on a model TRL cannot load by name: one clear error, not TRL's
    "Repo id must use alphanumeric chars" from deep inside; with the precompute switch the
    model as it starts is the reference, as in TRL."""
    with pytest.raises(ConfigError, match="pass ref_model="):
        _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0), objective="dpo")
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       objective="dpo", config={"precompute_ref_log_probs": True})
    assert trainer.ref_model is None
    # a PEFT adapter's reference is its base with the adapter disabled (TRL): no error of ours
    # (peft is not installed here, so TRL stops later, on its own terms: it needs peft)
    with pytest.raises(ImportError, match="peft"):
        _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                 objective="dpo", peft_config=object())


def test_lossforge_works_without_trl_and_the_adapter_says_how_to_get_it(tmp_path):
    script = textwrap.dedent('''
        import importlib.abc, sys

        class NoTRL(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "trl" or name.startswith("trl."):
                    raise ImportError(f"No module named {name!r}")

        sys.meta_path.insert(0, NoTRL())
        import lossforge, lossforge.export, lossforge.objectives, lossforge.integrations
        assert "trl" not in sys.modules
        try:
            import lossforge.integrations.trl
        except ImportError as exc:
            print(exc)
        else:
            sys.exit("the adapter imported without trl")
    ''')
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "pip install -e '.[llm]' in a lossforge checkout" in r.stdout


# ---- the caller's config, the dataset's columns, formula strings, progress and lengths --------

def test_the_callers_dpoconfig_is_left_unchanged(tokenizer, tmp_path):
    """A reference-free objective switches on precompute_ref_log_probs for itself only: the
    same config then gives TRL's own DPOTrainer (a baseline run) its usual reference model."""
    args = _config(tmp_path)
    before = args.to_dict()
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       objective="orpo", args=args)
    assert args.precompute_ref_log_probs is False
    assert args.to_dict() == before
    assert trainer.args.precompute_ref_log_probs is True and trainer.ref_model is None
    baseline = _trainer(DPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0), _model(tokenizer, 1),
                        args=args)
    assert baseline.precompute_ref_logps is False and baseline.ref_model is not None
    assert "ref_chosen_logps" not in baseline.train_dataset.column_names


@pytest.mark.parametrize("rows,missing,has", [
    ([{"prompt": p, "chosen": c} for p, c, _ in PAIRS], "'rejected'", "'prompt', 'chosen'"),
    ([{"prompt": p, "preferred": c, "rejected": r} for p, c, r in PAIRS], "'chosen'",
     "'prompt', 'preferred', 'rejected'"),
])
def test_a_dataset_without_a_preference_column_is_one_clear_error(tokenizer, tmp_path, rows,
                                                                   missing, has):
    for name, kw in (("train_dataset", {"train_dataset": Dataset.from_list(rows)}),
                     ("eval_dataset['held_out']",
                      {"eval_dataset": DatasetDict(held_out=Dataset.from_list(rows))})):
        message = str(_error(lambda: _trainer(LossforgeDPOTrainer, tokenizer, tmp_path,
                                              _model(tokenizer, 0), objective="orpo", **kw)))
        assert "\n" not in message
        assert message.startswith(f"{name} has no {missing} column (its columns: {has}); ")
        assert "needs 'chosen' and 'rejected'" in message


def _error(call):
    with pytest.raises(ConfigError) as info:
        call()
    return info.value


def test_datasets_trl_accepts_pass_the_column_check(tokenizer, tmp_path):
    """TRL extracts an implicit prompt (the start chosen and rejected share); images need an
    explicit prompt; a stream that does not list its columns is left to TRL."""
    implicit = Dataset.from_list([{"chosen": p + c, "rejected": p + r} for p, c, r in PAIRS])
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       objective="orpo", train_dataset=implicit, eval_dataset=_pairs())
    trainer.train()
    assert any("rewards/accuracies" in h for h in trainer.state.log_history)
    images = Dataset.from_list([{"images": [], "chosen": "1", "rejected": "2"}])
    assert "has no 'prompt' column" in str(_error(
        lambda: adapter._check_columns(images, "train_dataset")))
    stream = IterableDataset.from_generator(lambda: iter([{"prompt": "1+1=", "chosen": "2"}]))
    assert stream.column_names is None
    adapter._check_columns(stream, "train_dataset")  # nothing to check: no error of ours


def test_a_formula_string_says_how_to_pass_a_formula(tokenizer, tmp_path):
    message = str(_error(lambda: _trainer(LossforgeDPOTrainer, tokenizer, tmp_path,
                                          _model(tokenizer, 0), objective="p*log(p)")))
    assert "is a formula, not a zoo name" in message and "\n" not in message
    assert "objectives.from_mirror_map('p*log(p)', beta=0.1)" in message
    message = str(_error(lambda: adapter._as_objective("dpoo")))
    assert "unknown objective 'dpoo' (did you mean 'dpo'?); known: " in message
    assert "from_mirror_map(" in message
    objective = objectives.from_mirror_map("p*log(p)", beta=0.1, reference=False)  # as told
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       objective=objective)
    assert trainer.objective is objective


class _Recording:
    """An objective that records what the trainer passes it."""

    def __init__(self, objective):
        self.objective, self.calls = objective, []

    def __getattr__(self, name):
        return getattr(self.objective, name)

    def __call__(self, *args, progress=None, chosen_lengths=None):
        self.calls.append((progress, chosen_lengths.tolist()))
        return self.objective(*args, progress=progress, chosen_lengths=chosen_lengths)


def test_progress_is_the_fraction_of_steps_before_this_one_and_n_counts_eos(tokenizer,
                                                                             tmp_path):
    spec = MPOSpec("ta-rpo", beta=0.1, reference=True, link="-logsigmoid(D)", w_pref="t",
                   imitation="-l/n", w_sft="1 - t")
    trainer = _trainer(LossforgeDPOTrainer, tokenizer, tmp_path, _model(tokenizer, 0),
                       _model(tokenizer, 1), objective=spec, config={"max_steps": 4})
    trainer.objective = recording = _Recording(trainer.objective)
    trainer.train()
    assert [t for t, _ in recording.calls] == [0.0, 0.25, 0.5, 0.75]
    assert [h["progress"] for h in trainer.state.log_history if "progress" in h] == [
        0.0, 0.25, 0.5, 0.75]
    lengths = recording.calls[0][1]  # the chosen answers' characters plus EOS, in some order
    assert sorted(lengths) == sorted(len(c) + 1 for _, c, _ in PAIRS)


def test_a_copied_config_keeps_deepspeed_findable(tmp_path):
    """transformers finds the DeepSpeed config through a weak reference to the config's own;
    after the trainer copies a DPOConfig it must point at the copy's, or a caller's config
    built inline (then freed) would turn ZeRO-3 off unseen. (DeepSpeed is not installed here:
    a stand-in object takes the config's place.)"""
    import gc

    from transformers.integrations import deepspeed as hf_ds

    class StandIn:   # any weak-referenceable object, as HfTrainerDeepSpeedConfig is
        pass

    args = _config(tmp_path)
    args.hf_deepspeed_config = StandIn()
    try:
        copied = adapter._copy_config(args)
        del args
        gc.collect()
        assert hf_ds._hf_deepspeed_config_weak_ref() is copied.hf_deepspeed_config
    finally:
        hf_ds.unset_hf_deepspeed_config()
