"""How much does segment length give the label away, with and without length control?

    python benchmarks/length_leak.py hopper-padded-clean hopper-padded-mixed-quality \
        --pairs 256 --out benchmarks/results/length-leak.json

For each scenario (optionally rebuilt at ``--pairs`` pairs: a small, cheap draw), builds the
dataset and its BC reference (both cached), then reports the accuracy of the best one-feature
rule (``lossforge.bench.lengths.predictor_accuracy``: 0.5 = says nothing, 1 = gives every label
away) for

- ``n valid``: the valid length (what terminated; hidden from the loss when padded),
- ``n seen``: the length the loss's imitation slot receives,
- ``|l_ref| sum`` / ``|l_ref| mean``: the reference log-prob the loss receives, under the
  scenario's own aggregation choices ``none`` (v1), ``segment-mean`` and ``reference-mean``
  (lossforge/bench/lengths.py),
- ``return``: the true segment return (the teacher's own signal, for scale).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # this checkout's lossforge, as benchmarks/baselines.py


def measure(name: str, pairs: int | None) -> dict:
    from lossforge.bench.fitness import reference_policy
    from lossforge.bench.lengths import predictor_accuracy
    from lossforge.bench.scenarios import load_scenario
    from lossforge.bench.trainer import prepare

    sc = load_scenario(name)
    if pairs is not None:
        sc = dataclasses.replace(sc, n_pairs=pairs)
    t0 = time.perf_counter()
    dataset, ref = reference_policy(sc)
    seconds = time.perf_counter() - t0
    chosen = dataset.chosen
    row = {"scenario": sc.name, "pairs": len(dataset), "horizon": dataset.horizon,
           "build_seconds": dataset.meta["build_seconds"], "reference_seconds": seconds,
           "mean_valid_length": float(dataset.lengths.mean()),
           "terminated_fraction": dataset.meta["terminated_fraction"],
           "return": predictor_accuracy(dataset.returns, chosen),
           "n_valid": predictor_accuracy(dataset.lengths, chosen)}
    for mode in ("none", "segment-mean", "reference-mean"):
        view = dataclasses.replace(dataset, length_control="none" if mode == "none"
                                   else "absorbing", absorbing_logp=mode)
        data = prepare(view, ref.params)
        seen = (data.segments.lengths if data.view is None else data.view.seen_lengths).numpy()
        row[mode] = {"n_seen": predictor_accuracy(seen, chosen),
                     "abs_lref_sum": predictor_accuracy(-data.ref_logps["sum"].numpy(), chosen),
                     "abs_lref_mean": predictor_accuracy(-data.ref_logps["mean"].numpy(),
                                                         chosen)}
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| scenario | pairs | terminated | return | n valid | "
            + " | ".join(f"{m}: n seen / abs l sum / abs l mean"
                         for m in ("none", "segment-mean", "reference-mean")) + " |")
    lines = [head, "|" + "---|" * (5 + 3)]
    for r in rows:
        cells = [r["scenario"], str(r["pairs"]), f"{r['terminated_fraction']:.2f}",
                 f"{r['return']:.3f}", f"{r['n_valid']:.3f}"]
        cells += [f"{r[m]['n_seen']:.3f} / {r[m]['abs_lref_sum']:.3f} / "
                  f"{r[m]['abs_lref_mean']:.3f}" for m in ("none", "segment-mean",
                                                           "reference-mean")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from lossforge.errors import LossforgeError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--pairs", type=int, default=None, help="rebuild at this many pairs")
    ap.add_argument("--out", default=None, help="write rows as JSON here (and .md next to it)")
    args = ap.parse_args(argv)
    try:
        rows = [measure(name, args.pairs) for name in args.scenarios]
    except LossforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(rows))
    if args.out:
        from lossforge.io import atomic_write_json, atomic_write_text

        out = Path(args.out)
        atomic_write_json(out, {"command": "python benchmarks/length_leak.py "
                                           + " ".join(sys.argv[1:] if argv is None else argv),
                                "rows": rows})
        atomic_write_text(out.with_suffix(".md"), markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
