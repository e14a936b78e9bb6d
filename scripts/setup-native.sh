#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node's native binding offline, against the libtensorflow that PyPI's tensorflow-cpu
# wheel ships, so TensorFlow.js can run on native TensorFlow (oneDNN, all cores) instead of wasm (one core).
#
# Why: tfjs-node's own install script downloads libtensorflow 2.9.1 from Google's storage, which machines here
# cannot reach; npm then removes the optional package. The wheel ships libtensorflow_cc.so.2 and
# libtensorflow_framework.so.2, which export the whole C and eager C API the binding uses (TF_*, TFE_*), plus
# the C API headers under tensorflow/include.
#
# Steps (each skipped when already done; a second run with a loadable binding takes about a second):
#   1. probe: if require("@tensorflow/tfjs-node") already works (e.g. a normal install on a machine with the
#      internet, or an earlier run), stop here and leave it untouched;
#   2. package files: `npm install --no-save --ignore-scripts` adds tfjs-node and its dependencies exactly as
#      package-lock.json lists them, without running the failing download (package files are not changed);
#   3. libtensorflow: `pip download --no-deps tensorflow-cpu==$TF_VERSION`, then unzip only the two libraries and
#      the C API headers into .native/libtensorflow-$TF_VERSION/ (git-ignored; the wheel itself is deleted;
#      TensorFlow's Python packages are never installed);
#   4. layout: node_modules/@tensorflow/tfjs-node/deps/{lib,include} become symlinks into that folder
#      (libtensorflow.so -> libtensorflow_cc.so.2, the SONAME the binding then records; the binding's rpath
#      $ORIGIN/../../deps/lib finds both libraries at run time);
#   5. build: npm's bundled node-gyp compiles binding/*.cc with Node's headers (--nodedir, default /usr) into
#      lib/napi-v8/tfjs_binding.node, where tfjs-node's loader (node-pre-gyp's find) looks;
#   6. probe again and print the libtensorflow version and a 2x2 matMul.
#
# Usage: bash scripts/setup-native.sh [--force]   (--force rebuilds even when the binding loads)
# Env:   TVQ_SKIP_NATIVE=1 skips everything (exit 0); TVQ_TF_VERSION pins another wheel (default 2.21.0);
#        TVQ_NODEDIR overrides the folder with include/node (default: npm's nodedir, else /usr).
# Exit:  0 when the native backend loads at the end; 1 otherwise, with the reason. The kit then uses wasm.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TF_VERSION="${TVQ_TF_VERSION:-2.21.0}"
NATIVE_DIR="$ROOT/.native"
LOG_DIR="$NATIVE_DIR"
LT_DIR="$NATIVE_DIR/libtensorflow-$TF_VERSION"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
# shellcheck source=scripts/tfjs-binding.sh
source "$ROOT/scripts/tfjs-binding.sh" # the steps this build shares with scripts/setup-gpu.sh (TFJS_NODE_VERSION, tfb_*)
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help)
      cat <<'EOF_USAGE'
usage: bash scripts/setup-native.sh [--force]

Builds @tensorflow/tfjs-node's binding offline against the libtensorflow of PyPI's tensorflow-cpu wheel, so the
kit can compute on native TensorFlow. Each step is skipped when already done; npm run setup calls it.

flags:
  --force      rebuild even when the binding already loads (default: keep a working binding)
  -h, --help   print this help and exit

environment:
  TVQ_SKIP_NATIVE=1       skip everything and exit 0
  TVQ_TF_VERSION=2.xx.y   the tensorflow-cpu wheel to take libtensorflow from (default: 2.21.0)
  TVQ_NODEDIR=DIR         the folder with include/node (default: npm's nodedir, else /usr)

example:
  bash scripts/setup-native.sh --force
EOF_USAGE
      exit 0 ;;
    *) echo "[setup-native] unknown argument '$arg'; the flags are --force and --help" >&2; exit 2 ;;
  esac
done

say() { echo "[setup-native] $*"; }
fail() {
  say "FAILED: $*"
  say "the native backend stays unavailable; lib/runtime/backend.ts falls back to wasm (then cpu)."
  exit 1
}

if [[ "${TVQ_SKIP_NATIVE:-0}" == "1" ]]; then
  say "TVQ_SKIP_NATIVE=1: skipped"
  exit 0
fi

mkdir -p "$NATIVE_DIR"
exec 9>"$NATIVE_DIR/.lock"
flock 9 # two setups at once would race on the same files

if [[ $FORCE == 0 ]] && v="$(tfb_probe @tensorflow/tfjs-node "$NATIVE_DIR/probe.log")"; then
  say "@tensorflow/tfjs-node already loads (libtensorflow ${v% *}): nothing to do"
  exit 0
fi

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || fail "PyPI's tensorflow-cpu wheel is for Linux x86_64; this is $(uname -s)-$(uname -m)"

# 2. package files, without the install script that would download (and, failing, make npm remove the package)
if ! tfb_have_pkg "$PKG"; then
  say "adding @tensorflow/tfjs-node@$TFJS_NODE_VERSION and its dependencies from package-lock.json (npm install --no-save --ignore-scripts)"
  npm install --no-save --ignore-scripts --no-audit --no-fund >"$NATIVE_DIR/npm.log" 2>&1 || fail "npm install failed; see $NATIVE_DIR/npm.log"
  tfb_have_pkg "$PKG" || fail "@tensorflow/tfjs-node@$TFJS_NODE_VERSION is still missing after npm install (is it in package.json's optionalDependencies?)"
fi

# 3. libtensorflow from the wheel: two libraries + the headers that c_api.h and eager/c_api.h include
tfb_fetch_libtensorflow tensorflow-cpu "$TF_VERSION" "$LT_DIR"
# the C API symbols the binding calls must be exported
tfb_check_symbols "$PKG" "$LT_DIR"
# 4. deps/ layout (relative symlinks, so the project folder may move)
tfb_link_deps "$PKG" "$LT_DIR"
# 5. build with npm's bundled node-gyp and Node's installed headers
tfb_build "$PKG"

# 6. verify
if v="$(tfb_probe @tensorflow/tfjs-node "$NATIVE_DIR/probe.log")"; then
  say "OK: @tensorflow/tfjs-node $TFJS_NODE_VERSION on libtensorflow ${v% *} (from tensorflow-cpu==$TF_VERSION)"
else
  tail -5 "$NATIVE_DIR/probe.log"
  fail "the binding was built but does not load; see $NATIVE_DIR/probe.log"
fi
