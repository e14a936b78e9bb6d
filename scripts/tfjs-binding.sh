# Steps shared by scripts/setup-native.sh (tfjs-node on PyPI's tensorflow-cpu wheel) and scripts/setup-gpu.sh
# (tfjs-node-gpu on PyPI's CUDA-enabled tensorflow wheel). Both packages ship the same binding sources
# (binding/*.cc, binding.gyp) and differ only in the libtensorflow they link, so both builds are:
#   probe -> package files -> libtensorflow from a wheel -> symbol check -> deps/ layout -> node-gyp build -> probe.
# Sourced, not run. The caller defines say() and fail() (its own log prefix), ROOT (the checkout) and LOG_DIR
# (logs, and the temporary folder of the wheel).
# shellcheck shell=bash

TFJS_NODE_VERSION="4.22.0"
NAPI_VERSION=8 # the highest napi version tfjs-node 4.22 lists that Node >= 20 supports; its loader picks it

# tfb_probe PACKAGE LOG: prints "<libtensorflow version> <gpu|cpu>" when require(PACKAGE) registers the tensorflow
# backend and a 2x2 matMul on it is right (gpu when the binding computes on a GPU device), else fails.
tfb_probe() {
  TF_CPP_MIN_LOG_LEVEL=2 node -e '
    const tf = require(process.argv[1]);
    tf.enableProdMode();
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const got = Array.from(a.matMul(a).dataSync()).join(",");
    if (tf.getBackend() !== "tensorflow" || got !== "7,10,15,22") throw new Error("matMul gave " + got + " on " + tf.getBackend());
    const b = tf.backend().binding;
    console.log(b.TF_Version + " " + (b.isUsingGpuDevice() ? "gpu" : "cpu"));
  ' "$1" 2>"$2"
}

# tfb_have_pkg DIR: the package at DIR has version TFJS_NODE_VERSION and all its dependencies resolve from there.
tfb_have_pkg() {
  node -e '
    const p = require(process.argv[1] + "/package.json");
    if (p.version !== process.argv[2]) process.exit(1);
    for (const d of Object.keys(p.dependencies)) require.resolve(d + "/package.json", { paths: [process.argv[1]] });
  ' "$1" "$TFJS_NODE_VERSION" 2>/dev/null
}

# tfb_python: the project venv's python, else python3 (pip download only; nothing is installed into it).
tfb_python() {
  if [[ -x "$ROOT/.venv/bin/python" ]]; then echo "$ROOT/.venv/bin/python"; else command -v python3 || true; fi
}

# tfb_pip_download LOG DEST REQUIREMENT...: pip download --no-deps of binary wheels into DEST.
tfb_pip_download() {
  local log="$1" dest="$2" py
  shift 2
  py="$(tfb_python)"
  [[ -n "$py" ]] || fail "python3 not found (needed for pip download of $*)"
  "$py" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -q "$@" -d "$dest" >"$log" 2>&1
}

