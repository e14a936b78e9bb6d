/**
 * `npm run runs [-- --experiment NAME --filter TEXT --status S --json --write-events --dir DIR]`: the run records
 * a user can query. One row per run folder (every folder below runs/ holding a config.json, the notebooks' and
 * sweeps' runs/<experiment>/<run> and the CLI's runs/<name> alike): where it is, whether it finished, its preset,
 * data and steps, its final validation numbers in the data's units (bits per byte for byte-level data; nats per
 * token, bits per byte and word-level perplexity for BPE), the test numbers and speed of its results row
 * (results/<experiment>.jsonl, matched by run_dir), and what its config changes against its preset (jsonDiff).
 *
 * Read-only, except --write-events, which writes the TensorBoard event file of runs trained before the kit wrote
 * them (lib/train/tensorboard.ts writeHistoryEvents; `npm run tensorboard` does this first).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as aq from "arquero";
import { Config, getPreset } from "../lib/config";
import { PATHS, ROOT, readJSON, readJSONL } from "../lib/util/io";
import { isPlainObject, jsonDiff } from "../lib/util/json";
import { EvalRecord, RUN_FILES, StepMetrics, readRunConfig } from "../lib/train/run-folder";
import { runLockHolder } from "../lib/train/lock";
import { TokenizerKind, isEventFile, writeHistoryEvents } from "../lib/train/tensorboard";
import { ResultRow } from "../lib/experiments/results";
import { tableText } from "../lib/notebook/tables";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

/** One config field a run changes against its preset. */
export interface ConfigChange {
  key: string;
  preset: unknown;
  run: unknown;
}

/** One run folder, as `npm run runs -- --json` prints it. */
export interface RunRecord {
  /** the folder, relative to the repository */
  folder: string;
  /** runExperiment's experiment and run id (experiment.json); CLI runs: null and the folder name */
  experiment: string | null;
  run: string;
  /** finished: summary.json at train.maxSteps; training: a live process holds its lock; stopped: neither */
  status: "finished" | "training" | "stopped";
  preset: string;
  dataset: string | null;
  tokenizer: TokenizerKind | null;
  /** updates done (the last metrics.jsonl line) and the schedule's length */
  steps: number;
  maxSteps: number;
  /** the final (else the latest) validation: bits per byte; nats per token, word ppl only for BPE */
  val_bpb: number | null;
  val_loss_nats: number | null;
  val_word_ppl: number | null;
  /** from the run's latest results row (runExperiment evaluates the test split), else null */
  test_bpb: number | null;
  test_loss_nats: number | null;
  test_word_ppl: number | null;
  tokens_per_s: number | null;
  /** fields of config.json that differ from the preset (preset null: the preset is unknown to this kit) */
  changes: ConfigChange[] | null;
  /** the last write to the run's history (ISO) */
  updated: string;
  /** the run has TensorBoard event files */
  events: boolean;
}

/** The value at a dotted path of a JSON object. */
function at(obj: unknown, dotted: string): unknown {
  return dotted.split(".").reduce<unknown>((o, k) => (isPlainObject(o) ? o[k] : undefined), obj);
}

/** The config fields that differ from the preset `cfg.preset` (null when that preset does not exist). */
export function configChanges(cfg: Config): ConfigChange[] | null {
  let preset: Config;
  try {
    preset = getPreset(cfg.preset);
  } catch {
    return null;
  }
  // a field the run's config lacks was added to the kit after the run was written: not a change the run made
  return jsonDiff(preset, cfg).map((line) => line.slice(0, line.indexOf(": ")))
    .filter((key) => at(cfg, key) !== undefined).map((key) => ({ key, preset: at(preset, key), run: at(cfg, key) }));
}

/** "model.nCode=64 train.lrMax=0.003": the changes as the table shows them. */
export function changesText(changes: ConfigChange[] | null): string {
  if (changes === null) return "(preset unknown)";
  return changes.map((c) => `${c.key}=${JSON.stringify(c.run)}`).join(" ");
}

/** Folders below `root` (itself included) that hold a run's config.json; checkpoint folders are not entered. */
export function findRunFolders(root: string, depth = 4): string[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) return [];
  if (fs.existsSync(path.join(root, RUN_FILES.config))) return [root];
  if (depth === 0) return [];
  return fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith("checkpoint"))
    .sort((a, b) => a.name.localeCompare(b.name)).flatMap((e) => findRunFolders(path.join(root, e.name), depth - 1));
}

/** The latest results row per run folder (run_dir, relative to the repository), over results/*.jsonl. */
export function resultRowsByFolder(resultsDir = PATHS.results): Map<string, ResultRow> {
  const rows = new Map<string, ResultRow>();
  if (!fs.existsSync(resultsDir)) return rows;
  for (const f of fs.readdirSync(resultsDir).filter((n) => n.endsWith(".jsonl")).sort()) {
    for (const r of readJSONL<ResultRow>(path.join(resultsDir, f))) if (typeof r.run_dir === "string") rows.set(r.run_dir, r);
  }
  return rows;
}

