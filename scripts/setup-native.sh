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
TFJS_NODE_VERSION="4.22.0"
NAPI_VERSION=8 # the highest napi version tfjs-node 4.22 lists that Node >= 20 supports; its loader picks it
NATIVE_DIR="$ROOT/.native"
LT_DIR="$NATIVE_DIR/libtensorflow-$TF_VERSION"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
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

# Prints "<libtensorflow version>" when the binding loads and runs a matMul, else fails.
probe() {
  TF_CPP_MIN_LOG_LEVEL=2 node -e '
    const tf = require("@tensorflow/tfjs-node");
    tf.enableProdMode();
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const got = Array.from(a.matMul(a).dataSync()).join(",");
    if (tf.getBackend() !== "tensorflow" || got !== "7,10,15,22") throw new Error("matMul gave " + got + " on " + tf.getBackend());
    console.log(tf.backend().binding.TF_Version);
  ' 2>"$NATIVE_DIR/probe.log"
}

mkdir -p "$NATIVE_DIR"
exec 9>"$NATIVE_DIR/.lock"
flock 9 # two setups at once would race on the same files

if [[ $FORCE == 0 ]] && v="$(probe)"; then
  say "@tensorflow/tfjs-node already loads (libtensorflow $v): nothing to do"
  exit 0
fi

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || fail "PyPI's tensorflow-cpu wheel is for Linux x86_64; this is $(uname -s)-$(uname -m)"

# 2. package files, without the install script that would download (and, failing, make npm remove the package)
have_pkg() {
  node -e '
    const p = require(process.argv[1] + "/package.json");
    if (p.version !== process.argv[2]) process.exit(1);
    for (const d of Object.keys(p.dependencies)) require.resolve(d + "/package.json", { paths: [process.argv[1]] });
  ' "$PKG" "$TFJS_NODE_VERSION" 2>/dev/null
}
if ! have_pkg; then
  say "adding @tensorflow/tfjs-node@$TFJS_NODE_VERSION and its dependencies from package-lock.json (npm install --no-save --ignore-scripts)"
  npm install --no-save --ignore-scripts --no-audit --no-fund >"$NATIVE_DIR/npm.log" 2>&1 || fail "npm install failed; see $NATIVE_DIR/npm.log"
  have_pkg || fail "@tensorflow/tfjs-node@$TFJS_NODE_VERSION is still missing after npm install (is it in package.json's optionalDependencies?)"
fi

# 3. libtensorflow from the wheel: two libraries + the headers that c_api.h and eager/c_api.h include
if [[ ! -f "$LT_DIR/.complete" ]]; then
  PY="$ROOT/.venv/bin/python"
  [[ -x "$PY" ]] || PY="$(command -v python3 || true)"
  [[ -n "$PY" ]] || fail "python3 not found (needed for pip download of tensorflow-cpu)"
  command -v unzip >/dev/null || fail "unzip not found: apt-get install -y unzip"
  TMP="$NATIVE_DIR/tmp.$$"
  rm -rf "$TMP" && mkdir -p "$TMP"
  say "downloading tensorflow-cpu==$TF_VERSION (about 270 MB, libraries only are kept)"
  "$PY" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -q \
    "tensorflow-cpu==$TF_VERSION" -d "$TMP/wheel" >"$NATIVE_DIR/pip.log" 2>&1 \
    || fail "pip download tensorflow-cpu==$TF_VERSION failed; see $NATIVE_DIR/pip.log"
  WHEEL="$(ls "$TMP"/wheel/tensorflow_cpu-*.whl)"
  say "extracting $(basename "$WHEEL")"
  unzip -q -o "$WHEEL" -d "$TMP/x" \
    'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*' \
    'tensorflow/include/tsl/platform/*' 'tensorflow/include/xla/tsl/c/*' \
    || fail "unzip of $WHEEL failed (is the wheel complete?)"
  mkdir -p "$TMP/out/lib"
  mv "$TMP/x/tensorflow/libtensorflow_cc.so.2" "$TMP/x/tensorflow/libtensorflow_framework.so.2" "$TMP/out/lib/"
  mv "$TMP/x/tensorflow/include" "$TMP/out/include"
  [[ -f "$TMP/out/include/tensorflow/c/eager/c_api.h" ]] || fail "the wheel has no tensorflow/c/eager/c_api.h"
  echo "tensorflow-cpu==$TF_VERSION from $(basename "$WHEEL")" >"$TMP/out/.complete"
  rm -rf "$LT_DIR" && mv "$TMP/out" "$LT_DIR" && rm -rf "$TMP"
