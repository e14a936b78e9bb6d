/**
 * `npm run notebook -- <notebook.ipynb> [--profile smoke|default] [--param name=value ...] [--out path]
 * [--timeout seconds]`: executes a notebook headlessly with the tslab kernel and saves the executed copy
 * (default <notebook folder>/executed/<name>.ipynb). Exits non-zero, naming the cell and its real error, when a cell
 * throws, times out, or an unhandled rejection / timer error happens.
 *
 * This is a thin launcher: the work is done by scripts/run_notebook.py (nbclient) with the project venv's Python,
 * inside the hermetic Jupyter environment of scripts/env.sh. See run_notebook.py for the parameter conventions.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");
const PYTHON = path.join(REPO, ".venv", "bin", "python");

function main(argv: string[]): number {
  if (argv.length === 0 || argv.includes("-h") || argv.includes("--help")) {
    console.error(
      "usage: npm run notebook -- <notebook.ipynb> [--profile smoke|default] [--param name=value ...] [--out path] [--timeout seconds]",
    );
    return argv.length === 0 ? 2 : 0;
  }
  if (!existsSync(PYTHON) || !existsSync(path.join(REPO, ".venv", "share", "jupyter", "kernels", "tslab", "kernel.json"))) {
    console.error(`notebook: the project venv or the tslab kernel is missing (${PYTHON}); run \`npm run setup\` first`);
    return 2;
  }
  // env.sh is the one place that defines the hermetic Jupyter environment; bash sources it, then runs the runner.
  const r = spawnSync(
    "bash",
    ["-c", 'source "$0" && exec "$@"', path.join(REPO, "scripts", "env.sh"), PYTHON, path.join(REPO, "scripts", "run_notebook.py"), ...argv],
    // npm runs scripts from the package root: resolve relative paths from where the user typed the command.
    { stdio: "inherit", cwd: process.env.INIT_CWD ?? process.cwd() },
  );
  if (r.error) throw r.error;
  return r.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
