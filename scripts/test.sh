#!/usr/bin/env bash
# npm test (and .ci/run): set up, type-check, run the unit tests, then execute every notebook in notebooks/ in the
# smoke profile through the tslab kernel. Runs every step even after a failure, and ends with one line
# "N passed, N failed" counting the unit tests (node's test runner), the type check and each notebook.
# Usage: bash scripts/test.sh [test-file-filter ...]   (filters go to scripts/run-tests.mjs; notebooks always run)
set -uo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: npm test -- [FILTER ...]   (or: bash scripts/test.sh [FILTER ...])

Sets up, type-checks, runs the unit tests (again on the native and wasm backends when no filter is given), then
executes every notebook in the smoke profile. Runs every step even after a failure and ends with one line
"N passed, N failed"; exits non-zero when anything failed.

arguments:
  FILTER       run only the unit-test files whose path contains one of these substrings (default: all);
               the type check and the notebooks always run

flags:
  -h, --help   print this help and exit

environment:
  TVQ_NOTEBOOK_JOBS=N   smoke notebooks run N at a time (default 2; 1 runs them one by one)

example:
  npm test -- vq.test attention.test
EOF_USAGE
}
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    -*) echo "test: unknown flag '$arg': the arguments are test-file filters, e.g. npm test -- vq.test (npm test -- --help)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T0=$SECONDS
bash scripts/setup.sh || { echo "test: setup failed; nothing was tested"; echo "0 passed, 1 failed"; exit 1; }
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p test/artifacts
passed=0
failed=0
failures=()
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); failures+=("$1"); }

echo "== type check (tsc -p .)"
t=$SECONDS
# The project's own TypeScript (npm may link node_modules/.bin/tsc to tslab's bundled 5.0.4 instead; that one is
# checked by test/tslab-lib.test.ts).
if node node_modules/typescript/bin/tsc -p .; then ok; echo "type check: ok in $((SECONDS - t)) s"; else bad "type check (typescript 5.9 tsc -p .)"; fi

echo "== unit tests (node scripts/run-tests.mjs)"
t=$SECONDS
UNIT_LOG=test/artifacts/unit-tests.log
node scripts/run-tests.mjs "$@" 2>&1 | tee "$UNIT_LOG"
unit_status=${PIPESTATUS[0]}
# node's test runner ends with "# pass N" / "# fail N" (TAP, when piped) or "ℹ pass N" (spec reporter).
unit_pass=$(grep -E '^(# |ℹ )pass [0-9]+$' "$UNIT_LOG" | tail -1 | grep -oE '[0-9]+$' || true)
unit_fail=$(grep -E '^(# |ℹ )fail [0-9]+$' "$UNIT_LOG" | tail -1 | grep -oE '[0-9]+$' || true)
passed=$((passed + ${unit_pass:-0}))
failed=$((failed + ${unit_fail:-0}))
if [ "$unit_status" != 0 ]; then
  failures+=("unit tests (exit $unit_status; see $UNIT_LOG)")
  # A crash without a summary line still counts as one failure.
  if [ "${unit_fail:-0}" = 0 ]; then failed=$((failed + 1)); fi
fi
echo "unit tests: ${unit_pass:-0} passed, ${unit_fail:-0} failed in $((SECONDS - t)) s"

# Issue 7: the numerical core suites again with each fast backend forced (the run above uses cpu for single-backend
# tests, and all backends in the cross-backend ones). Skipped with a note when a filter was given.
CORE_SUITES=(attention.test vq.test model.test inspect.test optim.test checkpoint.test evaluate.test train.test test/official.test)
if [ $# = 0 ]; then
  for be in native wasm; do
    if [ "$be" = native ] && ! node --import tsx -e 'process.exit(require("./lib/runtime/backend").nativeAvailable() ? 0 : 1)' 2>/dev/null; then
      echo "== core suites with TVQ_BACKEND=native: skipped (native binding not built; see scripts/setup-native.sh)"
      continue
    fi
    echo "== core suites with TVQ_BACKEND=$be"
    t=$SECONDS
    LOG=test/artifacts/unit-tests-$be.log
    TVQ_BACKEND=$be node scripts/run-tests.mjs "${CORE_SUITES[@]}" > "$LOG" 2>&1
    st=$?
    bp=$(grep -E '^(# |ℹ )pass [0-9]+$' "$LOG" | tail -1 | grep -oE '[0-9]+$' || true)
    bf=$(grep -E '^(# |ℹ )fail [0-9]+$' "$LOG" | tail -1 | grep -oE '[0-9]+$' || true)
    passed=$((passed + ${bp:-0}))
    failed=$((failed + ${bf:-0}))
    if [ "$st" != 0 ]; then
      grep -E '^not ok' "$LOG" | head -20
      failures+=("core suites on $be (exit $st; see $LOG)")
      if [ "${bf:-0}" = 0 ]; then failed=$((failed + 1)); fi
    fi
    echo "core suites on $be: ${bp:-0} passed, ${bf:-0} failed in $((SECONDS - t)) s"
  done
fi

shopt -s nullglob
notebooks=(notebooks/*.ipynb)
# Two notebooks at a time (TVQ_NOTEBOOK_JOBS): most of a smoke run is tslab compiling lib/ on one core. Each
# notebook's output goes to test/artifacts/notebooks/<name>.log and is printed whole, in order, when it is done.
NB_JOBS=${TVQ_NOTEBOOK_JOBS:-2}
NB_LOGS=test/artifacts/notebooks
mkdir -p "$NB_LOGS"
rm -f "$NB_LOGS"/*.status
echo "== notebooks, smoke profile (${#notebooks[@]}, $NB_JOBS at a time)"
t_nb=$SECONDS
for nb in "${notebooks[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$NB_JOBS" ]; do wait -n || true; done
  (
    t=$SECONDS
    name=$(basename "$nb" .ipynb)
    # --strict-outputs: a raw object dump, text shown twice in a cell or a text table over 120 columns fails the notebook
    if node --import tsx scripts/notebook.ts "$nb" --profile smoke --strict-outputs > "$NB_LOGS/$name.log" 2>&1; then st=ok; else st=bad; fi
    echo "$st $((SECONDS - t))" > "$NB_LOGS/$name.status"
  ) &
done
wait
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb" .ipynb)
  cat "$NB_LOGS/$name.log" 2>/dev/null
  read -r st secs < "$NB_LOGS/$name.status" 2>/dev/null || { st=bad; secs="?"; }
  if [ "$st" = ok ]; then ok; else bad "notebook $nb (smoke profile; log: $NB_LOGS/$name.log)"; fi
  echo "notebook $nb: $st in $secs s"
done
echo "notebooks: $((SECONDS - t_nb)) s in all"
if [ "${#notebooks[@]}" = 0 ]; then echo "(no notebooks in notebooks/)"; fi

echo "== summary ($((SECONDS - T0)) s)"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "${#failures[@]}" = 0 ]
