#!/usr/bin/env bash
# npm run main: set up, then execute every notebook in notebooks/ headlessly in the default profile (the real
# runs on the bundled data), saving executed copies to notebooks/executed/ and the figures the notebooks export to
# figures/ (.html, and .png/.svg when chromium is installed). Continues after a failing notebook and exits non-zero
# at the end if any failed.
# Usage: bash scripts/main.sh [--profile smoke|default] [notebooks/NAME.ipynb ...]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T0=$SECONDS
profile=default
notebooks=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a value: smoke or default}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) notebooks+=("$1"); shift ;;
  esac
done
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
