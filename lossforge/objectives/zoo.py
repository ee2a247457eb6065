"""The baseline zoo: known preference losses as members of the MPO family.

Each entry is data, not code: a mirror map, a link G, an optional imitation term, weights and
defaults. Names follow TRL 1.16's loss types where TRL has them, and the tests check each one
against TRL's own loss code. DPO's mirror map is p log p (phi~(l) = l + const); ORPO's is the
binary entropy (phi~ = log-odds).

    objectives.get("dpo", beta=0.1)          # overrides: any MPOSpec field or a named parameter
    objectives.get("robust", eps=0.2)

Three entries are shortcut baselines, not preference losses (``SHORTCUTS``): SFT on the chosen
side, the same filtered on length, and a zero loss (the reference). They train and score like
every loss, so a table can say when a scenario rewards a shortcut.
"""

from __future__ import annotations

import dataclasses
import math

from lossforge.errors import ConfigError, LossforgeError
from lossforge.objectives.mpo import MPOSpec, Objective

SHANNON = "p*log(p)"
BINARY_ENTROPY = "p*log(p) + (1-p)*log(1-p)"

ZOO: dict[str, MPOSpec] = {s.name: s for s in [
    MPOSpec("dpo", SHANNON, 0.1, True, "-logsigmoid(D)",
            description="DPO (Rafailov et al. 2023); TRL loss_type 'sigmoid'"),
    MPOSpec("sigmoid_norm", SHANNON, 0.1, True, "-logsigmoid(D)", aggregation="mean",
            description="DPO on length-normalised log-probs; TRL 'sigmoid_norm'"),
    MPOSpec("ipo", SHANNON, 0.1, True, "(D/beta - 1/(2*beta))**2", aggregation="mean",
            description="IPO (Azar et al. 2023), length-normalised as TRL 'ipo'"),
    MPOSpec("hinge", SHANNON, 0.1, True, "relu(1 - D)",
            description="SLiC hinge (Zhao et al. 2023); TRL 'hinge'"),
    MPOSpec("robust", SHANNON, 0.1, True,
            "(-(1 - eps)*logsigmoid(D) + eps*logsigmoid(-D))/(1 - 2*eps)", params={"eps": 0.1},
            description="robust DPO (Chowdhury et al. 2024), unbiased under flip rate eps; "
                        "TRL 'robust' with label_smoothing = eps"),
    MPOSpec("cdpo", SHANNON, 0.1, True, "-(1 - eps)*logsigmoid(D) - eps*logsigmoid(-D)",
            params={"eps": 0.1},
            description="conservative DPO (cDPO, Mitchell 2023): DPO on labels smoothed by eps; "
                        "TRL CPOTrainer loss_type 'sigmoid' with label_smoothing = eps on "
                        "log-ratios, and DPOTrainer 'aot' at one pair a call (DPOTrainer 1.16's "
                        "'sigmoid' ignores label_smoothing)"),
    MPOSpec("exo_pair", SHANNON, 0.1, True,
            "sigmoid(D)*(logsigmoid(D) - log(1 - eps)) + sigmoid(-D)*(logsigmoid(-D) - log(eps))",
            params={"eps": 0.001}, description="EXO (Ji et al. 2024); TRL 'exo_pair'"),
    MPOSpec("nca_pair", SHANNON, 0.1, True,
            "-logsigmoid(rw) - logsigmoid(-rw)/2 - logsigmoid(-rl)/2",
            description="NCA (Chen et al. 2024); TRL 'nca_pair'"),
    MPOSpec("bco_pair", SHANNON, 0.1, True, "-logsigmoid(rw) - logsigmoid(-rl)",
            description="BCO, paired form; TRL 'bco_pair'"),
    MPOSpec("sppo_hard", SHANNON, 0.1, True,
            "(rw/beta - 1/(2*beta))**2 + (rl/beta + 1/(2*beta))**2",
            description="SPPO with hard labels (Wu et al. 2024); TRL 'sppo_hard'"),
    MPOSpec("apo_zero", SHANNON, 0.1, True, "1 - sigmoid(rw) + sigmoid(rl)",
            description="APO-zero (D'Oosterlinck et al. 2024); TRL 'apo_zero'"),
    MPOSpec("apo_down", SHANNON, 0.1, True, "sigmoid(rw) + 1 - sigmoid(D)",
            description="APO-down; TRL 'apo_down'"),
    MPOSpec("discopop", SHANNON, 0.1, True,
            "-logsigmoid(D)*(1 - sigmoid(D/tau)) + exp(-D)*sigmoid(D/tau)", params={"tau": 0.05},
            description="DiscoPOP / LRML (Lu et al. 2024); TRL 'discopop' (discopop_tau = tau)"),
    MPOSpec("rpo", SHANNON, 0.1, True, "-logsigmoid(D)", imitation="-l/n", w_sft="alpha",
            params={"alpha": 1.0},
            description="DPO + NLL on the chosen response (RPO, Pang et al. 2024); TRL "
                        "loss_type ['sigmoid', 'sft'] with loss_weights [1, alpha]; the NLL is "
                        "per token (summed log-prob / length n)"),
    MPOSpec("sft", SHANNON, 1.0, False, "0", imitation="-l", aggregation="mean",
            description="SFT on chosen responses only, fine-tuned from the reference: the "
                        "BC-on-chosen shortcut of the MuJoCo benchmark, trained and scored like "
                        "every loss (its own curve); TRL loss_type 'sft'"),
    MPOSpec("orpo", BINARY_ENTROPY, 1.0, False, "-logsigmoid(D)", imitation="-l",
            w_pref="lam", aggregation="mean", params={"lam": 0.1},
            description="ORPO (Hong et al. 2024): NLL + lam * odds-ratio loss on mean "
                        "log-probs; TRL ORPOTrainer with beta = lam"),
    MPOSpec("simpo", SHANNON, 2.0, False, "-logsigmoid(D - gamma)", aggregation="mean",
            params={"gamma": 0.5},
            description="SimPO (Meng et al. 2024); TRL CPOTrainer loss_type 'simpo' with "
                        "simpo_gamma = gamma"),
    # Shortcut baselines (see SHORTCUTS): what a loss scores without learning from preferences.
    MPOSpec("length_sft", SHANNON, 1.0, False, "0",
            imitation="-(relu(n - c + 1) - relu(n - c))*l", aggregation="sum",
            params={"c": 150},
            description="length-filtered SFT: -[n_w >= c] l_w (summed log-prob of the chosen "
                        "response, only where it is at least c steps long), no preference term. "
                        "The step is exact for integer n and c; c defaults to 3/4 of the "
                        "scenario's horizon (HORIZON_FRACTIONS)"),
    MPOSpec("zero_pref", SHANNON, 1.0, False, "0",
            description="zero loss: no update, so the reference policy scored through the "
                        "training loop, on the same metric (curve) as every loss"),
]}