# tfb_fetch_libtensorflow DIST VERSION DEST: pip-downloads the wheel DIST==VERSION (tensorflow-cpu or tensorflow)
# and keeps only libtensorflow_cc.so.2, libtensorflow_framework.so.2 (in DEST/lib), the C API headers (DEST/include)
# and the wheel's METADATA. The wheel is deleted; DEST/.complete marks a finished extraction (then this is a no-op).
tfb_fetch_libtensorflow() {
  local dist="$1" version="$2" dest="$3" tmp wheel
  [[ -f "$dest/.complete" ]] && return 0
  command -v unzip >/dev/null || fail "unzip not found: apt-get install -y unzip"
  tmp="$LOG_DIR/tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  say "downloading $dist==$version (libraries only are kept)"
  tfb_pip_download "$LOG_DIR/pip.log" "$tmp/wheel" "$dist==$version" \
    || fail "pip download $dist==$version failed; see $LOG_DIR/pip.log"
  wheel="$(ls "$tmp"/wheel/*.whl)"
  say "extracting $(basename "$wheel")"
  unzip -q -o "$wheel" -d "$tmp/x" \
    'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*' \
    'tensorflow/include/tsl/platform/*' 'tensorflow/include/xla/tsl/c/*' '*.dist-info/METADATA' \
    || fail "unzip of $wheel failed (is the wheel complete?)"
  mkdir -p "$tmp/out/lib"
  mv "$tmp/x/tensorflow/libtensorflow_cc.so.2" "$tmp/x/tensorflow/libtensorflow_framework.so.2" "$tmp/out/lib/"
  mv "$tmp/x/tensorflow/include" "$tmp/out/include"
  mv "$tmp"/x/*.dist-info/METADATA "$tmp/out/METADATA"
  [[ -f "$tmp/out/include/tensorflow/c/eager/c_api.h" ]] || fail "the wheel has no tensorflow/c/eager/c_api.h"
  echo "$dist==$version from $(basename "$wheel")" >"$tmp/out/.complete"
  rm -rf "$dest" && mv "$tmp/out" "$dest" && rm -rf "$tmp"
}

# tfb_check_symbols PKG LT_DIR: every TF_*/TFE_* function that PKG/binding/*.{cc,h} calls is exported by LT_DIR/lib
# (TF_TString_* are inline in the headers).
tfb_check_symbols() {
  local pkg="$1" lt="$2" missing
  nm -D --defined-only "$lt/lib/libtensorflow_cc.so.2" "$lt/lib/libtensorflow_framework.so.2" 2>/dev/null \
    | awk '$3 ~ /^TFE?_/ {sub(/@.*/, "", $3); print $3}' | sort -u >"$LOG_DIR/exported.txt"
  grep -ohE '\bTFE?_[A-Za-z0-9_]+\(' "$pkg"/binding/*.cc "$pkg"/binding/*.h | tr -d '(' | grep -vE '^(TF_TString_|TF_AutoStatus$|TF_AutoTensor$|TFE_AutoOp$)' \
    | sort -u >"$LOG_DIR/needed.txt"
  missing="$(comm -23 "$LOG_DIR/needed.txt" "$LOG_DIR/exported.txt" | tr '\n' ' ')"
  [[ -z "$missing" ]] || fail "libtensorflow in $lt lacks C API symbols the binding uses: $missing(nm -D output filtered in $LOG_DIR/exported.txt)"
}

# tfb_link_deps PKG LT_DIR: PKG/deps/{lib,include} become relative symlinks into LT_DIR (so the project folder may
# move); libtensorflow.so -> libtensorflow_cc.so.2 is the SONAME the binding then records, and the binding's rpath
# $ORIGIN/../../deps/lib finds both libraries at run time.
tfb_link_deps() {
  local pkg="$1" lt="$2" rel
  mkdir -p "$pkg/deps/lib"
  rel="$(realpath -m --relative-to="$pkg/deps/lib" "$lt/lib")"
  ln -sfn "$rel/libtensorflow_cc.so.2" "$pkg/deps/lib/libtensorflow_cc.so.2"
  ln -sfn "$rel/libtensorflow_framework.so.2" "$pkg/deps/lib/libtensorflow_framework.so.2"
  ln -sfn libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so"
  ln -sfn libtensorflow_framework.so.2 "$pkg/deps/lib/libtensorflow_framework.so"
  # tfjs-node's own install.js skips its download when this file exists (so `npm rebuild` stays offline too)
  ln -sfn libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so.2.9.1"
  rm -rf "$pkg/deps/include"
  ln -sfn "$(realpath -m --relative-to="$pkg/deps" "$lt/include")" "$pkg/deps/include"
}

# tfb_build PKG: npm's bundled node-gyp compiles PKG/binding/*.cc with Node's headers (--nodedir: TVQ_NODEDIR, else
# npm's nodedir, else /usr) into PKG/lib/napi-v8/tfjs_binding.node, where the package's loader looks.
tfb_build() {
  local pkg="$1" node_gyp nodedir
  node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [[ -f "$node_gyp" ]] || fail "npm's bundled node-gyp not found at $node_gyp"
  nodedir="${TVQ_NODEDIR:-$(npm config get nodedir 2>/dev/null || true)}"
  [[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]] || nodedir=/usr
  [[ -f "$nodedir/include/node/node_api.h" ]] || fail "Node's headers not found at $nodedir/include/node (apt-get install -y libnode-dev, or set TVQ_NODEDIR)"
  command -v make >/dev/null && command -v g++ >/dev/null || fail "make and g++ are needed: apt-get install -y build-essential"
  say "building the binding (node-gyp, nodedir=$nodedir); log: $LOG_DIR/build.log"
  (cd "$pkg" && node "$node_gyp" rebuild --nodedir="$nodedir" --module_name=tfjs_binding \
    --module_path="$pkg/lib/napi-v$NAPI_VERSION" --napi_build_version=$NAPI_VERSION) >"$LOG_DIR/build.log" 2>&1 \
    || { tail -20 "$LOG_DIR/build.log"; fail "node-gyp build failed; see $LOG_DIR/build.log"; }
}
