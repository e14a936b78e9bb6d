# Sourced by every script of the kit (setup, test, main, lab, the notebook runner): the repository root, the project
# venv and node binaries on PATH, and hermetic Jupyter folders under .jupyter/ (git-ignored) so that nothing is
# written to, or read from, the user's ~/.jupyter or ~/.local/share/jupyter.
# Usage: source scripts/env.sh   (from any folder)
TVQ_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TVQ_REPO
export JUPYTER_CONFIG_DIR="$TVQ_REPO/.jupyter/config"
export JUPYTER_DATA_DIR="$TVQ_REPO/.jupyter/data"
export JUPYTER_RUNTIME_DIR="$TVQ_REPO/.jupyter/runtime"
# debugpy under Python 3.11 warns about frozen modules on every jupyter command.
export PYDEVD_DISABLE_FILE_VALIDATION=1
# Keep the kit's Python and node tools first; the tslab kernelspec uses an absolute path, so this is for humans.
case ":$PATH:" in
  *":$TVQ_REPO/.venv/bin:"*) ;;
  *) export PATH="$TVQ_REPO/.venv/bin:$TVQ_REPO/node_modules/.bin:$PATH" ;;
esac
