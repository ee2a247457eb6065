"""Train a language model with any lossforge objective through TRL's ``DPOTrainer``.

    from trl import DPOConfig
    from lossforge import objectives
    from lossforge.integrations.trl import LossforgeDPOTrainer

    trainer = LossforgeDPOTrainer(model=model, ref_model=ref_model, args=DPOConfig(...),
                                  train_dataset=pairs, processing_class=tokenizer,
                                  objective=objectives.from_run("runs/<run>", rank=0))
    trainer.train()

TRL documents one way to change a trainer's objective: subclass it and override
``compute_loss(model, inputs, return_outputs=False, num_items_in_batch=None)``. This class does
that, skips TRL's private ``_precompute_ref_logps`` for a reference-free objective, and logs
into TRL's metric store (``_metrics``); data preparation, collation, the fused log-prob head,
reference handling, checkpointing and evaluation are TRL's own. Per batch, ``compute_loss``

1. runs the policy through TRL's fused LM head (per-token log-probs of the completion only) and
   sums them per sequence, as ``DPOTrainer`` does; divides by the completion length (EOS
   included) when the objective's ``aggregation`` is ``"mean"``;
2. takes the reference log-probs from the batch (``precompute_ref_log_probs``) or from TRL's
   ``compute_ref_log_probs`` (reference model, or the PEFT base with the adapter disabled),
   aggregated the same way, only when ``objective.needs_reference``;
3. calls the objective with ``progress = state.global_step / state.max_steps`` when it is
   temporally aware (the fraction of steps completed before this one: 0, 0.25, 0.5, 0.75 over
   4 steps, never 1) and with the chosen lengths n when it reads ``n`` (completion tokens,
   EOS included); averages over pairs;
4. logs TRL's metrics under TRL's names: ``rewards/chosen``, ``rewards/rejected``,
   ``rewards/accuracies``, ``rewards/margins`` (with the objective's reward
   r = beta [phi~(l) - phi~(l_ref)], or beta phi~(l) when reference-free), ``logps/chosen``,
   ``logps/rejected`` (the log-probs the objective sees), ``entropy``, ``mean_token_accuracy``,
   ``logits/chosen``, ``logits/rejected``, ``num_tokens``, and ``progress`` for temporal losses.

Reference-free objectives (ORPO-like): pass no ``ref_model``. TRL would otherwise load a second
copy of the model by name (which fails for a model built in memory); the trainer instead sets
``precompute_ref_log_probs = True`` (TRL's documented switch for "keep no reference model") on a
copy of ``args``, leaving the caller's DPOConfig as it was, and skips the precomputation itself,
so no reference forward pass ever runs. (Under that flag TRL still hashes the model's weights
once at start, for its precompute cache key: seconds for a small model, about a minute for a 7B
one.)

The DPOConfig loss fields (``loss_type``, ``loss_weights``, ``label_smoothing``,
``f_divergence_type``, ``ld_alpha``, ``use_weighting``) would be silently ignored, so setting
them is an error; ``beta`` belongs to the objective (``DPOConfig.beta`` must be left at its
default or equal the objective's).

The train and eval datasets are checked up front for the columns ``DPOTrainer`` reads:
``chosen`` and ``rejected``, and ``prompt`` unless both start with it (TRL then extracts it; a
dataset with images needs ``prompt``). A dataset that does not list its columns (a streamed
``IterableDataset``) is left to TRL.

TRL is optional (``pip install -e '.[llm]'`` in a checkout); this module is the only one that
imports it.
"""

from __future__ import annotations

import copy
import inspect
import os
import warnings

try:
    import trl
    from trl import DPOConfig, DPOTrainer
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("lossforge.integrations.trl needs TRL and transformers: "
                      "pip install -e '.[llm]' in a lossforge checkout (or "
                      "pip install 'lossforge[llm]')") from exc

import torch

