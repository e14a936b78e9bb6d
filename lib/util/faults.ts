/**
 * Fault injection for the kit's own fault suite (test/safety-faults.test.ts): named points inside the writes that
 * must survive a kill (a checkpoint between its files and renames, a history rewrite before its rename, a metrics
 * line just appended). When TVQ_FAULT_AT names a point, the process stops there on its (TVQ_FAULT_SKIP + 1)-th pass:
 * it writes `<point>.reached` into TVQ_FAULT_DIR and blocks, so the test can SIGKILL it exactly at that point. Without
 * those variables every point is one string comparison.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The points, in the order a run passes them. */
export type FaultPointName =
  | "metrics:appended" | "checkpoint:blob-written" | "checkpoint:manifest-written" | "checkpoint:old-moved"
  | "atomic-write:before-rename";

const passes = new Map<string, number>();

/** Stops the process here (until it is killed) when the fault suite asks for this point; otherwise returns. */
export function faultPoint(name: FaultPointName): void {
  if (process.env.TVQ_FAULT_AT !== name) return;
  const n = (passes.get(name) ?? 0) + 1;
  passes.set(name, n);
  if (n <= Number(process.env.TVQ_FAULT_SKIP ?? 0)) return;
  fs.writeFileSync(path.join(process.env.TVQ_FAULT_DIR ?? os.tmpdir(), `${name.replace(/:/g, "_")}.reached`), String(process.pid));
  // Block synchronously (no event loop turn, so nothing after this point runs) until the test kills us.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300_000);
  throw new Error(`fault point ${name}: not killed within 300 s (the fault suite's test should have)`);
}
