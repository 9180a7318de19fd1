#!/usr/bin/env bash
# .device/study-all.sh: the whole study (issue 16) on a device machine, in parallel processes:
#   1. probe: the adapter Dawn gets (stops when it is SwiftShader on a machine with an NVIDIA GPU);
#   2. the learning-rate sweep, one process per grid column (the i-th rate of every family) and one
#      per rate added for a single method, whose trials are then joined and chosen from by
#      `study --sweep --resume` (it reruns nothing);
#   3. the main runs, one process per task × seed (`study --only TASK:SEED`), all at once;
#   4. `study --render-only --merge`: RESULTS.md, results.json and the plots.
# Results to $OUT: RESULTS.md, results.json, sweep.json, study.log, study-all.tar.gz (every
# file, plots and per-process logs). Each phase gets what is left of STUDY_BUDGET_S, so that the
# merge runs before the tool's limit; a main process cut off gives nothing (it is one run), the others merge.
#
# Settings (environment): STUDY_STEPS (200), SWEEP_STEPS (100), STUDY_DATASETS (arithmetic,verses,words),
# STUDY_SEEDS (1,2,3), SWEEP_DATASET (arithmetic), STUDY_METHODS (every method), ACCURACY_ITEMS (100),
# QUANT_ITERATIONS (5), SWEEP_GRID (the study's default grid), SWEEP_JSON (a results JSON with an
# lrSweep of the same setup: skips phase 2), STUDY_SWEEP_ONLY (1: stop after phase 2), STUDY_BUDGET_S
# (540), STUDY_EXTRA (more flags for every study process, e.g. "--eval-rows 16").
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
set -u -o pipefail

STEPS=${STUDY_STEPS:-200}
SWEEP_STEPS=${SWEEP_STEPS:-100}
DATASETS=${STUDY_DATASETS:-arithmetic,verses,words}
SEEDS=${STUDY_SEEDS:-1,2,3}
SWEEP_DATASET=${SWEEP_DATASET:-arithmetic}
# The default of `npm run study -- --sweep-grid` (src/cli/study/sweep.ts DEFAULT_SWEEP_GRID; a test keeps them equal).
SWEEP_GRID=${SWEEP_GRID:-low-rank=1e-3:3e-3:1e-2:3e-2,sparse=1e-3:4e-3:1e-2:3e-2:1e-1:3e-1,dense=3e-4:1e-3:3e-3:1e-2,vera=1e-1:3e-1}
BUDGET=${STUDY_BUDGET_S:-540}
WORK=${STUDY_WORK_DIR:-/tmp/study-all}
read -r -a EXTRA <<<"${STUDY_EXTRA:-}"
# No mid-run checkpoints: the machine and its /tmp go back after the call.
COMMON=(--checkpoint-dir none "${EXTRA[@]}")
[ -n "${STUDY_METHODS:-}" ] && COMMON+=(--methods "$STUDY_METHODS")