from lossforge.errors import ConfigError, FormulaError
from lossforge.grammar.symbols import P
from lossforge.objectives import MPOSpec, NeuralObjective, NeuralSpec, Objective, get, names
from lossforge.objectives.neural import saved_spec_place
from lossforge.objectives.zoo import unknown_name
from lossforge.symbolic.logdomain import L
from lossforge.symbolic.parser import parse_formula

__all__ = ["LossforgeDPOTrainer", "TRL_VERSION"]

#: The TRL release this adapter is written and tested against (pinned in the ``llm`` extra).
TRL_VERSION = "1.16.0"
if trl.__version__ != TRL_VERSION:
    warnings.warn(f"lossforge.integrations.trl is tested with trl=={TRL_VERSION}, found "
                  f"{trl.__version__}; DPOTrainer internals it relies on may have moved",
                  stacklevel=2)

_NON_MODEL_KEYS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}
_CONFIG_DEFAULTS = DPOConfig.__dataclass_fields__
#: DPOConfig fields that choose TRL's built-in loss; the objective replaces all of them.
_LOSS_FIELDS = ("loss_type", "loss_weights", "label_smoothing", "f_divergence_type", "ld_alpha",
                "use_weighting")


def _as_objective(objective) -> Objective:
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, MPOSpec):
        return Objective(objective)
    if isinstance(objective, NeuralSpec):
        return NeuralObjective(objective)
    if isinstance(objective, str):
        if objective in names():
            return get(objective)
        if _is_formula(objective):
            raise ConfigError(f"objective {objective!r} is a formula, not a zoo name: pass "
                              "objective=lossforge.objectives.from_mirror_map("
                              f"{objective!r}, beta=0.1), choosing beta (and link, reference) "
                              "there")
        path = _path_hint(objective)
        if path:
            raise ConfigError(f"objective {objective!r} is a path, not a zoo name: {path}")
        raise ConfigError(f"{unknown_name(objective)}; for a mirror-map formula pass "
                          "objective=lossforge.objectives.from_mirror_map(formula, beta=0.1)")
    if isinstance(objective, os.PathLike):
        raise TypeError(f"objective must be a lossforge Objective, not a path: "
                        f"{_path_hint(os.fspath(objective))}")
    raise TypeError("objective must be a lossforge Objective, an MPOSpec, a NeuralSpec or a zoo "
                    f"name, got {type(objective).__name__}{_objective_hint(objective)}")


def _path_hint(text: str) -> str | None:
    """How to load the loss a path names (a run directory, a saved JSON loss, an exported
    torch file); None when ``text`` does not look like a path."""
    suffix = os.path.splitext(text)[1].lower()
    if os.path.isdir(text):
        return f"pass objective=lossforge.objectives.from_run({text!r}, rank=0) for a run's loss"
    if suffix == ".json":
        return f"pass objective=lossforge.objectives.from_file({text!r})"
    if suffix == ".py":
        return ("an exported --format torch file is for training without lossforge "
                "(docs/recipes/trl_torch_file.py); here pass the loss it was exported from")
    if os.sep in text or (os.altsep and os.altsep in text):
        return "pass objective=lossforge.objectives.from_run(run_dir) or from_file(path)"
    return None


def _objective_hint(objective) -> str:
    """How to make an ``Objective`` of what was passed instead: a JSON spec, a whole saved
    file, or a function (an exported ``--format torch`` file's ``loss``)."""
    if isinstance(objective, dict):
        if saved_spec_place(objective):   # the rule objectives.from_file reads files by
            return ("; a saved file's JSON: read the file with "
                    "lossforge.objectives.from_file(path)")
        return "; a JSON spec: pass lossforge.objectives.from_spec(spec)"
    if callable(objective):
        return ("; a function, as a --format torch file's loss is: that file is for training "
                "without lossforge; here pass the loss it was exported from, e.g. "
                "lossforge.objectives.from_run(run_dir, rank=0) or from_file('loss.json')")
    return ""


