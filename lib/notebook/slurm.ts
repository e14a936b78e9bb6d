/**
 * Sweeps as Slurm job arrays: instead of running the combinations one after the other on this machine,
 * `npm run sweep -- NOTEBOOK --param ... --slurm` writes one sbatch script whose array has one task per
 * combination that has no results row yet, and submits it. Each task changes to the checkout, sources
 * scripts/env.sh (the venv, the hermetic Jupyter folders, node_modules) and runs `scripts/sweep.ts --slurm-task
 * MANIFEST`, which picks its combination by SLURM_ARRAY_TASK_ID from the manifest written beside the script and
 * runs it through the same runSweep as a local sweep (skip when a row exists, the headless runner, the row check).
 *
 * Resuming is the local sweep's rule: a rerun of the same command plans again from the results rows, so only what
 * failed or never ran is submitted. Combinations of an array of this sweep that is still queued or running (its
 * job id recorded in job.json, found by squeue) are left out too, so a rerun while it runs submits no duplicates.
 * The results store's appends are single O_APPEND writes, so tasks finishing at once never tear a row.
 *
 * Each submission gets a folder <notebook folder>/executed/sweeps/<notebook>/slurm/<profile>-<UTC time>/ holding
 * sweep.sbatch, manifest.json, job.json (the job id) and logs/<job>_<task>.out. All of it, the checkout, its
 * venv and node_modules must be on a filesystem that the compute nodes share (environment.md, Slurm).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { atomicWriteJSON, atomicWrite, readJSON } from "../util/io";
import { shellQuote } from "../util/shell";
import { Combination, Grid, PlannedCombination, describeCombination, planSweep } from "./sweep";

/** The resources of each array task (sbatch --partition, --time, --cpus-per-task, --mem); unset = the cluster's default. */
export interface SlurmResources {
  partition?: string;
  time?: string;
  cpus?: number;
  mem?: string;
}

/** What a task needs to run its combination; written beside the script as manifest.json. */
export interface SlurmManifest {
  version: 1;
  /** absolute path of the notebook */
  notebook: string;
  experiment: string;
  profile: string;
  /** per-cell time limit in seconds, when given */
  timeout?: number;
  /** task i runs combinations[i] */
  combinations: Combination[];
  /** when the manifest was written (ISO) */
  created: string;
}

/** The checkout holding this code (scripts/env.sh, scripts/sweep.ts), which TVQ_ROOT does not move. */
const CHECKOUT = path.resolve(fs.realpathSync(__dirname), "..", "..");

const TIME_FORMS = [/^\d+$/, /^\d+:\d{1,2}$/, /^\d+:\d{1,2}:\d{1,2}$/, /^\d+-\d+$/, /^\d+-\d+:\d{1,2}$/, /^\d+-\d+:\d{1,2}:\d{1,2}$/];

/**
 * Throws unless every resource is one sbatch accepts: a partition name (or a comma list), a time limit in one of
 * Slurm's forms (minutes, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or UNLIMITED), whole CPUs ≥ 1, memory as a whole
 * number with an optional K/M/G/T unit (megabytes without one; 0 = all of a node's memory).
 */
export function checkSlurmResources(r: SlurmResources): void {
  if (r.partition !== undefined && !/^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/.test(r.partition)) {
    throw new Error(`--partition ${JSON.stringify(r.partition)}: give a partition name (letters, digits, _ . -) or a comma list of them, e.g. --partition cpu; \`sinfo -s\` lists the cluster's partitions`);
  }
  if (r.time !== undefined && !(TIME_FORMS.some((f) => f.test(r.time as string)) || /^(UNLIMITED|INFINITE)$/i.test(r.time))) {
    throw new Error(`--time ${JSON.stringify(r.time)}: use one of Slurm's forms: minutes (30), M:S, H:M:S (2:00:00), D-H, D-H:M or D-H:M:S (1-12:00:00)`);
  }
  if (r.cpus !== undefined && !(Number.isInteger(r.cpus) && r.cpus >= 1)) throw new Error(`--cpus ${r.cpus}: use a whole number of CPUs ≥ 1`);
  if (r.mem !== undefined && !/^\d+[KMGT]?$/i.test(r.mem)) {
    throw new Error(`--mem ${JSON.stringify(r.mem)}: use a whole number with an optional unit K, M, G or T (e.g. 4G, 3500M; no unit = megabytes)`);
  }
}

/** The job name of a sweep's arrays: tvq-sweep-<experiment>-<profile>. */
export function slurmJobName(experiment: string, profile: string): string {
  return `tvq-sweep-${experiment}-${profile}`;
}

