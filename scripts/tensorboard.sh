#!/usr/bin/env bash
# npm run tensorboard: TensorBoard (pinned in requirements.txt, from the project venv) on 127.0.0.1 over the runs'
# event files. Every training run writes them (lib/train/tensorboard.ts); runs trained before that get theirs from
# metrics.jsonl first (npm run runs -- --write-events). Default logdir: runs/ (the CLI's, notebooks' and sweeps'
# run folders), plus notebooks/runs/ when it exists (where a relative outDir of a notebook landed before it was
# resolved against the repository).
set -euo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: npm run tensorboard -- [--port N] [--logdir DIR] [--no-backfill]   (or: bash scripts/tensorboard.sh ...)

Starts TensorBoard from the project venv on http://127.0.0.1:PORT/ over the training runs' event files: one
TensorBoard run per run folder, with train/bpb (byte-level data) or train/loss_nats_per_token (BPE), train/lr,
train/grad_norm, train/commit_loss, train/code_usage, train/code_entropy_bits, train/tokens_per_s and val/*.
Runs trained before the kit wrote event files get one from their metrics.jsonl first.

flags:
  --port N        port to serve on, 1-65535 (default: 6006)
  --logdir DIR    folder of run folders, or one run folder (default: runs/, and notebooks/runs/ when it exists)
  --no-backfill   do not write event files for older runs first
  -h, --help      print this help and exit

exit codes: 0 TensorBoard stopped normally, 1 TensorBoard is not installed or failed, 2 a bad command line

examples:
  npm run tensorboard
  npm run tensorboard -- --port 6007 --logdir runs/10-ablation-codebook-size
EOF_USAGE
}
bad() { echo "tensorboard: $1" >&2; echo "usage: npm run tensorboard -- [--port N] [--logdir DIR] [--no-backfill] (--help for more)" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port=6006
logdir=""
backfill=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --port) [ $# -ge 2 ] || bad "--port needs a value, e.g. --port 6007"; port="$2"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --logdir) [ $# -ge 2 ] || bad "--logdir needs a folder, e.g. --logdir runs/"; logdir="$2"; shift 2 ;;
    --logdir=*) logdir="${1#--logdir=}"; shift ;;
    --no-backfill) backfill=0; shift ;;
    *) bad "unknown argument '$1'; the flags are --port, --logdir, --no-backfill, --help" ;;
  esac
done
if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  bad "--port $port must be a whole number in 1-65535, e.g. --port 6007"
fi
if [ -n "$logdir" ]; then
  [ -d "$logdir" ] || bad "--logdir $logdir is not a folder; pass a folder of run folders (e.g. runs/) or one run folder"
  logdir="$(cd "$logdir" && pwd)"
fi

tb="$repo/.venv/bin/tensorboard"
[ -x "$tb" ] || { echo "tensorboard: $tb is missing; run npm run setup (it installs the pinned tensorboard of requirements.txt into .venv/)" >&2; exit 1; }

cd "$repo"
root="${TVQ_ROOT:-$repo}"
if [ "$backfill" = 1 ]; then
  node --import tsx scripts/runs.ts --write-events ${logdir:+--dir "$logdir"} > /dev/null || echo "tensorboard: writing event files of older runs failed (see above); starting anyway" >&2
fi
args=(--host 127.0.0.1 --port "$port")
if [ -n "$logdir" ]; then
  args+=(--logdir "$logdir")
  serving="$logdir"
elif [ -d "$root/notebooks/runs" ]; then
  mkdir -p "$root/runs"
  # two folders: TensorBoard names their runs runs/<folder> and notebooks-runs/<folder>
  args+=(--logdir_spec "runs:$root/runs,notebooks-runs:$root/notebooks/runs")
  serving="$root/runs and $root/notebooks/runs"
else
  mkdir -p "$root/runs"
  args+=(--logdir "$root/runs")
  serving="$root/runs"
fi
echo "tensorboard: serving $serving on http://127.0.0.1:$port/ (Ctrl-C stops it)" >&2
exec "$tb" "${args[@]}"