#: Shortcut baselines: a scenario where one of them is best (or level with the best) rewards a
#: loss for something other than learning from preferences (``lossforge.bench.audit``).
#: ``sft`` imitates the chosen side, ``length_sft`` the long chosen segments only (on Hopper and
#: Ant length is survival time), ``zero_pref`` is the reference itself.
SHORTCUTS = ("length_sft", "sft", "zero_pref")

#: Parameters whose default is a fraction of the scenario's horizon H (rounded up to a whole
#: step): ``horizon_defaults``. The zoo's own value is that fraction of H = 200.
HORIZON_FRACTIONS: dict[str, dict[str, float]] = {"length_sft": {"c": 0.75}}


def names() -> list[str]:
    return sorted(ZOO)


def get_spec(name: str, **overrides) -> MPOSpec:
    """The zoo spec ``name`` with overrides (spec fields or named parameters)."""
    if name not in ZOO:
        raise ConfigError(unknown_name(name))
    spec = ZOO[name]
    fields = {f.name for f in dataclasses.fields(MPOSpec)}
    params = dict(spec.params)
    changes = {}
    for key, value in overrides.items():
        if key in fields:
            changes[key] = value
        elif key in params:
            params[key] = value
        else:
            raise ConfigError(_no_such_setting(name, key, sorted(fields - {"name", "params"}),
                                               sorted(params)))
    return dataclasses.replace(spec, params=params, **changes)


