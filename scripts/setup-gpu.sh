#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node-gpu's binding offline against the CUDA build of libtensorflow from PyPI's `tensorflow`
# wheel, with the CUDA libraries from NVIDIA's PyPI wheels, so the kit can compute on an NVIDIA GPU (the "gpu"
# backend of lib/runtime/backend.ts). Opt-in: `npm run setup -- --gpu` runs it after the normal setup; neither the
# default setup nor CI does (it adds about 4 GB).
#
# Why offline: tfjs-node-gpu's own install script downloads libtensorflow from Google's storage, which machines here
# cannot reach. On Linux x86_64 the plain `tensorflow` wheel is the CUDA build; its libtensorflow_framework.so.2
# finds the CUDA libraries through its RUNPATH ($ORIGIN/../nvidia/<name>/lib), the layout of `pip install
# tensorflow[and-cuda]`, which this script reproduces. No LD_LIBRARY_PATH is needed. The binding sources are the
# same as tfjs-node's, so the steps are those of scripts/setup-native.sh (shared in scripts/tfjs-binding.sh):
#   1. probe: if require("@tensorflow/tfjs-node-gpu") already works and the stamp matches, stop here;
#   2. package files: `npm pack @tensorflow/tfjs-node-gpu@4.22.0` (tarball cached in .native/gpu/), unpacked into
#      node_modules/@tensorflow/tfjs-node-gpu. Its dependencies are tfjs-node's, already installed; npm's install
#      script is not run, and package.json / the lockfile are not changed. `npm ci` removes the folder again (it is
#      not in the lockfile): rerun this script, which re-creates it in about a minute (the binding build) without any download;
#   3. libtensorflow: `pip download --no-deps tensorflow==$TF_VERSION` (about 570 MB), of which only the two
#      libraries, the C API headers and METADATA are kept, in .native/libtensorflow-cuda-$TF_VERSION/;
#   4. CUDA libraries: the wheels that the wheel's `and-cuda` extra lists, at the versions it was built with (the
#      extra's lower bounds, e.g. CUDA 12.5, cuDNN 9.3), except nvidia-cuda-nvcc-cu12 (the compiler: ptxas and nvvm for
#      XLA's JIT, which tfjs's eager ops never use; it holds no shared library). Only nvidia/*/lib/*.so* are kept,
#      in .native/libtensorflow-cuda-$TF_VERSION/nvidia/, the wheels' own layout: their RUNPATHs ($ORIGIN,
#      $ORIGIN/../../nvjitlink/lib, ...) find each other there. `ldd` has to resolve every one of them (the driver's
#      libcuda.so.1 excepted: it comes with the NVIDIA driver, not from PyPI);
#   5. symbol check and deps/ layout as for tfjs-node, plus deps/nvidia -> the CUDA libraries (libtensorflow's
#      RUNPATH $ORIGIN/../nvidia/... is resolved from deps/lib, the path the library is loaded by);
#   6. build with npm's bundled node-gyp (about 15 s), then probe again and write the stamp.
#
# Usage: bash scripts/setup-gpu.sh [--force | --check]   (--force rebuilds even when the binding loads; --check
#        only probes: exit 0 when the build loads, 1 when not, and changes nothing)
# Env:   TVQ_TF_VERSION pins another tensorflow wheel (default 2.21.0, the version setup-native.sh uses);
#        TVQ_NODEDIR overrides the folder with include/node.
# Exit:  0 when the gpu backend loads at the end (on a GPU, or on the CPU when none is visible); 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TF_VERSION="${TVQ_TF_VERSION:-2.21.0}"
NATIVE_DIR="$ROOT/.native"
LOG_DIR="$NATIVE_DIR/gpu"
LT_DIR="$NATIVE_DIR/libtensorflow-cuda-$TF_VERSION"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
# shellcheck source=scripts/tfjs-binding.sh
source "$ROOT/scripts/tfjs-binding.sh" # the steps this build shares with scripts/setup-native.sh
STAMP="$PKG/.tvq-gpu-stamp"
stamp_text="tfjs-node-gpu $TFJS_NODE_VERSION on tensorflow==$TF_VERSION"
FORCE=0
CHECK=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    -h | --help)
      cat <<'EOF_USAGE'
usage: bash scripts/setup-gpu.sh [--force | --check]   (npm run setup -- --gpu runs the normal setup, then this)

