// Sweeps as Slurm job arrays (lib/notebook/slurm.ts, npm run sweep -- --slurm). Without Slurm: the plan leaves out
// combinations with a results row and those of a live earlier array, so a rerun after a failed task submits that
// one alone; the script, manifest and task lookup; the resource checks and the CLI's dry run; results rows
// appended by several processes at once stay whole. With a real Slurm (root and apt-get; scripts/slurm-local.sh
// installs slurmctld, slurmd and munge from Debian when missing and starts them for this one host): a 3-task array
// of a real notebook's smoke profile runs, leaves 3 rows and 3 executed copies, and a rerun submits nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  checkSlurmResources, planSlurmSweep, slurmSweepsDir, slurmTask, writeSlurmJob,
} from "../lib/notebook/slurm";
import { appendResult, readResultRows } from "../lib/experiments/results";
import { atomicWriteJSON } from "../lib/util/io";

const REPO = path.resolve(__dirname, "..");
const FIXTURE = path.join(REPO, "test", "fixtures", "sweep-fixture.ipynb");
const SWEEP = path.join(REPO, "scripts", "sweep.ts");

function tmpDir(tag = "slurm"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tvq-${tag}-`));
}

/** A copy of the fixture notebook in a fresh folder (its Slurm folders land beside it) and a results folder. */
function fixtureCopy(): { root: string; notebook: string; results: string } {
  const root = tmpDir();
  const notebook = path.join(root, "sweep-fixture.ipynb");
  fs.copyFileSync(FIXTURE, notebook);
  return { root, notebook, results: path.join(root, "results") };
}

test("a rerun after one failed task plans only that combination; a live earlier array holds its combinations back", () => {
  const { root, notebook, results } = fixtureCopy();
  const grid = { x: [1, 13, 3], seed: [0] };
  const first = planSlurmSweep({ notebook, grid, profile: "smoke", resultsDir: results, active: [] });
  assert.deepEqual(first.submit, [{ x: 1, seed: 0 }, { x: 13, seed: 0 }, { x: 3, seed: 0 }]);
  const job = writeSlurmJob({ notebook, experiment: first.experiment, profile: "smoke", combinations: first.submit, resources: {}, timeout: 60 });
  assert.equal(path.dirname(job.files.dir), slurmSweepsDir(notebook));
  assert.equal(path.dirname(job.files.dir), path.join(root, "executed", "sweeps", "sweep-fixture", "slurm"));
  atomicWriteJSON(job.files.job, { jobId: "41" }); // what submitSlurmJob records after sbatch accepted it

  // while job 41 is queued or running, none of its combinations is submitted again
  const during = planSlurmSweep({ notebook, grid, profile: "smoke", resultsDir: results, active: ["41"] });
  assert.deepEqual(during.submit, []);
  assert.deepEqual(during.items.map((it) => it.inJob), ["41", "41", "41"]);
  // another profile's array does not hold these back
  assert.equal(planSlurmSweep({ notebook, grid, profile: "default", resultsDir: results, active: ["41"] }).submit.length, 3);

  // job 41 ended: tasks 0 and 2 wrote their rows, task 1 (x = 13) failed
  appendResult("sweep-fixture", { profile: "smoke", x: 1, seed: 0 }, { dir: results });
  appendResult("sweep-fixture", { profile: "smoke", x: 3, seed: 0 }, { dir: results });
  const rerun = planSlurmSweep({ notebook, grid, profile: "smoke", resultsDir: results, active: [] });
  assert.deepEqual(rerun.items.map((it) => it.done), [true, false, true]);
  assert.deepEqual(rerun.submit, [{ x: 13, seed: 0 }], "only the failed combination is submitted again");
  const again = writeSlurmJob({ notebook, experiment: rerun.experiment, profile: "smoke", combinations: rerun.submit,
    resources: { partition: "cpu", time: "1:30:00", cpus: 2, mem: "3500M" }, dir: path.join(root, "job2") });
  const script = fs.readFileSync(again.files.script, "utf8");
  assert.equal(script, again.script);
  assert.match(script, /^#SBATCH --array=0$/m, "one task");
  assert.match(script, /^#   task 0: x=13 seed=0$/m);
  for (const d of ["--job-name=tvq-sweep-sweep-fixture-smoke", "--partition=cpu", "--time=1:30:00", "--cpus-per-task=2", "--mem=3500M",
    `--output=${path.join(root, "job2", "logs")}/%A_%a.out`]) {
    assert.ok(script.includes(`#SBATCH ${d}\n`), `directive ${d} in\n${script}`);
  }
  // every directive comes before the first command (sbatch stops reading them there)
  const firstCommand = script.split("\n").findIndex((l) => l !== "" && !l.startsWith("#"));
  assert.ok(script.split("\n").slice(firstCommand).every((l) => !l.startsWith("#SBATCH")));
  assert.match(script, new RegExp(`^cd ${REPO.replace(/[/.]/g, "\\$&")}\\nsource scripts/env.sh$`, "m"));
  assert.match(script, /scripts\/sweep\.ts --slurm-task .*job2\/manifest\.json$/m);
  assert.ok(fs.statSync(again.files.logs).isDirectory());
  assert.equal(fs.statSync(again.files.script).mode & 0o100, 0o100, "executable");
  assert.equal(spawnSync("bash", ["-n", again.files.script]).status, 0, "bash parses the script");

  // the task side: SLURM_ARRAY_TASK_ID picks the combination
  const t = slurmTask(again.files.manifest, "0");
  assert.deepEqual(t.combination, { x: 13, seed: 0 });
  assert.equal(t.manifest.notebook, notebook);
  assert.equal(slurmTask(job.files.manifest, "2").combination.x, 3);
  assert.equal(slurmTask(job.files.manifest, "2").manifest.timeout, 60);
  assert.throws(() => slurmTask(again.files.manifest, "1"), /SLURM_ARRAY_TASK_ID=1 is outside the manifest's tasks 0-0/);
  assert.throws(() => slurmTask(again.files.manifest, undefined), /SLURM_ARRAY_TASK_ID is not set/);
});

