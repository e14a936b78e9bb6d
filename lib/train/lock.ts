/**
 * One writer per run folder. Two trainings of the same folder at once (two `npm run train -- --resume`, a sweep
 * and a notebook) would both append to metrics.jsonl and overwrite each other's checkpoints, so a run takes an
 * exclusive lock file `<run>/.lock` for its whole lifetime: created with O_EXCL (fs.openSync "wx"), it holds the
 * holder's pid, host and start time, which is what the second process's error names.
 *
 * A lock outlives its process only when that process was killed (SIGKILL, a power cut): on the same host, a lock
 * whose pid no longer exists (process.kill(pid, 0) throws ESRCH) is stale and is taken over; a lock of another
 * host cannot be checked and is reported, with the command that removes it. The lock is released on every exit
 * path: `release()` in a finally, and an exit hook for process.exit (a second Ctrl-C) and uncaught errors.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pidAlive } from "../util/io";

/** The lock file's name inside a run folder (checkOutDir does not count it as content). */
export const LOCK_FILE = ".lock";

/** What a lock file holds: who trains the folder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken */
  since: string;
  /** the holder's command line, to recognize it in `ps` */
  command: string;
}

/** A lock this process holds on a run folder; release() is idempotent. */
export interface RunLock {
  dir: string;
  file: string;
  holder: LockHolder;
  release(): void;
}

/** Locks this process holds, by lock-file path: a second trainRun of the same folder in one kernel is refused too. */
const held = new Map<string, RunLock>();
let exitHook = false;

/** A lock file younger than this with unreadable content is being written by its creator right now. */
const TORN_GRACE_MS = 5000;

function readHolder(file: string): LockHolder | "missing" | "torn" {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw e;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === "string" ? h : "torn";
  } catch {
    return "torn";
  }
}

/** A lock whose holder is gone: this host, and the pid is dead (or is ours, reused: we hold no lock of that file). */
function isStale(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false;
  return h.pid === process.pid || !pidAlive(h.pid);
}

function lockedError(dir: string, file: string, h: LockHolder): Error {
  if (h.pid === process.pid && h.host === os.hostname()) {
    return new Error(`run folder ${dir} is in use by this process (pid ${h.pid}, since ${h.since}): another trainRun / ` +
      `runExperiment of that folder is still running here (a notebook cell not finished?). Wait for it or interrupt it, then rerun`);
  }
  const local = h.host === os.hostname();
  return new Error(`run folder ${dir} is in use: locked by pid ${h.pid} on host ${h.host} since ${h.since}` +
    (h.command ? ` (${h.command})` : "") + `. Wait for that run to finish or stop it` + (local ? ` (kill ${h.pid})` : ` on ${h.host}`) +
    `, then retry; if no such process is training it, delete ${file}`);
}

/** Removes every lock this process still holds (process.exit, e.g. on a second signal, skips finally blocks). */
export function releaseAllLocks(): void {
  for (const lock of [...held.values()]) lock.release();
}

function newHolder(): LockHolder {
  return { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), command: process.argv.slice(1).join(" ") };
}

/**
 * One attempt at the lock file `file` (O_EXCL): "taken" (it is ours now, holding `holder`), "retry" (it was released,
 * or it was stale and has been removed: its holder died on this host, or it stayed torn past TORN_GRACE_MS),
 * "torn" (another process is writing it right now), or the live holder.
 */
function tryTake(file: string, holder: LockHolder): "taken" | "retry" | "torn" | LockHolder {
  let fd: number;
  try {
    fd = fs.openSync(file, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const other = readHolder(file);
    if (other === "missing") return "retry"; // released meanwhile
    if (other === "torn") {
      if (Date.now() - fs.statSync(file).mtimeMs < TORN_GRACE_MS) return "torn";
    } else if (!isStale(other)) {
      return other;
    }
    // stale (its holder was killed): remove it unless another process took it over meanwhile
    const now = readHolder(file);
    if (JSON.stringify(now) === JSON.stringify(other)) fs.rmSync(file, { force: true });
    return "retry";
  }
  try {
    fs.writeSync(fd, JSON.stringify(holder) + "\n");
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return "taken";
}

/** Removes the lock file `file` if it still holds `holder` (a stale-lock takeover by another process may have replaced it). */
function releaseIfOurs(file: string, holder: LockHolder): void {
  const now = readHolder(file);
  if (typeof now === "object" && now.pid === holder.pid && now.since === holder.since) fs.rmSync(file, { force: true });
}

/**
 * The holder of run folder `dir`'s lock while it lives (another host's counts as live: it cannot be checked), or
 * undefined when the folder is free (no lock, a torn one, or a dead holder's). For reports such as `npm run runs`.
 */
export function runLockHolder(dir: string): LockHolder | undefined {
  const h = readHolder(path.join(dir, LOCK_FILE));
  return typeof h === "object" && (h.host !== os.hostname() || pidAlive(h.pid)) ? h : undefined;
}

/**
 * Takes the exclusive lock of run folder `dir` (created if missing), or throws an error naming the holder and
 * what to do. Take it before writing anything in the folder; release it in a finally.
 */
export function acquireRunLock(dir: string): RunLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(path.resolve(dir), LOCK_FILE);
  const mine = held.get(file);
  if (mine) throw lockedError(dir, file, mine.holder);
  const holder = newHolder();
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = tryTake(file, holder);
    if (r === "retry") continue;
    if (r === "torn") throw new Error(`run folder ${dir} is being locked by another process right now (${file}); retry in a few seconds`);
    if (r !== "taken") throw lockedError(dir, file, r);
    const lock: RunLock = {
      dir, file, holder,
      release() {
        if (held.get(file) !== lock) return;
        held.delete(file);
        releaseIfOurs(file, holder);
      },
    };
    held.set(file, lock);
    if (!exitHook) {
      process.on("exit", releaseAllLocks);
      exitHook = true;
    }
    return lock;
  }
  throw new Error(`could not take the lock ${file}: other processes keep taking and releasing it; retry`);
}

/** Sleeps synchronously (the results store is synchronous, like every writer of the kit). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn` holding the lock file `file` (created with O_EXCL, holding pid, host and time like a run lock), waiting
 * up to `waitMs` while another process holds it. For short critical sections of files that several processes
 * write, such as a results file that concurrent sweep tasks (Slurm array tasks) append to. A lock of a dead process
 * on this host is taken over; one of another host that outlives `waitMs` is reported with the command that removes it.
 */
export function withLockFile<T>(file: string, fn: () => T, waitMs = 60_000): T {
  const holder = newHolder();
  const deadline = Date.now() + waitMs;
  for (let pause = 2; ; pause = Math.min(2 * pause, 100)) {
    const r = tryTake(file, holder);
    if (r === "taken") break;
    if (r === "retry") continue;
    if (Date.now() > deadline) {
      const who = r === "torn" ? "a process that left it unreadable" : `pid ${r.pid} on host ${r.host} since ${r.since}`;
      throw new Error(`${file} has been held for over ${Math.round(waitMs / 1000)} s by ${who}; if no such process runs, delete ${file} and retry`);
    }
    sleepMs(pause);
  }
  try {
    return fn();
  } finally {
    releaseIfOurs(file, holder);
  }
}
