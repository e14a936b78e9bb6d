// Downloads the real datasets (needs internet). Usage:
//   npm run download -- enwik8                     (36 MB zip → data/cache/enwik8/enwik8, 100,000,000 bytes)
//   npm run download -- pg19 [--train-books N]     (PG-19 books → data/cache/pg19/{train,validation,test}; default 100 train books)
//   npm run download -- imagenet64                 (prints how to get the official files: image-net.org needs a login)
// Offline stand-ins need no download: foldoc, gcide, gutenberg, fashion-mnist, wallpaper-patches (npm run setup).
import { ENWIK8_DIR, downloadEnwik8 } from "../lib/data/enwik8";
import { downloadPg19 } from "../lib/data/pg19";
import { IMAGENET64_FIX } from "../lib/data/imagenet64";
import { IMAGENET64_DIR, PG19_DIR } from "../lib/data/datasets";

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
  const [what, ...rest] = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
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
      console.error("usage: npm run download -- enwik8 | pg19 [--train-books N] [--dir D] | imagenet64");
      process.exit(2);
  }
}

main().catch((e) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
