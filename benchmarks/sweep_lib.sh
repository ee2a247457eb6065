# Shared by the plan drivers (benchmarks/v2_mujoco.sh, benchmarks/llm_v2.sh): sourced after
# `cd` to the repository with R set (where rows go: benchmarks/results, or the main checkout's
# when a clone runs the jobs). Every command is echoed and niced; baselines.py writes each
# to the run ledger itself.

run() { echo "+ $*" >&2; nice -n "${NICE:-15}" "$@"; }
refuse() { echo "$*" >&2; exit 1; }   # a step that cannot run yet: why, and what to run first
# Every command's ledger line goes to R's ledger (a clone's rows and lines land in one place).
export LOSSFORGE_LEDGER=${LOSSFORGE_LEDGER:-$R/ledger.jsonl}

# have FILE (a path relative to the repository, e.g. benchmarks/sweeps/v2-test.toml): whether
# the declared file exists. A file the rows name (a sweep file, a spec) must be in the checkout
# that runs them and in R's: when R is another checkout, a copy that exists in only one of the
# two is copied to the other first (so a kill between writing and copying loses nothing, and a
# job in either checkout sees what the other declared).
have() {
  if [ "$R" != benchmarks/results ]; then
    local there=$R/../../$1
    if [ -e "$1" ] && [ ! -e "$there" ]; then mkdir -p "$(dirname "$there")"; cp "$1" "$there"
    elif [ ! -e "$1" ] && [ -e "$there" ]; then mkdir -p "$(dirname "$1")"; cp "$there" "$1"; fi
  fi
  [ -e "$1" ]
}

# picks NAME EXT MERGED LABEL HINT: the tuned file of a sweep that has the edge extension EXT:
# $R/sweep-MERGED.tuned.json once it is merged, $R/sweep-NAME.tuned.json when `extend` found no
# pick on an edge ($R/sweep-EXT.none); refuses (exit 1: "LABEL: ... (run: HINT)") while the
# extension is not decided yet or not merged yet.
picks() {
  local name=$1 ext=$2 merged=$3 label=$4 hint=$5
  if [ -e "$R/sweep-$merged.tuned.json" ]; then echo "$R/sweep-$merged.tuned.json"
  elif have "benchmarks/sweeps/$ext.toml"; then
    refuse "$label: its edge extension is not finished (run: $hint)"
  elif [ -e "$R/sweep-$ext.none" ]; then echo "$R/sweep-$name.tuned.json"
  else refuse "$label: its sweep and edge extension are not finished (run: $hint)"; fi
}

# tune FILE SCENARIO NAME [EXT MERGED]: the declared sweep FILE on the scenario's tuning draw
# (rows $R/sweep-NAME.jsonl) and its picks; with EXT and MERGED the declared edge extension
# (v2-plan.md, the LLM rule): `extend` writes benchmarks/sweeps/EXT.toml once (not at all when no
# pick is on an edge), its sweep and picks, and `merge` into $R/sweep-MERGED.tuned.json.
tune() {
  local file=$1 scen=$2 name=$3 ext=${4:-} merged=${5:-}
  have "$file" || refuse "$file: no such sweep file"
  have_specs "$file"
  run python benchmarks/baselines.py sweep "$file" --scenarios "$scen" --budget full \
      --workers "${WORKERS:-1}" --out "$R/sweep-$name.jsonl"
  run python benchmarks/baselines.py tuned "$R/sweep-$name.jsonl"
  [ -n "$ext" ] || return 0
  local f=benchmarks/sweeps/$ext.toml
  if ! have "$f" && [ ! -e "$R/sweep-$ext.none" ]; then
    run python benchmarks/baselines.py extend "$R/sweep-$name.tuned.json" --out "$f"
    # not written: no pick can move past an edge, and that is recorded (picks reads it)
    have "$f" || echo "extend wrote no file: no pick of $name on an edge" > "$R/sweep-$ext.none"
  fi
  if have "$f"; then
    run python benchmarks/baselines.py sweep "$f" --scenarios "$scen" --budget full \
        --workers "${WORKERS:-1}" --out "$R/sweep-$ext.jsonl"
    run python benchmarks/baselines.py tuned "$R/sweep-$ext.jsonl"
    run python benchmarks/baselines.py merge "$R/sweep-$name.tuned.json" \
        "$R/sweep-$ext.tuned.json" --out "$R/sweep-$merged.tuned.json"
  fi
}

# have_specs FILE: every candidate's spec file of a sweep file, here and in R's checkout.
have_specs() {
  local c spec
  for c in $(python benchmarks/tomlq.py "$1" candidates --keys 2>/dev/null || true); do
    spec=$(python benchmarks/tomlq.py "$1" "candidates.$c.spec")
    have "$spec" || refuse "$1: candidate $c: its spec $spec is in neither checkout"
  done
}

# The first candidate of a sweep file (the search's winner in the candidates' sweep).
first_candidate() {
  local names
  read -ra names <<< "$(python benchmarks/tomlq.py "$1" candidates --keys)"
  [ ${#names[@]} -gt 0 ] || refuse "$1: no [candidates] table"
  echo "${names[0]}"
}
