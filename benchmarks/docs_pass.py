"""Run every command the README documents, as a new user would, and time each one.

    git clone <repo> /tmp/clone && cd /tmp/clone
    python -m venv /tmp/venv && . /tmp/venv/bin/activate
    python benchmarks/docs_pass.py --out /tmp/docs-pass.json            # everything
    python benchmarks/docs_pass.py --only formula-sin,export-zoo ...    # some
    python benchmarks/docs_pass.py --render /tmp/docs-pass.json         # the markdown table

Each command runs exactly as the README writes it (``bash -c``, from the checkout's root, in the
active environment), one after another, with placeholders filled from earlier commands: the
run directory a search created stands in for ``runs/<run>`` (``runs/<es-run>`` for an ES run).
A command whose cost is hours (a 30 x 64 Hopper search, PPO zoo training) runs until its cap and
is then stopped: the row says so and keeps the last progress line, whose ETA is the honest
estimate. Every row records the exit code, the wall time and the CPU time of all child
processes (user + system), which on a shared machine says more than the wall time.

``COMMANDS`` must list every command of the README's code blocks (``tests/test_docs_pass.py``
checks both ways), so a documented command cannot go untried.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Command:
    id: str
    readme: str              # as the README writes it (comment dropped, continuations joined)
    cap_s: float = 900.0     # stopped after this many seconds (then: "capped")
    expect: int = 0          # the exit code the README promises
    sets: str | None = None  # placeholder this command's new run directory fills ("run", ...)
    run: str | None = None   # what to run instead of ``readme`` (only where the README's line
    #                          cannot run as is, e.g. its "[--latex]" option notation)


PIP_TEST = ('(command -v chromium || (apt-get update && apt-get install -y chromium)) && '
            'pip install -e ".[test]" && python -m pytest -q')
HOURS = 10 * 60   # cap of the commands that take hours: enough to see their ETA

COMMANDS = [
    Command("main", "pip install -e . && python -m lossforge.search", 1800, sets="run"),
    Command("tests", PIP_TEST, 3600),
    Command("search-default", "python -m lossforge.search"),
    Command("search-resume", "python -m lossforge.search --resume runs/<run>"),
    Command("search-show", "python -m lossforge.search show runs/<run> [--latex]",
            run="python -m lossforge.search show runs/<run> --latex"),
    Command("search-probe", "python -m lossforge.search --fitness probe"),
    Command("search-plugin", "python -m lossforge.search --fitness mypackage.myfit:evaluate",
            expect=2),   # no such module here: the documented one-line error
    Command("search-slots", "python -m lossforge.search --link-grammar grammars/link.toml "
            "--imitation-grammar grammars/imitation.toml"),
    Command("report-run", "python -m lossforge.report runs/<run>"),
    Command("report-table", "python -m lossforge.report --table "
            "benchmarks/results/baselines-hopper-full.jsonl"),
    Command("report-confirm", "python -m lossforge.report --table "
            "benchmarks/results/confirm-llm-v2-merged-sort-mixed-quality-d17.jsonl"),
    Command("export-torch", "python -m lossforge.export runs/<run> --best --format torch > "
            "my_loss.py"),
    Command("export-latex", 'python -m lossforge.export --formula "p*log(p)" --format latex'),
    Command("export-zoo", "python -m lossforge.export --zoo orpo --format json > orpo.json"),
    Command("es-extra", 'pip install -e ".[es]"', 600),
    Command("es-probe", "python -m lossforge.search --method es --fitness probe --population 4 "
            "--generations 2", sets="es-run"),
    Command("distill-probe", "python -m lossforge.distill runs/<es-run>"),
    Command("es-slots-probe", "python -m lossforge.search --method es --link-grammar "
            "grammars/link.toml --imitation-grammar grammars/imitation.toml --fitness probe "
            "--population 4 --generations 2"),
    Command("export-distilled", "python -m lossforge.export runs/<es-run>/distilled-deap.json "
            "--format torch > my_loss.py"),
    Command("export-distilled-2", "python -m lossforge.export runs/<es-run>/distilled-deap.json "
            "--format torch"),
    Command("export-network", "python -m lossforge.export runs/<es-run> --best --format torch > "
            "network_loss.py"),
    Command("bench-quick", 'python -m lossforge.bench --scenario quick --budget quick --losses '
            'dpo:beta=2,orpo --formula "p*log(p) + p**2"'),
    Command("bench-list", "python -m lossforge.bench --list-scenarios"),
    Command("formula", 'python -m lossforge.formula "p*log(p)"'),
    Command("formula-json", 'python -m lossforge.formula "p*log(p) + (1-p)*log(1-p)" --json'),
    Command("formula-sin", 'python -m lossforge.formula "sin(p)"', expect=1),
    Command("formula-link", 'python -m lossforge.formula "p*log(p)" --link "(D - 1)**2"'),
    Command("formula-evil", "python -m lossforge.formula \"__import__('os')\"", expect=2),
    Command("search-ray", "python -m lossforge.search --executor ray"),
    # the long ones: hours of compute on 2 cores; capped, their ETA is the estimate
    Command("search-llm", "python -m lossforge.search --fitness llm --llm-task reverse "
            "--llm-variant mixed-quality --aggregation mean --budget screen", HOURS),
    Command("es-hopper", "python -m lossforge.search --method es --scenario "
            "hopper-mixed-quality --budget screen --population 8 --generations 8 --sigma0 0.8",
            HOURS, sets="es-hopper"),
    Command("distill-hopper", "python -m lossforge.distill runs/<es-run> --backend deap",
            run="python -m lossforge.distill runs/<es-hopper> --backend deap"),
    Command("export-distilled-hopper", "python -m lossforge.export "
            "runs/<es-run>/distilled-deap.json --format torch > my_loss.py",
            run="python -m lossforge.export runs/<es-hopper>/distilled-deap.json --format "
            "torch > my_loss.py"),
    Command("bench-noisy", "python -m lossforge.bench --env Hopper-v5 --scenario noisy-0.3 "
            "--losses dpo,orpo,ipo,robust,hinge", HOURS),
    Command("search-big", "python -m lossforge.search --scenario hopper-noisy-0.3 --grammar "
            "grammars/mirror_map_dcp.toml --generations 30 --population 64 --seed 1", HOURS),
    Command("search-suite", "python -m lossforge.search --suite benchmarks/suites/train.toml",
            HOURS),
    Command("zoo-train", "python -m lossforge.bench.zoo train --env Hopper-v5", HOURS),
]
BY_ID = {c.id: c for c in COMMANDS}


def readme_commands(text: str) -> list[str]:
    """The commands of the README's indented code blocks (lines starting ``python``, ``pip`` or
    the test command's ``(command``), continuation lines joined, trailing comments dropped."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if re.match(r"^    (\(command|pip |python )", lines[i]):
            parts = [lines[i].strip()]
            while re.search(r"\\\s*(#.*)?$", parts[-1]):
                parts[-1] = re.sub(r"\\\s*(#.*)?$", "", parts[-1]).strip()
                i += 1
                parts.append(lines[i].strip())
            cmd = " ".join(parts)
            cmd = re.sub(r"\s+#\s.*$", "", cmd).strip()   # "  # comment" (not "#" in quotes)
            out.append(re.sub(r"\s+", " ", cmd))
        i += 1
    return out


