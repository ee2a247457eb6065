"""lf-29423ee3: an MPO preference loss exported by lossforge (standalone: needs only torch).

Run 20261205-102022-suite-train-s0, scenario suite-train.
Score (full, auc): 95.32

    h(p)      = softplus(exp(p))
    phi^-1(p) = sigmoid(exp(p))*exp(p)   (+ const)
    phi~(l)   = sigmoid(exp(exp(l)))*exp(exp(l))   (+ const)
    r(y)      = beta * [phi~(l_theta(y)) - phi~(l_ref(y))],   beta = 0.1
    D         = r(y_w) - r(y_l)
    loss      = G(D, r_w, r_l, t) + w_sft(t) * Psi(l_w, n_w, t)
    G         = 1/2 - logsigmoid(4*logsigmoid(D))
    Psi       = softplus(softplus(log1mexp(l)))   (l: l_w, n: n_w)
    w_sft(t)  = 1

y_w is the chosen response, y_l the rejected one; l_w and l_l their log-probs under the policy.
Log-probs l: AVERAGED per token of the response (length-normalised, as ORPO/SimPO).
Reference log-probs: required.
Progress t in [0, 1] (training step / total steps): not used.
Chosen lengths n_w: not used.

    losses = loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
                  ref_rejected_logps, progress=None, chosen_lengths=None)  # [B]
    loss_value = losses.mean()

SPEC is the objective as lossforge data: lossforge.objectives.Objective(MPOSpec.from_json(SPEC)).
"""

import torch
import torch.nn.functional as F

NAME = 'lf-29423ee3'
BETA = 0.1
AGGREGATION = 'mean'
NEEDS_REFERENCE = True
TEMPORAL = False
NEEDS_LENGTHS = False
SPEC = {'name': 'lf-29423ee3',
 'mirror_map': 'softplus(exp(p))',
 'beta': 0.1,
 'reference': True,
 'link': '1/2 - logsigmoid(4*logsigmoid(D))',
 'imitation': 'softplus(softplus(log1mexp(l)))',
 'w_pref': '1',
 'w_sft': '1',
 'aggregation': 'mean',
 'params': {},
 'description': ''}


def log1mexp(x):
    """log(1 - exp(x)) for x < 0, accurate near 0 and for very negative x (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)),
                       torch.log1p(-torch.exp(x)))


def softplus(x):
    """log(1 + exp(x)) without overflow."""
    return torch.logaddexp(x, torch.zeros_like(x))


def step(x):
    """The Heaviside step, 1/2 at 0 as SymPy's ``Heaviside(x)``; its gradient is 0 (relu's
    derivative, which SymPy writes with it; torch's own heaviside has no backward)."""
    return (torch.sign(x) + 1) / 2


def phi_tilde(l):
    """phi~(l) = phi^-1(exp(l)) in stable log-domain form."""
    return torch.sigmoid(torch.exp(torch.exp(l))) * torch.exp(torch.exp(l))


def link(D, rw, rl, t):
    """G: the preference link of the margin D and the rewards rw, rl."""
    return 0.5 - F.logsigmoid(4.0 * F.logsigmoid(D))


def imitation(l, n, t):
    """Psi: imitation term on the chosen log-prob l (length n)."""
    return softplus(softplus(log1mexp(l)))


def w_sft(t):
    """Weight of the imitation term at progress t."""
    return torch.full_like(t, 1.0)


def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None,
         ref_rejected_logps=None, progress=None, chosen_lengths=None):
    """Per-example losses, shape [B]; average them for the batch loss."""
    pc, pr = policy_chosen_logps, policy_rejected_logps
    if ref_chosen_logps is None or ref_rejected_logps is None:
        raise ValueError('lf-29423ee3 needs reference log-probs')
    d_w = phi_tilde(pc) - phi_tilde(ref_chosen_logps)
    d_l = phi_tilde(pr) - phi_tilde(ref_rejected_logps)
    margin = BETA * (d_w - d_l)
    t = torch.as_tensor(0.0 if progress is None else progress, dtype=pc.dtype)
    out = link(margin, BETA * d_w, BETA * d_l, t)
    n = (torch.as_tensor(chosen_lengths, dtype=pc.dtype) if chosen_lengths is not None
         else torch.ones_like(pc))
    out = out + w_sft(t) * imitation(pc, n, t)
    return out