Builds @tensorflow/tfjs-node-gpu's binding offline against the CUDA build of libtensorflow from PyPI's tensorflow
wheel, with the CUDA libraries from NVIDIA's PyPI wheels (about 2.5 GB of downloads, 4 GB installed, in .native/).
Each step is skipped when already done. Afterwards the kit picks the gpu backend when a GPU is visible
(TVQ_BACKEND=gpu forces it; without a GPU it runs on the CPU and says so).

flags:
  --force      rebuild even when the binding already loads (default: keep a working build)
  --check      only check: exit 0 when the build loads, 1 when it is missing or broken; changes nothing
  -h, --help   print this help and exit

environment:
  TVQ_TF_VERSION=2.xx.y   the tensorflow wheel to take libtensorflow from (default: 2.21.0)
  TVQ_NODEDIR=DIR         the folder with include/node (default: npm's nodedir, else /usr)

example:
  bash scripts/setup-gpu.sh
EOF_USAGE
      exit 0 ;;
    *) echo "[setup-gpu] unknown argument '$arg'; the flags are --force, --check and --help" >&2; exit 2 ;;
  esac
done

say() { echo "[setup-gpu] $*"; }
fail() {
  say "FAILED: $*"
  say "the gpu backend stays unavailable; lib/runtime/backend.ts uses native (then wasm, cpu)."
  exit 1
}
T0=$SECONDS

mkdir -p "$LOG_DIR"
if [[ $CHECK == 1 ]]; then
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$stamp_text" ]] && v="$(tfb_probe @tensorflow/tfjs-node-gpu "$LOG_DIR/probe.log")"; then
    say "@tensorflow/tfjs-node-gpu loads (libtensorflow ${v% *}, CUDA build, computing on ${v#* })"
    exit 0
  fi
  say "the gpu build is missing, stale (stamp ${STAMP#"$ROOT"/} does not say '$stamp_text') or broken (see $LOG_DIR/probe.log): run bash scripts/setup-gpu.sh"
  exit 1
fi
exec 9>"$NATIVE_DIR/.gpu.lock"
flock 9 # two setups at once would race on the same files