def _is_formula(text: str) -> bool:
    """Whether ``text`` parses as a mirror-map formula in p or l (the parser never evals)."""
    try:
        parse_formula(text, {"p": P, "l": L})
    except FormulaError:
        return False
    return True


def _check_args(args: DPOConfig, objective: Objective) -> None:
    if not isinstance(args, DPOConfig):
        raise ConfigError(f"args must be a trl.DPOConfig, got {type(args).__name__}: "
                          "DPOConfig(output_dir=..., ...) takes the same training fields")
    defaults = {"loss_type": ["sigmoid"], "loss_weights": None, "label_smoothing": 0.0,
                "f_divergence_type": "reverse_kl", "ld_alpha": None, "use_weighting": False}
    changed = [f for f in _LOSS_FIELDS if getattr(args, f) != defaults[f]]
    if changed:
        raise ConfigError(f"LossforgeDPOTrainer computes the loss from objective "
                          f"{objective.name!r}; DPOConfig {', '.join(changed)} would be ignored: "
                          + ("leave it at its default" if len(changed) == 1
                             else "leave them at their defaults"))
    default_beta = _CONFIG_DEFAULTS["beta"].default
    if args.beta not in (default_beta, objective.spec.beta):
        raise ConfigError(f"DPOConfig.beta = {args.beta} but objective {objective.name!r} has "
                          f"beta = {objective.spec.beta}: set beta on the objective")
    if args.sync_ref_model and not objective.needs_reference:
        raise ConfigError(f"objective {objective.name!r} is reference-free: sync_ref_model has "
                          "no reference model to sync")


def _argument(name: str, rest: tuple, kwargs: dict):
    """The ``DPOTrainer`` argument ``name`` after ``args``, given by keyword or position."""
    bound = inspect.signature(DPOTrainer.__init__).bind_partial(None, None, None, None, *rest,
                                                                 **kwargs)
    return bound.arguments.get(name)


def _peft(model, rest: tuple, kwargs: dict) -> bool:
    """Whether TRL will train ``model`` as a PEFT adapter (a PEFT model, or a ``peft_config``
    given by keyword or position): then the reference is the base with the adapter disabled."""
    if getattr(model, "peft_config", None) is not None:
        return True
    return _argument("peft_config", rest, kwargs) is not None


def _check_columns(dataset, name: str) -> None:
    """Refuse a dataset without the columns ``DPOTrainer`` reads (its own error is a KeyError
    from deep inside ``datasets``): ``chosen`` and ``rejected``, and ``prompt`` when it has
    images (TRL extracts an implicit prompt from text pairs only). A dataset that does not list
    its columns (a streamed one may not) is left to TRL."""
    columns = getattr(dataset, "column_names", None)
    if not isinstance(columns, (list, tuple)):
        return
    vision = "image" in columns or "images" in columns
    missing = [c for c in ("prompt", "chosen", "rejected")
               if c not in columns and (c != "prompt" or vision)]
    if missing:
        needs = ("'prompt', 'chosen' and 'rejected'" if vision else
                 "'chosen' and 'rejected' (and 'prompt', unless both start with it)")
        raise ConfigError(f"{name} has no {' or '.join(map(repr, missing))} column (its columns: "
                          f"{', '.join(map(repr, columns)) or 'none'}); a preference dataset "
                          f"needs {needs}: rename or add the column(s)")


def _check_datasets(rest: tuple, kwargs: dict) -> None:
    _check_columns(_argument("train_dataset", rest, kwargs), "train_dataset")
    evals = _argument("eval_dataset", rest, kwargs)
    if isinstance(evals, dict):  # also a DatasetDict
        for key, dataset in evals.items():
            _check_columns(dataset, f"eval_dataset[{key!r}]")
    else:
        _check_columns(evals, "eval_dataset")