function status(dir: string, cfg: Config, summary: { steps?: number } | undefined): RunRecord["status"] {
  if (runLockHolder(dir)) return "training";
  return summary && (summary.steps ?? 0) >= cfg.train.maxSteps ? "finished" : "stopped";
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The record of one run folder. */
export function readRunRecord(dir: string, results: Map<string, ResultRow>): RunRecord {
  const cfg = readRunConfig(dir);
  const folder = path.relative(ROOT, dir).split(path.sep).join("/");
  const file = (f: string) => path.join(dir, f);
  const data = fs.existsSync(file(RUN_FILES.data)) ? readJSON<{ name?: string; tokenizer?: TokenizerKind }>(file(RUN_FILES.data)) : {};
  const book = fs.existsSync(file("experiment.json")) ? readJSON<{ experiment?: string; run?: string }>(file("experiment.json")) : {};
  const summary = fs.existsSync(file(RUN_FILES.summary)) ? readJSON<Record<string, unknown>>(file(RUN_FILES.summary)) : undefined;
  const history = readJSONL<StepMetrics>(file(RUN_FILES.metrics));
  const lastEval = readJSONL<EvalRecord>(file(RUN_FILES.evals)).pop();
  const row = results.get(folder);
  const tokenizer = data.tokenizer ?? null;
  const bpe = tokenizer === "bpe";
  // the last evaluation is the final one of a finished run; summary.json only when eval.jsonl is gone
  const val = lastEval ? { bpb: lastEval.bpb, loss: lastEval.loss, word: lastEval.wordPpl } :
    { bpb: summary?.val_bpb, loss: summary?.val_loss, word: summary?.val_word_ppl };
  const times = [RUN_FILES.metrics, RUN_FILES.summary, RUN_FILES.config].filter((f) => fs.existsSync(file(f))).map((f) => fs.statSync(file(f)).mtimeMs);
  return {
    folder, experiment: book.experiment ?? null, run: book.run ?? path.basename(dir), status: status(dir, cfg, summary as { steps?: number }),
    preset: cfg.preset, dataset: data.name ?? null, tokenizer,
    steps: history.length ? history[history.length - 1].step : 0, maxSteps: cfg.train.maxSteps,
    val_bpb: num(val.bpb), val_loss_nats: bpe ? num(val.loss) : null, val_word_ppl: bpe ? num(val.word) : null,
    test_bpb: num(row?.test_bpb), test_loss_nats: bpe ? num(row?.test_loss) : null, test_word_ppl: bpe ? num(row?.test_word_ppl) : null,
    tokens_per_s: num(row?.tokens_per_s) ?? num(summary?.tokens_per_s),
    changes: configChanges(cfg), updated: new Date(Math.max(...times)).toISOString(), events: fs.readdirSync(dir).some(isEventFile),
  };
}

export interface RunQuery {
  /** folders to scan (default runs/, and notebooks/runs/ where runs landed before relative folders were fixed) */
  dirs?: string[];
  resultsDir?: string;
  /** only runs of this experiment */
  experiment?: string;
  /** only runs whose folder, preset, dataset or config changes contain this text (case-insensitive) */
  filter?: string;
  status?: RunRecord["status"];
}

/** The default folders holding runs. */
export function defaultRunDirs(): string[] {
  return [PATHS.runs, path.join(PATHS.notebooks, "runs")].filter((d) => fs.existsSync(d));
}

/** Every run record the query selects, in folder order; a folder whose records cannot be read is skipped with a warning. */
export function listRuns(q: RunQuery = {}): RunRecord[] {
  const results = resultRowsByFolder(q.resultsDir);
  const needle = q.filter?.toLowerCase();
  const read = (d: string): RunRecord[] => {
    try {
      return [readRunRecord(d, results)];
    } catch (e) {
      console.warn(`runs: skipping ${path.relative(ROOT, d)}: ${(e as Error).message}`);
      return [];
    }
  };
  return (q.dirs ?? defaultRunDirs()).flatMap((d) => findRunFolders(d)).flatMap(read).filter((r) =>
    (q.experiment === undefined || r.experiment === q.experiment || r.folder.split("/").includes(q.experiment)) &&
    (q.status === undefined || r.status === q.status) &&
    (needle === undefined || [r.folder, r.preset, r.dataset ?? "", changesText(r.changes)].some((s) => s.toLowerCase().includes(needle))));
}

/**
 * The runs as an aligned text table, with the units in the column names.
 * @param width the most characters per line (long cells wrap: lib/notebook/tables.ts tableText); default no limit
 */
export function runsTable(runs: RunRecord[], width = Infinity): string {
  const rows = runs.map((r) => ({
    folder: r.folder, status: r.status, preset: r.preset, data: r.dataset === null ? "" : `${r.dataset} (${r.tokenizer})`,
    steps: `${r.steps}/${r.maxSteps}`, "val bits/byte": r.val_bpb, "val nats/token": r.val_loss_nats, "val word ppl": r.val_word_ppl,
    "test bits/byte": r.test_bpb, "test word ppl": r.test_word_ppl, "train tokens/s": r.tokens_per_s, "config vs preset": changesText(r.changes),
  }));
  const t = aq.from(rows);
  const empty = t.columnNames().filter((c) => rows.every((r) => (r as Record<string, unknown>)[c] === null));
  const opts = { limit: Infinity, width } as Parameters<typeof tableText>[1];
  return tableText(empty.length ? t.select(aq.not(...empty)) : t, opts);
}

/** Writes the event files of the runs without any (from metrics.jsonl and eval.jsonl); returns the files written. */
export function writeMissingEvents(runs: RunRecord[]): string[] {
  const written: string[] = [];
  for (const r of runs) {
    if (r.events || r.status === "training") continue;
    const dir = path.resolve(ROOT, r.folder);
    const metrics = path.join(dir, RUN_FILES.metrics);
    if (!fs.existsSync(metrics)) continue;
    const cfg = readRunConfig(dir);
    const f = writeHistoryEvents(dir, readJSONL<StepMetrics>(metrics), readJSONL<EvalRecord>(path.join(dir, RUN_FILES.evals)),
      r.tokenizer ?? "bytes", cfg.model.attnType !== "full", fs.statSync(metrics).mtimeMs / 1000);
    if (f) written.push(f);
  }
  return written;
}

const STATUSES = ["finished", "training", "stopped"];

const CLI: CommandSpec = {
  command: "npm run runs",
  args: "[--experiment NAME] [--filter TEXT] [--status S] [--json] [--write-events] [--dir DIR] [--results DIR]",
  summary: "Lists the training runs (every run folder below runs/): status, preset, data, steps, the final validation " +
    "numbers in the data's units (bits per byte; for BPE also nats per token and word-level perplexity), test numbers and " +
    "speed from the results files, and what each config changes against its preset.",
  flags: {
    experiment: { kind: "string", value: "NAME", help: "only the runs of this experiment (e.g. 01-enwik8)" },
    filter: { kind: "string", value: "TEXT", help: "only runs whose folder, preset, dataset or config changes contain TEXT (case-insensitive)" },
    status: { kind: "string", value: "S", help: `only runs in this state: ${STATUSES.join(", ")}` },
    json: { kind: "boolean", help: "print the records as JSON (one array) instead of the table" },
    "write-events": { kind: "boolean", help: "also write the TensorBoard event file of listed runs that have none (trained before events existed)" },
    dir: { kind: "string", value: "DIR", help: "folder to scan for run folders", default: "runs/ (and notebooks/runs/ when it exists)" },
    results: { kind: "string", value: "DIR", help: "results folder whose rows give test numbers and speed", default: "results/" },
  },
  examples: ["npm run runs", "npm run runs -- --experiment 10-ablation-codebook-size", "npm run runs -- --filter nCode --json"],
  notes: ["a run folder whose files cannot be read is skipped with a warning on stderr naming it and the file",
    "exit codes: 0 listed (also when nothing matches), 1 a results file could not be read or an event file not written, 2 a bad command line"],
};

if (require.main === module) {
  try {
    const { flags } = parseCommand(CLI);
    const st = flags.status as string | undefined;
    if (st !== undefined && !STATUSES.includes(st)) throw new UsageError(`--status ${st}: use one of ${STATUSES.join(", ")}`);
    const dir = flags.dir !== undefined ? path.resolve(String(flags.dir)) : undefined;
    if (dir !== undefined && !fs.existsSync(dir)) throw new UsageError(`--dir ${flags.dir}: no such folder; pass a folder of run folders, e.g. runs/`);
    const runs = listRuns({
      dirs: dir ? [dir] : undefined, resultsDir: flags.results !== undefined ? path.resolve(String(flags.results)) : undefined,
      experiment: flags.experiment as string | undefined, filter: flags.filter as string | undefined, status: st as RunRecord["status"] | undefined,
    });
    if (flags["write-events"]) {
      const written = writeMissingEvents(runs);
      console.error(`runs: wrote ${written.length} TensorBoard event file${written.length === 1 ? "" : "s"} from metrics.jsonl`);
      for (const r of runs) if (written.some((f) => path.dirname(f) === path.resolve(ROOT, r.folder))) r.events = true;
    }
    if (flags.json) console.log(JSON.stringify(runs, null, 2));
    else if (runs.length === 0) console.log(`runs: no run folder matches (scanned ${(dir ? [dir] : defaultRunDirs()).map((d) => path.relative(ROOT, d) || ".").join(", ") || "nothing: runs/ does not exist"})`);
    else console.log(runsTable(runs, process.stdout.isTTY ? process.stdout.columns : Infinity)); // piped: one line per run
  } catch (e) {
    console.error(`runs: ${e instanceof UsageError ? usageErrorText(e, CLI) : (e as Error).message}`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
