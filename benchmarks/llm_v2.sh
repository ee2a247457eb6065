#!/bin/bash
# The LLM test bed v2 (issue 22), cell by cell as benchmarks/results/llm-v2-mixed-quality.md and
# llm-v2-variants.md declare it. Every step is resumable (finished rows are kept) and every
# training command goes to the run ledger.
#
# Steps (bash benchmarks/llm_v2.sh STEP ...):
#   cells VARIANT [...]    per task: sweep llm-v2.toml on the tuning draw, tuned, confirm on
#                          draws 1-8 (seed 0)
#   transfer [VARIANT ...] the MuJoCo suite search's winner (the first candidate of
#                          benchmarks/sweeps/v2-candidates.toml): its rate tuned per cell as every
#                          row there was, then confirmed beside them (default: every variant)
#   headline               per variant, across the declared tasks (reverse, sort, add; not
#                          TASKS): the winner against the field (the claim), then each
#                          candidate every cell declared (re-judged), each its own Holm family
#   replicate              mixed quality on fresh draws 25-48 with every frozen pick of draws
#                          17-24 (llm-v2-mixed-quality.md, "Declared 5 Dec 2026"), then one
#                          table per candidate, the winner first (the primary)
#
# Mixed quality was tuned with the edge extension and confirmed with the merged picks on draws
# 17-24 (llm-v2-mixed-quality.md); the other variants without extension, on draws 1-8. The
# winner gets the same in each. TASKS (default "reverse sort add"); NICE, WORKERS and RESULTS
# as in benchmarks/v2_mujoco.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RESULTS:-benchmarks/results}
source benchmarks/sweep_lib.sh
read -ra TASKS <<< "${TASKS:-reverse sort add}"
VARIANTS=(mixed-quality clean noisy-0.2 length-controlled verbose-wrong)
# the tasks a headline's Holm family spans, as declared (llm-v2-mixed-quality.md): never fewer
HEADLINE_TASKS=(reverse sort add)
CAND=benchmarks/sweeps/v2-candidates.toml
TRANSFER=benchmarks/sweeps/llm-v2-transfer.toml

# cell T V: the tuned file of the cell's rows, its confirmation file, and its draws argument
cell() {
  if [ "$2" = mixed-quality ]; then
    echo "$R/sweep-llm-v2-merged-$1-$2.tuned.json" \
         "$R/confirm-llm-v2-merged-$1-$2-d17.jsonl --draws=17-24"
  else
    echo "$R/sweep-llm-v2-$1-$2.tuned.json $R/confirm-llm-v2-$1-$2.jsonl"
  fi
}

# Whether a loss is a declared candidate of llm-v2.toml (tuned and confirmed in every cell).
declared() {
  python benchmarks/tomlq.py benchmarks/sweeps/llm-v2.toml candidates --keys | tr ' ' '\n' |
    grep -qx "$1"
}

# The suite winner W first, then every candidate the cells declared, each once: the order of
# the tables (the claim first).
with_cells_candidates() {
  { echo "$1"; python benchmarks/tomlq.py benchmarks/sweeps/llm-v2.toml candidates --keys |
      tr ' ' '\n'; } | awk 'NF && !seen[$0]++'
}

