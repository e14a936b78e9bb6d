/**
 * `npm run sweep -- <notebook.ipynb> --param S=32,64,128 --param seed=0,1,2 [--profile smoke|default|long]
 * [--timeout seconds] [--dry-run]`: reruns one notebook over the cartesian product of the parameter lists, one
 * notebook run (scripts/notebook.ts) per combination, skipping combinations whose results row already exists, so
 * an interrupted sweep resumes. Prints one line per combination (ran / skipped / FAILED with the error) and a
 * summary; exits 1 when any combination failed, 2 on a bad command line.
 *
 * Executed copies go to notebooks/executed/sweeps/<notebook>/<S=32_seed=0>.ipynb. The rules a notebook keeps to
 * be sweepable (parameters declared with `let`, rows carrying the parameters by name) are in lib/notebook/sweep.ts.
 *
 * With --slurm the combinations without a row become the tasks of one Slurm job array instead (sbatch script,
 * manifest, logs: lib/notebook/slurm.ts); each task runs this script again with --slurm-task MANIFEST, which runs
 * the one combination of its SLURM_ARRAY_TASK_ID exactly as a local sweep would.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { Combination, Grid, combinationGrid, describeCombination, notebookExperiment, parseGrid, runSweep, sweepSummary } from "../lib/notebook/sweep";
import {
  SlurmResources, checkSlurmResources, planSlurmSweep, sbatchScript, slurmJobFiles, slurmSweepsDir, slurmTask, submitSlurmJob, writeSlurmJob,
} from "../lib/notebook/slurm";
import { CommandSpec, Flags, NOTEBOOK_FLAGS, UsageError, parseCommand, profileFlag, usageErrorText } from "./args";
import type { Profile } from "../lib/notebook/profiles";

const REPO = path.resolve(__dirname, "..");

const CLI: CommandSpec = {
  command: "npm run sweep",
  args: "<notebook.ipynb> --param name=v1,v2,... [--param ...] [--profile smoke|default|long] [--timeout SECONDS] " +
    "[--slurm [--partition P] [--time T] [--cpus N] [--mem M]] [--dry-run]",
  summary: "Reruns one notebook over the cartesian product of the parameter lists, one notebook run per combination, " +
    "skipping combinations whose results row already exists (so an interrupted sweep resumes). With --slurm the " +
    "combinations without a row are submitted as one Slurm job array instead (one task each), and a rerun submits " +
    "only what is still missing.",
  positionals: [{ name: "<notebook.ipynb>", help: "the notebook to sweep (it declares the swept parameters with `let`)" }],
  flags: {
    param: { kind: "list", value: "name=v1,v2,...", help: "values to sweep; a single value fixes a parameter", default: "none (one run with the notebook's own values)" },
    ...NOTEBOOK_FLAGS,
    "dry-run": { kind: "boolean", help: "list what would run and what is skipped; run nothing (with --slurm: print the sbatch script on stdout, write and submit nothing)" },
    slurm: { kind: "boolean", help: "submit the combinations without a results row as one Slurm job array (sbatch) instead of running them here; prints the job id, the log folder and how to follow it" },
    partition: { kind: "string", value: "P", help: "partition of the array tasks (sbatch --partition; needs --slurm)", default: "the cluster's default partition" },
    time: { kind: "string", value: "T", help: "time limit of each array task in Slurm's form: minutes (30), H:M:S (2:00:00) or D-H:M:S (sbatch --time; needs --slurm)", default: "the partition's limit" },
    cpus: { kind: "number", value: "N", help: "CPUs of each array task (sbatch --cpus-per-task; needs --slurm)", default: "the cluster's default, usually 1", integer: true, min: 1 },
    mem: { kind: "string", value: "M", help: "memory of each array task, e.g. 4G or 3500M; no unit = megabytes (sbatch --mem; needs --slurm)", default: "the partition's default" },
    "slurm-task": { kind: "string", value: "MANIFEST", help: "internal, written into the sbatch script: run the combination of this array task (SLURM_ARRAY_TASK_ID) from the manifest; takes no other argument" },
  },
  examples: [
    "npm run sweep -- notebooks/10-ablation-codebook-size.ipynb --param S=32,64,128 --param seed=0,1,2",
    "npm run sweep -- notebooks/10-ablation-codebook-size.ipynb --param S=32,64,128 --param seed=0,1,2 --slurm --partition cpu --time 2:00:00 --cpus 2 --mem 8G",
  ],
  notes: [
    "exit codes: 0 every combination ran or was skipped (with --slurm: the array was submitted, or nothing was missing), 1 a combination failed (with --slurm: sbatch refused the script), 2 a bad command line",
    "--slurm writes its files to <notebook folder>/executed/sweeps/<notebook>/slurm/<profile>-<time>/ (sweep.sbatch, manifest.json, job.json, logs/<job>_<task>.out); the checkout with its .venv and node_modules must be on a filesystem the compute nodes share, at the same path. SLURM_CONF and the other Slurm variables of this shell apply as usual.",
  ],
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
export function runNotebook(notebook: string, c: Combination, profile: string, timeout: number | undefined): Promise<string | undefined> {
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

/** The --partition/--time/--cpus/--mem values; a UsageError when they come without --slurm or are malformed. */
function slurmResources(flags: Flags): SlurmResources {
  const r: SlurmResources = {
    partition: flags.partition as string | undefined, time: flags.time as string | undefined,
    cpus: flags.cpus as number | undefined, mem: flags.mem as string | undefined,
  };
  const given = Object.entries(r).filter(([, v]) => v !== undefined).map(([k]) => `--${k}`);
  if (flags.slurm !== true && given.length) throw new UsageError(`${given.join(", ")} ${given.length === 1 ? "applies" : "apply"} only to a Slurm submission; add --slurm (or drop them to run here)`);
  try {
    checkSlurmResources(r);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return r;
}

/** One array task: the combination of SLURM_ARRAY_TASK_ID from the manifest, run (or skipped) like a local sweep. */
async function slurmTaskMain(manifestFile: string): Promise<number> {
  let task;
  try {
    task = slurmTask(path.resolve(manifestFile), process.env.SLURM_ARRAY_TASK_ID);
  } catch (e) {
    console.error(`sweep: ${(e as Error).message}`);
    return 2;
  }
  const { manifest, combination } = task;
  console.log(`sweep task ${task.index}: ${path.basename(manifest.notebook)}, profile ${manifest.profile}, ${describeCombination(combination)}`);
  const [outcome] = await runSweep({
    notebook: manifest.notebook, grid: combinationGrid(combination), profile: manifest.profile,
    run: (c) => runNotebook(manifest.notebook, c, manifest.profile, manifest.timeout),
  });
  return outcome.status === "failed" ? 1 : 0;
}

/** --slurm: plans, writes the job folder, submits (or prints the script with --dry-run). */
function slurmMain(notebook: string, grid: Grid, profile: Profile, timeout: number | undefined,
                   resources: SlurmResources, dryRun: boolean): number {
  const plan = planSlurmSweep({ notebook, grid, profile });
  // with --dry-run stdout carries the script only (so `> job.sbatch` works); the plan goes to stderr
  const say = dryRun ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const width = String(plan.items.length).length;
  for (const it of plan.items) {
    const state = it.done ? `skipped (results/${plan.experiment} has a row)` : it.inJob ? `skipped (queued or running in job ${it.inJob})` : "to submit";
    say(`[${String(it.index + 1).padStart(width)}/${plan.items.length}] ${describeCombination(it.combination)}: ${state}`);
  }
  const done = plan.items.filter((it) => it.done).length;
  const queued = plan.items.length - done - plan.submit.length;
  if (plan.submit.length === 0) {
    say(`sweep ${path.basename(notebook)}: nothing to submit (${done} with a results row, ${queued} queued or running)`);
    return 0;
  }
  const job = { notebook, experiment: plan.experiment, profile, timeout, combinations: plan.submit, resources };
  if (dryRun) {
    // the same text as a real submission, in a folder that is not created
    const files = slurmJobFiles(path.join(slurmSweepsDir(notebook), `${profile}-DRYRUN`));
    process.stdout.write(sbatchScript({ version: 1, notebook: path.resolve(notebook), experiment: plan.experiment, profile, timeout,
      combinations: plan.submit, created: new Date().toISOString() }, files, resources));
    say(`sweep ${path.basename(notebook)}: dry run, ${plan.submit.length} task(s) would be submitted; nothing written`);
    return 0;
  }
  const { files } = writeSlurmJob(job);
  let jobId: string;
  try {
    jobId = submitSlurmJob(files);
  } catch (e) {
    console.error(`sweep: ${(e as Error).message}\nsweep: the script is kept at ${files.script}`);
    return 1;
  }
  const last = plan.submit.length - 1;
  console.log(`sweep ${path.basename(notebook)}: submitted job ${jobId}, ${plan.submit.length} task(s) (array 0-${last}); ` +
    `${done} with a results row${queued ? `, ${queued} already queued` : ""}`);
  console.log(`  script and manifest: ${files.dir}`);
  console.log(`  logs:   ${files.logs}/${jobId}_<task>.out   (tail -f ${path.join(files.logs, `${jobId}_0.out`)})`);
  console.log(`  follow: squeue -j ${jobId}   (after it ends: scontrol show job ${jobId}, or sacct -j ${jobId} where accounting is on)`);
  console.log("  when it has ended, run this command again: it submits only the combinations that still have no row");
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let flags, grid, notebookArg: string, profile: Profile, resources: SlurmResources;
  try {
    const parsed = parseCommand(CLI, argv);
    flags = parsed.flags;
    if (flags["slurm-task"] !== undefined) {
      const others = argv.filter((a) => a.startsWith("--") && !a.startsWith("--slurm-task"));
      if (parsed.positionals.length || others.length) throw new UsageError("--slurm-task takes no other argument: the manifest names the notebook, the profile and the combinations");
      return slurmTaskMain(flags["slurm-task"] as string);
    }
    if (parsed.positionals.length !== 1) {
      throw new UsageError(parsed.positionals.length === 0 ? "name the notebook to sweep, e.g. notebooks/10-ablation-codebook-size.ipynb"
        : `one notebook at a time, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}`);
    }
    notebookArg = parsed.positionals[0];
    grid = parseGrid(flags.param as string[]);
    profile = profileFlag(flags);
    resources = slurmResources(flags);
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
  const dryRun = flags["dry-run"] === true;
  const header = `sweep ${path.basename(notebook)} (results/${experiment}), profile ${profile}: ` +
    `${Object.entries(grid).map(([k, v]) => `${k} ∈ {${v.map((x) => JSON.stringify(x)).join(", ")}}`).join(" × ") || "no parameters"}`;
  if (flags.slurm === true) {
    (dryRun ? console.error : console.log)(`${header}, as a Slurm job array`);
    try {
      return slurmMain(notebook, grid, profile, timeout, resources, dryRun);
    } catch (e) {
      console.error(`sweep: ${(e as Error).message}`);
      return 2;
    }
  }
  console.log(header);
  let outcomes;
  try {
    outcomes = await runSweep({
      notebook, grid, profile, dryRun,
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