test("checkSlurmResources takes Slurm's time, memory and partition forms and names the fix for others", () => {
  for (const time of ["30", "0", "5:30", "2:00:00", "1-12", "1-12:30", "1-12:30:00", "UNLIMITED"]) checkSlurmResources({ time });
  for (const mem of ["4G", "3500M", "3500", "0", "1t"]) checkSlurmResources({ mem });
  for (const partition of ["cpu", "short,long", "gpu.a100", "x_1-y"]) checkSlurmResources({ partition });
  checkSlurmResources({ cpus: 1 });
  assert.throws(() => checkSlurmResources({ time: "1h" }), /--time "1h": use one of Slurm's forms: minutes \(30\)/);
  assert.throws(() => checkSlurmResources({ time: "1:2:3:4" }), /--time/);
  assert.throws(() => checkSlurmResources({ time: "-5" }), /--time/);
  assert.throws(() => checkSlurmResources({ mem: "4GB" }), /--mem "4GB": use a whole number with an optional unit K, M, G or T/);
  assert.throws(() => checkSlurmResources({ mem: "1.5G" }), /--mem/);
  assert.throws(() => checkSlurmResources({ partition: "a b" }), /--partition "a b": give a partition name/);
  assert.throws(() => checkSlurmResources({ partition: "a;rm" }), /--partition/);
  assert.throws(() => checkSlurmResources({ cpus: 1.5 }), /--cpus 1.5/);
});

function sweepCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["--import", "tsx", SWEEP, ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } });
}

