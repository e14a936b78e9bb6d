#!/usr/bin/env bash
# Sets up everything the kit needs, on a fresh Debian 12 machine or an existing checkout. Idempotent: each step
# is skipped when a stamp (a hash of its inputs) says it is done, so a second run takes a few seconds.
#   1. npm packages from package-lock.json (`npm ci`); the optional @tensorflow/tfjs-node may fail to install
#      offline and npm then drops it: the kit runs on the wasm backend.
#   2. the project venv .venv/ with the pinned Python packages of requirements.txt (JupyterLab 4, nbclient, plotly)
#   3. the tslab TypeScript kernel registered into .venv/share/jupyter/kernels (regenerated every run: its
#      kernelspec holds this checkout's absolute path)
#   4. Debian chromium for PNG/SVG figure export (only as root with apt; otherwise a message, and export skips them)
#   5. the offline data sets into data/cache/ (scripts/fetch-data.sh)
#   6. the native TensorFlow backend (scripts/setup-native.sh, optional)
#   7. with --gpu only: the CUDA build of TensorFlow for the gpu backend (scripts/setup-gpu.sh, about 4 GB)
# Usage: bash scripts/setup.sh [--gpu]      (npm run setup, npm run setup -- --gpu)
set -euo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: npm run setup [-- --gpu]   (or: bash scripts/setup.sh [--gpu])

Installs everything the kit needs into the checkout, idempotently (a second run takes seconds): npm packages,
the Python venv with JupyterLab, the tslab kernel, Chromium for figure export (as root with apt), the offline
data sets (scripts/fetch-data.sh) and the native TensorFlow backend (scripts/setup-native.sh, optional).

flags:
  --gpu        also build the gpu backend: tfjs-node-gpu on the CUDA build of TensorFlow, with NVIDIA's CUDA
               libraries from PyPI (scripts/setup-gpu.sh; about 2.5 GB of downloads, 4 GB in .native/; default: off)
  -h, --help   print this help and exit

environment:
  TVQ_SKIP_NATIVE=1      skip building the native backend (default: build it)
  TVQ_SKIP_WALLPAPERS=1  skip the 94 MB wallpaper package (default: fetch it)

example:
  npm run setup
  npm run setup -- --gpu
EOF_USAGE
}
GPU=0
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --gpu) GPU=1 ;;
    *) echo "setup: unknown argument '$arg': the flags are --gpu and --help (npm run setup -- --help)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
T0=$SECONDS

log() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
# hash_of FILE... : a short content hash of the given files plus any extra words in $HASH_EXTRA
hash_of() { { cat "$@"; printf '%s' "${HASH_EXTRA:-}"; } | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
is_root() { [ "$(id -u)" = 0 ]; }
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=600)
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null && apt_updated=1
  fi
}

for tool in node npm python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "[setup] ERROR: '$tool' is not on PATH; install it (Node >= 20.19 with npm, Python >= 3.10) and rerun" >&2; exit 1; }
done

# 1. npm packages ---------------------------------------------------------------------------------------------------
npm_hash=$(HASH_EXTRA="node-abi-$(node -p process.versions.modules)" hash_of package.json package-lock.json)
NPM_STAMP=node_modules/.tvq-setup-stamp
if stamp_ok "$NPM_STAMP" "$npm_hash" && [ -x node_modules/.bin/tslab ]; then
  log "npm packages: up to date"
else
  log "npm packages: npm ci (about 15-60 s)"
  t=$SECONDS
  # --no-audit/--no-fund: no network calls beyond the registry downloads themselves.
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" >"$NPM_STAMP"
  log "npm packages: installed in $((SECONDS - t)) s"
fi
if [ -d node_modules/@tensorflow/tfjs-node ]; then
  log "optional @tensorflow/tfjs-node: present (the native backend is used if its binding loads)"
else
  log "optional @tensorflow/tfjs-node: dropped by npm (its install script downloads libtensorflow); step 6 builds it, else the kit uses wasm"
fi

