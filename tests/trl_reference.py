"""Drive TRL 1.16.0's own loss code on given log-probabilities (test helper, not a test file).

TRL is lossforge's independent reference: tests call TRL's code through this module and never
re-type its formulas. Everything reached here is private TRL API, so the exact version is checked
on import. Paths below are relative to ``site-packages/trl/``; line numbers are TRL 1.16.0's;
quoted source lines are verbatim, long ones re-wrapped.

API
---
``trl_dpo_losses(loss_type, policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
ref_rejected_logps, beta, completion_lengths=None, **trainer_args)``
    Per-example losses, shape [B], float64, differentiable w.r.t. the two policy tensors. Runs
    ``DPOTrainer._compute_loss`` once per pair (it returns the batch mean only).
``trl_orpo_losses(policy_chosen_logps, policy_rejected_logps, beta)``
    ``ORPOTrainer.odds_ratio_loss``: (per-example ``beta * logsigmoid(log_odds)``, extras). float32.
``trl_cpo_losses(policy_chosen_logps, policy_rejected_logps, beta, loss_type, ...)``
    ``CPOTrainer.cpo_loss``: per-example losses (SimPO, CPO sigmoid, hinge, ipo), dtype preserved.

DPO: trainer/dpo_trainer.py, ``DPOTrainer._compute_loss`` (line 1285)
----------------------------------------------------------------------
Sequence log-probs are SUMMED over completion tokens (the stand-in model below supplies them):

  1304 logps = per_token_logps.sum(dim=1)  # sum over sequence length
  1319 ref_chosen_logps, ref_rejected_logps = (
           inputs["ref_chosen_logps"], inputs["ref_rejected_logps"])
  1350 chosen_logratios = chosen_logps - ref_chosen_logps
  1351 rejected_logratios = rejected_logps - ref_rejected_logps
  1354 chosen_scores = chosen_logratios  # f_divergence_type == "reverse_kl" (default)
  1383 delta_score = chosen_scores - rejected_scores
  1528 loss += per_sequence_loss.mean() * loss_weight  # summed over (loss_type, loss_weight)

Extra args (DPOConfig defaults): ``label_smoothing=0.0``, ``discopop_tau=0.05``,
``loss_weights=None`` (all 1.0), ``f_divergence_type="reverse_kl"``. DPOConfig's ``beta``
defaults to 0.1; here it is required.

sigmoid (DPO). Ignores ``label_smoothing``: no cDPO under "sigmoid" in 1.16 (this module raises).
  1388 per_sequence_loss = -F.logsigmoid(self.beta * delta_score)
hinge
  1391 per_sequence_loss = torch.relu(1 - self.beta * delta_score)
ipo. LENGTH-NORMALISED by the completion token count incl. EOS (``completion_lengths``).
  1399 chosen_mask, rejected_mask = completion_mask.chunk(2, dim=0)
  1400 chosen_avg_score = chosen_scores / chosen_mask.sum(dim=1).clamp(min=1.0)
  1401 rejected_avg_score = rejected_scores / rejected_mask.sum(dim=1).clamp(min=1.0)
  1402 ipo_delta = chosen_avg_score - rejected_avg_score
  1404 per_sequence_loss = (ipo_delta - 1 / (2 * self.beta)) ** 2
sigmoid_norm. LENGTH-NORMALISED exactly as ipo (lines 1505-1508 = 1399-1402), then
  1509 per_sequence_loss = -F.logsigmoid(self.beta * delta)
exo_pair. ``label_smoothing`` is eps > 0 (DPOTrainer.__init__ rejects 0; paper: 1e-3).
  1410 epsilon = torch.tensor(self.label_smoothing, device=device)
  1411 qw = torch.sigmoid(self.beta * delta_score)
  1412 log_qw = F.logsigmoid(self.beta * delta_score)
  1413 log_pw = torch.log1p(-epsilon)
  1414 ql = torch.sigmoid(-self.beta * delta_score)
  1415 log_ql = F.logsigmoid(-self.beta * delta_score)
  1416 log_pl = torch.log(epsilon)
  1417 per_sequence_loss = qw * (log_qw - log_pw) + ql * (log_ql - log_pl)
  ``epsilon`` is a FLOAT32 tensor, so log(1-eps) and log(eps) are float32: float32 tolerance.
nca_pair
  1420 chosen_rewards = self.beta * chosen_logratios
  1421 rejected_rewards = self.beta * rejected_logratios
  1422 per_sequence_loss = (
           -F.logsigmoid(chosen_rewards)
           - 0.5 * F.logsigmoid(-chosen_rewards)
           - 0.5 * F.logsigmoid(-rejected_rewards)
       )
robust. ``label_smoothing`` = flip probability eps in [0, 0.5) (TRL only warns outside).
  1429 clean_loss_term = -(1 - self.label_smoothing) * F.logsigmoid(self.beta * delta_score)
  1430 flipped_loss_term = -self.label_smoothing * F.logsigmoid(-self.beta * delta_score)
  1431 per_sequence_loss = (clean_loss_term - flipped_loss_term) / (
           1 - 2 * self.label_smoothing)
  i.e. [-(1-eps) logsig(b x) + eps logsig(-b x)] / (1 - 2 eps): the flipped term is SUBTRACTED.
bco_pair (no running reward-mean shift in 1.16)
  1434 chosen_rewards = self.beta * chosen_logratios
  1435 rejected_rewards = self.beta * rejected_logratios
  1436 per_sequence_loss = -F.logsigmoid(chosen_rewards) - F.logsigmoid(-rejected_rewards)
sppo_hard (no beta outside the 0.5 / beta targets)
  1443 winner_margin_error = (chosen_logratios - 0.5 / self.beta) ** 2
  1444 loser_margin_error = (rejected_logratios + 0.5 / self.beta) ** 2
  1445 per_sequence_loss = winner_margin_error + loser_margin_error
aot / aot_unpaired. Sort over the batch (1450-1451 / 1459-1460), then
  1453 per_sequence_loss = (
           -F.logsigmoid(self.beta * delta) * (1 - self.label_smoothing)
           - F.logsigmoid(-self.beta * delta) * self.label_smoothing
       )
  With one pair per call the sorts are identities and delta = delta_score, so per example this
  IS the conservative-DPO (cDPO) formula: the only cDPO in DPOTrainer 1.16. Not AOT proper.
apo_zero
  1471 losses_chosen = 1 - torch.sigmoid(self.beta * chosen_logratios)
  1472 losses_rejected = torch.sigmoid(self.beta * rejected_logratios)
  1473 per_sequence_loss = losses_chosen + losses_rejected
apo_down
  1479 losses_chosen = torch.sigmoid(self.beta * chosen_logratios)
  1480 losses_rejected = 1 - torch.sigmoid(
           self.beta * (chosen_logratios - rejected_logratios))
  1481 per_sequence_loss = losses_chosen + losses_rejected
discopop. ``discopop_tau`` (default 0.05) is read from ``self.args``.
  1485 logits = delta_score * self.beta
  1487 log_ratio_modulation = torch.sigmoid(logits / self.args.discopop_tau)
  1488 logistic_component = -F.logsigmoid(logits)
  1489 exp_component = torch.exp(-logits)
  1491 per_sequence_loss = (
           logistic_component * (1 - log_ratio_modulation)
           + exp_component * log_ratio_modulation
       )
sft. Token-level NLL of the CHOSEN completion (policy only: no reference, no beta).
  1496 chosen_mask, _ = shift_completion_mask.chunk(2, dim=0)
  1497 chosen_per_token_logps, _ = per_token_logps.chunk(2, dim=0)
  1498 batch_loss = -chosen_per_token_logps[chosen_mask.bool()].mean()
  = -pi_c / L_c per example; over a batch it is a mean over chosen TOKENS (token-weighted).
RPO / DPO+NLL. TRL 1.16 has NO ``rpo_alpha``; RPO is a list of loss types,
  ``trl_dpo_losses(["sigmoid", "sft"], ..., loss_weights=[1.0, alpha])``
  = -logsig(beta x) + alpha * (-pi_c / L_c), with the token-mean NLL of "sft" above.
Not supported here: ``ld_alpha`` and ``use_weighting`` (need real per-token log-probs).
``f_divergence_type="alpha_divergence"`` raises KeyError in TRL on float64 inputs (its clamp
table, line 1375, has no float64 entry).

ORPO: experimental/orpo/orpo_trainer.py, ``ORPOTrainer.odds_ratio_loss`` (line 670)
-----------------------------------------------------------------------------------
Inputs are AVERAGED (per-token mean) completion log-probs, which must be < 0
(``get_batch_logps(..., average_log_prob=True)``, line 805).

   691 policy_chosen_logps = policy_chosen_logps.float()  # FLOAT32 cast
   692 policy_rejected_logps = policy_rejected_logps.float()
   693 log_odds = (policy_chosen_logps - policy_rejected_logps) - (
           log1mexp(policy_chosen_logps) - log1mexp(policy_rejected_logps)
       )
   696 ratio = F.logsigmoid(log_odds)
   697 losses = self.beta * ratio
   848 loss = policy_nll_loss - losses.mean()  # full ORPO loss (get_batch_loss_metrics)
    91 return torch.where(x < t, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))
           # log1mexp, t = -ln 2

``losses`` (what ``trl_orpo_losses`` returns) is <= 0 and is SUBTRACTED. ``policy_nll_loss`` is
``nn.CrossEntropyLoss()`` (token mean) on the chosen sequence over PROMPT AND RESPONSE (labels =
input_ids where attention_mask == 1, lines 796-800), not over the completion only. ORPOConfig
``beta`` (lambda in the paper) defaults to 0.1.

CPO / SimPO: experimental/cpo/cpo_trainer.py, ``CPOTrainer.cpo_loss`` (line 678)
---------------------------------------------------------------------------------
Inputs: SUMMED log-probs for "sigmoid"/"hinge", AVERAGED for "ipo"/"simpo" (line 850,
``average_log_prob=self.loss_type in ["ipo", "simpo"]``). No reference model. logits = pi_c - pi_r
(line 709) when ``alpha == 0``, else AlphaPO rewards r = (1 - p**(-alpha)) / alpha (703-706).

   716 gamma_logratios = self.simpo_gamma / self.beta  # simpo only
   717 logits = logits - gamma_logratios
   719 losses = (
           -F.logsigmoid(self.beta * logits) * (1 - self.label_smoothing)
           - F.logsigmoid(-self.beta * logits) * self.label_smoothing
       )  # simpo; "sigmoid" (725) is the same expression without the gamma shift
   730 losses = torch.relu(1 - self.beta * logits)  # hinge
   733 losses = (logits - 1 / (2 * self.beta)) ** 2  # ipo
   890 loss = losses.mean() + self.cpo_alpha * policy_nll_loss

Defaults (CPOConfig): beta=0.1, label_smoothing=0.0, simpo_gamma=0.5, alpha=0.0, cpo_alpha=1.0.
``cpo_loss`` excludes the NLL (cross-entropy over completion tokens; 0 when cpo_alpha == 0).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import defaultdict
from types import SimpleNamespace

import torch
import trl
from trl import DPOConfig
from trl.import_utils import TRLExperimentalWarning
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.utils import FusedCausalLMOutput

with warnings.catch_warnings():  # we know trl.experimental is unstable: that is why TRL is pinned
    warnings.simplefilter("ignore", TRLExperimentalWarning)
    from trl.experimental.cpo import CPOConfig, CPOTrainer
    from trl.experimental.orpo import ORPOTrainer

__all__ = ["TRL_VERSION", "trl_cpo_losses", "trl_dpo_losses", "trl_orpo_losses"]

TRL_VERSION = "1.16.0"
if trl.__version__ != TRL_VERSION:
    raise ImportError(f"trl_reference drives private TRL {TRL_VERSION} code; got {trl.__version__}")

# Loss types whose TRL formula reads ``label_smoothing``; all others silently ignore it.
_USES_LABEL_SMOOTHING = {"robust", "exo_pair", "aot", "aot_unpaired"}
_CPU = torch.device("cpu")


def _config_defaults(config_cls) -> dict:
    fields = dataclasses.fields(config_cls)
    return {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


class _FusedHeadStandIn(torch.nn.Module):
    """Stands in for a causal LM patched with TRL's ``add_fused_lm_head`` (trl/trainer/utils.py).

    In TRL 1.16 ``_compute_loss`` never sees logits: ``DPOTrainer.__init__`` patches the policy so
    that ``model(..., labels=labels, fused_lm_head=True)`` returns a ``FusedCausalLMOutput`` whose
    ``log_probs[:, t]`` is the log-prob of label ``t + 1`` (zero where that label is -100), and
    ``_compute_loss`` sums it over the completion. The real head computes log-softmax in float32
    (trl/kernels/chunked_logprob.py), and any log-softmax loses relative precision near 0 (log p =
    -1e-6 needs log(1 + 1e-6)), so no logits could reproduce float64 values exactly. Instead this
    stand-in keeps the head's contract and puts each row's whole sequence log-prob on its first
    completion label and exact 0.0 on the rest: TRL's ``sum(dim=1)`` then returns the value bit for
    bit, the per-token mean of the sft loss is value / L, and ``torch.where`` keeps the graph.
    """

    def __init__(self, sequence_logps: torch.Tensor):
        super().__init__()
        self.sequence_logps = sequence_logps  # one per row of TRL's batch: [chosen, rejected]

    def forward(self, input_ids, labels=None, fused_lm_head=False, **unused):
        if not fused_lm_head:
            raise NotImplementedError("only the fused-head call of _compute_loss is supported")
        label_mask = labels[:, 1:] != -100  # the head scores next-token labels
        first = label_mask & (label_mask.cumsum(dim=1) == 1)
        log_probs = torch.where(first, self.sequence_logps[:, None], 0.0)
        zeros = torch.zeros_like(log_probs).detach()
        # entropy / mean_logits / is_top1 only feed TRL's logged metrics.
        return FusedCausalLMOutput(
            log_probs=log_probs,
            entropy=zeros,
            mean_logits=zeros,
            is_top1=label_mask,
            label_mask=label_mask,
        )


def _dpo_pair_inputs(chosen_len: int, rejected_len: int, ref_chosen, ref_rejected) -> dict:
    """A collated batch of one pair, as DPOTrainer's collator lays it out: rows [chosen, rejected],
    one prompt token, then the completion (EOS included) right-padded to the longer one."""
    if min(chosen_len, rejected_len) < 1:
        raise ValueError("completion lengths must be >= 1")
    width = 1 + max(chosen_len, rejected_len)
    completion_mask = torch.zeros(2, width, dtype=torch.long)
    completion_mask[0, 1 : 1 + chosen_len] = 1
    completion_mask[1, 1 : 1 + rejected_len] = 1
    attention_mask = completion_mask.clone()
    attention_mask[:, 0] = 1
    return {
        "input_ids": attention_mask * 7,  # token ids do not matter to the stand-in; 0 is padding
        "attention_mask": attention_mask,
        "completion_mask": completion_mask,
        "ref_chosen_logps": ref_chosen.reshape(1),
        "ref_rejected_logps": ref_rejected.reshape(1),
    }


def _bare_dpo_trainer(model: torch.nn.Module, loss_type, beta: float, **trainer_args) -> DPOTrainer:
    """``object.__new__(DPOTrainer)`` with the attributes ``_compute_loss`` reads, set the way
    ``DPOTrainer.__init__`` sets them (dpo_trainer.py 801-818) from DPOConfig defaults."""
    defaults = _config_defaults(DPOConfig)
    unknown = set(trainer_args) - set(defaults)
    if unknown:
        raise TypeError(f"not DPOConfig fields: {sorted(unknown)}")
    args = SimpleNamespace(**{**defaults, **trainer_args, "beta": beta})
    loss_types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    if args.label_smoothing != 0.0 and not _USES_LABEL_SMOOTHING & set(loss_types):
        raise ValueError(
            f"TRL 1.16 ignores label_smoothing for {loss_types}; "
            "for cDPO use loss_type='aot' (see the module docstring)"
        )
    if args.ld_alpha is not None or args.use_weighting:
        raise NotImplementedError("ld_alpha / use_weighting depend on per-token log-probs")

    trainer = object.__new__(DPOTrainer)
    trainer.args = args
    trainer.model = model
    identity = lambda tensor: tensor  # noqa: E731 -- single process: gathering is the identity
    trainer.accelerator = SimpleNamespace(device=_CPU, gather=identity, gather_for_metrics=identity)
    trainer.beta = args.beta
    trainer.precompute_ref_logps = True  # reference log-probs come from `inputs`
    trainer.loss_types = loss_types
    trainer.loss_weights = args.loss_weights or [1.0] * len(loss_types)
    trainer.ld_alpha = args.ld_alpha
    trainer.f_divergence_type = args.f_divergence_type
    trainer.f_alpha_divergence_coef = args.f_alpha_divergence_coef
    trainer.label_smoothing = args.label_smoothing
    trainer.use_weighting = args.use_weighting
    trainer.aux_loss_enabled = False
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    return trainer


def _per_example_lengths(completion_lengths, batch: int) -> list[tuple[int, int]]:
    if completion_lengths is None:
        completion_lengths = 1
    if isinstance(completion_lengths, int):
        completion_lengths = (completion_lengths, completion_lengths)
    chosen, rejected = completion_lengths
    chosen = [chosen] * batch if isinstance(chosen, int) else [int(n) for n in chosen]
    rejected = [rejected] * batch if isinstance(rejected, int) else [int(n) for n in rejected]
    if len(chosen) != batch or len(rejected) != batch:
        raise ValueError("completion_lengths must give one length per example")
    return list(zip(chosen, rejected))


def _run_dpo_pair(loss_type, chosen, rejected, ref_chosen, ref_rejected, beta, lengths, **kwargs):
    """One call of ``DPOTrainer._compute_loss`` on one pair; returns (loss, trainer) so tests can
    read what TRL itself logged (e.g. ``trainer._metrics["train"]["logps/chosen"]``)."""
    model = _FusedHeadStandIn(torch.cat([chosen.reshape(1), rejected.reshape(1)]))
    trainer = _bare_dpo_trainer(model, loss_type, beta, **kwargs)
    inputs = _dpo_pair_inputs(*lengths, ref_chosen, ref_rejected)
    return trainer._compute_loss(model, inputs, return_outputs=False), trainer


def trl_dpo_losses(
    loss_type,
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    completion_lengths=None,
    **trainer_args,
) -> torch.Tensor:
    """Per-example loss of TRL 1.16 ``DPOTrainer`` (shape [B], dtype of the inputs: use float64).

    ``loss_type`` is a TRL loss type or a list of them (combined with ``loss_weights``). The
    log-probs are SUMMED sequence log-probs, shape [B]; pass the policy ones with
    requires_grad=True to get gradients through TRL's code. ``completion_lengths`` (completion
    tokens, EOS included) matters only for ipo, sigmoid_norm and sft: None (1 token), an int, or
    (chosen, rejected) with each an int or a length-B sequence. ``trainer_args`` are DPOConfig
    fields (label_smoothing, discopop_tau, loss_weights, f_divergence_type, ...). Formulas: see the
    module docstring.
    """
    lengths = _per_example_lengths(completion_lengths, policy_chosen_logps.shape[0])
    losses = [
        _run_dpo_pair(
            loss_type,
            policy_chosen_logps[i],
            policy_rejected_logps[i],
            ref_chosen_logps[i],
            ref_rejected_logps[i],
            beta,
            pair_lengths,
            **trainer_args,
        )[0]
        for i, pair_lengths in enumerate(lengths)
    ]
    return torch.stack(losses)


def trl_orpo_losses(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor, beta):
    """TRL 1.16 ``ORPOTrainer.odds_ratio_loss`` on a bare instance.

    Inputs are per-token AVERAGED completion log-probs (< 0), shape [B]. TRL casts them to
    FLOAT32: compare at float32 tolerance. Returns ``(losses, extra)``: ``losses`` is TRL's
    per-example ``beta * logsigmoid(log_odds)`` (<= 0; the full ORPO loss is
    ``nll - losses.mean()``), ``extra`` a dict of TRL's other outputs: chosen_rewards,
    rejected_rewards, mean_ratio, mean_log_odds.
    """
    trainer = object.__new__(ORPOTrainer)
    trainer.beta = beta
    trainer.accelerator = SimpleNamespace(device=_CPU)
    losses, chosen_rewards, rejected_rewards, mean_ratio, mean_log_odds = trainer.odds_ratio_loss(
        policy_chosen_logps, policy_rejected_logps
    )
    extra = dict(
        chosen_rewards=chosen_rewards,
        rejected_rewards=rejected_rewards,
        mean_ratio=mean_ratio,
        mean_log_odds=mean_log_odds,
    )
    return losses, extra


def trl_cpo_losses(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    beta: float,
    loss_type: str,
    simpo_gamma: float | None = None,
    label_smoothing: float = 0.0,
    alpha: float | None = None,
) -> torch.Tensor:
    """Per-example ``CPOTrainer.cpo_loss`` of TRL 1.16 (shape [B], dtype preserved), without the
    NLL (``cpo_alpha``) term. Give AVERAGED log-probs for "simpo"/"ipo", SUMMED ones for
    "sigmoid"/"hinge", as CPOTrainer does. ``simpo_gamma``/``alpha`` None mean CPOConfig's
    defaults (0.5 / 0.0); ``alpha != 0`` switches to AlphaPO rewards."""
    defaults = _config_defaults(CPOConfig)
    trainer = object.__new__(CPOTrainer)
    trainer.beta = beta
    trainer.loss_type = loss_type
    trainer.label_smoothing = label_smoothing
    trainer.simpo_gamma = defaults["simpo_gamma"] if simpo_gamma is None else simpo_gamma
    trainer.alpha = defaults["alpha"] if alpha is None else alpha
    trainer.accelerator = SimpleNamespace(device=_CPU)
    losses, _, _ = trainer.cpo_loss(policy_chosen_logps, policy_rejected_logps)
    return losses
