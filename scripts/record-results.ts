/**
 * `npm run record -- notebooks/<name>.ipynb ... [--note TEXT]`: copies each notebook's default run (its
 * default-profile rows, verdicts and figures) from results/ and figures/ into docs/results/, with a record of the
 * machine, backend and commit, and rewrites docs/results/summary.md (lib/notebook/record.ts).
 */
import * as path from "node:path";
import { ROOT, atomicWrite } from "../lib/util/io";
import { RECORDED_DIR, readRecords, recordResults, recordsMarkdown } from "../lib/notebook/record";
import { notebookExperiment } from "../lib/notebook/sweep";
import { buildSummary } from "./summary";
import { CommandSpec, UsageError, parseCommand, runMain } from "./args";

const CLI: CommandSpec = {
  command: "npm run record",
  args: "notebooks/NAME.ipynb ... [--note TEXT]",
  positionals: [{ name: "notebooks/NAME.ipynb", help: "the notebooks whose default run to record (one or more)" }],
  summary: "Copies each notebook's default run (rows, verdicts, figures) from results/ and figures/ into docs/results/, " +
    "records the machine, backend and commit, and rewrites docs/results/summary.md.",
  flags: {
    note: { kind: "string", value: "TEXT", help: "a sentence kept with the record (e.g. what else ran on the machine)", default: "none" },
  },
  examples: ["npm run record -- notebooks/13-long-range-recall.ipynb", "npm run record -- notebooks/10-ablation-codebook-size.ipynb --note 'machine shared with CI'"],
  notes: ["exit codes: 0 recorded, 1 a notebook has no default-profile rows (run it first), 2 a bad command line"],
};

runMain(async () => {
  const { flags, positionals } = parseCommand(CLI);
  if (positionals.length === 0) throw new UsageError("name at least one notebook, e.g. notebooks/13-long-range-recall.ipynb");
  for (const nb of positionals) {
    const r = recordResults(notebookExperiment(nb), { note: flags.note === undefined ? undefined : String(flags.note) });
    console.log(`record ${r.experiment}: ${r.rows} rows, ${r.files.length} files -> ${path.relative(ROOT, RECORDED_DIR)}/`);
  }
  const out = path.join(RECORDED_DIR, "summary.md");
  const intro = recordsMarkdown(readRecords()).trimEnd().split("\n");
  atomicWrite(out, buildSummary({ resultsDir: path.join(RECORDED_DIR, "results"), figuresDir: path.join(RECORDED_DIR, "figures"), out, intro }));
  console.log(`summary: ${path.relative(ROOT, path.join(RECORDED_DIR, "summary.md"))}`);
}, CLI);
