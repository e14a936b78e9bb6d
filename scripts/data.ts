// The dataset a CLI command names: a dataset name of lib/data/datasets.ts, `file:<path>`, or the plain path of any
// file (read as bytes). The model's vocabSize follows the dataset's tokenizer unless --set model.vocabSize is given.
import * as fs from "node:fs";
import { Config } from "../lib/config";
import { DATASET_NAMES, Dataset, LoadOptions, loadDataset } from "../lib/data/datasets";

/** "foldoc" → "foldoc"; "./my.txt" (an existing file, not a dataset name) → "file:./my.txt". */
export function datasetSpec(spec: string): string {
  const base = spec.split(":")[0];
  const known = DATASET_NAMES.some((n) => n === base || n.startsWith(`${base}:`));
  if (known) return spec;
  if (fs.existsSync(spec)) return `file:${spec}`;
  throw new Error(`--data ${JSON.stringify(spec)} is neither a dataset (${DATASET_NAMES.join(", ")}) nor an existing file`);
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
