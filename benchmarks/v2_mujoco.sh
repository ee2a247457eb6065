#!/bin/bash
# Benchmark v2 on MuJoCo, the declared plan of benchmarks/results/v2-plan.md, one step at a time.
# Every step is resumable (run it again after a kill: finished rows are kept) and appends its
# commands to the run ledger (benchmarks/results/ledger.jsonl, or $LOSSFORGE_LEDGER).
#
# Steps (bash benchmarks/v2_mujoco.sh STEP [SCENARIO ...]), in the plan's order:
#   sweep [S ...]          train-suite tuning (default: all 7 in turn) of the baselines and
#                          of the trained shortcut (v2-shortcuts.toml), each pick on a grid
#                          edge extended once
#   shortlist              the tuned picks per scenario -> benchmarks/sweeps/v2-test.toml
#   audit                  draw-0 builds; shortcut audit (train: with the shortcut baselines
#                          at screen; test: labels only)
#   reference              the tuned baselines on the suite search's units
#   search                 the declared suite search (issue 19); resumes; records its run
#   candidates [S ...]     its winner + the declared candidates: learning rate tuned per train
#                          scenario (+ edges)
#   confirm-train [S ...]  draws 1-5 x seeds 0-2: tuned baselines, fixed rows, candidates
#                          -> confirm-v2-train.jsonl
#   test-tune [S ...]      test suite: the shortlist, the shortcut's and the candidates'
#                          sweeps (those two: their three rates and their train picks)
#   test-confirm [S ...]   test suite: draws 1-5 -> confirm-v2-test.jsonl
#   ablate [S ...]         the winner's slots ablated (issue 19): arms tuned, then confirmed
#                          beside confirm-train's rows
#   headline [SUITE ...]   per suite (default test, then train): the field's table (which
#                          scenarios discriminate), then each candidate against it; one
#                          refusal does not keep the other tables from being written
#   all                    every step above, each resuming, but the test suite's steps and
#                          their headline before confirm-train and ablate (v2-plan.md, Session
#                          19); stops at the first that refuses (WORKERS=2 ... all: one job on
#                          both cores)
#   es-vs-gp               GP vs ES, same slots, equal evaluations (issue 19; done)
# Where the plan stands (nothing runs): python benchmarks/v2_status.py
# Ending a session: start the job with LOSSFORGE_DRAIN=FILE set; touching FILE then makes every
# step finish the (draw, seed) cells it has begun, begin no other, and exit with status 3 (the
# job stops there), so no cell is left half done for a later session on another machine, whose
# rebuilt dataset would make that cell's pairs unclean (benchmarks/cells.py, DRAIN_VAR). Touch
# it one begun cell's time ahead: 10-15 min in a confirmation, up to an hour in a sweep's stage 1.
#
# Steps with scenarios take the suite's by default, in turn; two jobs on two cores can share a
# step (rows files are shareable), better on different scenarios. The search's run lives with
# the results ($R/v2-suite-search/), one job at a time (a lock); every step may run in any
# checkout whose RESULTS are those. Environment: NICE
# (default 15), WORKERS (default 1; the search's default is 2), RESULTS (default
# benchmarks/results: point a clone that runs the jobs at the main checkout's; the ledger
# follows it unless LOSSFORGE_LEDGER says otherwise). A file one checkout declares (a sweep
# file, a spec) is copied to the other when a step needs it (sweep_lib.sh `have`): update a
# clone with `git checkout -f origin/main`, which replaces such copies by the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RESULTS:-benchmarks/results}
TRAIN=(hopper-padded-mixed-quality hopper-padded-noisy-0.3 hopper-padded-clean
       hopper-padded-noisy-0.1 hopper-padded-noisy-0.2 hopper-padded-noisy-0.4
       hopper-padded-ambiguous)
