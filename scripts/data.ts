// The dataset a CLI command names: a dataset name of lib/data/datasets.ts, `file:<path>`, or the plain path of any
// file (read as bytes). The model's vocabSize follows the dataset's tokenizer unless --set model.vocabSize is given.
import * as fs from "node:fs";
import { Config, getPreset, presetNames } from "../lib/config";
import * as path from "node:path";
import { loadRunModel, readRunConfig } from "../lib/train/run-folder";
import { describeBackend, initBackend } from "../lib/runtime/backend";
import type { Model } from "../lib/nn/params";
import { FlagSpec, Flags, UsageError, applySettings, closestChoice } from "./args";
import { DATASET_NAMES, Dataset, LoadOptions, loadDataset } from "../lib/data/datasets";

/**
 * "foldoc" → "foldoc"; "./my.txt" (an existing file, not a dataset name) → "file:./my.txt". Anything else throws,
 * naming the datasets and the closest one (train and eval call this before the backend starts).
 */
export function datasetSpec(spec: string): string {
  const base = spec.split(":")[0];
  const known = DATASET_NAMES.some((n) => n === base || n.startsWith(`${base}:`));
  if (known) return spec;
  if (fs.existsSync(spec)) return `file:${spec}`;
  const close = closestChoice(base, DATASET_NAMES.map((n) => n.split(":")[0]));
  throw new Error(`--data ${JSON.stringify(spec)} is neither a dataset (${DATASET_NAMES.join(", ")}) nor an existing file` +
    (close !== undefined && close !== base ? `; did you mean ${close}?` : ""));
}

/** Loads the dataset and fits cfg.model.vocabSize to its tokenizer (unless vocabExplicit), logging to stderr. */
export function loadCliDataset(spec: string, cfg: Config, vocabExplicit: boolean, opts: LoadOptions = {}): Dataset {
  const ds = loadDataset(datasetSpec(spec), opts);
  if (!vocabExplicit && cfg.model.vocabSize !== ds.vocabSize) {
    console.error(`model.vocabSize ${cfg.model.vocabSize} -> ${ds.vocabSize} (the ${ds.tokenizer.kind} tokenizer of ${ds.name})`);
    cfg.model.vocabSize = ds.vocabSize;
  }
  return ds;
}

/** The preset --preset names, as a fresh copy; an unknown name is a UsageError naming the presets and the closest. */
export function presetOf(name: string): Config {
  if (!presetNames().includes(name)) {
    const close = closestChoice(name, presetNames());
    throw new UsageError(`--preset ${name}: no such preset; use one of ${presetNames().join(", ")}${close !== undefined ? `; did you mean ${close}?` : ""}`);
  }
  return getPreset(name);
}

/** The flags of eval and sample that check a run folder against the preset it was trained with. */
export const RUN_CHECK_FLAGS: FlagSpec = {
  preset: { kind: "string", value: "NAME", help: `check that the run was trained with this preset (${presetNames().join(", ")}) and --set overrides`, default: "no check" },
  set: { kind: "list", value: "section.field=value", help: "with --preset: the overrides the run was trained with", default: "none" },
};

/**
 * The config a run folder must have been trained with, from --preset and --set (undefined without --preset: the
 * run's own config is used). vocabSize follows the run's tokenizer, as in train.
 */
function requestedRunConfig(flags: Flags, outDir: string): Config | undefined {
  const sets = (flags.set as string[] | undefined) ?? [];
  if (flags.preset === undefined) {
    if (sets.length) throw new UsageError("--set only makes sense with --preset (the run's own config is used otherwise)");
    return undefined;
  }
  const requested = presetOf(String(flags.preset));
  applySettings(requested, sets);
  requested.model.vocabSize = readRunConfig(outDir).model.vocabSize;
  return requested;
}

/**
 * The run folder that --out names, loaded for eval and sample: the backend is initialized (and named on stderr),
 * the model restored from the last checkpoint and checked against --preset/--set when given.
 */
export async function loadCliRun(flags: Flags): Promise<{ outDir: string; model: Model; config: Config; step: number }> {
  if (flags.out === undefined) throw new UsageError("--out is required: the folder of a training run");
  const outDir = path.resolve(String(flags.out));
  const requested = requestedRunConfig(flags, outDir);
  console.error(describeBackend(await initBackend()));
  return { outDir, ...loadRunModel(outDir, requested) };
}