def _copy_config(args: DPOConfig) -> DPOConfig:
    """A deep copy of a DPOConfig. Under DeepSpeed, transformers finds the config through a
    module-level weak reference that ``TrainingArguments`` sets to its own DeepSpeed config;
    it is pointed at the copy's, which the trainer keeps alive (the caller's may be freed)."""
    new = copy.deepcopy(args)
    if getattr(new, "hf_deepspeed_config", None) is not None:
        from transformers.integrations.deepspeed import set_hf_deepspeed_config

        set_hf_deepspeed_config(new.hf_deepspeed_config)
    return new


class LossforgeDPOTrainer(DPOTrainer):
    """``DPOTrainer`` whose loss is a lossforge ``objective`` (see the module docstring).

    Same arguments as ``trl.DPOTrainer`` plus the keyword ``objective`` (an ``Objective``, an
    ``MPOSpec``, a ``NeuralSpec`` or a zoo name such as ``"orpo"``; for a formula, pass
    ``objectives.from_mirror_map("p*log(p)", beta=...)``; for a saved JSON loss,
    ``objectives.from_file(path)``). The caller's ``args`` is not changed.
    """

    _tag_names = ["trl", "dpo", "lossforge"]

    def __init__(self, model, ref_model=None, args: DPOConfig | None = None, *rest,
                 objective, **kwargs):
        self.objective = _as_objective(objective)
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "")
            args = DPOConfig(f"{(name or 'model').split('/')[-1]}-lossforge")
        _check_args(args, self.objective)
        _check_datasets(rest, kwargs)
        if not self.objective.needs_reference:
            if ref_model is not None:
                warnings.warn(f"objective {self.objective.name!r} is reference-free: ref_model "
                              "is not used", stacklevel=2)
                ref_model = None
            # TRL keeps no reference model under this flag; _precompute_ref_logps below then
            # skips the precomputation, so no reference log-prob is ever computed. On a copy:
            # the caller may reuse their config (e.g. for TRL's own DPOTrainer as a baseline).
            args = _copy_config(args)
            args.precompute_ref_log_probs = True
        elif (ref_model is None and not isinstance(model, str) and not args.precompute_ref_log_probs
              and not _peft(model, rest, kwargs)
              and not getattr(model.config, "_name_or_path", "")):
            # TRL would load the reference by the model's name, which a model built in memory
            # lacks, and fail deep inside with "Repo id must use alphanumeric chars"
            raise ConfigError(f"objective {self.objective.name!r} compares the policy with a "
                              "reference, and this model (built in memory) has no name TRL could "
                              "load one by: pass ref_model= (a frozen copy of the starting "
                              "model), or DPOConfig(precompute_ref_log_probs=True) to take the "
                              "reference log-probs from the model as it starts")
        super().__init__(model, ref_model, args, *rest, **kwargs)
        self.beta = self.objective.spec.beta

    # ---- reference log-probs -------------------------------------------------------------

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if not self.objective.needs_reference:
            return dataset  # reference-free: nothing to precompute
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def _reference_logps(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed reference log-probs of the batch's (chosen, rejected) completions."""
        if self.precompute_ref_logps:
            return inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        model = self.ref_model if self.ref_model is not None else self.model
        return self.compute_ref_log_probs(model, inputs)

    # ---- the loss ------------------------------------------------------------------------

    def training_progress(self) -> float:
        """Training progress t = global_step / max_steps: the fraction of steps completed before
        this one (0, 0.25, 0.5, 0.75 over 4 steps, so never 1 in training; 0 before training)."""
        max_steps = getattr(self.state, "max_steps", 0) or 0
        return min(1.0, self.state.global_step / max_steps) if max_steps > 0 else 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        obj = self.objective
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if self.aux_loss_enabled:
            model_kwargs["output_router_logits"] = True
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
        shift_mask = completion_mask[..., 1:]
        per_token_logps = outputs.log_probs[:, -shift_mask.size(1):]  # 0 off the completion
        lengths = shift_mask.sum(dim=1).clamp(min=1)
        mean = obj.aggregation == "mean"

        def aggregate(summed: torch.Tensor) -> torch.Tensor:
            return summed / lengths.to(summed.dtype) if mean else summed

        chosen, rejected = aggregate(per_token_logps.sum(dim=1)).chunk(2, dim=0)
        ref_chosen = ref_rejected = None
        if obj.needs_reference:
            ref_chosen, ref_rejected = (aggregate(torch.cat(self._reference_logps(inputs)))
                                        .chunk(2, dim=0))
        chosen_lengths = lengths.chunk(2, dim=0)[0]  # n: completion tokens, EOS included
        t = self.training_progress()
        losses = obj(chosen, rejected, ref_chosen, ref_rejected,
                     progress=t if obj.temporal else None,
                     chosen_lengths=chosen_lengths if obj.needs_lengths else None)
        loss = losses.mean()
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._metrics[mode]["aux_loss"].append(
                self.accelerator.gather_for_metrics(outputs.aux_loss).mean().item())
        self._log_metrics(mode, inputs, outputs, shift_mask, chosen, rejected, ref_chosen,
                          ref_rejected, t)
        if return_outputs:  # as DPOTrainer: logits for compute_metrics need a plain forward
            with torch.no_grad():
                outputs = model(**model_kwargs)
            return loss, outputs
        return loss

    # ---- metrics -------------------------------------------------------------------------

    def rewards(self, chosen, rejected, ref_chosen=None, ref_rejected=None):
        """The objective's implicit rewards beta [phi~(l) - phi~(l_ref)] (or beta phi~(l))."""
        return self.objective.rewards(chosen, rejected, ref_chosen, ref_rejected)

    def _log_metrics(self, mode, inputs, outputs, shift_mask, chosen, rejected, ref_chosen,
                     ref_rejected, t) -> None:
        """The metrics ``DPOTrainer._compute_loss`` logs, under the same names."""
        m, acc = self._metrics[mode], self.accelerator
        seq_len = shift_mask.size(1)
        total = acc.gather_for_metrics(shift_mask.sum()).sum()
        ent = acc.gather_for_metrics((outputs.entropy[:, -seq_len:].detach() * shift_mask)
                                     .sum()).sum()
        m["entropy"].append((ent / total).item() if total > 0 else 0.0)
        if mode == "train":
            n = acc.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += n // self._tp_size
        m["num_tokens"] = [self._total_train_tokens]
        chosen_mask, rejected_mask = shift_mask.chunk(2, dim=0)
        chosen_logits, rejected_logits = outputs.mean_logits[:, -seq_len:].chunk(2, dim=0)
        for key, logits, mask in (("logits/chosen", chosen_logits, chosen_mask),
                                  ("logits/rejected", rejected_logits, rejected_mask)):
            s = acc.gather_for_metrics(logits[mask.bool()].sum()).sum().item()
            k = acc.gather_for_metrics(mask.sum()).sum().item()
            m[key].append(s / k if k > 0 else 0.0)
        top1 = outputs.is_top1[:, -seq_len:].chunk(2, dim=0)[0] & chosen_mask.bool()
        right = acc.gather_for_metrics(top1.sum()).sum()
        k = acc.gather_for_metrics(chosen_mask.sum()).sum()
        m["mean_token_accuracy"].append((right / k).item() if k > 0 else 0.0)
        with torch.no_grad():
            r_w, r_l = self.rewards(chosen.detach(), rejected.detach(),
                                    None if ref_chosen is None else ref_chosen.detach(),
                                    None if ref_rejected is None else ref_rejected.detach())
        m["rewards/chosen"].append(acc.gather(r_w).mean().item())
        m["rewards/rejected"].append(acc.gather(r_l).mean().item())
        m["rewards/accuracies"].append(acc.gather((r_w > r_l).float()).mean().item())
        m["rewards/margins"].append(acc.gather(r_w - r_l).mean().item())
        m["logps/chosen"].append(acc.gather(chosen.detach()).mean().item())
        m["logps/rejected"].append(acc.gather(rejected.detach()).mean().item())
        if self.objective.temporal:
            m["progress"].append(t)