/** The folder of a notebook's Slurm submissions: <notebook folder>/executed/sweeps/<stem>/slurm. */
export function slurmSweepsDir(notebook: string): string {
  const stem = path.basename(notebook).replace(/\.ipynb$/, "");
  return path.join(path.dirname(path.resolve(notebook)), "executed", "sweeps", stem, "slurm");
}

/** A submission folder's files. */
export interface SlurmJobFiles {
  dir: string;
  script: string;
  manifest: string;
  /** job.json: {jobId}, written after sbatch accepted the script */
  job: string;
  logs: string;
}

export function slurmJobFiles(dir: string): SlurmJobFiles {
  return { dir, script: path.join(dir, "sweep.sbatch"), manifest: path.join(dir, "manifest.json"), job: path.join(dir, "job.json"), logs: path.join(dir, "logs") };
}

/** One line per value: "#SBATCH --flag=value". */
function directive(flag: string, value: string | number): string {
  return `#SBATCH --${flag}=${value}`;
}

/**
 * The sbatch script of an array over `manifest.combinations`: the array, the log file per task, the resources,
 * then cd to the checkout, source scripts/env.sh and run the task. Each task's combination is listed in a comment.
 * @param opts.repo the checkout the tasks run in (default: the one holding this file; TVQ_ROOT moves only the outputs)
 * @param opts.node the node binary tried first (default: this one); `node` on the task's PATH otherwise
 * @param opts.tvqRoot TVQ_ROOT to export to the tasks (default: this process's, when set)
 */
export function sbatchScript(manifest: SlurmManifest, files: SlurmJobFiles, resources: SlurmResources,
                             opts: { repo?: string; node?: string; tvqRoot?: string } = {}): string {
  const n = manifest.combinations.length;
  if (n === 0) throw new Error("an array needs at least one combination");
  const repo = opts.repo ?? CHECKOUT;
  const node = opts.node ?? process.execPath;
  const tvqRoot = opts.tvqRoot ?? process.env.TVQ_ROOT;
  const width = String(n - 1).length;
  const lines = [
    "#!/bin/bash",
    `# Slurm job array of \`npm run sweep -- ${path.basename(manifest.notebook)} --slurm\` (written by lib/notebook/slurm.ts):`,
    `# ${n} task${n === 1 ? "" : "s"}, one per combination without a row in results/${manifest.experiment} (profile ${manifest.profile}) on ${manifest.created}.`,
    ...manifest.combinations.map((c, i) => `#   task ${String(i).padStart(width)}: ${describeCombination(c)}`),
    directive("job-name", slurmJobName(manifest.experiment, manifest.profile)),
    directive("array", n === 1 ? "0" : `0-${n - 1}`),
    directive("output", path.join(files.logs, "%A_%a.out")),
  ];
  if (resources.partition !== undefined) lines.push(directive("partition", resources.partition));
  if (resources.time !== undefined) lines.push(directive("time", resources.time));
  if (resources.cpus !== undefined) lines.push(directive("cpus-per-task", resources.cpus));
  if (resources.mem !== undefined) lines.push(directive("mem", resources.mem));
  lines.push(
    "set -euo pipefail",
    "# the checkout, its .venv and node_modules must be on a filesystem every compute node sees at this path",
    `cd ${shellQuote(repo)}`,
    "source scripts/env.sh",
    ...(tvqRoot ? [`export TVQ_ROOT=${shellQuote(tvqRoot)}`] : []),
    `NODE=${shellQuote(node)}`,
    `[ -x "$NODE" ] || NODE="$(command -v node)" || { echo "task $SLURM_ARRAY_TASK_ID: no node binary at $NODE nor on PATH on $(hostname)" >&2; exit 1; }`,
    `echo "task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname), $(date -u +%FT%TZ)"`,
    `exec "$NODE" --import tsx scripts/sweep.ts --slurm-task ${shellQuote(files.manifest)}`,
  );
  return lines.join("\n") + "\n";
}

/** Array job ids of this user's jobs named `name` that are queued or running, by squeue; [] when squeue fails. */
export function activeSlurmJobs(name: string, squeue = "squeue"): string[] {
  const r = spawnSync(squeue, ["--noheader", "--me", `--name=${name}`, "--format=%F"], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) return [];
  return [...new Set(r.stdout.split("\n").map((l) => l.trim()).filter(Boolean))];
}

/**
 * The combinations of earlier submissions of this notebook whose array job is still queued or running
 * (job.json names the job; `active` lists the live job ids), keyed by describeCombination, with the job id.
 */
export function inFlightCombinations(notebook: string, profile: string, active: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const root = slurmSweepsDir(notebook);
  if (!active.length || !fs.existsSync(root)) return out;
  for (const name of fs.readdirSync(root)) {
    const files = slurmJobFiles(path.join(root, name));
    if (!fs.existsSync(files.job) || !fs.existsSync(files.manifest)) continue;
    const { jobId } = readJSON<{ jobId: string }>(files.job);
    if (!active.includes(jobId)) continue;
    const m = readJSON<SlurmManifest>(files.manifest);
    if (m.profile !== profile) continue;
    for (const c of m.combinations) out.set(describeCombination(c), jobId);
  }
  return out;
}

