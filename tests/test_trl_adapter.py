"""``LossforgeDPOTrainer`` against TRL's own ``DPOTrainer`` and against lossforge's objectives.

A tiny random Llama and the benchmark's character tokenizer; batches come from TRL's own
dataset preparation and collator, so the adapter sees exactly what TRL's loss sees.
"""

import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM
from trl import DPOConfig, DPOTrainer

from lossforge import objectives
from lossforge.errors import ConfigError
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


def _trainer(cls, tokenizer, tmp_path, model, ref_model=None, **kw):
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=len(PAIRS),
                     report_to="none", bf16=False, use_cpu=True, gradient_checkpointing=False,
                     max_length=None, disable_tqdm=True, max_steps=2, logging_steps=1,
                     save_strategy="no", **kw.pop("config", {}))
    data = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
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
    assert "pip install lossforge[llm]" in r.stdout