def unknown_name(name) -> str:
    """The refusal of a zoo name the zoo lacks: the names it has, and the one ``name`` looks
    like (in another case, "DPO", or a typo, "orp")."""
    import difflib

    text = str(name)
    near = [n for n in names() if n.lower() == text.lower()] or difflib.get_close_matches(
        text.lower(), names(), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown objective {name!r}{hint}; known: {', '.join(names())}"


def _no_such_setting(name: str, key: str, fields: list[str], params: list[str]) -> str:
    """The refusal of ``name:key=...``: what can be set (the spec's fields, the member's named
    parameters), and the closest name when ``key`` looks like a typo of one."""
    import difflib

    near = difflib.get_close_matches(key, fields + params, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return (f"objective {name!r} has no field or parameter {key!r}{hint}; fields: "
            f"{', '.join(fields)}; parameters: {', '.join(params) or 'none'}")


def horizon_defaults(name: str, horizon: int) -> dict[str, float]:
    """Parameters of zoo member ``name`` that default to a fraction of the scenario's horizon:
    ``{"c": 150}`` for ``length_sft`` at H = 200, ``{"c": 75}`` at H = 100; ``{}`` for others."""
    return {k: float(math.ceil(f * horizon)) for k, f in HORIZON_FRACTIONS.get(name, {}).items()}


def scenario_spec(name: str, scenario_beta: float, horizon: int | None,
                  overrides: dict | None = None) -> MPOSpec:
    """Zoo member ``name`` as it runs on a scenario with this beta and ``horizon``: a
    DPO-family member (one with a reference) takes the scenario's beta, and a parameter sized by
    the horizon (length_sft's c, ``horizon_defaults``) its fraction of H, unless ``overrides``
    sets them. The one rule for the bench CLI, the scripts and a search's baselines."""
    overrides = overrides or {}
    sized = {k: v for k, v in (horizon_defaults(name, horizon) if horizon else {}).items()
             if k not in overrides}
    spec = get_spec(name, **sized, **overrides)
    if spec.reference and "beta" not in overrides:
        spec = get_spec(name, beta=scenario_beta, **sized, **overrides)
    return spec


#: the zoo members a loss with a linear phi~ can be, by aggregation: DPO's map is p log p, and
#: any map whose phi~(l) = a l + c (a > 0) gives D = beta a [...] exactly, so the loss is DPO at
#: beta a when everything else is DPO's
_LINEAR_PHI_MEMBERS = {"sum": "dpo", "mean": "sigmoid_norm"}


def known_as(spec: MPOSpec | dict) -> tuple[str, float] | None:
    """(zoo name, beta) when ``spec`` trains exactly as that zoo member at that beta, else None:
    its phi~(l) is a l + c with a constant a > 0 (``p*log(p)`` scaled, plus a linear term), its
    link is the member's at a scaled margin, G(D) = G_ref(k D) + c with constants k > 0 and c
    (``softplus(-4*D)`` is DPO's ``-logsigmoid(D)`` at 4 D; a constant no gradient sees), and
    it has no imitation term, a weight of 1, and the member's reference and aggregation (DPO's,
    or on mean log-probs TRL's 'sigmoid_norm'). Then the loss is the member's at beta a k term
    for term, so a search that returns it has found DPO's beta, not a new loss. Proved
    symbolically (``_link_scale``) or not said: None when SymPy cannot show it in time."""
    import sympy as sp

    from lossforge.symbolic.mirror_map import L, MirrorMap

    try:
        spec = spec if isinstance(spec, MPOSpec) else (
            MPOSpec.from_json(spec) if spec.get("kind", "symbolic") == "symbolic" else None)
        member = _LINEAR_PHI_MEMBERS.get(spec.aggregation) if spec is not None else None
        if member is None:
            return None
        ref = ZOO[member]
        if spec.reference != ref.reference or not _dpo_slots(spec):
            return None
        slope = sp.simplify(sp.diff(MirrorMap.from_formula(spec.mirror_map).phi_tilde, L))
        if slope.free_symbols or not slope.is_positive:
            return None
        k = _link_scale(spec.link, ref.link)   # the costly proof last, once per link text
    except (LossforgeError, ValueError, TypeError):   # not a spec or a map this version reads
        return None
    return None if k is None else (member, spec.beta * float(slope) * k)


def _dpo_slots(spec: MPOSpec) -> bool:
    """No imitation term (none, or one that is 0) and a preference weight of 1."""
    from lossforge.objectives.mpo import IMITATION_VARS, WEIGHT_VARS
    from lossforge.symbolic.parser import parse_formula

    return ((spec.imitation is None or parse_formula(spec.imitation, IMITATION_VARS) == 0)
            and parse_formula(str(spec.w_pref), WEIGHT_VARS) == 1)


def _link_scale(link: str, ref_link: str) -> float | None:
    """k > 0 with G(D) = G_ref(k D) + const exactly (SymPy proves the difference constant on
    the links' exp/log forms), or None. G_ref is a logistic link: G_ref'(0) = -1/2, so k can
    only be -2 G'(0). A link written in the rewards (``-logsigmoid(rw - rl)``) is read with
    rw = rl + D, which is what D is. Each answer is remembered (``known_text`` asks for every
    row a summary or report prints), a timeout's too; one where no time limit could be set
    (off the main thread: then only the member's own link text is recognised) is not."""
    import sympy as sp

    from lossforge.grammar.ops import to_elementary
    from lossforge.objectives.mpo import D, LINK_VARS, RL, RW
    from lossforge.symbolic.parser import parse_formula
    from lossforge.symbolic.timelimit import time_limit

    if (link, ref_link) in _link_scales:
        return _link_scales[link, ref_link]
    g, ref = (to_elementary(parse_formula(t, LINK_VARS)) for t in (link, ref_link))
    k = rest = None
    try:
        with time_limit(_PROOF_TIME_S) as armed:
            if not armed and link != ref_link:
                return None          # no limit can be set here: not worth an unbounded proof
            g = sp.simplify(g.subs(RW, RL + D)) if RW in g.free_symbols else g  # D = rw - rl
            if g.free_symbols == {D}:
                k = sp.simplify(-2 * sp.diff(g, D).subs(D, 0))
                rest = sp.simplify(g - ref.subs(D, k * D))
    except Exception:  # noqa: BLE001 - out of time, or SymPy failing on an odd link: not shown
        k = None
    scale = (None if k is None or k.free_symbols or not k.is_positive or rest.free_symbols
             else float(k))
    _link_scales[link, ref_link] = scale
    return scale


#: every ``_link_scale`` answer worked out in this process
_link_scales: dict[tuple[str, str], float | None] = {}

#: seconds SymPy may take to show that a link is DPO's at a scaled margin
_PROOF_TIME_S = 5.0


def get(name: str, **overrides) -> Objective:
    """The compiled zoo objective ``name`` (see ``get_spec``)."""
    return Objective(get_spec(name, **overrides))