# 2. Python venv with JupyterLab, nbclient, plotly -----------------------------------------------------------------
venv_hash=$(HASH_EXTRA="$(python3 -c 'import sys; print(sys.version)')" hash_of requirements.txt)
VENV_STAMP=.venv/.tvq-setup-stamp
if stamp_ok "$VENV_STAMP" "$venv_hash" && .venv/bin/python -c '' 2>/dev/null; then
  log "python venv: up to date ($(.venv/bin/python --version 2>&1))"
else
  t=$SECONDS
  if ! .venv/bin/python -c '' 2>/dev/null; then
    rm -rf .venv
    if ! python3 -m venv .venv 2>/dev/null; then
      # Debian's own python3 needs the python3-venv package for ensurepip.
      rm -rf .venv
      if is_root && command -v apt-get >/dev/null; then
        log "python venv: installing Debian python3-venv"
        apt_update_once
        DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" python3-venv >/dev/null
        python3 -m venv .venv
      else
        echo "[setup] ERROR: 'python3 -m venv' failed; install your distribution's python3-venv package and rerun" >&2
        exit 1
      fi
    fi
  fi
  log "python venv: pip install -r requirements.txt (about 30-90 s)"
  # (grep drops pip's notes about find-links folders of this machine's pip.conf that do not exist)
  .venv/bin/python -m pip install --disable-pip-version-check --no-input -q -r requirements.txt 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "$venv_hash" >"$VENV_STAMP"
  log "python venv: ready in $((SECONDS - t)) s"
fi

# 3. tslab kernel registered into the venv -------------------------------------------------------------------------
mkdir -p "$JUPYTER_CONFIG_DIR" "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR"
KERNELS=.venv/share/jupyter/kernels
if grep -qF "\"$TVQ_REPO/node_modules/.bin/tslab\"" "$KERNELS/tslab/kernel.json" 2>/dev/null && [ -f "$KERNELS/jslab/kernel.json" ]; then
  log "jupyter kernels: tslab and jslab registered in $KERNELS"
else
  node_modules/.bin/tslab install --python .venv/bin/python --binary "$TVQ_REPO/node_modules/.bin/tslab" \
    --prefix "$TVQ_REPO/.venv" >/dev/null
  [ -f "$KERNELS/tslab/kernel.json" ] || { echo "[setup] ERROR: tslab kernelspec was not written to $KERNELS" >&2; exit 1; }
  log "jupyter kernels: registered tslab and jslab in $KERNELS"
fi

# 4. Chromium for PNG/SVG figure export ----------------------------------------------------------------------------
if [ -x /usr/bin/chromium ]; then
  log "chromium: present"
elif is_root && command -v apt-get >/dev/null; then
  log "chromium: installing the Debian package (about 1 min)"
  t=$SECONDS
  if apt_update_once && DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" chromium >/dev/null; then
    log "chromium: installed in $((SECONDS - t)) s"
  else
    warn "chromium could not be installed with apt; figures are exported as HTML only (no PNG/SVG)"
  fi
else
  warn "chromium is missing and this is not root with apt-get; figures are exported as HTML only (no PNG/SVG). As root: apt-get install chromium"
fi

# 5. offline data -------------------------------------------------------------------------------------------------
if [ -f scripts/fetch-data.sh ]; then
  bash scripts/fetch-data.sh
else
  log "data: scripts/fetch-data.sh does not exist yet; skipped"
fi

# 6. native backend (issue 7) --------------------------------------------------------------------------------------
# native backend (issue 7)
if [ -f scripts/setup-native.sh ]; then
  if ! bash scripts/setup-native.sh; then
    warn "the native TensorFlow backend could not be set up (see above); the kit falls back to the wasm backend"
  fi
fi

# 7. gpu backend (issue 15), opt-in: asked for explicitly, so a failure fails the setup ---------------------------
if [ "$GPU" = 1 ]; then
  bash scripts/setup-gpu.sh || { echo "[setup] ERROR: the gpu backend could not be built (see above); everything else is set up" >&2; exit 1; }
fi

log "done in $((SECONDS - T0)) s"
