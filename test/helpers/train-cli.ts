// Training runs of the tiny preset through the CLI (`scripts/train.ts` in a child process), as the resume and fault
// tests drive them: a fixed corpus, a fixed schedule, the checkpoint's bytes and the history's steps to compare.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Rng } from "../../lib/runtime/rng";
import { findCheckpoint } from "../../lib/train/checkpoint";

export const ROOT = path.resolve(__dirname, "..", "..");

/** The child's environment: the cpu backend (bitwise repeatable), no progress bar. */
export const childEnv: NodeJS.ProcessEnv = { ...process.env, TVQ_BACKEND: "cpu", TVQ_PROGRESS: "off" };

/** A fresh temporary folder. */
export function tmpDir(prefix = "tvq-train-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A deterministic 40 kB text of random sentences over a small word list (learnable in a few steps). */
export function corpusText(): string {
  const words = "the quick brown fox jumps over a lazy dog while seven wizards box and quietly hum jazz tunes".split(" ");
  const rng = new Rng(7);
  const lines: string[] = [];
  for (let i = 0; i < 900; i++) {
    const n = 4 + rng.nextInt(8);
    lines.push(Array.from({ length: n }, () => words[rng.nextInt(words.length)]).join(" ") + ".");
  }
  return lines.join("\n");
}

/** The arguments of a 24-update tiny run on `dataFile` that checkpoints every 3 updates and evaluates at 12 and 24. */
export function trainArgs(dataFile: string, out: string, extra: string[] = []): string[] {
  return ["--import", "tsx", path.join(ROOT, "scripts", "train.ts"), "--preset", "tiny", "--data", dataFile, "--out", out,
    "--steps", "24", "--seed", "3", "--set", "train.updateLen=16", "--set", "train.saveEvery=3", "--set", "train.evalEvery=12",
    "--set", "train.evalTokens=256", "--quiet", ...extra];
}

/** The bytes of a run folder's last checkpoint (every parameter, codebook and optimizer slot). */
export function checkpointBlob(outDir: string): Buffer {
  return fs.readFileSync(path.join(findCheckpoint(outDir)!, "blob.bin"));
}

/** The step of every line of a run's metrics.jsonl, in file order. */
export function metricSteps(outDir: string): number[] {
  const f = path.join(outDir, "metrics.jsonl");
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, "utf8").split("\n").filter((l) => l.trim()).map((l) => (JSON.parse(l) as { step: number }).step);
}