step=${1:-}
[ $# -eq 0 ] || shift
case "$step" in
  cells)
    [ $# -gt 0 ] || { echo "cells: name the variants (e.g. clean noisy-0.2)" >&2; exit 2; }
    for v in "$@"; do
      for t in "${TASKS[@]}"; do
        tune benchmarks/sweeps/llm-v2.toml "llm:$t/$v" "llm-v2-$t-$v"
        run python benchmarks/baselines.py confirm --tuned "$R/sweep-llm-v2-$t-$v.tuned.json" \
            --workers "${WORKERS:-1}" --out "$R/confirm-llm-v2-$t-$v.jsonl"
      done
    done ;;
  transfer)
    have "$CAND" || refuse "transfer: no MuJoCo suite winner yet (v2_mujoco.sh candidates)"
    w=$(first_candidate "$CAND")
    if declared "$w"; then
      echo "transfer: $w is a declared candidate of llm-v2.toml: every cell tuned and" \
           "confirmed it" >&2
      exit 0
    fi
    if ! have "$TRANSFER"; then
      lrs=$(python benchmarks/tomlq.py benchmarks/sweeps/llm-v2.toml lr --sep ", ")
      k=$(python benchmarks/tomlq.py benchmarks/sweeps/llm-v2.toml halving.keep)
      spec=$(python benchmarks/tomlq.py "$CAND" "candidates.$w.spec")
      # written whole or not at all: a file cut short by a kill could still read as a sweep
      printf '%s\n' "# The MuJoCo suite search's winner on the LLM bed (issue 22), written" \
        "# once by benchmarks/llm_v2.sh transfer: its rate is its only knob, from" \
        "# llm-v2.toml's rates with its halving, as every row of the cells was tuned." \
        "description = \"LLM v2 transfer of the MuJoCo suite winner $w\"" "lr = [$lrs]" "" \
        "[candidates.$w]" "spec = \"$spec\"" "" \
        "[halving]" "keep = $k" > "$TRANSFER.tmp"
      mv "$TRANSFER.tmp" "$TRANSFER"
      have "$TRANSFER"    # (copied to R's checkout)
    fi
    [ "$(python benchmarks/tomlq.py "$TRANSFER" candidates --keys)" = "$w" ] ||
      refuse "transfer: $TRANSFER transfers another loss than $CAND's winner $w"
    for v in "${@:-${VARIANTS[@]}}"; do
      for t in "${TASKS[@]}"; do
        read -r base out draws <<< "$(cell "$t" "$v")"
        [ -e "$base" ] || refuse "transfer: $t/$v has no tuned rows (run: $0 cells $v)"
        if [ "$v" = mixed-quality ]; then
          tune "$TRANSFER" "llm:$t/$v" "llm-v2-transfer-$t-$v" "llm-v2-transfer-ext-$t-$v" \
              "llm-v2-transfer-merged-$t-$v"
          cand=$(picks "llm-v2-transfer-$t-$v" "llm-v2-transfer-ext-$t-$v" \
                 "llm-v2-transfer-merged-$t-$v" "$t/$v" "$0 transfer $v")
        else
          tune "$TRANSFER" "llm:$t/$v" "llm-v2-transfer-$t-$v"
          cand=$R/sweep-llm-v2-transfer-$t-$v.tuned.json
        fi
        run python benchmarks/baselines.py confirm --tuned "$base" --tuned "$cand" \
            ${draws:+"$draws"} --workers "${WORKERS:-1}" --out "$out"
      done
    done ;;
  headline)
    have "$CAND" || refuse "headline: no MuJoCo suite winner yet (v2_mujoco.sh candidates)"
    w=$(first_candidate "$CAND")
    declared "$w" || have "$TRANSFER" || refuse "headline: no transfer yet (run: $0 transfer)"
    # the winner first, then every candidate the cells declared (once each)
    cands=$(with_cells_candidates "$w")
    failed=()
    for v in "${VARIANTS[@]}"; do
      reports=(); absent=()
      for t in "${HEADLINE_TASKS[@]}"; do
        read -r _ out _ <<< "$(cell "$t" "$v")"
        if [ -e "${out%.jsonl}.confirm.json" ]; then reports+=("${out%.jsonl}.confirm.json")
        else absent+=("$t"); fi
      done
      if [ ${#absent[@]} -gt 0 ]; then   # a smaller family would be another claim: none
        echo "headline: $v: no confirmation of ${absent[*]} yet" >&2; failed+=("$v"); continue
      fi
      for c in $cands; do   # one refused table does not keep the others from being written
        run python benchmarks/headline.py "${reports[@]}" --candidate "$c" \
            --out "$R/llm-v2-headline-$c-$v.md" || failed+=("llm-v2-headline-$c-$v")
      done
    done
    [ ${#failed[@]} -eq 0 ] || refuse "headline: not written (see above): ${failed[*]}" ;;
  replicate)
    # declared in llm-v2-mixed-quality.md (session 20) before it ran: the same rows as draws
    # 17-24 (nothing re-tuned), 24 unused draws, the same three-task Holm family per candidate;
    # the suite winner is the primary (Holm p < 0.05), every other candidate a secondary (0.01)
    have "$CAND" || refuse "replicate: no MuJoCo suite winner yet (v2_mujoco.sh candidates)"
    w=$(first_candidate "$CAND")
    declare -A tuned_of=()
    for t in "${HEADLINE_TASKS[@]}"; do   # every task's rows first: a refusal runs nothing
      read -r base _ _ <<< "$(cell "$t" mixed-quality)"
      [ -e "$base" ] ||
        refuse "replicate: $t/mixed-quality has no tuned rows (run: $0 cells mixed-quality)"
      tuned_of[$t]="--tuned $base"
      if ! declared "$w"; then
        tuned_of[$t]+=" --tuned $(picks "llm-v2-transfer-$t-mixed-quality" \
                "llm-v2-transfer-ext-$t-mixed-quality" "llm-v2-transfer-merged-$t-mixed-quality" \
                "$t/mixed-quality" "$0 transfer mixed-quality")"
      fi
    done
    reports=()
    for t in "${HEADLINE_TASKS[@]}"; do
      out=$R/confirm-llm-v2-replication-$t-mixed-quality-d25.jsonl
      read -ra tuned <<< "${tuned_of[$t]}"
      run python benchmarks/baselines.py confirm "${tuned[@]}" --draws=25-48 \
          --workers "${WORKERS:-1}" --out "$out"
      reports+=("${out%.jsonl}.confirm.json")
    done
    failed=()
    for c in $(with_cells_candidates "$w"); do
      alpha=0.01; [ "$c" != "$w" ] || alpha=0.05
      run python benchmarks/headline.py "${reports[@]}" --candidate "$c" --alpha "$alpha" \
          --out "$R/llm-v2-replication-$c-mixed-quality.md" || failed+=("$c")
    done
    [ ${#failed[@]} -eq 0 ] || refuse "replicate: tables not written: ${failed[*]}" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2 ;;
esac
