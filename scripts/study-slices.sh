#!/usr/bin/env bash
# The study (issue 16) in slices that each fit a sitting on a machine without a GPU (about an hour
# each on 2 cores with SwiftShader), kept under docs/study/parts/ (commit each part as it lands)
# and joined at the end. One device call runs the whole study instead (scripts/device/study-all.sh).
#
#   bash scripts/study-slices.sh status            what is done and what comes next
#   bash scripts/study-slices.sh sweep [POINTS [G]] the learning-rate sweep, grid point by grid point
#                                                  (all left, or only POINTS, e.g. 5,6: the sparse
#                                                  methods and VeRA's added rates, ~30 min; each point of all 18
#                                                  methods ~105 min); G (a, b or c, or a method list):
#                                                  only those methods' trials now (~30 min a group);
#                                                  resumes, and a point cut short restarts from its
#                                                  last validation's checkpoint while that folder is there
#   bash scripts/study-slices.sh next              the next main slice: one task × seed × method group
#   bash scripts/study-slices.sh run TASK SEED G   that slice (G: a, b or c)
#   bash scripts/study-slices.sh join              docs/results.json and docs/RESULTS.md from every part,
#                                                  then the quantization-error table
#
# Every slice runs `npm run study` with the defaults (200 steps, batch 8, seeds 1–3, the three
# tasks) and the sweep's rates, so their parts join (`--merge` refuses parts trained differently).
# STUDY_FLAGS adds flags to every study process (e.g. for a trial: "--steps 2 --accuracy-items 2").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PARTS=${STUDY_PARTS:-docs/study/parts}
SWEEP=$PARTS/sweep.json
# Where `join` writes (the studio's Study view and the report read these).
JSON=${STUDY_JSON:-docs/results.json}
OUT_MD=${STUDY_OUT:-docs/RESULTS.md}
TASKS=(arithmetic verses words)
SEEDS=(1 2 3)
# The 18 methods in three groups of about equal cost per step (src/cli/studySlices.test.ts keeps
# them equal to the registry). BENCHMARKS.md's per-method step times: a 4-bit base costs ~1.8× a
# LoRA step, SPP ~2×, full fine-tuning ~1.2×; so a: six plain low-rank inits and LoftQ, b: two
# 4-bit bases and the methods with extra per-step work, c: the rest with SPP and full fine-tuning.
GROUP_a=lora,pissa,milora,olora,corda,loraga,loftq
GROUP_b=qlora,qpissa,dora,vera,eva
GROUP_c=sorsa,lorasb,loraplus,spp,shira,full
GROUP_NAMES=(a b c)
read -r -a EXTRA <<<"${STUDY_FLAGS:-}"

group() {
  local var="GROUP_$1"
  [ -n "${!var:-}" ] || { echo "unknown method group '$1' (a, b or c)" >&2; exit 2; }
  echo "${!var}"
}
part_of() { echo "$PARTS/$1-seed$2-$3.json"; }

# Seed-major, as `npm run study` orders its runs: a study cut short still covers every task.
slices() {
  local s t g
  for s in "${SEEDS[@]}"; do for t in "${TASKS[@]}"; do for g in "${GROUP_NAMES[@]}"; do echo "$t $s $g"; done; done; done
}

sweep_state() {
  [ -f "$SWEEP" ] || { echo "none"; return; }
  node -e '
    const s = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).lrSweep;
    if (!s) { console.log("none"); process.exit(0); }
    const done = s.planned !== undefined && s.trials.length >= s.planned;
    console.log(`${done ? "done" : "partial"} ${s.trials.length} ${s.planned ?? "?"} ${(s.wallMs / 3.6e6).toFixed(2)}`);
  ' "$SWEEP"
}

run_slice() {
  local task=$1 seed=$2 g=$3
  local methods
  methods=$(group "$g")
  case " ${TASKS[*]} " in *" $task "*) ;; *) echo "unknown task '$task' (${TASKS[*]})" >&2; exit 2 ;; esac
  case " ${SEEDS[*]} " in *" $seed "*) ;; *) echo "unknown seed '$seed' (${SEEDS[*]})" >&2; exit 2 ;; esac
  read -r state _ <<<"$(sweep_state)"
  [ "$state" = done ] || { echo "the sweep is not finished ($SWEEP: $(sweep_state)): run 'bash scripts/study-slices.sh sweep' first" >&2; exit 2; }
  mkdir -p "$PARTS"
  local out
  out=$(part_of "$task" "$seed" "$g")
  echo "slice $task seed $seed, group $g ($methods) -> $out"
  # The run's Markdown and plots go to /tmp: the parts folder keeps only what the join reads.
  npm run study -- --only "$task:$seed" --methods "$methods" --lrs "$SWEEP" --quant-iterations 0 \
    --json "$out" --out "/tmp/study-slice-$task-$seed-$g.md" "${EXTRA[@]}"
}

case "${1:-status}" in
  status)
    echo "sweep: $(sweep_state) (state, trials, planned, hours of training)"
    n=0
    next=""
    while read -r t s g; do
      if [ -f "$(part_of "$t" "$s" "$g")" ]; then n=$((n + 1)); elif [ -z "$next" ]; then next="$t seed $s group $g ($(group "$g"))"; fi
    done < <(slices)
    [ -n "$next" ] && echo "next: $next"
    echo "main slices done: $n of $(slices | wc -l)"
    ;;
  sweep)
    mkdir -p "$PARTS"
    points=()
    [ $# -ge 2 ] && points=(--sweep-points "$2")
    if [ $# -ge 3 ]; then
      case "$3" in a | b | c) points+=(--sweep-methods "$(group "$3")") ;; *) points+=(--sweep-methods "$3") ;; esac
    fi
    npm run study -- --sweep --resume --json "$SWEEP" --out "$PARTS/sweep.md" "${points[@]}" "${EXTRA[@]}"
    ;;
  next)
    while read -r t s g; do
      [ -f "$(part_of "$t" "$s" "$g")" ] && continue
      run_slice "$t" "$s" "$g"
      exit $?
    done < <(slices)
    echo "every slice is done: bash scripts/study-slices.sh join"
    ;;
  run)
    [ $# -eq 4 ] || { echo "usage: bash scripts/study-slices.sh run TASK SEED GROUP" >&2; exit 2; }
    run_slice "$2" "$3" "$4"
    ;;
  join)
    mapfile -t parts < <(while read -r t s g; do f=$(part_of "$t" "$s" "$g"); [ -f "$f" ] && echo "$f"; done < <(slices))
    [ "${#parts[@]}" -gt 0 ] || { echo "no parts in $PARTS yet" >&2; exit 2; }
    cp "${parts[0]}" "$JSON"
    if [ "${#parts[@]}" -gt 1 ]; then
      rest=$(IFS=,; echo "${parts[*]:1}")
      npm run study -- --render-only --merge "$rest" --json "$JSON" --out "$OUT_MD"
    fi
    npm run study -- --quant-only --json "$JSON" --out "$OUT_MD" "${EXTRA[@]}"
    ;;
  *)
    echo "usage: bash scripts/study-slices.sh status|sweep|next|run TASK SEED GROUP|join" >&2
    exit 2
    ;;
esac
