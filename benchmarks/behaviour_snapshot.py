"""Snapshot what the user-facing commands produce, to prove a refactor changed no behaviour.

    python benchmarks/behaviour_snapshot.py OUT_DIR            # run everything, write OUT_DIR
    python benchmarks/behaviour_snapshot.py OUT_DIR --fast     # skip the default search (probe only)
    diff -r BEFORE_DIR AFTER_DIR                               # empty diff = identical behaviour

It runs, each in a fresh subprocess from the current directory's code: the default search
(quick scenario) and a probe-fitness search, `search show`, `export` in every format, the
`formula` CLI, and a quick bench table. It copies every file of each run directory plus every
command's stdout and exit code into OUT_DIR, with the fields that legitimately differ between
two runs (wall times, dates, absolute paths, the code commit, checksums of files that hold
them) replaced by a fixed placeholder, so `diff -r` shows only real changes. Project issue 20
asks for byte-identical results before and after the layering refactor; this is its check.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# JSON keys whose values differ from run to run without any change in behaviour.
VOLATILE_KEYS = {"seconds", "wall_seconds", "elapsed", "elapsed_s", "started", "finished",
                 "time", "timestamp", "created", "date", "commit", "code_commit", "host",
                 "python", "sha256", "eval_seconds", "train_seconds", "rollout_seconds",
                 "duration", "wall", "when", "cpu_seconds", "runs_dir", "out", "path", "timing",
                 "sha"}   # sha: a journal line's checksum, which covers its wall time
ROOT = str(Path(__file__).resolve().parents[1])   # the checkout: worktrees differ only in it
VOLATILE_TEXT = [
    (re.compile(re.escape(ROOT)), "<checkout>"),
    (re.compile(r"\d+(\.\d+)? ?(s|min|ms)\b"), "<time>"),
    (re.compile(r"\d+:\d\d:\d\d"), "<clock>"),
    (re.compile(r"\d{8}-\d{6}"), "<stamp>"),
    (re.compile(r"20\d\d-\d\d-\d\d[T ][\d:.+Z-]+"), "<date>"),
    (re.compile(r"/tmp/[^\s'\"]+"), "<tmp>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<sha>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
]


def scrub_json(obj):
    if isinstance(obj, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS else scrub_json(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_json(v) for v in obj]
    if isinstance(obj, str):
        return scrub_text(obj)
    return obj


def scrub_text(text: str) -> str:
    for pattern, placeholder in VOLATILE_TEXT:
        text = pattern.sub(placeholder, text)
    return text


def copy_scrubbed(src: Path, dst: Path) -> None:
    """Copy a run directory, scrubbing JSON/JSONL/text; binary files (PNG) by size only."""
    for f in sorted(src.rglob("*")):
        if f.is_dir():
            continue
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".json":
            try:
                out.write_text(json.dumps(scrub_json(json.loads(f.read_text())), indent=1,
                                          sort_keys=True))
                continue
            except json.JSONDecodeError:
                pass
        if f.suffix == ".jsonl":
            lines = [json.dumps(scrub_json(json.loads(line)), sort_keys=True)
                     for line in f.read_text().splitlines() if line.strip()]
            out.write_text("\n".join(lines) + "\n")
        elif f.suffix in {".png", ".pt", ".npz", ".pkl"}:
            out.write_text(f"binary file ({f.suffix})\n")   # renderer versions differ; not behaviour
        else:
            out.write_text(scrub_text(f.read_text(errors="replace")))


def run(cmd: list[str], out: Path, name: str, env: dict) -> None:
    print(f"  {name}: {' '.join(cmd)}", flush=True)
    p = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, env=env)
    try:
        text = json.dumps(scrub_json(json.loads(p.stdout)), indent=1, sort_keys=True)
    except json.JSONDecodeError:
        text = scrub_text(p.stdout)
    (out / f"{name}.stdout").write_text(text + f"\n[exit {p.returncode}]\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--fast", action="store_true", help="probe-fitness search only")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    env = {**os.environ, "LOSSFORGE_LEDGER": "off", "COLUMNS": "100", "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        searches = [("probe", ["--fitness", "probe", "--generations", "3", "--population", "8"])]
        if not args.fast:
            searches.append(("default", []))
        for label, extra in searches:
            run(["-m", "lossforge.search", "--quiet", "--runs-dir", str(runs / label), *extra],
                args.out, f"search-{label}", env)
            [rundir] = [d for d in (runs / label).iterdir() if d.is_dir()]
            copy_scrubbed(rundir, args.out / f"run-{label}")
            run(["-m", "lossforge.search", "show", str(rundir)], args.out, f"show-{label}", env)
            for fmt in ("torch", "latex", "json"):
                run(["-m", "lossforge.export", str(rundir), "--best", "--format", fmt],
                    args.out, f"export-{label}-{fmt}", env)
        run(["-m", "lossforge.export", "--zoo", "orpo", "--format", "json"], args.out,
            "export-zoo-orpo", env)
        run(["-m", "lossforge.export", "--formula", "p*log(p)", "--format", "torch"], args.out,
            "export-formula-torch", env)
        for i, formula in enumerate(["p*log(p)", "p*log(p) + (1-p)*log(1-p)", "sin(p)",
                                     "-sqrt(-l)", "__import__('os')"]):
            run(["-m", "lossforge.formula", formula, "--json"], args.out, f"formula-{i}", env)
        if not args.fast:
            run(["-m", "lossforge.bench", "--scenario", "quick", "--budget", "quick", "--quiet",
                 "--losses", "dpo:beta=2,orpo", "--formula", "p*log(p) + p**2",
                 "--out", str(runs / "bench")], args.out, "bench-quick", env)
            copy_scrubbed(runs / "bench", args.out / "run-bench")
    print(f"snapshot written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
