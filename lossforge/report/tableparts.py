"""What the pages of ``benchmarks/baselines.py`` results files share (``table.py``: a run table
or a sweep; ``confirm_page.py``: a confirmation): the benchmark's own reader, the glossary of
the words the tables use, a warning's box and a caption (styled by the pages' one style sheet,
``page.py``), the final-only note and the last section.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from html import escape
from pathlib import Path

from lossforge.errors import ConfigError

#: The words of the tables, each explained in sentences true of the code they name.
GLOSSARY = (
    ("draw 0", "The scenario's own dataset, BC reference and evaluation episodes: the instance "
     "the search and every earlier result used (<code>baselines.py run</code>'s default; "
     "<code>lossforge/bench/draws.py</code>)."),
    ("tuning draw (t)", "Another instance of the scenario, with its own dataset, reference and "
     "episodes, shared with no other draw. <code>baselines.py sweep</code> tunes every "
     "baseline's settings on it, with the tuning seeds (100-102), and "
     "<code>baselines.py tuned</code> freezes each baseline's pick from those runs."),
    ("reporting draws (1, 2, ...)", "Fresh instances on which <code>baselines.py confirm</code> "
     "runs the frozen picks and the candidates. There the draw is the unit of analysis: a row's "
     "value on a draw is the mean over that draw's seeds."),
    ("BC", "Behaviour cloning: fitting a policy to the actions of the dataset's segments by "
     "maximum likelihood (<code>lossforge/bench/bc.py</code>)."),
    ("reference (BC)", "The scenario's BC policy. Every loss starts training from it; it does "
     "not train further, so its AUC is its score. (On the LLM test bed the untrained row is "
     "the reference (SFT base).)"),
    ("bc-on-chosen", "A shortcut baseline: a policy cloned from scratch (not from the "
     "reference) on the chosen segment of each pair, for its own number of BC steps. Its "
     "score is its final. Its AUC, where recorded, averages its own BC checkpoints, a curve "
     "that starts from nothing, so the headline (<code>benchmarks/headline.py</code>) judges it "
     "on final; rows written before both metrics were recorded have no AUC at all."),
    ("AUC", "The mean score over a run's training checkpoints (every "
     "<code>eval_every</code> steps, the last included). The LLM test bed scores a run once, "
     "at the end of training, so there the AUC is only the final score and the tables show "
     "final alone."),
    ("final", "The score of a run's last parameters."),
    ("± (95 % CI)", "The half-width of the 95 % t-interval of the mean: over training seeds on a "
     "run table or a sweep, over draws on a confirmation."),
    ("Holm", "Holm's step-down correction of p-values for running several tests at once: it "
     "keeps the chance of any false rejection in a family of tests at the chosen level. "
     "<code>baselines.py report</code> applies it across scenarios x baselines, per candidate "
     "and metric; the 'vs best' columns of a confirmation page are uncorrected."),
)


def glossary() -> str:
    """The glossary, collapsed (``<details>``): a click opens it."""
    from lossforge.report.glossary import collapsed

    items = "".join(f"<dt><b>{escape(term)}</b></dt><dd>{text}</dd>" for term, text in GLOSSARY)
    return collapsed("Glossary: draws, BC, bc-on-chosen, AUC and final, Holm",
                     f"<dl class=\"props\">{items}</dl>")


def warn(paragraph: str) -> str:
    """A warning paragraph (``<p class="warn" ...>...</p>``, already HTML) in its box."""
    return f"<div class=\"warnbox\">{paragraph}</div>"


def caption(text: str) -> str:
    """A table's caption (``text``: already HTML), left-aligned above it."""
    return f"<caption>{text}</caption>"


def final_only_note(scenarios: list[str], of: int) -> str:
    """The report's note above a table whose ``scenarios`` (of ``of`` in it) have no AUC but
    their final score, naming them unless they are all; "" when there are none."""
    import confirmation   # benchmarks/confirmation.py: baselines_module put it on the path

    if not scenarios:
        return ""
    which = "" if len(scenarios) == of else ", ".join(scenarios) + ": "
    return (f"<p class=\"meta\" data-metric=\"final\">{escape(which)}"
            f"{escape(confirmation.FINAL_ONLY_TEXT)}</p>")


@functools.cache
def baselines_module():
    """benchmarks/baselines.py of this checkout (the table's reader lives there)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines.py"
    if not path.exists():
        raise ConfigError(f"{path}: missing; --table needs lossforge's source checkout "
                          "(benchmarks/ is not installed with the package)")
    if str(path.parent) not in sys.path:   # its modules (cells.py, ...), as when run as a script
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("lossforge_benchmarks_baselines", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses in it look their module up there
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def reading(path: Path):
    """A results file of the wrong shape, or one whose copies of a row disagree (the reader
    refuses those), as one ConfigError naming the file."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a baselines.py results file (row field {exc})") from None
    except SystemExit as exc:
        raise ConfigError(str(exc.code)) from None


def made_by(commands: list[str]) -> str:
    """The commands that wrote the file, as the page's last section ("" when none is known)."""
    return ("<h2>Made by</h2><pre id=\"command\">" + escape("\n".join(commands)) + "</pre>"
            if commands else "")
