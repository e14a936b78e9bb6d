// Paper-scale runs handed to the official JAX code (github.com/transformer-vq/transformer_vq), and back.
// `npm run export-official -- --preset paper-enwik8` (or --out RUN) prints the launch of the same model and training
// settings on both official branches, with every setting that does not carry over named; --from-official reads an
// official config file, shell script or flag list back into a kit config (the nearest preset plus overrides).
// The mapping lives in lib/experiments/official/.
import * as fs from "node:fs";
import * as path from "node:path";
import { Config, getPreset, presetNames, validateConfig } from "../lib/config";
import { atomicWrite } from "../lib/util/io";
import {
  Branch, ExportOptions, KitImport, Note, OfficialParseError, exportOfficial, kitFromOfficial, parseOfficial, renderExport,
  trainArgs,
} from "../lib/experiments/official/index";
import { shellQuote } from "../lib/util/shell";
import { CommandSpec, UsageError, applySettings, parseCommand, runMain } from "./args";

const CLI: CommandSpec = {
  command: "npm run export-official",
  args: "--preset NAME | --out RUN | --from-official FILE|\"--flag=value ...\" [flags]",
  summary: "Prints the official JAX code's launch for a kit preset or run: branch main's `python3 scripts/launch.py " +
    "--flag=value ...` (the paper's runs) and branch optimized's config module with its `--config=...` command, each " +
    "followed by the kit settings the branch cannot express and the official settings the kit has no field for. " +
    "With --from-official it goes the other way: an official config_*.py, lm_*.sh or flag list becomes a kit config, " +
    "printed as JSON overrides of the nearest preset (load with getPreset(json.preset, json), or train with the " +
    "printed --set flags).",
  flags: {
    preset: { kind: "string", value: "NAME", help: `the kit preset to export: ${presetNames().join(", ")}` },
    out: { kind: "string", value: "RUN", help: "export a run folder's config.json (and its dataset from data.json) instead of a preset" },
    set: { kind: "list", value: "section.field=value", help: "override a field of the exported config, as npm run train does", default: "none" },
    data: { kind: "string", value: "NAME", help: "the kit dataset the run trains on (enwik8, pg19, imagenet64 or a stand-in such as foldoc)", default: "the run's, or the preset's own" },
    branch: { kind: "string", value: "main|optimized|both", help: "which official branch to print", default: "both" },
    precision: { kind: "string", value: "float32|bfloat16", help: "activation dtype of the official run (the kit computes in float32; the official configs use bfloat16)", default: "float32" },
    workdir: { kind: "string", value: "DIR", help: "the official run's folder for data, vocabularies and checkpoints (local or gs://)", default: "workdir" },
    "write-config": { kind: "string", value: "FILE", help: "also write branch optimized's config module to FILE (atomically)" },
    "from-official": { kind: "string", value: "FILE|FLAGS", help: "what to import as a kit config: an official config_*.py or lm_*.sh file, a file holding a launch command, or the flags in one quoted argument" },
    write: { kind: "string", value: "FILE", help: "with --from-official: write the kit config JSON to FILE (atomically) instead of printing it" },
    json: { kind: "boolean", help: "print the machine form (one JSON object) instead of the text" },
  },
  examples: [
    "npm run export-official -- --preset paper-enwik8",
    "npm run export-official -- --preset paper-pg19 --branch optimized --precision bfloat16 --write-config config_kit_pg19.py",
    "npm run export-official -- --out runs/tiny-foldoc --json",
    "npm run export-official -- --from-official \"--config=scripts/config_enwik8.py --config.n_code=256\"",
    "npm run export-official -- --from-official scripts/lm_enwik8.sh --write runs/enwik8-official.json",
  ],
  notes: [
    "The official code is read at branch main commit 21943e4 and branch optimized commit 293e3b1. Branch main takes every " +
      "setting as a flag; branch optimized loads a Python config module, so the export prints one (a None or dtype field " +
      "cannot be changed by a --config.<field> override).",
    "exit codes: 0 done, 1 a run folder that cannot be read, 2 a bad command line or official text that cannot be read",
  ],
};