if [[ $FORCE == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$stamp_text" ]] && v="$(tfb_probe @tensorflow/tfjs-node-gpu "$LOG_DIR/probe.log")"; then
  say "@tensorflow/tfjs-node-gpu already loads (libtensorflow ${v% *}, CUDA build, computing on ${v#* }): nothing to do"
  exit 0
fi

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || fail "PyPI's CUDA build of tensorflow is for Linux x86_64; this is $(uname -s)-$(uname -m)"

# 2. package files from the registry tarball (never npm install: it would prune or reshuffle node_modules)
if [[ $FORCE == 1 || ! -f "$STAMP" ]] || ! tfb_have_pkg "$PKG"; then
  TGZ="$LOG_DIR/tensorflow-tfjs-node-gpu-$TFJS_NODE_VERSION.tgz"
  if [[ ! -f "$TGZ" ]]; then
    say "fetching @tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION from the npm registry (npm pack)"
    (cd "$LOG_DIR" && npm pack "@tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION" --silent >"$LOG_DIR/npm.log" 2>&1) \
      || fail "npm pack @tensorflow/tfjs-node-gpu@$TFJS_NODE_VERSION failed; see $LOG_DIR/npm.log"
  fi
  rm -rf "$PKG.tmp" && mkdir -p "$PKG.tmp"
  tar -xzf "$TGZ" -C "$PKG.tmp" --strip-components=1 || { rm -f "$TGZ"; fail "unpacking $TGZ failed (deleted; rerun to fetch it again)"; }
  rm -rf "$PKG" && mv "$PKG.tmp" "$PKG"
  tfb_have_pkg "$PKG" || fail "the dependencies of @tensorflow/tfjs-node-gpu (the same as tfjs-node's) do not resolve from $PKG: run bash scripts/setup-native.sh (or npm run setup) first"
fi

# 3. libtensorflow, CUDA build
tfb_fetch_libtensorflow tensorflow "$TF_VERSION" "$LT_DIR"

# 4. the CUDA libraries of the and-cuda extra, at the versions the wheel was built with
if [[ ! -f "$LT_DIR/nvidia/.complete" ]]; then
  PY="$(tfb_python)"
  [[ -n "$PY" ]] || fail "python3 not found (needed for pip download)"
  "$PY" - "$LT_DIR/METADATA" >"$LOG_DIR/cuda-pins.txt" <<'EOF_PY' || fail "could not read the and-cuda pins from $LT_DIR/METADATA"
import sys
from pip._vendor.packaging.requirements import Requirement
pins = []
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("Requires-Dist:"):
        continue
    r = Requirement(line.split(":", 1)[1].strip())
    if r.marker is None or not r.marker.evaluate({"extra": "and-cuda"}) or r.marker.evaluate({"extra": ""}):
        continue
    if r.name == "nvidia-cuda-nvcc-cu12":
        continue  # the compiler (ptxas, nvvm) for XLA's JIT: no shared library that TensorFlow loads
    lows = [s.version for s in r.specifier if s.operator == ">="]
    if not lows:
        sys.exit(f"{r} has no lower bound to pin")
    pins.append(f"{r.name}=={lows[0]}")
if not pins:
    sys.exit("no and-cuda requirements in the wheel's METADATA (is this the CUDA build?)")
print("\n".join(pins))
EOF_PY
  TMP="$LOG_DIR/tmp.$$"
  rm -rf "$TMP" && mkdir -p "$TMP"
  say "downloading the CUDA libraries (about 1.9 GB): $(tr '\n' ' ' <"$LOG_DIR/cuda-pins.txt")"
  tfb_pip_download "$LOG_DIR/pip-cuda.log" "$TMP/wheels" -r "$LOG_DIR/cuda-pins.txt" \
    || fail "pip download of the CUDA wheels failed; see $LOG_DIR/pip-cuda.log"
  say "extracting nvidia/*/lib/*.so* from $(find "$TMP/wheels" -name '*.whl' | wc -l) wheels"
  for w in "$TMP"/wheels/*.whl; do
    unzip -q -o "$w" 'nvidia/*/lib/*.so*' -d "$TMP/x" || fail "unzip of $w failed (is the wheel complete?)"
    rm -f "$w"
  done
  cp "$LOG_DIR/cuda-pins.txt" "$TMP/x/nvidia/.complete"
  rm -rf "$LT_DIR/nvidia" && mv "$TMP/x/nvidia" "$LT_DIR/nvidia" && rm -rf "$TMP"
fi
# every CUDA library must resolve its dependencies by itself (libcuda.so.1 is the driver's)
: >"$LOG_DIR/ldd.log"
unresolved=""
for so in "$LT_DIR"/nvidia/*/lib/*.so*; do
  out="$(ldd "$so" 2>&1 || true)"
  printf '== %s\n%s\n' "$so" "$out" >>"$LOG_DIR/ldd.log"
  miss="$(grep 'not found' <<<"$out" | grep -v 'libcuda\.so\.1' | awk '{print $1}' | tr '\n' ' ' || true)"
  [[ -z "$miss" ]] || unresolved="$unresolved $(basename "$so") (needs $miss)"
done
[[ -z "$unresolved" ]] || fail "CUDA libraries with unresolved dependencies:$unresolved; see $LOG_DIR/ldd.log"

# 5. symbols, deps/ layout (+ deps/nvidia for libtensorflow's RUNPATH), build
tfb_check_symbols "$PKG" "$LT_DIR"
tfb_link_deps "$PKG" "$LT_DIR"
ln -sfn "$(realpath -m --relative-to="$PKG/deps" "$LT_DIR/nvidia")" "$PKG/deps/nvidia"
for d in "$LT_DIR"/nvidia/*/lib; do
  [[ -d "$PKG/deps/lib/../nvidia/$(basename "$(dirname "$d")")/lib" ]] || fail "deps/nvidia does not reach $d"
done
tfb_build "$PKG"

# 6. verify, then stamp
if v="$(tfb_probe @tensorflow/tfjs-node-gpu "$LOG_DIR/probe.log")"; then
  echo "$stamp_text" >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
  if [[ "${v#* }" == gpu ]]; then where="computing on a GPU"; else where="no GPU visible: running on the CPU"; fi
  say "OK: @tensorflow/tfjs-node-gpu $TFJS_NODE_VERSION on libtensorflow ${v% *} (CUDA build, from tensorflow==$TF_VERSION), $where"
  say "installed: $(du -sh "$LT_DIR" | cut -f1) in ${LT_DIR#"$ROOT"/}, $(du -sh "$PKG" | cut -f1) in ${PKG#"$ROOT"/}; took $((SECONDS - T0)) s"
else
  tail -5 "$LOG_DIR/probe.log"
  fail "the binding was built but does not load; see $LOG_DIR/probe.log"
fi