rm -rf "$WORK" && mkdir -p "$WORK"
START=$(date +%s)
LOG="$OUT/study.log"
: >"$LOG"
say() { echo "[study-all $(date -u +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
study() { "$NODE" "$PACK_DIR/study.mjs" "$@"; }
# phase_limit RESERVE: the seconds a phase may take, keeping RESERVE for what follows.
phase_limit() { local s=$(($(left) - $1)); [ "$s" -lt 10 ] && s=10; echo "$s"; }
finish() {
  say "time: ${PHASES:-}total $(($(date +%s) - START)) s of a ${BUDGET} s budget"
  tar -czf "$OUT/study-all.tar.gz" -C "$WORK" . 2>/dev/null
  exit "$1"
}
PHASES=""
phase_done() { PHASES+="$1 $(($(date +%s) - $2)) s; "; }

say "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo 'no nvidia-smi')"
say "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
t=$(date +%s)
if ! "$NODE" "$PACK_DIR/probe.mjs" 2>&1 | tee -a "$LOG"; then say "probe failed: no usable adapter (see above)"; finish 3; fi
phase_done probe "$t"

# 2. The sweep.
if [ -n "${SWEEP_JSON:-}" ]; then
  cp "$SWEEP_JSON" "$WORK/sweep.json" || finish 2
  say "sweep: taken from $SWEEP_JSON"
else
  t=$(date +%s)
  IFS=',' read -r -a entries <<<"$SWEEP_GRID"
  # FAMILY=RATE:… entries make the grid's columns; METHOD=RATE:… entries (rates added for one method)
  # train that method alone at each of its rates, one process per rate.
  families=()
  added=()
  for e in "${entries[@]}"; do
    case "${e%%=*}" in low-rank | sparse | dense) families+=("$e") ;; *) added+=("$e") ;; esac
  done
  columns=0
  for f in "${families[@]}"; do
    IFS=':' read -r -a rates <<<"${f#*=}"
    [ "${#rates[@]}" -gt "$columns" ] && columns=${#rates[@]}
  done
  grids=()
  for ((i = 0; i < columns; i++)); do
    grid=""
    for f in "${families[@]}"; do
      IFS=':' read -r -a rates <<<"${f#*=}"
      # A family with fewer rates sits out the extra columns (none of its methods train there).
      if [ "$i" -lt "${#rates[@]}" ]; then grid+="${grid:+,}${f%%=*}=${rates[$i]}"; else grid+="${grid:+,}${f%%=*}=none"; fi
    done
    grids+=("$grid")
  done
  for m in "${added[@]}"; do
    IFS=':' read -r -a rates <<<"${m#*=}"
    for r in "${rates[@]}"; do grids+=("low-rank=none,sparse=none,dense=none,${m%%=*}=$r"); done
  done
  limit=$(phase_limit $((BUDGET / 2)))
  say "sweep: ${#grids[@]} processes ($columns grid columns, ${#added[@]} methods with added rates), $SWEEP_STEPS steps on $SWEEP_DATASET, limit ${limit} s"
  pids=()
  for i in "${!grids[@]}"; do
    timeout "$limit" "$NODE" "$PACK_DIR/study.mjs" --sweep --sweep-steps "$SWEEP_STEPS" --datasets "$SWEEP_DATASET" --seeds 1 --sweep-grid "${grids[$i]}" \
      "${COMMON[@]}" --json "$WORK/sweep-$i.json" --out "$WORK/sweep-$i.md" >"$WORK/sweep-$i.log" 2>&1 &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || { say "a sweep process ended with status $? (124: cut off at the limit)"; failed=1; }; done
  # A missing column would make the choosing step below train it: stop instead.
  [ "$failed" = 0 ] || { tail -n 3 "$WORK"/sweep-*.log | tee -a "$LOG"; say "sweep incomplete: give more STUDY_BUDGET_S, or SWEEP_JSON"; finish 2; }
  parts=("$WORK"/sweep-*.json)
  # Every process's trials in one file; `--sweep --resume` over the whole grid then runs none and chooses.
  "$NODE" -e '
    const fs = require("node:fs");
    const [out, ...files] = process.argv.slice(1);
    const parts = files.map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
    const trials = new Map();
    for (const p of parts) for (const t of p.lrSweep.trials) trials.set(`${t.method} ${t.learningRate}`, t);
    const wallMs = Math.max(...parts.map((p) => p.lrSweep.wallMs)); // the processes ran side by side
    fs.writeFileSync(out, JSON.stringify({ ...parts[0], lrSweep: { ...parts[0].lrSweep, trials: [...trials.values()], wallMs } }) + "\n");
  ' "$WORK/sweep.json" "${parts[@]}" || finish 2
  study --sweep --resume --sweep-steps "$SWEEP_STEPS" --datasets "$SWEEP_DATASET" --seeds 1 --sweep-grid "$SWEEP_GRID" "${COMMON[@]}" \
    --json "$WORK/sweep.json" --out "$WORK/sweep.md" >"$WORK/sweep-choose.log" 2>&1 || { tail -n 20 "$WORK/sweep-choose.log" | tee -a "$LOG"; finish 2; }
  grep -v '^\[.*\]   \(step\|init\)' "$WORK/sweep-choose.log" | tail -n 25 | tee -a "$LOG"
  phase_done sweep "$t"
  took=$(($(date +%s) - t))
  say "budget: a main run trains $STEPS steps where a sweep process trained $SWEEP_STEPS, and adds accuracy, forgetting and drift: expect more than $((took * STEPS / SWEEP_STEPS)) s; $(left) s are left"
fi
cp "$WORK/sweep.json" "$OUT/sweep.json"
if [ -n "${STUDY_SWEEP_ONLY:-}" ]; then say "STUDY_SWEEP_ONLY: stopping after the sweep (next: SWEEP_JSON=<this sweep.json copied into the tree>)"; finish 0; fi

# 3. The main runs: every task × seed at once; the first computes the quantization-error table.
t=$(date +%s)
runs=()
IFS=',' read -r -a ds <<<"$DATASETS"
IFS=',' read -r -a ss <<<"$SEEDS"
for s in "${ss[@]}"; do for d in "${ds[@]}"; do runs+=("$d:$s"); done; done
limit=$(phase_limit 45)
say "main: ${#runs[@]} processes (${runs[*]}), $STEPS steps, limit ${limit} s"
pids=()
for r in "${runs[@]}"; do
  name=${r/:/-}
  quant=0
  [ "$r" = "${runs[0]}" ] && quant=${QUANT_ITERATIONS:-5}
  accuracy=()
  [ -n "${ACCURACY_ITEMS:-}" ] && accuracy=(--accuracy-items "$ACCURACY_ITEMS")
  timeout "$limit" "$NODE" "$PACK_DIR/study.mjs" --steps "$STEPS" --datasets "$DATASETS" --seeds "$SEEDS" --only "$r" --quant-iterations "$quant" \
    "${accuracy[@]}" "${COMMON[@]}" --lrs "$WORK/sweep.json" --json "$WORK/run-$name.json" --out "$WORK/run-$name.md" >"$WORK/run-$name.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    say "run ${runs[$i]} done: $(grep -o 'run: .*' "$WORK/run-${runs[$i]/:/-}.log" | head -n 1 | cut -c1-60)…"
  else
    say "run ${runs[$i]} ended with status $? (124: cut off at the limit); its log ends:"
    tail -n 3 "$WORK/run-${runs[$i]/:/-}.log" | tee -a "$LOG"
  fi
done
phase_done main "$t"

# 4. Merge into the first run's file (it holds the quantization table) and render.
t=$(date +%s)
done_files=()
for r in "${runs[@]}"; do
  f="$WORK/run-${r/:/-}.json"
  [ -e "$f" ] && done_files+=("$f")
done
[ "${#done_files[@]}" -gt 0 ] || { say "no run finished"; finish 4; }
mkdir -p "$WORK/results"
cp "${done_files[0]}" "$WORK/results/results.json"
merge=()
[ "${#done_files[@]}" -gt 1 ] && merge=(--merge "$(IFS=','; echo "${done_files[*]:1}")")
study --render-only --json "$WORK/results/results.json" --out "$WORK/results/RESULTS.md" "${merge[@]}" 2>&1 | tee -a "$LOG" || finish 4
cp "$WORK/results/results.json" "$WORK/results/RESULTS.md" "$OUT/"
phase_done merge "$t"
say "${#done_files[@]} of ${#runs[@]} runs in $OUT/results.json; into the repo: cp results.json docs/ && npm run study -- --render-only"
finish 0
