#!/usr/bin/env bash
# npm run lab: JupyterLab 4 from the project venv, with the tslab (TypeScript) kernel registered, in the hermetic
# Jupyter folders of scripts/env.sh. Serves the repository; the file browser opens in notebooks/. Runs setup first
# (seconds when nothing changed; TVQ_LAB_SETUP=0 skips it). Extra arguments go to `jupyter lab`, e.g.
#   npm run lab -- --port=8890 --no-browser
set -euo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: npm run lab -- [JUPYTER-LAB-ARGS ...]   (or: bash scripts/lab.sh ...)

Starts JupyterLab 4 from the project venv on 127.0.0.1, serving the repository and opened in notebooks/, with the
tslab (TypeScript) kernel and the hermetic Jupyter folders of scripts/env.sh. Runs setup first.

arguments:
  JUPYTER-LAB-ARGS   passed to `jupyter lab` unchanged (e.g. --port=8890 --no-browser); `.venv/bin/jupyter lab
                     --help-all` lists them

flags:
  -h, --help         print this help and exit

environment:
  TVQ_LAB_SETUP=0    skip the setup step (default: 1, run it)

example:
  npm run lab -- --port=8890 --no-browser
EOF_USAGE
}
for arg in "$@"; do
  case "$arg" in -h | --help) usage; exit 0 ;; esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${TVQ_LAB_SETUP:-1}" != 0 ]; then bash scripts/setup.sh; fi
# shellcheck source=scripts/env.sh
source scripts/env.sh
[ -x .venv/bin/jupyter ] || { echo "lab: .venv/bin/jupyter is missing; run npm run setup" >&2; exit 1; }
# No "Would you like to get notified about official Jupyter news?" popup at every start: the kit's JupyterLab neither
# fetches news nor checks for updates unless the user turns them on (Settings > Notifications, kept from then on).
news="$JUPYTER_CONFIG_DIR/lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
if [ ! -e "$news" ]; then
  mkdir -p "$(dirname "$news")"
  printf '{\n  "fetchNews": "false",\n  "checkForUpdates": false\n}\n' > "$news.tmp.$$" && mv -f "$news.tmp.$$" "$news"
fi
args=(--ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$TVQ_REPO" --ServerApp.default_url=/lab/tree/notebooks
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate)
# Jupyter refuses to start as root unless told; root is the normal user on this kit's machines.
if [ "$(id -u)" = 0 ]; then args+=(--allow-root); fi
exec .venv/bin/jupyter lab "${args[@]}" "$@"