/** The config to export: a preset or a run folder's, with --set applied. */
async function exportedConfig(flags: Record<string, unknown>): Promise<{ cfg: Config; opts: ExportOptions }> {
  const opts: ExportOptions = {};
  let cfg: Config;
  if (flags.out !== undefined) {
    const { readRunConfig, readRunData } = await import("../lib/train/run-folder");
    const out = String(flags.out);
    cfg = readRunConfig(out);
    const rd = readRunData(out);
    opts.data = rd.name;
    opts.tokenizer = rd.tokenizer.kind;
  } else {
    const name = String(flags.preset);
    if (!presetNames().includes(name)) throw new UsageError(`--preset ${name}: no such preset; use one of ${presetNames().join(", ")}`);
    cfg = getPreset(name);
  }
  applySettings(cfg, (flags.set as string[]) ?? []);
  try {
    validateConfig(cfg);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n(fix the --set values)`);
  }
  if (flags.data !== undefined) opts.data = String(flags.data);
  const precision = String(flags.precision ?? "float32");
  if (precision !== "float32" && precision !== "bfloat16") throw new UsageError(`--precision ${precision}: use float32 or bfloat16`);
  opts.precision = precision;
  if (flags.workdir !== undefined) opts.workdir = String(flags.workdir);
  return { cfg, opts };
}

function branchesOf(flags: Record<string, unknown>): Branch[] {
  const b = String(flags.branch ?? "both");
  if (b === "both") return ["main", "optimized"];
  if (b === "main" || b === "optimized") return [b];
  throw new UsageError(`--branch ${b}: use main, optimized or both`);
}

async function runExport(flags: Record<string, unknown>): Promise<void> {
  const { cfg, opts } = await exportedConfig(flags);
  const branches = branchesOf(flags);
  let e;
  try {
    e = exportOfficial(cfg, opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const written = flags["write-config"] === undefined ? undefined : String(flags["write-config"]);
  if (written) atomicWrite(written, e.optimized.configFile!.text);
  if (flags.json) {
    const pick = Object.fromEntries(branches.map((b) => [b, e[b]]));
    console.log(JSON.stringify({ preset: e.preset, data: e.data, repository: e.repository, ...pick, kitOnly: e.kitOnly, configWritten: written ?? null }, null, 2));
  } else console.log(renderExport(e, branches, written));
}

function notes(title: string, list: Note[]): string[] {
  return [title, ...list.map((n) => `  - ${n.field} = ${JSON.stringify(n.value)}: ${n.reason}`)];
}

/** The text of --from-official: a file's contents, or the flags themselves. */
function officialText(arg: string): { text: string; baseDir: string; source: string } {
  if (fs.existsSync(arg) && fs.statSync(arg).isFile()) return { text: fs.readFileSync(arg, "utf8"), baseDir: path.dirname(path.resolve(arg)), source: arg };
  if (!/\s|=/.test(arg) && !arg.startsWith("--")) {
    throw new UsageError(`--from-official ${arg}: no such file; pass an official config_*.py or lm_*.sh file, or the flags in quotes ("--d_model=768 --n_code=512")`);
  }
  return { text: arg, baseDir: process.cwd(), source: "the flags" };
}

function runImport(flags: Record<string, unknown>): void {
  const { text, baseDir, source } = officialText(String(flags["from-official"]));
  let k: KitImport;
  try {
    k = kitFromOfficial(parseOfficial(text, baseDir));
  } catch (e) {
    if (e instanceof OfficialParseError) throw new UsageError(`--from-official (${source}): ${e.message}`);
    throw e;
  }
  const json = JSON.stringify(k.overrides, null, 2) + "\n";
  const train = `npm run train -- ${trainArgs(k).map(shellQuote).join(" ")}`;
  if (flags.write !== undefined) atomicWrite(String(flags.write), json);
  if (flags.json) {
    console.log(JSON.stringify({ preset: k.preset, overrides: k.overrides, data: k.data, branch: k.branch, train, notRepresented: k.notRepresented,
      notGiven: k.notGiven, officialOnly: k.officialOnly, written: flags.write ?? null }, null, 2));
    return;
  }
  const out = [`Read ${source} as branch ${k.branch} settings; nearest kit preset: ${k.preset}.`, ""];
  out.push(flags.write !== undefined ? `Kit config (overrides of ${k.preset}) written to ${String(flags.write)}.` : json.trimEnd());
  out.push("", `Train it: ${train}`);
  const lists: Array<[string, Note[]]> = [
    ["Official settings the kit cannot represent (kept the preset's value):", k.notRepresented],
    ["Kit fields the source does not give:", k.notGiven],
    ["Official settings without a kit field (ignored):", k.officialOnly],
  ];
  for (const [title, list] of lists) if (list.length) out.push("", ...notes(title, list));
  console.log(out.join("\n"));
}

/** `--from-official "--flag=v ..."`: the quoted flags start with "-", which parseArgs would take for a flag. */
function joinFromOfficial(argv: string[]): string[] {
  const i = argv.indexOf("--from-official");
  return i < 0 || argv[i + 1] === undefined ? argv : [...argv.slice(0, i), `--from-official=${argv[i + 1]}`, ...argv.slice(i + 2)];
}

async function main(): Promise<void> {
  const { flags } = parseCommand(CLI, joinFromOfficial(process.argv.slice(2)));
  const modes = ["preset", "out", "from-official"].filter((f) => flags[f] !== undefined);
  if (modes.length !== 1) {
    throw new UsageError(modes.length === 0 ? "give --preset NAME, --out RUN or --from-official FILE|FLAGS" : `--${modes.join(" and --")} cannot be combined; give one`);
  }
  if (modes[0] === "from-official") {
    for (const f of ["set", "write-config", "branch", "precision", "workdir", "data"]) {
      if (flags[f] !== undefined && !(Array.isArray(flags[f]) && (flags[f] as string[]).length === 0)) throw new UsageError(`--${f} belongs to an export; with --from-official only --write and --json apply`);
    }
    runImport(flags);
  } else {
    if (flags.write !== undefined) throw new UsageError("--write belongs to --from-official; an export writes its config module with --write-config FILE");
    await runExport(flags);
  }
}

runMain(main, CLI);
