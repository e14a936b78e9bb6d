#!/usr/bin/env bash
# npm run main: set up, then execute every notebook in notebooks/ headlessly in the default profile (the real
# runs on the bundled data), saving executed copies to notebooks/executed/ and the figures the notebooks export to
# figures/ (.html, and .png/.svg when chromium is installed). Continues after a failing notebook and exits non-zero
# at the end if any failed.
# Usage: bash scripts/main.sh [--profile smoke|default] [notebooks/NAME.ipynb ...]
set -uo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: npm run main -- [--profile smoke|default] [notebooks/NAME.ipynb ...]   (or: bash scripts/main.sh ...)

Sets up, then executes the notebooks headlessly, writes results/summary.md, and exits non-zero at the end if any
notebook failed (it carries on after a failure).

arguments:
  notebooks/NAME.ipynb   the notebooks to run (default: every notebooks/*.ipynb)

flags:
  --profile smoke|default   the notebooks' profile: smoke (minutes, CI-sized) or default (the real runs) (default: default)
  -h, --help                print this help and exit

environment:
  TVQ_CELL_TIMEOUT=SECONDS  time limit per cell (default: 3600)

examples:
  npm run main -- --profile smoke
  npm run main -- notebooks/01-enwik8.ipynb
EOF_USAGE
}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T0=$SECONDS
profile=default
notebooks=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:-}"; [ -n "$profile" ] || { echo "main: --profile needs a value: smoke or default" >&2; exit 2; }; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "main: unknown flag '$1'; the flags are --profile smoke|default and --help (npm run main -- --help)" >&2; exit 2 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done
case "$profile" in
  smoke | default) ;;
  *) echo "main: --profile $profile: use smoke or default" >&2; exit 2 ;;
esac
bash scripts/setup.sh || { echo "main: setup failed" >&2; exit 1; }
# shellcheck source=scripts/env.sh
source scripts/env.sh
shopt -s nullglob
if [ "${#notebooks[@]}" = 0 ]; then notebooks=(notebooks/*.ipynb); fi
[ "${#notebooks[@]}" -gt 0 ] || { echo "main: no notebooks in notebooks/" >&2; exit 1; }
failures=()
for nb in "${notebooks[@]}"; do
  t=$SECONDS
  echo "== $nb (profile $profile)"
  node --import tsx scripts/notebook.ts "$nb" --profile "$profile" --timeout "${TVQ_CELL_TIMEOUT:-3600}" || failures+=("$nb")
  echo "== $nb: $((SECONDS - t)) s"
done
node --import tsx scripts/summary.ts || failures+=("results/summary.md (scripts/summary.ts)")
echo "== main: ${#notebooks[@]} notebooks in $((SECONDS - T0)) s; executed copies in notebooks/executed/, figures in figures/"
ls figures 2>/dev/null | sed 's/^/   figures\//' | head -50
if [ "${#failures[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
