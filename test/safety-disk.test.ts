// Disk full and killed writers (issue 11): a failed write removes its temporaries, a full disk (ENOSPC, EDQUOT)
// is one message naming the file, the bytes, what was kept and what to do, and a run folder is cleaned of what dead
// writers left. Faults are injected by mocking fs.writeSync; a real small tmpfs checks the whole training CLI.
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import nodeFs from "node:fs"; // the module object itself: mocking its writeSync reaches lib/util/io.ts
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { getPreset } from "../lib/config";
import { appendLine, atomicWrite, DiskFullError } from "../lib/util/io";
import { httpDownload } from "../lib/data/download";
import { serve } from "./helpers/data-fixtures";
import { cleanStaleTemporaries, findCheckpoint, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint";

const ROOT = path.resolve(__dirname, "..");

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tvq-disk-"));
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected, write`), { code, syscall: "write" });
}

/** Makes fs.writeSync fail with `code` from the `after`-th call on (writing half of the buffer first, as a full disk does). */
function failWrites(code: string, after = 0): { restore: () => void } {
  const real = nodeFs.writeSync;
  let calls = 0;
  const m = mock.method(nodeFs, "writeSync", (fd: number, data: Uint8Array | string, ...rest: unknown[]) => {
    if (calls++ < after) return (real as (...a: unknown[]) => number)(fd, data, ...rest);
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    (real as (...a: unknown[]) => number)(fd, buf.subarray(0, Math.floor(buf.byteLength / 2)));
    throw errno(code);
  });
  return { restore: () => m.mock.restore() };
}

/** The pid of a process that has exited (so process.kill(pid, 0) gives ESRCH). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

test("atomicWrite on a full disk: the message names file, bytes, the intact previous file and where to free space; no .tmp left", () => {
  const dir = tmpDir();
  const file = path.join(dir, "results.json");
  atomicWrite(file, "old contents\n");
  for (const code of ["ENOSPC", "EDQUOT"]) {
    const f = failWrites(code);
    try {
      assert.throws(() => atomicWrite(file, "x".repeat(5000)), (e: Error) => {
        assert.ok(e instanceof DiskFullError);
        assert.match(e.message, new RegExp(`disk full \\(${code}\\) while writing ${file.replace(/[.]/g, "\\.")} \\(5000 bytes\\)`));
        assert.match(e.message, /the previous results\.json is intact/);
        assert.match(e.message, /Free space on \/\S*.*then run the command again.*--resume/);
        return true;
      });
    } finally {
      f.restore();
    }
    assert.deepEqual(fs.readdirSync(dir), ["results.json"], "no temporary file is left behind");
    assert.equal(fs.readFileSync(file, "utf8"), "old contents\n");
  }
  // another write error is rethrown as it came, still without a temporary
  const f = failWrites("EIO");
  try {
    assert.throws(() => atomicWrite(path.join(dir, "new.json"), "{}"), /EIO: injected/);
  } finally {
    f.restore();
  }
  assert.deepEqual(fs.readdirSync(dir), ["results.json"]);
});

test("appendLine on a full disk cuts the torn half line off again and names the file", () => {
  const dir = tmpDir();
  const file = path.join(dir, "metrics.jsonl");
  appendLine(file, '{"step":1}');
  const f = failWrites("ENOSPC");
  try {
    assert.throws(() => appendLine(file, '{"step":2,"loss":1.25}'), /disk full \(ENOSPC\) while writing .*metrics\.jsonl \(23 bytes\): the 11 bytes already in metrics\.jsonl are intact.*Free space on/);
  } finally {
    f.restore();
  }
  assert.equal(fs.readFileSync(file, "utf8"), '{"step":1}\n', "no torn line is left");
});

test("saveCheckpoint on a full disk: no checkpoint.tmp left, the message names the kept step, that checkpoint still loads", async () => {
  await initBackend(testBackend());
  const cfg = getPreset("tiny");
  const run = tmpDir();
  const t = new Map<string, tf.Tensor>([["param/w", tf.ones([64, 64])], ["cursor", tf.tensor1d([1, 2], "int32")]]);
  saveCheckpoint(run, 3, cfg, t, {});
  const f = failWrites("ENOSPC");
  try {
    assert.throws(() => saveCheckpoint(run, 6, cfg, t, {}), (e: Error) => {
      assert.match(e.message, /disk full \(ENOSPC\) while writing .*checkpoint\.tmp-\d+ \(\d+ bytes\): blob\.bin did not fit/);
      assert.match(e.message, /the checkpoint of step 6 was not written, and the last good checkpoint \(step 3, .*checkpoint\) is kept/);
      assert.match(e.message, /Free space on .*then resume with --resume/);
      return true;
    });
  } finally {
    f.restore();
  }
  assert.deepEqual(fs.readdirSync(run), ["checkpoint"], "no temporary folder is left behind");
  assert.equal(loadCheckpoint(findCheckpoint(run)!, cfg).manifest.step, 3);
  // a failure once blob.bin (two tensors, two writes) is written, in manifest.json, and a non-disk error clean up too
  for (const [code, after] of [["EDQUOT", 2], ["EIO", 0]] as const) {
    const g = failWrites(code, after);
    try {
      assert.throws(() => saveCheckpoint(run, 6, cfg, t, {}), code === "EIO" ? /EIO: injected/ : /\(EDQUOT\) while writing .*checkpoint\.tmp-\d+ \(\d+ bytes\): manifest\.json did not fit.*step 3/);
    } finally {
      g.restore();
    }
    assert.deepEqual(fs.readdirSync(run), ["checkpoint"]);
  }
  // no earlier checkpoint: the message says so
  const fresh = tmpDir();
  const h = failWrites("ENOSPC");
  try {
    assert.throws(() => saveCheckpoint(fresh, 3, cfg, t, {}), /no earlier checkpoint exists \(a resume starts at step 0\)/);
  } finally {
    h.restore();
  }
  assert.deepEqual(fs.readdirSync(fresh), []);
  t.forEach((x) => x.dispose());
});

test("cleanStaleTemporaries removes checkpoint.tmp-<pid>/ and *.<pid>.<time>.tmp of dead pids only", () => {
  const run = tmpDir();
  const dead = deadPid();
  const names = [`checkpoint.tmp-${dead}`, `checkpoint.tmp-${process.pid}`];
  for (const n of names) {
    fs.mkdirSync(path.join(run, n));
    fs.writeFileSync(path.join(run, n, "blob.bin"), "");
  }
  for (const n of [`summary.json.${dead}.abc1.tmp`, `config.json.${process.pid}.abc2.tmp`, "metrics.jsonl", "notes.tmp"]) fs.writeFileSync(path.join(run, n), "");
  const removed = cleanStaleTemporaries(run).map((p) => path.basename(p)).sort();
  assert.deepEqual(removed, [`checkpoint.tmp-${dead}`, `summary.json.${dead}.abc1.tmp`]);
  assert.deepEqual(fs.readdirSync(run).sort(), [`checkpoint.tmp-${process.pid}`, `config.json.${process.pid}.abc2.tmp`, "metrics.jsonl", "notes.tmp"].sort());
  assert.deepEqual(cleanStaleTemporaries(path.join(run, "missing")), []);
});

test("a download on a full disk removes its .part file and says how many bytes were to be written", async () => {
  const body = Buffer.alloc(200_000, 65);
  const srv = await serve((u) => (u.pathname === "/big.bin" ? body : undefined));
  const dir = tmpDir();
  const m = mock.method(nodeFs, "write", (...args: unknown[]) => {
    const cb = args[args.length - 1] as (e: Error) => void;
    process.nextTick(() => cb(errno("ENOSPC")));
  });
  try {
    await assert.rejects(httpDownload(`${srv.base}/big.bin`, path.join(dir, "big.bin")),
      /disk full \(ENOSPC\) while writing .*big\.bin \(200000 bytes\): .*big\.bin was not created.*Free space on .*run the download again/);
  } finally {
    m.mock.restore();
    await srv.close();
  }
  assert.deepEqual(fs.readdirSync(dir), [], "no .part file left");
});

/** Why the tmpfs test cannot run here, or undefined when it can (root, and `mount -t tmpfs` works). */
function tmpfsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "needs Linux tmpfs";
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  const probe = tmpDir();
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { encoding: "utf8" });
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || String(r.error)).trim()}`;
  spawnSync("umount", [probe]);
  return undefined;
}

