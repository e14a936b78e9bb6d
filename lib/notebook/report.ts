/**
 * The paper comparison each notebook saves for results/summary.md: the table of lib/experiments/paper.ts
 * paperComparison, written as results/<experiment>[-<profile>].paper.csv, with `describeSetup` (a short text of
 * our setup) in its "our setup" column. The file naming rule lives here once: `paperComparisonFile` writes it,
 * `paperComparisonName` reads it back (scripts/summary.ts).
 */
import * as path from "node:path";
import { PATHS, checkFileName, ensureDir } from "../util/io";
import type { Table } from "../util/table";
import type { ResultRow } from "../experiments/results";
import { Profile, splitProfiledName } from "./profiles";
import { saveTable } from "./tables";
import { exportLine } from "./render";

const SUFFIX = ".paper.csv";

/**
 * results/<name>.paper.csv
 * @param name the notebook's experiment with its profile suffix (profiledName), e.g. "01-enwik8-smoke"
 */
export function paperComparisonFile(name: string, dir = PATHS.results): string {
  checkFileName("experiment name", name, `it names results/<experiment>${SUFFIX}`);
  return path.join(dir, `${name}${SUFFIX}`);
}

/** The experiment and profile whose paper comparison a file holds ("01-enwik8-smoke.paper.csv"); undefined for other files. */
export function paperComparisonName(file: string): { experiment: string; profile: Profile } | undefined {
  const base = path.basename(file);
  if (!base.endsWith(SUFFIX)) return undefined;
  const { name, profile } = splitProfiledName(base.slice(0, -SUFFIX.length));
  return { experiment: name, profile };
}

/**
 * Saves a notebook's paper-comparison table as results/<name>.paper.csv, which scripts/summary.ts puts into
 * results/summary.md (the latest table per notebook), and prints one line naming the file.
 * @param name profiledName(experiment, profile)
 */
export function savePaperComparison(name: string, table: Table, dir = PATHS.results): void {
  saveTable(table, paperComparisonFile(name, ensureDir(dir)));
  console.log(exportLine(name, dir, [SUFFIX.slice(1)], "paper comparison"));
}

/** "0.53M params, T=512, L=64, S=64, 600 updates, 9.8 min, native": our setup, for comparison tables. */
export function describeSetup(row: ResultRow): string {
  const num = (k: string) => {
    const v = row[k];
    return typeof v === "number" ? v : undefined;
  };
  const parts: string[] = [];
  const n = num("n_params");
  if (n !== undefined) parts.push(n >= 1e6 ? `${(n / 1e6).toFixed(2)}M params` : `${(n / 1e3).toFixed(0)}k params`);
  if (num("train.sequenceLen") !== undefined) parts.push(`T=${num("train.sequenceLen")}`);
  if (num("model.blockLen") !== undefined) parts.push(`L=${num("model.blockLen")}`);
  if (row["model.attnType"] !== "full" && num("model.nCode") !== undefined) parts.push(`S=${num("model.nCode")}`);
  if (num("steps") !== undefined) parts.push(`${num("steps")} updates`);
  const s = num("train_s");
  if (s !== undefined) parts.push(`${(s / 60).toFixed(1)} min`);
  if (typeof row.backend === "string") parts.push(row.backend);
  return parts.join(", ");
}
