# Shared by the plan drivers (benchmarks/v2_mujoco.sh, benchmarks/llm_v2.sh): sourced after
# `cd` to the repository with R set (where rows go: benchmarks/results, or the main checkout's
# when a clone runs the jobs). Every command is echoed and niced; baselines.py writes each
# to the run ledger itself.

run() { echo "+ $*" >&2; nice -n "${NICE:-15}" "$@"; }
refuse() { echo "$*" >&2; exit 1; }   # a step that cannot run yet: why, and what to run first
# A sweep file a driver writes is named by the rows it makes as benchmarks/sweeps/<file> of the
# checkout that runs; with R in another checkout it is copied there too.
keep() { [ "$R" = benchmarks/results ] || cp "$1" "$R/../sweeps/"; }
# A file of this checkout, else the same file of R's checkout.
where() { [ -e "$1" ] && echo "$1" || echo "$R/../$(basename "$(dirname "$1")")/$(basename "$1")"; }
exists() { [ -e "$(where "$1")" ]; }

# picks NAME EXT MERGED LABEL HINT: the tuned file to use: $R/sweep-MERGED.tuned.json once the
# edge extension EXT is declared (benchmarks/sweeps/EXT.toml exists), else
# $R/sweep-NAME.tuned.json; refuses (exit 1: "LABEL: ... (run: HINT)") while a declared
# extension is not merged yet.
picks() {
  local name=$1 ext=$2 merged=$3 label=$4 hint=$5
  if exists "benchmarks/sweeps/$ext.toml" || [ -e "$R/sweep-$merged.tuned.json" ]; then
    [ -e "$R/sweep-$merged.tuned.json" ] ||
      refuse "$label: its edge extension is not finished (run: $hint)"
    echo "$R/sweep-$merged.tuned.json"
  else
    echo "$R/sweep-$name.tuned.json"
  fi
}

# tune FILE SCENARIO NAME [EXT MERGED]: the declared sweep FILE on the scenario's tuning draw
# (rows $R/sweep-NAME.jsonl) and its picks; with EXT and MERGED the declared edge extension
# (v2-plan.md, the LLM rule): `extend` writes benchmarks/sweeps/EXT.toml once (not at all when no
# pick is on an edge), its sweep and picks, and `merge` into $R/sweep-MERGED.tuned.json.
tune() {
  local file=$1 scen=$2 name=$3 ext=${4:-} merged=${5:-}
  run python benchmarks/baselines.py sweep "$file" --scenarios "$scen" --budget full \
      --workers "${WORKERS:-1}" --out "$R/sweep-$name.jsonl"
  run python benchmarks/baselines.py tuned "$R/sweep-$name.jsonl"
  [ -n "$ext" ] || return 0
  local f=benchmarks/sweeps/$ext.toml
  if ! exists "$f"; then
    run python benchmarks/baselines.py extend "$R/sweep-$name.tuned.json" --out "$f"
    [ ! -e "$f" ] || keep "$f"
  fi
  if [ -e "$f" ]; then
    run python benchmarks/baselines.py sweep "$f" --scenarios "$scen" --budget full \
        --workers "${WORKERS:-1}" --out "$R/sweep-$ext.jsonl"
    run python benchmarks/baselines.py tuned "$R/sweep-$ext.jsonl"
    run python benchmarks/baselines.py merge "$R/sweep-$name.tuned.json" \
        "$R/sweep-$ext.tuned.json" --out "$R/sweep-$merged.tuned.json"
  fi
}

# The first candidate of a sweep file (the search's winner in the candidates' sweep).
first_candidate() {
  local names
  read -ra names <<< "$(python benchmarks/tomlq.py "$(where "$1")" candidates --keys)"
  echo "${names[0]}"
}
