// Builds the decoded caches of the offline datasets (called by scripts/fetch-data.sh) and prints their sizes.
// Each dataset is loaded through lib/data/datasets.ts exactly as a run would load it; a missing one is reported
// and skipped. Usage: node --import tsx scripts/prepare-data.ts [name ...]
import { describeDataset, loadDataset } from "../lib/data/datasets";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const OFFLINE = ["foldoc", "gcide", "gutenberg", "fashion-mnist", "wallpaper-patches"];
const CLI: CommandSpec = {
  command: "node --import tsx scripts/prepare-data.ts",
  args: "[NAME ...]",
  summary: "Builds the decoded caches of the offline datasets (scripts/fetch-data.sh calls it) and prints their sizes; " +
    "a dataset that is missing is reported and skipped.",
  positionals: [{ name: "NAME", help: `datasets to prepare (default: ${OFFLINE.join(", ")})` }],
  flags: {},
  examples: ["node --import tsx scripts/prepare-data.ts foldoc gutenberg"],
};
let names: string[] = [];
try {
  names = parseCommand(CLI).positionals;
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(usageErrorText(e, CLI));
  process.exit(2);
}
if (names.length === 0) names = OFFLINE;
let failed = 0;
for (const name of names) {
  const t0 = Date.now();
  try {
    const ds = loadDataset(name);
    console.log(`${describeDataset(ds)}\n  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (name === "gutenberg") {
      const t1 = Date.now();
      const bpe = loadDataset(name, { tokenizer: "bpe", bpeVocabSize: 4096 });
      console.log(`${describeDataset(bpe)}\n  (BPE trained or loaded from data/cache/bpe in ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
    }
  } catch (e) {
    failed++;
    console.log(`${name}: not available: ${(e as Error).message}`);
  }
}
if (failed > 0) console.log(`${failed} dataset(s) unavailable (see above)`);