test("npm run sweep --slurm --dry-run prints only the script of what is missing and writes nothing; bad Slurm flags exit 2", () => {
  const { root, notebook, results } = fixtureCopy();
  appendResult("sweep-fixture", { profile: "smoke", x: 1, seed: 0 }, { dir: results });
  const dry = sweepCli([notebook, "--profile", "smoke", "--param", "x=1,2,3", "--param", "seed=0", "--slurm", "--dry-run", "--time", "20", "--mem", "2G"],
    { TVQ_ROOT: root });
  assert.equal(dry.status, 0, dry.stderr);
  assert.ok(dry.stdout.startsWith("#!/bin/bash\n"), "stdout is the script alone");
  assert.match(dry.stdout, /^#SBATCH --array=0-1$/m);
  assert.match(dry.stdout, /^#   task 0: x=2 seed=0\n#   task 1: x=3 seed=0$/m);
  assert.match(dry.stdout, /^#SBATCH --time=20$/m);
  assert.match(dry.stdout, /^#SBATCH --mem=2G$/m);
  assert.match(dry.stdout, new RegExp(`^export TVQ_ROOT=${root.replace(/[/.]/g, "\\$&")}$`, "m"), "the tasks write where this command reads");
  assert.match(dry.stderr, /\[1\/3\] x=1 seed=0: skipped \(results\/sweep-fixture has a row\)/);
  assert.match(dry.stderr, /dry run, 2 task\(s\) would be submitted; nothing written/);
  assert.equal(fs.existsSync(slurmSweepsDir(notebook)), false, "a dry run writes no job folder");

  // the Slurm flags are checked before any work (the whole table of forms is checkSlurmResources' test above)
  const bad: Array<[string[], RegExp]> = [
    [["--slurm", "--time", "1h"], /--time "1h": use one of Slurm's forms/],
    [["--slurm", "--cpus", "0"], /--cpus 0: use an integer ≥ 1/],
    [["--time", "10", "--cpus", "2"], /--time, --cpus apply only to a Slurm submission; add --slurm/],
  ];
  for (const [flags, want] of bad) {
    const r = sweepCli([notebook, "--param", "x=1", ...flags], { TVQ_ROOT: root });
    assert.equal(r.status, 2, `${flags.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  const task = sweepCli(["--slurm-task", path.join(root, "none.json")], { TVQ_ROOT: root, SLURM_ARRAY_TASK_ID: "" });
  assert.equal(task.status, 2);
  assert.match(task.stderr, /SLURM_ARRAY_TASK_ID is not set/);
});

test("results rows appended by several processes at once are all there, each once and whole", { timeout: 120_000 }, async () => {
  const dir = tmpDir("append");
  const worker = path.join(dir, "append.ts");
  fs.writeFileSync(worker, [
    `import * as fs from "node:fs";`,
    `import * as path from "node:path";`,
    `import { appendResult } from ${JSON.stringify(path.join(REPO, "lib", "experiments", "results"))};`,
    "const [dir, id, n, procs, ready] = process.argv.slice(2);",
    "// a barrier: every process says it is ready, then all start appending at the same moment",
    "fs.writeFileSync(path.join(ready, id), '');",
    "const until = Date.now() + 120_000;",
    "while (fs.readdirSync(ready).length < Number(procs)) if (Date.now() > until) throw new Error('the other processes never came');",
    "const first = Date.now();",
    // every other row brings a column of its own, so CSV rewrites (from the JSONL) and CSV appends interleave: unlocked, rows get lost or doubled
    `for (let i = 0; i < Number(n); i++) appendResult("concurrent", { proc: Number(id), i, payload: String(id).repeat(3000), ...(i % 2 === 0 ? { ["extra_" + id + "_" + i]: i } : {}) }, { dir });`,
    "console.log(JSON.stringify({ first, last: Date.now() }));",
  ].join("\n"));
  const procs = 4, rows = 40;
  const ready = path.join(dir, "ready");
  fs.mkdirSync(ready);
  const spans = await Promise.all(Array.from({ length: procs }, (_, p) => new Promise<{ first: number; last: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", worker, path.join(dir, "results"), String(p), String(rows), String(procs), ready],
      { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`appender ${p} exited ${code}`))));
  })));
  assert.ok(Math.max(...spans.map((s) => s.first)) < Math.min(...spans.map((s) => s.last)),
    `all ${procs} processes were appending at the same time: ${JSON.stringify(spans)}`);
  const lines = fs.readFileSync(path.join(dir, "results", "concurrent.jsonl"), "utf8").split("\n").filter(Boolean);
  assert.equal(lines.length, procs * rows, "one line per appended row");
  const got = readResultRows("concurrent", path.join(dir, "results"));
  assert.equal(got.length, procs * rows);
  const seen = new Set(got.map((r) => `${r.proc}:${r.i}`));
  assert.equal(seen.size, procs * rows, "every (process, row) exactly once");
  for (const r of got) assert.equal(r.payload, String(r.proc).repeat(3000), "no row carries another's bytes");
  // the CSV mirror too: every row exactly once under the union header (its rewrites run under the experiment's lock)
  const csv = fs.readFileSync(path.join(dir, "results", "concurrent.csv"), "utf8").split("\n").filter(Boolean).map((l) => l.split(","));
  const [header, ...body] = csv;
  assert.equal(body.length, procs * rows, "one CSV line per appended row");
  const at = (k: string) => header.indexOf(k);
  assert.equal(new Set(body.map((f) => `${f[at("proc")]}:${f[at("i")]}`)).size, procs * rows, "every (process, row) exactly once in the CSV");
  for (let p = 0; p < procs; p++) for (let i = 0; i < rows; i += 2) assert.ok(at(`extra_${p}_${i}`) >= 0, `the CSV header has extra_${p}_${i}`);
  assert.ok(!fs.existsSync(path.join(dir, "results", "concurrent.jsonl.lock")), "the lock is released");
});

/** Whether the real Slurm test can run here, else why not. */
function slurmSkipReason(): string | false {
  if (process.platform !== "linux") return "Slurm runs on Linux only";
  const installed = ["slurmctld", "slurmd", "slurm-client", "munge"].every((p) =>
    spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout === "install ok installed");
  if (installed && process.getuid?.() === 0) return false;
  if (process.getuid?.() !== 0) return "not root: scripts/slurm-local.sh starts slurmd as root (and installs slurm-wlm with apt)";
  if (spawnSync("apt-get", ["--version"]).status !== 0) return "no apt-get to install slurmctld, slurmd, slurm-client and munge";
  return false;
}

describe("a real single-node Slurm (slurmctld, slurmd, munge from Debian)", { skip: slurmSkipReason() }, () => {
  let cluster = "", conf = ""; // made in before(), so a skipped suite leaves nothing behind
  const local = (cmd: string) => spawnSync("bash", [path.join(REPO, "scripts", "slurm-local.sh"), cmd, cluster], { encoding: "utf8", timeout: 600_000 });

  before(() => {
    cluster = tmpDir("slurmd");
    conf = path.join(cluster, "slurm.conf");
    const t0 = Date.now();
    const r = local("start");
    assert.equal(r.status, 0, `slurm-local.sh start failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`export SLURM_CONF=${conf.replace(/[/.]/g, "\\$&")}`));
    console.log(`# cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.stdout.trim().split("\n").slice(-2)[0]}`);
  });
  const roots: string[] = [];
  after(() => {
    if (!cluster) return;
    const r = local("stop");
    assert.equal(r.status, 0, r.stderr);
    for (const d of ["munged", "slurmctld", "slurmd"]) {
      if (!fs.existsSync(path.join(cluster, `${d}.pid`))) continue; // a start that failed before this daemon
      const pid = Number(fs.readFileSync(path.join(cluster, `${d}.pid`), "utf8"));
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `${d} (pid ${pid}) stopped`);
    }
    fs.rmSync(cluster, { recursive: true, force: true });
    for (const root of roots) {
      // unlink the links into the checkout first, so that nothing could ever remove what they point to
      for (const link of ["data", "node_modules", path.join("notebooks", "lib")]) fs.rmSync(path.join(root, link), { force: true });
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test("a 3-task array of 10-ablation-codebook-size's smoke profile: 3 rows, 3 executed copies; a rerun submits nothing", { timeout: 900_000 }, async () => {
    // an output root of its own (TVQ_ROOT) that reads the checkout's data, packages and lib/
    const root = tmpDir("slurm-root");
    roots.push(root);
    fs.mkdirSync(path.join(root, "notebooks"));
    for (const [link, target] of [["data", "data"], ["node_modules", "node_modules"], [path.join("notebooks", "lib"), "lib"]]) {
      fs.symlinkSync(path.join(REPO, target), path.join(root, link));
    }
    const notebook = path.join(root, "notebooks", "10-ablation-codebook-size.ipynb");
    fs.copyFileSync(path.join(REPO, "notebooks", "10-ablation-codebook-size.ipynb"), notebook);
    const env = { TVQ_ROOT: root, SLURM_CONF: conf };
    const args = [notebook, "--profile", "smoke", "--param", "S=4", "--param", "steps=1", "--param", "seed=0,1,2",
      "--slurm", "--partition", "local", "--time", "20", "--cpus", "1", "--mem", "2G"];
    const t0 = Date.now();
    const sub = sweepCli(args, env);
    assert.equal(sub.status, 0, sub.stdout + sub.stderr);
    const jobId = /submitted job (\d+), 3 task\(s\) \(array 0-2\)/.exec(sub.stdout)?.[1];
    assert.ok(jobId, sub.stdout);
    assert.match(sub.stdout, new RegExp(`follow: squeue -j ${jobId}`));
    const logs = /logs: +(\S+)\/\d+_<task>\.out/.exec(sub.stdout)?.[1];
    assert.ok(logs && fs.existsSync(logs), sub.stdout);

    const slurm = (cmd: string, a: string[]) => spawnSync(cmd, a, { encoding: "utf8", env: { ...process.env, SLURM_CONF: conf } });
    const deadline = Date.now() + 840_000;
    while (slurm("squeue", ["--noheader", "-j", jobId, "-o", "%i"]).stdout.trim() !== "") {
      assert.ok(Date.now() < deadline, `job ${jobId} still queued after 14 min:\n${slurm("squeue", []).stdout}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const seconds = (Date.now() - t0) / 1000;
    const logText = fs.readdirSync(logs).map((f) => `== ${f}\n${fs.readFileSync(path.join(logs, f), "utf8").slice(-3000)}`).join("\n");
    const states = slurm("scontrol", ["show", "job", jobId]).stdout.match(/JobState=\w+/g) ?? [];
    assert.deepEqual(states, Array(3).fill("JobState=COMPLETED"), logText);
    console.log(`# 3 array tasks done in ${seconds.toFixed(0)} s after submission`);

    const rows = readResultRows("10-ablation-codebook-size", path.join(root, "results"));
    assert.deepEqual(rows.map((r) => [r.seed, r.S, r.steps, r.profile]).sort(), [[0, 4, 1, "smoke"], [1, 4, 1, "smoke"], [2, 4, 1, "smoke"]], logText);
    for (const r of rows) assert.ok(typeof r.val_bpb === "number" && r.val_bpb > 0 && r.val_bpb < 20, `val_bpb ${r.val_bpb}`);
    for (const seed of [0, 1, 2]) {
      const copy = path.join(root, "notebooks", "executed", "sweeps", "10-ablation-codebook-size", `S=4_steps=1_seed=${seed}.ipynb`);
      const nb = JSON.parse(fs.readFileSync(copy, "utf8")) as { cells: Array<{ cell_type: string; execution_count?: number | null; outputs?: Array<{ output_type: string }> }> };
      const code = nb.cells.filter((c) => c.cell_type === "code");
      assert.ok(code.length > 5 && code.every((c) => typeof c.execution_count === "number"), `${copy}: every cell ran`);
      assert.ok(code.every((c) => (c.outputs ?? []).every((o) => o.output_type !== "error")), `${copy}: no error output`);
    }
    assert.equal(fs.readdirSync(logs).filter((f) => f.startsWith(`${jobId}_`)).length, 3, "one log per task");

    const rerun = sweepCli(args, env);
    assert.equal(rerun.status, 0, rerun.stdout + rerun.stderr);
    assert.match(rerun.stdout, /nothing to submit \(3 with a results row, 0 queued or running\)/);
    assert.deepEqual(fs.readdirSync(slurmSweepsDir(notebook)), [path.basename(path.dirname(logs))], "no second job folder");
  });
});
