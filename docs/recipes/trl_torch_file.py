"""Train with TRL on a loss exported as a standalone torch file, without lossforge installed.

    python -m lossforge.export runs/<run> --best --format torch > my_loss.py

    import importlib.util
    spec = importlib.util.spec_from_file_location("my_loss", "my_loss.py")
    my_loss = importlib.util.module_from_spec(spec); spec.loader.exec_module(my_loss)
    trainer = TorchFileDPOTrainer(model=model, ref_model=ref if my_loss.NEEDS_REFERENCE else None,
                                  args=DPOConfig(..., precompute_ref_log_probs=not
                                                 my_loss.NEEDS_REFERENCE),
                                  train_dataset=pairs, processing_class=tok, loss_module=my_loss)

What the file's ``loss`` needs from a batch, and where TRL 1.16 has it (this is what
``lossforge.integrations.trl.LossforgeDPOTrainer`` does, without its checks and its logged
metrics; ``tests/test_trl_torch_file_recipe.py`` holds the two to the same losses):

* l: the completion's per-token log-probs from TRL's fused LM head, summed per sequence, or
  divided by the completion length (EOS included) when the file's ``AGGREGATION`` is "mean";
* the reference's l, aggregated the same way, only when ``NEEDS_REFERENCE``; a reference-free
  loss keeps no reference model (``precompute_ref_log_probs=True``, TRL's switch for that, with
  its precomputation skipped: ``_precompute_ref_logps``, a private TRL method);
* ``progress`` t = the share of steps completed before this one, when ``TEMPORAL``;
* ``chosen_lengths`` n = chosen completion tokens, EOS included, when ``NEEDS_LENGTHS``.

Set no loss field of ``DPOConfig`` (``loss_type``, ``beta``, ...): the file's loss replaces them.
"""

from __future__ import annotations

import torch
from trl import DPOTrainer

_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


class TorchFileDPOTrainer(DPOTrainer):
    """``DPOTrainer`` whose loss is the ``loss`` of an exported torch file (``loss_module``)."""

    def __init__(self, *args, loss_module, **kwargs):
        self.loss_module = loss_module
        super().__init__(*args, **kwargs)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if not self.loss_module.NEEDS_REFERENCE:
            return dataset          # reference-free: no reference pass at all
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        m = self.loss_module
        model_inputs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
        mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(mask == 0, -100)
        out = model(**model_inputs, use_cache=False, labels=labels, fused_lm_head=True)
        shift_mask = mask[..., 1:]
        lengths = shift_mask.sum(dim=1).clamp(min=1)

        def aggregate(summed):
            return summed / lengths.to(summed.dtype) if m.AGGREGATION == "mean" else summed

        chosen, rejected = aggregate(out.log_probs[:, -shift_mask.size(1):].sum(dim=1)).chunk(2)
        ref_chosen = ref_rejected = None
        if m.NEEDS_REFERENCE:
            if self.precompute_ref_logps:
                ref = torch.cat([inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]])
            else:
                model_ = self.ref_model if self.ref_model is not None else self.model
                ref = torch.cat(self.compute_ref_log_probs(model_, inputs))
            ref_chosen, ref_rejected = aggregate(ref).chunk(2)
        steps = self.state.max_steps or 0
        progress = min(1.0, self.state.global_step / steps) if steps > 0 else 0.0
        losses = m.loss(chosen, rejected, ref_chosen, ref_rejected,
                        progress=progress if m.TEMPORAL else None,
                        chosen_lengths=lengths.chunk(2)[0] if m.NEEDS_LENGTHS else None)
        if return_outputs:      # evaluation with compute_metrics: logits need a plain forward
            with torch.no_grad():
                return losses.mean(), model(**model_inputs, use_cache=False)
        return losses.mean()