/** What `planSlurmSweep` found: each combination done, queued in an earlier job, or to submit. */
export interface SlurmPlan {
  experiment: string;
  items: Array<PlannedCombination & { inJob?: string }>;
  /** the combinations to submit, in grid order */
  submit: Combination[];
}

/**
 * Plans an array: the grid's combinations minus those with a results row and those in a live earlier array.
 * @param opts.active live array job ids of this sweep (default: from squeue)
 */
export function planSlurmSweep(opts: { notebook: string; grid: Grid; profile: string; resultsDir?: string; active?: string[] }): SlurmPlan {
  const { experiment, items } = planSweep(opts);
  const active = opts.active ?? activeSlurmJobs(slurmJobName(experiment, opts.profile));
  const inFlight = inFlightCombinations(opts.notebook, opts.profile, active);
  const marked = items.map((it) => ({ ...it, inJob: it.done ? undefined : inFlight.get(describeCombination(it.combination)) }));
  return { experiment, items: marked, submit: marked.filter((it) => !it.done && it.inJob === undefined).map((it) => it.combination) };
}

/**
 * Writes a submission folder (manifest.json, then sweep.sbatch, both atomically, and logs/) for `combinations`.
 * @param opts.dir the folder (default: slurmSweepsDir/<profile>-<UTC time>)
 */
export function writeSlurmJob(opts: { notebook: string; experiment: string; profile: string; timeout?: number; combinations: Combination[];
                               resources: SlurmResources; dir?: string; repo?: string; node?: string; tvqRoot?: string }): { files: SlurmJobFiles; script: string } {
  checkSlurmResources(opts.resources);
  const created = new Date().toISOString();
  const dir = opts.dir ?? path.join(slurmSweepsDir(opts.notebook), `${opts.profile}-${created.replace(/[:.]/g, "").replace(/Z$/, "")}`);
  const files = slurmJobFiles(dir);
  const manifest: SlurmManifest = {
    version: 1, notebook: path.resolve(opts.notebook), experiment: opts.experiment, profile: opts.profile,
    ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}), combinations: opts.combinations, created,
  };
  const script = sbatchScript(manifest, files, opts.resources, opts);
  fs.mkdirSync(files.logs, { recursive: true });
  atomicWriteJSON(files.manifest, manifest);
  atomicWrite(files.script, script);
  fs.chmodSync(files.script, 0o755);
  return { files, script };
}

/**
 * Submits a written job with `sbatch --parsable` and records its id in job.json; returns the id. Throws with
 * sbatch's own message when it refuses (an unknown partition, a time above the partition's limit, ...).
 */
export function submitSlurmJob(files: SlurmJobFiles, sbatch = "sbatch"): string {
  const r = spawnSync(sbatch, ["--parsable", files.script], { encoding: "utf8", timeout: 120_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(missing ? `${sbatch} is not on PATH: --slurm needs Slurm's client commands (Debian: slurm-client) and a cluster to submit to`
      : `could not run ${sbatch}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`sbatch refused ${files.script} (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  const jobId = /^(\d+)/.exec(r.stdout.trim())?.[1];
  if (!jobId) throw new Error(`sbatch printed no job id (got ${JSON.stringify(r.stdout.trim())})`);
  atomicWriteJSON(files.job, { jobId, submitted: new Date().toISOString() });
  return jobId;
}

/**
 * The manifest and the combination of one array task.
 * @param taskId SLURM_ARRAY_TASK_ID
 */
export function slurmTask(manifestFile: string, taskId: string | undefined): { manifest: SlurmManifest; combination: Combination; index: number } {
  if (taskId === undefined || taskId === "") {
    throw new Error("SLURM_ARRAY_TASK_ID is not set: --slurm-task runs inside a task of the array that `npm run sweep -- ... --slurm` " +
      "submitted; to run one combination here, use npm run sweep -- NOTEBOOK --param name=value");
  }
  const manifest = readJSON<SlurmManifest>(manifestFile);
  const index = Number(taskId);
  if (manifest.version !== 1 || !Array.isArray(manifest.combinations)) throw new Error(`${manifestFile} is not a sweep manifest (version 1 with combinations)`);
  if (!Number.isInteger(index) || index < 0 || index >= manifest.combinations.length) {
    throw new Error(`SLURM_ARRAY_TASK_ID=${taskId} is outside the manifest's tasks 0-${manifest.combinations.length - 1} (${manifestFile})`);
  }
  return { manifest, combination: manifest.combinations[index], index };
}
