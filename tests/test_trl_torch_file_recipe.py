"""The README's recipe for training with TRL on an exported torch file without lossforge
(``docs/recipes/trl_torch_file.py``) trains to the same losses as ``LossforgeDPOTrainer`` on
the same model, data and config, and evaluates to the same loss with ``compute_metrics``: a
reference loss (DPO), a reference-free one on mean log-probs (ORPO) and one that reads t and n.
The recipe runs in a fresh interpreter where any import of lossforge fails; the two trainers
share nothing but the saved model and tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the recipe is for TRL (the test extra has it)")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from trl import DPOConfig  # noqa: E402

from lossforge import objectives  # noqa: E402
from lossforge.export import export  # noqa: E402
from lossforge.integrations.trl import LossforgeDPOTrainer  # noqa: E402
from lossforge.llm.model import build_tokenizer  # noqa: E402
from lossforge.llm.tasks import Addition  # noqa: E402
from lossforge.objectives import MPOSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "recipes" / "trl_torch_file.py"
PAIRS = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in (
    ("07+48=", "55", "54"), ("91+19=", "110", "100"), ("00+03=", "3", "13"),
    ("45+45=", "90", "9"), ("12+34=", "46", "47"), ("99+99=", "198", "189"))]
CONFIG = dict(per_device_train_batch_size=3, max_steps=4, learning_rate=1e-3, logging_steps=1,
              save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=0,
              disable_tqdm=True, max_length=None, lr_scheduler_type="constant",
              gradient_checkpointing=False)

RUN_RECIPE = textwrap.dedent('''
    import importlib.util, json, sys
    sys.modules["lossforge"] = None          # any import of lossforge now fails
    from datasets import Dataset
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import DPOConfig

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    recipe, my_loss = load("recipe", sys.argv[1]), load("my_loss", sys.argv[2])
    saved, out, config = sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    pairs = json.loads(sys.argv[6])
    tok = PreTrainedTokenizerFast.from_pretrained(saved + "/tok")
    ref = LlamaForCausalLM.from_pretrained(saved + "/ref") if my_loss.NEEDS_REFERENCE else None
    trainer = recipe.TorchFileDPOTrainer(
        model=LlamaForCausalLM.from_pretrained(saved + "/policy"), ref_model=ref,
        args=DPOConfig(output_dir=out, precompute_ref_log_probs=not my_loss.NEEDS_REFERENCE,
                       **config),
        train_dataset=Dataset.from_list(pairs), eval_dataset=Dataset.from_list(pairs),
        compute_metrics=lambda p: {"pairs": float(len(p.label_ids))},
        processing_class=tok, loss_module=my_loss)
    trainer.train()
    print(json.dumps([[h["loss"] for h in trainer.state.log_history if "loss" in h],
                      trainer.evaluate()]))
''')


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny random Llama (policy and reference, different seeds) and the character
    tokenizer, saved as a user would have them."""
    root = tmp_path_factory.mktemp("saved")
    tok = build_tokenizer(Addition().chars)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=16, pad_token_id=0, eos_token_id=1)
    for seed, name in ((0, "policy"), (1, "ref")):
        torch.manual_seed(seed)
        LlamaForCausalLM(config).save_pretrained(root / name)
    tok.save_pretrained(root / "tok")
    return root


def _lossforge_losses(objective, saved, tmp_path) -> list[float]:
    from transformers import PreTrainedTokenizerFast

    ref = (LlamaForCausalLM.from_pretrained(saved / "ref") if objective.needs_reference
           else None)
    trainer = LossforgeDPOTrainer(
        model=LlamaForCausalLM.from_pretrained(saved / "policy"), ref_model=ref,
        args=DPOConfig(output_dir=str(tmp_path / "lf"), **CONFIG),
        train_dataset=Dataset.from_list(PAIRS), eval_dataset=Dataset.from_list(PAIRS),
        compute_metrics=lambda p: {"pairs": float(len(p.label_ids))},
        processing_class=PreTrainedTokenizerFast.from_pretrained(saved / "tok"),
        objective=objective)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h], trainer.evaluate()


@pytest.mark.parametrize("objective", [
    objectives.get("dpo"), objectives.get("orpo"),
    objectives.Objective(MPOSpec("ta-rpo", beta=0.1, reference=True, link="-logsigmoid(D)",
                                 w_pref="t", imitation="-l/n", w_sft="1 - t")),
], ids=["dpo", "orpo", "temporal-and-lengths"])
def test_the_recipe_trains_as_lossforge_trains(objective, saved, tmp_path):
    path = tmp_path / "my_loss.py"
    path.write_text(export(objective, "torch"))
    r = subprocess.run([sys.executable, "-c", RUN_RECIPE, str(RECIPE), str(path), str(saved),
                        str(tmp_path / "out"), json.dumps(CONFIG), json.dumps(PAIRS)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    recipe, recipe_eval = json.loads(r.stdout.strip().splitlines()[-1])
    ours, ours_eval = _lossforge_losses(objective, saved, tmp_path)
    assert len(recipe) == len(ours) == CONFIG["max_steps"]
    assert recipe == pytest.approx(ours, rel=1e-6, abs=1e-7)
    assert len(set(recipe)) > 1        # it trains: the loss moves
    # evaluation with compute_metrics (compute_loss asked for its outputs too) agrees as well
    assert recipe_eval["eval_pairs"] == ours_eval["eval_pairs"] == len(PAIRS)
    assert recipe_eval["eval_loss"] == pytest.approx(ours_eval["eval_loss"], rel=1e-6)
