"""One-off: list in the selection ledger every run recorded in benchmarks/results/ before the
ledger existed (searches, probes, sweeps, baseline and winner tables, fitness-noise studies).

    python benchmarks/backfill_ledger.py --out benchmarks/results/ledger.jsonl

Sources, each entry marked ``"backfilled": true`` with its ``source`` file:

- every result JSONL (one row per scored loss): one entry per distinct command, with the
  scenarios, seeds and budgets of its rows and the row count;
- every result JSON with a ``command`` (search summaries, fitness-noise/rank, headroom);
  es_vs_gp's runs and re-scoring commands;
- commands quoted in the write-ups (*.md) that run a search or a benchmark script and appear
  in no file above (e.g. a search stopped before it wrote a summary).

``time`` is unknown for these (null); ``commit`` is null too (the command lines do not say).
A command already in the ledger (live or backfilled) is not added again, so re-running is safe.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossforge import ledger  # noqa: E402
from lossforge.bench.scenarios import parse_seeds  # noqa: E402
from lossforge.io import append_lines  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNS = re.compile(r"python (-m lossforge\.search (?!show)|benchmarks/(baselines\.py run|"
                  r"es_vs_gp\.py (gp|rescore)|headroom\.py|fitness_noise\.py|fitness_rank\.py|"
                  r"llm_transfer\.py))")


def kind_of(command: str, source: str) -> str:
    if "lossforge.search" in command:
        return "search"
    if "es_vs_gp" in command:
        return "search"
    if "probe" in source or "/probe" in command:
        return "probe"
    if "sweep" in source:
        return "sweep"
    if "winners" in source or "--spec" in command or "--from-run" in command:
        return "winners"
    if "baselines.py" in command:
        return "baselines"
    return "study"


def flags(command: str) -> dict:
    """--scenario(s), --seed(s) and --budget of a command line."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    out: dict = {}
    for i, w in enumerate(words[:-1]):
        nxt = words[i + 1]
        if w in ("--scenario", "--scenarios"):
            out["scenario"] = nxt.split(",") if "," in nxt else nxt
        elif w in ("--seed", "--seeds"):
            try:
                out["seeds"] = list(parse_seeds(nxt))
            except Exception:  # noqa: BLE001 - a quoted command may be abbreviated
                pass
        elif w == "--budget":
            out["budget"] = nxt
    if "scenario" not in out and "headroom.py" in command and len(words) > 2:
        out["scenario"] = words[2]
    return out


def entry(command: str, source: Path, purpose: str, **fields) -> dict:
    f = flags(command)
    return {"time": None, "kind": kind_of(command, source.name), "command": command,
            "commit": None, "scenario": fields.pop("scenario", f.get("scenario")),
            "seeds": fields.pop("seeds", f.get("seeds")),
            "budget": fields.pop("budget", f.get("budget")), "purpose": purpose,
            "backfilled": True, "source": str(source.relative_to(ROOT)), **fields}


def from_jsonl(path: Path) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("command"):
            groups.setdefault(row["command"], []).append(row)
    out = []
    for command, rows in groups.items():
        scen = sorted({r["scenario"] for r in rows if "scenario" in r})
        out.append(entry(command, path, "scored losses (rows in source)",
                         scenario=scen[0] if len(scen) == 1 else scen,
                         seeds=sorted({r["seed"] for r in rows if "seed" in r}),
                         budget=",".join(sorted({r["budget"] for r in rows if "budget" in r})),
                         rows=len(rows),
                         losses=sorted({r["loss"] for r in rows if "loss" in r})))
    return out


def from_json(path: Path) -> list[dict]:
    d = json.loads(path.read_text())
    if not isinstance(d, dict):
        return []
    out = []
    if d.get("command") and RUNS.search(d["command"]):
        extra = {"run": d["run"]} if "run" in d else {}
        out.append(entry(d["command"], path, (d.get("note") or "")[:300], **extra))
    for cmd in d.get("rescore_commands", []):
        out.append(entry(cmd, path, "es_vs_gp re-scoring of the ES and GP runs"))
    return out


def from_markdown(path: Path) -> list[dict]:
    """Commands in indented or fenced blocks, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.split("  #")[0].strip().strip("`")
        line = re.sub(r"^nice -n \d+ ", "", line)
        if line.startswith("python") and RUNS.search(line):
            out.append(entry(" ".join(line.split()), path, "command quoted in a write-up"))
    return out


#: options that change no result (where it ran, how fast, what it was for), with how many words
#: follow them (-1: every word up to the next option, as a ledger line's unquoted purpose): two
#: commands that differ only in these are one run
_NO_RESULT = {"--workers": 1, "--runs-dir": 1, "--purpose": -1, "--quiet": 0, "--executor": 1}


def run_key(command: str) -> str:
    """A command as one run: without the options of ``_NO_RESULT``, and with paths read from
    the repository root (``/work/main/benchmarks/x`` and ``benchmarks/x`` are one file), so the
    shorter form a write-up quotes matches the ledger's live line of the same run."""
    try:
        words = shlex.split(command)
    except ValueError:
        return " ".join(command.split())
    kept, skip = [], 0
    for w in words:
        if skip < 0 and w.startswith("--"):
            skip = 0
        if skip:
            skip -= 1
        elif w.split("=")[0] in _NO_RESULT:
            skip = 0 if "=" in w else _NO_RESULT[w.split("=")[0]]
        else:
            kept.append(w[w.index("benchmarks/"):] if w.startswith("/") and "benchmarks/" in w
                        else w)
    return " ".join(kept)


def collect() -> list[dict]:
    entries: list[dict] = []
    for path in sorted(RESULTS.glob("*.jsonl")):
        if path.name != "ledger.jsonl":
            entries += from_jsonl(path)
    for path in sorted(RESULTS.glob("*.json")):
        entries += from_json(path)
    seen = {run_key(e["command"]) for e in entries}
    for path in sorted(RESULTS.glob("*.md")):
        for e in from_markdown(path):
            if run_key(e["command"]) not in seen:
                seen.add(run_key(e["command"]))
                entries.append(e)
    return entries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ledger.DEFAULT_PATH))
    args = ap.parse_args()
    out = Path(args.out)
    # a command already in the ledger (written live, with its time and commit, or backfilled
    # before) is not added again, whatever file it is found in now
    have = {run_key(e.get("command") or "") for e in ledger.read(out)} if out.exists() else set()
    new = []
    for e in collect():             # one entry a run, also among the new ones
        if run_key(e["command"]) not in have:
            have.add(run_key(e["command"]))
            new.append(e)
    if new:
        out.parent.mkdir(parents=True, exist_ok=True)
        append_lines(out, [json.dumps(e) for e in new])
    kinds: dict[str, int] = {}
    for e in new:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    print(f"{out}: {len(new)} backfilled entries added ({kinds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
