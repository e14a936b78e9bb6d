/**
 * `npm run sweep -- <notebook.ipynb> --param S=32,64,128 --param seed=0,1,2 [--profile smoke|default]
 * [--timeout seconds] [--dry-run]`: reruns one notebook over the cartesian product of the parameter lists, one
 * notebook run (scripts/notebook.ts) per combination, skipping combinations whose results row already exists, so
 * an interrupted sweep resumes. Prints one line per combination (ran / skipped / FAILED with the error) and a
 * summary; exits 1 when any combination failed, 2 on a bad command line.
 *
 * Executed copies go to notebooks/executed/sweeps/<notebook>/<S=32_seed=0>.ipynb. The rules a notebook keeps to
 * be sweepable (parameters declared with `let`, rows carrying the parameters by name) are in lib/notebook/sweep.ts.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { Combination, describeCombination, notebookExperiment, parseGrid, runSweep, sweepSummary } from "../lib/notebook/sweep";
import { CommandSpec, NOTEBOOK_FLAGS, UsageError, parseCommand, profileFlag, usageErrorText } from "./args";

const REPO = path.resolve(__dirname, "..");

const CLI: CommandSpec = {
  command: "npm run sweep",
  args: "<notebook.ipynb> --param name=v1,v2,... [--param ...] [--profile smoke|default] [--timeout SECONDS] [--dry-run]",
  summary: "Reruns one notebook over the cartesian product of the parameter lists, one notebook run per combination, " +
    "skipping combinations whose results row already exists (so an interrupted sweep resumes).",
  positionals: [{ name: "<notebook.ipynb>", help: "the notebook to sweep (it declares the swept parameters with `let`)" }],
  flags: {
    param: { kind: "list", value: "name=v1,v2,...", help: "values to sweep; a single value fixes a parameter", default: "none (one run with the notebook's own values)" },
    ...NOTEBOOK_FLAGS,
    "dry-run": { kind: "boolean", help: "list what would run and what is skipped; run nothing" },
  },
  examples: ["npm run sweep -- notebooks/10-ablation-codebook-size.ipynb --param S=32,64,128 --param seed=0,1,2"],
  notes: ["exit codes: 0 every combination ran or was skipped, 1 a combination failed, 2 a bad command line"],
};

/** File name of a combination's executed copy: "S=32_seed=0" (unsafe characters become '-'). */
export function combinationSlug(c: Combination): string {
  const s = Object.entries(c).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("_");
  return (s || "run").replace(/[^A-Za-z0-9._=-]+/g, "-").slice(0, 120);
}

/**
 * Runs the notebook runner for one combination, streaming its output; resolves to the failure text (the runner's
 * lines from "FAILED" on) or undefined on success.
 */
function runNotebook(notebook: string, c: Combination, profile: string, timeout: number | undefined): Promise<string | undefined> {
  const stem = path.basename(notebook).replace(/\.ipynb$/, "");
  const out = path.join(path.dirname(notebook), "executed", "sweeps", stem, `${combinationSlug(c)}.ipynb`);
  const args = ["--import", "tsx", path.join(REPO, "scripts", "notebook.ts"), notebook, "--profile", profile, "--out", out];
  for (const [k, v] of Object.entries(c)) args.push("--param", `${k}=${JSON.stringify(v)}`);
  if (timeout !== undefined) args.push("--timeout", String(timeout));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "inherit", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      stderr += d.toString();
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    child.on("error", (e) => resolve(`could not start the notebook runner: ${e.message}`));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(undefined);
      const at = stderr.lastIndexOf("FAILED");
      const why = (at >= 0 ? stderr.slice(at) : stderr.trim().split("\n").slice(-8).join("\n")).trim();
      resolve(`${signal ? `killed by ${signal}` : `exit ${code}`}${why ? `: ${why.slice(0, 2000)}` : ""}`);
    });
  });
}

async function main(argv: string[]): Promise<number> {
  let flags, grid, notebookArg: string, profile: "smoke" | "default";
  try {
    const parsed = parseCommand(CLI, argv);
    flags = parsed.flags;
    if (parsed.positionals.length !== 1) {
      throw new UsageError(parsed.positionals.length === 0 ? "name the notebook to sweep, e.g. notebooks/10-ablation-codebook-size.ipynb"
        : `one notebook at a time, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}`);
    }
    notebookArg = parsed.positionals[0];
    grid = parseGrid(flags.param as string[]);
    profile = profileFlag(flags);
  } catch (e) {
    if (e instanceof Error) {
      console.error(`sweep: ${usageErrorText(e, CLI)}`);
      return 2;
    }
    throw e;
  }
  // npm runs scripts from the package root: resolve the notebook from where the user typed the command.
  const notebook = path.resolve(process.env.INIT_CWD ?? process.cwd(), notebookArg);
  let experiment: string;
  try {
    experiment = notebookExperiment(notebook);
  } catch (e) {
    console.error(`sweep: ${(e as Error).message}`);
    return 2;
  }
  const timeout = flags.timeout as number | undefined;
  console.log(`sweep ${path.basename(notebook)} (results/${experiment}), profile ${profile}: ` +
    `${Object.entries(grid).map(([k, v]) => `${k} ∈ {${v.map((x) => JSON.stringify(x)).join(", ")}}`).join(" × ") || "no parameters"}`);
  let outcomes;
  try {
    outcomes = await runSweep({
      notebook, grid, profile, dryRun: flags["dry-run"] === true,
      run: (c) => {
        console.log(`-- running ${describeCombination(c)}`);
        return runNotebook(notebook, c, profile, timeout);
      },
    });
  } catch (e) {
    console.error(`sweep: ${(e as Error).message}`);
    return 2;
  }
  console.log(`sweep ${path.basename(notebook)}: ${sweepSummary(outcomes)}`);
  const failed = outcomes.filter((o) => o.status === "failed");
  for (const f of failed) console.log(`  failed: ${describeCombination(f.combination)}: ${(f.error ?? "").split("\n")[0]}`);
  return failed.length ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