test("a real full tmpfs: the training CLI fails with the message, leaves no temporaries, keeps the checkpoint; --resume continues after resizing", { skip: tmpfsUnavailable() }, () => {
  const dir = tmpDir();
  const dataFile = path.join(dir, "corpus.txt");
  const words = "the quick brown fox jumps over a lazy dog while seven wizards box and quietly hum jazz tunes".split(" ");
  fs.writeFileSync(dataFile, Array.from({ length: 6000 }, (_, i) => words[(i * 7) % words.length]).join(" "));
  const mnt = path.join(dir, "mnt");
  fs.mkdirSync(mnt);
  // a tiny checkpoint is ~390 KB; the second save needs room for two (the new one before the old is removed)
  assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt]).status, 0);
  try {
    const out = path.join(mnt, "run");
    const env = { ...process.env, TVQ_BACKEND: "cpu", TVQ_PROGRESS: "off" };
    const train = (extra: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "train.ts"), "--preset", "tiny",
      "--data", dataFile, "--out", out, "--steps", "6", "--set", "train.saveEvery=3", "--set", "train.evalEvery=0", "--set", "train.evalTokens=256",
      "--quiet", ...extra], { env, encoding: "utf8" });
    const full = train([]);
    assert.notEqual(full.status, 0, "the run must fail on the full disk");
    assert.match(full.stderr, /disk full \(ENOSPC\) while writing .*checkpoint\.tmp-\d+ \(\d+ bytes\): (blob\.bin|manifest\.json) did not fit/);
    assert.match(full.stderr, /last good checkpoint \(step 3, .*\) is kept/);
    assert.match(full.stderr, new RegExp(`Free space on ${mnt}.*then resume with --resume`));
    assert.deepEqual(fs.readdirSync(out).filter((n) => /tmp/.test(n)), [], "no temporaries left");
    assert.equal(loadCheckpoint(findCheckpoint(out)!).manifest.step, 3);
    assert.equal(spawnSync("mount", ["-o", "remount,size=4m", mnt]).status, 0);
    // what a writer killed mid-write would have left: openRun removes it (the pid is dead)
    const dead = deadPid();
    fs.mkdirSync(path.join(out, `checkpoint.tmp-${dead}`));
    fs.writeFileSync(path.join(out, `summary.json.${dead}.x1.tmp`), "");
    const resumed = train(["--resume"]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual(fs.readdirSync(out).filter((n) => /tmp/.test(n)), [], "stale temporaries removed when the run was opened");
    assert.equal(JSON.parse(resumed.stdout.trim().split("\n").pop()!).steps, 6);
    assert.equal(loadCheckpoint(findCheckpoint(out)!).manifest.step, 6);
  } finally {
    spawnSync("umount", [mnt]);
  }
});
