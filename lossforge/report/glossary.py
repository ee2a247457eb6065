"""The run page's glossary: a collapsed <details> block saying what its terms mean, each from
the code that decides it (``symbolic/checks.py``, ``objectives/properties.py``,
``symbolic/mirror_map.py``, ``search/gp.py``, ``search/rundir.py``, ``search/genome.py`` and
``search/candidates.py``, whose rejection reasons ``REJECTIONS`` explains one line each)."""

from __future__ import annotations

from html import escape

from lossforge.search.candidates import IGNORES_REJECTED, VANISHING_GRADIENT


def number(x: float) -> str:
    """1e-07 as 1e-7."""
    return f"{x:g}".replace("e-0", "e-")

#: Each reason a candidate is rejected before training (``candidates.REASONS`` and
#: ``training_rejection``), in the order the checks run: the first failing one decides.
REJECTIONS = {
    "tree": "its trees could not be read as formulas of the grammars (e.g. a link G that is "
            "identically 0)",
    "not_convex": "h was not shown strictly convex on (0, 1): e.g. a point where h'' <= 0 "
                  "(confirmed in 40-digit arithmetic), a value that is not finite, an affine "
                  "h, a function the check does not analyse, or the check raised",
    "not_differentiable": "h was not shown twice continuously differentiable on (0, 1) (e.g. "
                          "h' or h'' jumps at a kink)",
    "compile": "phi~, the log-domain form of h', could not be built or did not match "
               "40-digit arithmetic",
    "objective": "the loss could not be assembled from h and its other parts (e.g. the "
                 "printed h does not parse again)",
    "lacks_property": "a property asked for with --require does not hold (or could not be "
                      "computed)",
    "smoke_nonfinite": "on the smoke test's extreme log-probs the loss or its gradient is not "
                       "finite, or computing it raised (also when its fingerprint could not "
                       "be computed)",
    "smoke_shape": "the loss does not return one value per pair",
    "smoke_not_monotone": "raising the chosen response's log-prob raises the loss somewhere "
                          "in the smoke test (dL/dl_w > 0)",
    "vanishing_gradient": f"|dL/dl| < {number(VANISHING_GRADIENT)} for log-probs at the "
                          "fitness's scale: training would leave the reference policy "
                          "unchanged",
    "ignores_rejected": "the gradient in the rejected response's log-prob is below "
                        f"{number(IGNORES_REJECTED)} of the chosen one's (or below "
                        f"{number(VANISHING_GRADIENT)}): fine-tuning on the chosen response, "
                        "not a preference loss",
    "ignores_chosen": "the converse: the loss does not use the chosen response (it only "
                      "pushes the rejected one down)",
}

TERMS = [
    ("hall of fame rank", "the run's best losses in order, rank 0 the best: first those scored "
     "on every unit of the top budget, by that score; then (suite runs) those racing dropped "
     "there, by their partial score; then the others, by the first budget's score. "
     "export --rank and from_run(rank=) count the same way."),
    ("Pareto front", "the losses no other loss dominates: no other is both at most as large "
     "(complexity = the number of nodes of its trees) and at least as good at the top budget, "
     "strictly on one of the two. Only complete top-budget scores count."),
    ("raced out", "(suite runs) racing dropped the loss after k of the N units (scenario x "
     "training seed) because others were better with confidence; its score is an estimate "
     "from those k units: a partial mean, never the budget's best and not comparable with "
     "complete scores."),
    ("origin", "how the loss was made. random: a random tree (generation 0 after the seeds, "
     "an immigrant, or a restart when every tree was rejected); seed:NAME: a seed of the "
     "grammar file; crossover: a subtree replaced by one of a second parent; subtree: a "
     "subtree replaced by a fresh random one; point: one node swapped for another of the same "
     "kind; shrink: a node replaced by one of its arguments; constant: one constant swapped "
     "for another; copy: no operator made a new child, the first parent copied. With open "
     "slots the part that changed comes first: h:crossover changed the mirror map h, "
     "link:subtree the link G, imitation:point the imitation term. cma-es: a network of a "
     "CMA-ES run."),
    ("log domain, phi~", "phi~(l) = h'(e^l), the derivative of the mirror map written in the "
     "log-probability l = log p < 0 (its additive constant dropped) and rewritten into "
     "numerically stable functions, so it can be evaluated where p = e^l is too small to "
     "represent. The margin D is built from phi~ of the policy's log-probs (and of the "
     "reference's, where the loss uses one). A map whose phi~ is linear in l, with DPO's link "
     "and nothing else, is DPO at another beta."),
    ("Legendre (h)", "whether h'(p) -> -inf as p -> 0+ (h of Legendre type). It is recorded, "
     "not required: the search's checks of h before training are strict convexity and twice "
     "differentiability on (0, 1), not this one, so \"does not hold\" here is a fact about h, "
     "not a fault of the loss."),
    ("redescending", "the link's slope dG/dD tends to 0 as the margin D -> -inf: a pair "
     "ranked badly wrong (say, a flipped label) stops pulling. DPO's -log sigma(D) is not "
     "(G' -> -1). A property reported on the card; only --require redescending rejects "
     "losses without it."),
    ("proved / sampled", "how a check is known: proved, by a symbolic argument; sampled (\"where "
     "sampled\"), by evaluating at sample points, without a proof. A counterexample to a "
     "check of h is a point confirmed in 40-digit arithmetic."),
]


#: the Pareto front of a CMA-ES run: its "complexity" is the network's parameter count
ES_FRONT = ("Pareto front", "(a CMA-ES run) the best network alone: every network of the run "
            "has the same size, its complexity being the number of CMA-ES parameters (not a "
            "tree's nodes), so there is no trade-off of size against score to show.")


def collapsed(summary: str, body: str, element_id: str = "") -> str:
    """A collapsed glossary (``<details class="glossary">``, the pages' one style): ``summary``
    is text, ``body`` HTML. The run page and the table pages both use it."""
    ident = f" id=\"{escape(element_id)}\"" if element_id else ""
    return (f"<details class=\"glossary\"{ident}><summary>{escape(summary)}</summary>{body}"
            "</details>")


def glossary_html(method: str = "gp") -> str:
    """The run page's glossary block: terms (an ES run's Pareto front is its own), then one
    line per rejection reason."""
    terms = [ES_FRONT if method == "es" and k == "Pareto front" else (k, v) for k, v in TERMS]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in terms)
    reasons = "".join(f"<dt><code>{escape(k)}</code></dt><dd>{escape(v)}</dd>"
                      for k, v in REJECTIONS.items())
    return collapsed("Glossary: the terms of this page",
                     f"<dl class=\"props\">{items}</dl><p class=\"meta\">Rejected before "
                     "training (the counts under The search), by reason; the first failing "
                     f"check decides:</p><dl class=\"props\">{reasons}</dl>", "glossary")