source benchmarks/sweep_lib.sh
names=$(python benchmarks/tomlq.py benchmarks/suites/test.toml scenarios --field name)
read -ra TEST <<< "$names"
[ ${#TEST[@]} -gt 0 ] || refuse "benchmarks/suites/test.toml: no scenarios"
# The picks of a train scenario S (P "" the baselines', "cand-" the candidates'; STEP the step
# that tunes them): merged with its edge extension once that is declared.
picks_of() {
  local s=$1 p=${2:-} step=${3:-sweep}
  picks "v2-$p$s" "v2-${p}ext-$s" "v2-${p}merged-$s" "$s" "$0 $step $s"
}
# tune_v2 FILE P S [extend]: tune's names for this plan (sweep-v2-PS, v2-Pext-S, v2-Pmerged-S)
tune_v2() {
  local file=$1 p=$2 s=$3
  if [ -n "${4:-}" ]; then tune "$file" "$s" "v2-$p$s" "v2-${p}ext-$s" "v2-${p}merged-$s"
  else tune "$file" "$s" "v2-$p$s"; fi
}
# $R/v2-suite-search.path names the suite search's runs directory (written before it starts),
# so every checkout finds the run: "v2-suite-search", relative to the results it sits in (a
# clone's committed results find their own copy of the run; an older marker holds an absolute
# path, read as it is). A marker without its runs folder (it came with a commit, the run did
# not) is refused: the search runs in another checkout.
SEARCH_AT=$R/v2-suite-search.path
search_runs() {
  local m; m=$(cat "$SEARCH_AT")
  case "$m" in /*) echo "$m" ;; *) echo "$(cd "$R" && pwd)/$m" ;; esac
}
search_dir() {
  [ ! -e "$SEARCH_AT" ] || ls -d "$(search_runs)"/*-suite-train-s0 2>/dev/null | tail -n 1 || true
}
CAND=benchmarks/sweeps/v2-candidates.toml
# the trained shortcut baseline (SFT from the reference; v2-plan.md, "Session 16"): tuned and
# confirmed beside the baselines, in its own sweep file (shortlist reads one sweep at a time)
SHORT=benchmarks/sweeps/v2-shortcuts.toml
# On the test suite the shortcut and the candidates, whose only knob is the learning rate, tune
# on their three rates plus every rate they picked on the train suite (its edge extensions
# included), as the baselines' shortlist holds their train picks (v2-plan.md, "Session 22")
TSHORT=benchmarks/sweeps/v2-test-shortcuts.toml
TCAND=benchmarks/sweeps/v2-test-candidates.toml
# test_rates SWEEP P STEP OUT: OUT, written once (shortlist --take grid+picks) from SWEEP's
# picks on every train scenario (P and STEP as picks_of's)
test_rates() {
  local p=$2 step=$3 out=$4 files=() s
  have "$out" && return 0
  for s in "${TRAIN[@]}"; do files+=("$(picks_of "$s" "$p" "$step")"); done
  run python benchmarks/baselines.py shortlist "${files[@]}" --suite train --take grid+picks \
      --keep 2 --out "$out"
  have "$out" || refuse "test-tune: shortlist wrote no $out (from $1's picks)"
}

step=${1:-}
[ $# -eq 0 ] || shift    # the step's scenarios, if any, are "$@"
case "$step" in
  sweep)
    for s in "${@:-${TRAIN[@]}}"; do
      tune_v2 benchmarks/sweeps/v2.toml "" "$s" extend
      tune_v2 "$SHORT" short- "$s" extend
    done ;;
  shortlist)
    # refuses unless every train scenario is tuned; written once, before any test-suite run
    if have benchmarks/sweeps/v2-test.toml; then
      echo "benchmarks/sweeps/v2-test.toml exists: the test suite's sweep is declared" >&2
    else
      files=()
      for s in "${TRAIN[@]}"; do files+=("$(picks_of "$s")"); done
      run python benchmarks/baselines.py shortlist "${files[@]}" --suite train \
          --take picks --keep 2 --out benchmarks/sweeps/v2-test.toml
      have benchmarks/sweeps/v2-test.toml || refuse "shortlist: wrote no sweep file"
    fi ;;
  audit)
    # plan step 2. The train suite's draw 0 is what the suite search trains on; its audit trains
    # the shortcut baselines next to DPO, ORPO and cDPO at screen. The test suite's audit reads
    # labels and lengths only (no loss trains on a test scenario before its declared tuning).
    run python benchmarks/audit.py "${TRAIN[@]}" --build --budget screen --seeds 0-4 \
        --workers "${WORKERS:-1}" --out "$R/audit-v2-train.md"
    run python benchmarks/audit.py "${TEST[@]}" --build --out "$R/audit-v2-test.md" ;;
  reference)
    tuned=()
    for s in "${TRAIN[@]}"; do   # one substitution an assignment: a refusal stops the step
      base=$(picks_of "$s"); short=$(picks_of "$s" short-)
      tuned+=(--tuned "$base" --tuned "$short")
    done
    run python benchmarks/baselines.py suite-reference --suite train "${tuned[@]}" \
        --rungs screen,full --workers "${WORKERS:-1}" \
        --runs "$R/suite-reference-train.jsonl" --out "$R/suite-reference-train.json" ;;
  search)
    # declared in v2-plan.md ("Step 3"); the same command resumes the run it started, in the
    # checkout that started it (another refuses; a second job there waits for none: it refuses)
    # this search's own runs directory (one run in it) lives with the results and is committed
    # with them: a session's machine keeps nothing but the repository, so a run left in a
    # checkout's runs/ could not resume in the next session
    runs=$(cd "$R" && pwd)/v2-suite-search
    if [ -e "$SEARCH_AT" ]; then
      [ "$(search_runs)" = "$runs" ] ||
        refuse "search: it runs in $(search_runs); run this step with RESULTS pointing there"
      # its folder here without a run: a start that failed before the run directory (retried)
      [ -n "$(search_dir)" ] || [ -d "$runs" ] || refuse "search: $SEARCH_AT is here but its" \
        "run is not (the search runs in another checkout: run this step with RESULTS pointing" \
        "there, or remove the marker if no search ever started)"
    fi
    mkdir -p "$runs"
    exec 9> "$runs/.lock"
    flock -n 9 || refuse "search: another job is running it ($runs/.lock)"
    echo "v2-suite-search" > "$SEARCH_AT"
    dir=$(search_dir)
    cmd=(python -m lossforge.search --suite benchmarks/suites/train.toml
         --suite-baselines "$R/suite-reference-train.json"
         --aggregation mean --link-grammar grammars/link.toml
         --imitation-grammar grammars/imitation.toml
         --population 16 --generations 8 --budget full --seed 0 --workers "${WORKERS:-2}"
         --runs-dir "$runs" --purpose "v2-plan step 3: the declared suite search (issue 19)")
    if [ -n "$dir" ]; then
      run python -m lossforge.search --resume "$dir" --workers "${WORKERS:-2}"
    else
      run "${cmd[@]}"
      dir=$(search_dir)
      [ -n "$dir" ] || refuse "search: no run directory under $runs"
    fi
    # its record in the results (config, generations, hall of fame), the command with it
    run python benchmarks/record_search.py "$dir" --out-dir "$R" \
        --command "$(printf '%q ' "${cmd[@]}")" ;;
  candidates)
    # plan step 3, after the search: its winner by the declared rule (suite_winner.py refuses an
    # unfinished run or one with fewer than two losses at full) joins the three declared
    # candidates in one sweep file, written once; each train scenario tunes their learning rate
    # as it tuned the baselines (tuning draw, seeds 100-102, halving, the edge extension)
    if ! have "$CAND"; then
      dir=$(search_dir)
      [ -n "$dir" ] || refuse "candidates: no suite search run yet (run: $0 search)"
      run python benchmarks/suite_winner.py "$dir" --sweep "$CAND"
      have "$CAND" || refuse "candidates: suite_winner.py wrote no $CAND"
    fi
    for s in "${@:-${TRAIN[@]}}"; do tune_v2 "$CAND" cand- "$s" extend; done ;;
  confirm-train)
    # plan step 4: draws 1-5 x seeds 0-2 (confirm's defaults), every tuned baseline and candidate
    # at its merged pick, the fixed rows; one file for the suite (Holm across its scenarios)
    for s in "${@:-${TRAIN[@]}}"; do
      base=$(picks_of "$s"); cand=$(picks_of "$s" cand- candidates)   # (a refusal stops here)
      short=$(picks_of "$s" short-)
      run python benchmarks/baselines.py confirm --tuned "$base" --tuned "$short" \
          --tuned "$cand" --scenarios "$s" \
          --workers "${WORKERS:-1}" --out "$R/confirm-v2-train.jsonl"
    done ;;
  test-tune)
    # plan step 5 (Cut 2): each test scenario tunes the baselines on the train suite's shortlist
    # and the candidates and the shortcut on their three rates plus their train picks (Session
    # 22), all on its tuning draw; no edge extension
    have benchmarks/sweeps/v2-test.toml || refuse "test-tune: no shortlist (run: $0 shortlist)"
    have "$CAND" || refuse "test-tune: no candidates' sweep (run: $0 candidates)"
    test_rates "$SHORT" short- sweep "$TSHORT"
    test_rates "$CAND" cand- candidates "$TCAND"
    for s in "${@:-${TEST[@]}}"; do
      tune_v2 benchmarks/sweeps/v2-test.toml test- "$s"
      tune_v2 "$TSHORT" short- "$s"
      tune_v2 "$TCAND" cand- "$s"
    done ;;
  test-confirm)
    for s in "${@:-${TEST[@]}}"; do
      run python benchmarks/baselines.py confirm --tuned "$R/sweep-v2-test-$s.tuned.json" \
          --tuned "$R/sweep-v2-short-$s.tuned.json" \
          --tuned "$R/sweep-v2-cand-$s.tuned.json" --scenarios "$s" \
          --workers "${WORKERS:-1}" --out "$R/confirm-v2-test.jsonl"
    done ;;
  ablate)
    # declared in v2-plan.md (session 15): each slot of the suite winner replaced in turn
    # (ablate.py specs; Session 22: and the two combined arms), every arm tuned as the winner
    # was (v2.toml's rates, every rate on every tuning seed, the edge extension), then
    # confirmed on the train suite's draws 1-5 in confirm-train's file (its rows are reused);
    # the table adds the suite-mean test of the preference term (Session 22, item 4)
    have "$CAND" || refuse "ablate: no candidates' sweep (run: $0 candidates)"
    w=$(first_candidate "$CAND")
    ab=benchmarks/sweeps/v2-ablate-$w.toml
    if ! have "$ab"; then
      have "benchmarks/results/winners/$w.json" || refuse "ablate: no spec of the winner $w"
      lrs=$(python benchmarks/tomlq.py benchmarks/sweeps/v2.toml lr --sep ,)
      run python benchmarks/ablate.py specs "benchmarks/results/winners/$w.json" \
          --out-dir benchmarks/results/ablations --sweep-out "$ab" --lr "$lrs" --without-full \
          --combined
      have "$ab" || refuse "ablate: ablate.py wrote no $ab"
    fi
    for s in "${@:-${TRAIN[@]}}"; do
      tune_v2 "$ab" ablate- "$s" extend
      base=$(picks_of "$s"); cand=$(picks_of "$s" cand- candidates)
      short=$(picks_of "$s" short-); arms=$(picks_of "$s" ablate- ablate)
      run python benchmarks/baselines.py confirm --tuned "$base" --tuned "$short" \
          --tuned "$cand" --tuned "$arms" --scenarios "$s" \
          --workers "${WORKERS:-1}" --out "$R/confirm-v2-train.jsonl"
    done
    run python benchmarks/ablate.py table "$R/confirm-v2-train.confirm.json" --loss "$w" \
        --suite benchmarks/suites/train.toml \
        --out "$R/ablation-v2-train-$w.md" ;;
  headline)
    # per suite: the tuned field (field_v2.py), then each candidate against it per scenario and
    # on the suite mean (headline.py)
    # (headline SUITE ...: those suites only; default test, then train)
    have "$CAND" || refuse "headline: no candidates' sweep (run: $0 candidates)"
    cands=$(python benchmarks/tomlq.py "$CAND" candidates --keys)
    failed=()
    suites=("$@"); [ $# -gt 0 ] || suites=(test train)   # the test suite first: the claim
    for suite in "${suites[@]}"; do
      case "$suite" in test | train) ;; *) refuse "headline: no suite $suite (test, train)" ;; esac
      [ -e "$R/confirm-v2-$suite.confirm.json" ] ||
        { echo "headline: no $suite confirmation yet" >&2; continue; }
      run python benchmarks/field_v2.py "$R/confirm-v2-$suite.confirm.json" \
          --suite "benchmarks/suites/$suite.toml" --out "$R/field-v2-$suite.md" ||
        failed+=("field-v2-$suite")
      for c in $cands; do
        # issue 19's claim: the declared winner (the candidates' first) on the test suite only;
        # every other page judges the bar and says it is not the claim (v2-plan.md, Session 25)
        claim=(); [ "$suite" = test ] && [ "$c" = "$(first_candidate "$CAND")" ] && claim=(--claim)
        run python benchmarks/headline.py "$R/confirm-v2-$suite.confirm.json" --candidate "$c" \
            --suite "benchmarks/suites/$suite.toml" "${claim[@]}" \
            --out "$R/headline-v2-$suite-$c.md" || failed+=("headline-v2-$suite-$c")
      done
    done
    [ ${#failed[@]} -eq 0 ] || refuse "headline: not written (see above): ${failed[*]}" ;;
  all)
    # one job for the rest of the plan: finished steps pass in seconds (their rows are there).
    # The test suite, where the claim is judged, straight after the candidates, and its
    # headline then (v2-plan.md, Session 19: about 24 of the 42 job-hours after the search),
    # before the train suite's confirmation and the ablation (the other 18). That first
    # headline is the test suite's only (the train suite's report is partial while
    # confirm-train runs, and its tables refuse a partial report), and a refusal there does not
    # hold back the train suite's steps; the last headline does both suites.
    for st in sweep shortlist audit reference search candidates test-tune test-confirm \
              "headline test" confirm-train ablate headline; do
      echo "== $st" >&2
      if [ "$st" = "headline test" ]; then
        bash "$PWD/benchmarks/v2_mujoco.sh" headline test ||
          echo "all: the test suite's headline refused (above); the train suite's steps go on" >&2
      else
        bash "$PWD/benchmarks/v2_mujoco.sh" "$st"
      fi
    done ;;
  es-vs-gp)
    # declared in v2-plan.md ("GP vs ES"); each part resumes (or is redone whole: the re-scores)
    S=hopper-padded-mixed-quality; runs=runs/v2-es-vs-gp; W=${WORKERS:-1}
    es=$(ls -d "$runs"/es/*/ 2>/dev/null | tail -n 1 || true)
    if [ -z "$es" ]; then
      run python benchmarks/es_vs_gp.py es --slots link,imitation --scenario "$S" \
          --budget screen --aggregation mean --population 8 --generations 8 --sigma0 0.8 \
          --seed 0 --workers "$W" --runs-dir "$runs/es" --quiet \
          --purpose "v2-plan: GP vs ES at equal evaluations, the ES side (issue 19)"
      es=$(ls -d "$runs"/es/*/ | tail -n 1)
    else
      run python -m lossforge.search --resume "$es" --workers "$W" --quiet
    fi
    gp=$(ls -d "$runs"/gp/*/ 2>/dev/null | tail -n 1 || true)
    if [ -z "$gp" ]; then
      run python benchmarks/es_vs_gp.py gp --es "$es" --equal-evaluations --population 32 \
          --workers "$W" --runs-dir "$runs/gp"
      gp=$(ls -d "$runs"/gp/*/ | tail -n 1)
    else
      run python benchmarks/es_vs_gp.py gp --es "$es" --equal-evaluations --resume "$gp" \
          --workers "$W"
    fi
    [ -e "$es/distilled-deap.json" ] || run python -m lossforge.distill "$es" --backend deap \
        --workers "$W"
    [ -e "$es/rescore-full.json" ] || run python benchmarks/es_vs_gp.py rescore --es "$es" \
        --gp "$gp" --budget full --workers "$W"
    run python benchmarks/es_vs_gp.py table --es "$es" --gp "$gp" --out "$R" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
    exit 2 ;;
esac