fi

# The binding needs these C API symbols (binding/*.cc); TF_TString_* are inline in the headers.
nm -D --defined-only "$LT_DIR/lib/libtensorflow_cc.so.2" "$LT_DIR/lib/libtensorflow_framework.so.2" 2>/dev/null \
  | awk '$3 ~ /^TFE?_/ {sub(/@.*/, "", $3); print $3}' | sort -u >"$NATIVE_DIR/exported.txt"
grep -ohE '\bTFE?_[A-Za-z0-9_]+\(' "$PKG"/binding/*.cc "$PKG"/binding/*.h | tr -d '(' | grep -vE '^(TF_TString_|TF_AutoStatus$|TF_AutoTensor$|TFE_AutoOp$)' \
  | sort -u >"$NATIVE_DIR/needed.txt"
missing="$(comm -23 "$NATIVE_DIR/needed.txt" "$NATIVE_DIR/exported.txt" | tr '\n' ' ')"
[[ -z "$missing" ]] || fail "libtensorflow $TF_VERSION lacks C API symbols the binding uses: $missing(nm -D output filtered in $NATIVE_DIR/exported.txt)"

# 4. deps/ layout (relative symlinks, so the project folder may move)
mkdir -p "$PKG/deps/lib"
rel="$(realpath -m --relative-to="$PKG/deps/lib" "$LT_DIR/lib")"
ln -sfn "$rel/libtensorflow_cc.so.2" "$PKG/deps/lib/libtensorflow_cc.so.2"
ln -sfn "$rel/libtensorflow_framework.so.2" "$PKG/deps/lib/libtensorflow_framework.so.2"
ln -sfn libtensorflow_cc.so.2 "$PKG/deps/lib/libtensorflow.so"
ln -sfn libtensorflow_framework.so.2 "$PKG/deps/lib/libtensorflow_framework.so"
# tfjs-node's own install.js skips its download when this file exists (so `npm rebuild` stays offline too)
ln -sfn libtensorflow_cc.so.2 "$PKG/deps/lib/libtensorflow.so.2.9.1"
rm -rf "$PKG/deps/include"
ln -sfn "$(realpath -m --relative-to="$PKG/deps" "$LT_DIR/include")" "$PKG/deps/include"

# 5. build with npm's bundled node-gyp and Node's installed headers
NODE_GYP="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$NODE_GYP" ]] || fail "npm's bundled node-gyp not found at $NODE_GYP"
NODEDIR="${TVQ_NODEDIR:-$(npm config get nodedir 2>/dev/null || true)}"
[[ -n "$NODEDIR" && "$NODEDIR" != "undefined" && "$NODEDIR" != "null" ]] || NODEDIR=/usr
[[ -f "$NODEDIR/include/node/node_api.h" ]] || fail "Node's headers not found at $NODEDIR/include/node (apt-get install -y libnode-dev, or set TVQ_NODEDIR)"
command -v make >/dev/null && command -v g++ >/dev/null || fail "make and g++ are needed: apt-get install -y build-essential"
say "building the binding (node-gyp, nodedir=$NODEDIR); log: $NATIVE_DIR/build.log"
(cd "$PKG" && node "$NODE_GYP" rebuild --nodedir="$NODEDIR" --module_name=tfjs_binding \
  --module_path="$PKG/lib/napi-v$NAPI_VERSION" --napi_build_version=$NAPI_VERSION) >"$NATIVE_DIR/build.log" 2>&1 \
  || { tail -20 "$NATIVE_DIR/build.log"; fail "node-gyp build failed; see $NATIVE_DIR/build.log"; }

# 6. verify
if v="$(probe)"; then
  say "OK: @tensorflow/tfjs-node $TFJS_NODE_VERSION on libtensorflow $v (from tensorflow-cpu==$TF_VERSION)"
else
  tail -5 "$NATIVE_DIR/probe.log"
  fail "the binding was built but does not load; see $NATIVE_DIR/probe.log"
fi