def fill(cmd: str, places: dict[str, str], unfinished: set[str] = frozenset()) -> str:
    """``cmd`` with ``runs/<key>`` replaced by the run directory an earlier command made;
    KeyError when there is none, or when that command was stopped at its cap (its directory
    holds no results yet, so the command would fail for a reason the README does not have)."""
    for key in unfinished:
        if f"runs/<{key}>" in cmd:
            raise KeyError(f"runs/<{key}> is a run stopped at its cap (not finished)")
    for key, path in places.items():
        cmd = cmd.replace(f"runs/<{key}>", path)
    missing = re.findall(r"runs/<[^>]+>", cmd)
    if missing:
        raise KeyError(f"no run directory yet for {missing[0]} (run the command that makes it)")
    return cmd


def _run_dirs(root: Path) -> set[Path]:
    return set((root / "runs").glob("*")) if (root / "runs").exists() else set()


def run_one(c: Command, places: dict[str, str], root: Path,
            unfinished: set[str] | None = None) -> dict:
    """Run ``c`` (placeholders from ``places``); a capped command that makes a run directory
    adds its key to ``unfinished``."""
    unfinished = set() if unfinished is None else unfinished
    cmd = fill(c.run or c.readme, places, unfinished)
    before = _run_dirs(root)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(["bash", "-c", cmd], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    tail: list[str] = []
    capped = False
    try:
        out, _ = p.communicate(timeout=c.cap_s)
    except subprocess.TimeoutExpired:
        capped = True
        os.killpg(p.pid, 15)
        out, _ = p.communicate()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tail = [x for x in (out or "").splitlines()   # the last lines of output, without the
            if x.strip() and "warn" not in x.lower()][-8:]   # warnings a kill provokes
    new = sorted(_run_dirs(root) - before, key=lambda d: d.stat().st_mtime)
    if c.sets and new:
        places[c.sets] = str(new[-1].relative_to(root))
        if capped:
            unfinished.add(c.sets)
        else:
            unfinished.discard(c.sets)
    ok = capped or p.returncode == c.expect
    return {"id": c.id, "readme": c.readme, "ran": cmd, "exit": None if capped else p.returncode,
            "expected_exit": c.expect, "ok": ok, "capped_after_s": c.cap_s if capped else None,
            "wall_s": round(wall, 1),
            "cpu_s": round((cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), 1),
            "tail": tail, "load": os.getloadavg()[0],
            "run_dir": places.get(c.sets) if c.sets else None}


def _dur(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h"


def render(rows: list[dict]) -> str:
    lines = ["| command | exit | CPU time | wall time | note |", "|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| `{r['readme']}` | | | | not run: {r['skipped']} |")
            continue
        note = ""
        if r["capped_after_s"]:
            eta = next((t for t in reversed(r["tail"]) if "ETA" in t), r["tail"][-1] if r["tail"]
                       else "")
            note = f"stopped at the {_dur(r['capped_after_s'])} cap; last progress: {eta}"
        elif not r["ok"]:
            note = f"FAILED (expected exit {r['expected_exit']}): {r['tail'][-1] if r['tail'] else ''}"
        exit_ = "capped" if r["capped_after_s"] else str(r["exit"])
        lines.append(f"| `{r['readme']}` | {exit_} | {_dur(r['cpu_s'])} | {_dur(r['wall_s'])} "
                     f"| {note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="results JSON (rows are added as they finish)")
    ap.add_argument("--only", help="comma-separated command ids (default: all, in order)")
    ap.add_argument("--skip", default="", help="comma-separated command ids not to run")
    ap.add_argument("--render", type=Path, help="print the markdown table of a results JSON")
    ap.add_argument("--places", default="", help="run dirs of earlier passes, key=path,...")
    args = ap.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())["rows"]), end="")
        return 0
    if not args.out:
        ap.error("--out is required to run commands")
    ids = args.only.split(",") if args.only else [c.id for c in COMMANDS]
    unknown = [i for i in ids + [s for s in args.skip.split(",") if s] if i not in BY_ID]
    if unknown:
        ap.error(f"unknown command id(s): {', '.join(unknown)}; known: {', '.join(BY_ID)}")
    places = dict(kv.split("=", 1) for kv in args.places.split(",") if kv)
    done = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    unfinished = set(done.get("unfinished", []))
    for cid in ids:
        c = BY_ID[cid]
        if cid in args.skip.split(","):
            continue
        print(f"{time.strftime('%H:%M:%S')} {c.id}: {c.readme}", flush=True)
        try:
            row = run_one(c, places, ROOT, unfinished)
        except KeyError as exc:
            row = {"id": c.id, "readme": c.readme, "skipped": str(exc)}
        done["rows"] = [r for r in done["rows"] if r["id"] != cid] + [row]
        done["places"], done["unfinished"] = places, sorted(unfinished)
        args.out.write_text(json.dumps(done, indent=1))
        print(f"  -> exit {row.get('exit')}, wall {row.get('wall_s')} s, cpu {row.get('cpu_s')} s"
              f"{', CAPPED' if row.get('capped_after_s') else ''}"
              f"{'' if row.get('ok', True) else ', NOT AS DOCUMENTED'}", flush=True)
    bad = [r["id"] for r in done["rows"] if not r.get("ok", True)]
    if bad:
        print(f"not as documented: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
