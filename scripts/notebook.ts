/**
 * `npm run notebook -- <notebook.ipynb> [--profile smoke|default|long] [--param name=value ...] [--out path]
 * [--timeout seconds]`: executes a notebook headlessly with the tslab kernel and saves the executed copy
 * (default <notebook folder>/executed/<name>.ipynb). Exits non-zero, naming the cell and its real error, when a cell
 * throws, times out, or an unhandled rejection / timer error happens. A failed rerun keeps the last good copy and
 * is saved beside it as <name>.failed.ipynb. It then checks the outputs (raw object dumps, text shown twice in a cell,
 * text tables over 120 columns): warnings, or a failure with --strict-outputs (as npm test runs the notebooks).
 *
 * This is a thin launcher: the work is done by scripts/run_notebook.py (nbclient) with the project venv's Python,
 * inside the hermetic Jupyter environment of scripts/env.sh. See run_notebook.py for the parameter conventions.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { CommandSpec, NOTEBOOK_FLAGS, UsageError, parseCommand, profileFlag, usageErrorText } from "./args";

const REPO = path.resolve(__dirname, "..");
const PYTHON = path.join(REPO, ".venv", "bin", "python");

const CLI: CommandSpec = {
  command: "npm run notebook",
  args: "<notebook.ipynb> [--profile smoke|default|long] [--param name=value ...] [--out FILE] [--timeout SECONDS] [--strict-outputs]",
  summary: "Executes one notebook headlessly with the tslab kernel and saves the executed copy. Fails, naming the cell " +
    "and its real error, when a cell throws or times out, or when an unhandled rejection or timer error happens.",
  positionals: [{ name: "<notebook.ipynb>", help: "the notebook to run (relative to where you typed the command)" }],
  flags: {
    ...NOTEBOOK_FLAGS,
    param: { kind: "list", value: "name=value", help: "a parameter assigned after the cell tagged `parameters`; the value is JSON when it parses (numbers, booleans, arrays), else a string", default: "none" },
    out: { kind: "string", value: "FILE", help: "where to write the executed copy", default: "<notebook folder>/executed/<name>.ipynb" },
    kernel: { kind: "string", value: "NAME", help: "kernel to run", default: "the notebook's own, else tslab" },
    "strict-outputs": { kind: "boolean", help: "fail when the outputs show a raw object dump, the same text twice in a cell, or a text table wider than 120 columns (otherwise these are warnings); npm test passes it" },
  },
  examples: [
    "npm run notebook -- notebooks/01-enwik8.ipynb --profile smoke",
    "npm run notebook -- notebooks/10-ablation-codebook-size.ipynb --param 'S=[32,128]' --param 'seed=[0,1,2]'",
  ],
  notes: ["exit codes: 0 every cell ran, 1 a cell or the kernel failed (or, with --strict-outputs, the outputs have problems), 2 a bad command line or a parameter the notebook does not declare"],
};

/** Checks the command line (the runner gets it unchanged); throws a UsageError. */
function checkArgs(argv: string[]): void {
  const { flags, positionals } = parseCommand(CLI, argv);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "name the notebook to run, e.g. notebooks/01-enwik8.ipynb"
      : `one notebook at a time, got ${positionals.map((p) => JSON.stringify(p)).join(" ")} (use npm run main for several)`);
  }
  profileFlag(flags);
  for (const p of flags.param as string[]) {
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*=/.test(p)) throw new UsageError(`--param ${JSON.stringify(p)} must look like name=value, e.g. --param seed=3`);
  }
}

function main(argv: string[]): number {
  try {
    checkArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(usageErrorText(e, CLI));
    return 2;
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
