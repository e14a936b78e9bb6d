// Checks the paper's theorem on one random problem: the linear-time VQ-attention forms (block recurrence and
// block-parallel) against the quadratic definition over quantized keys, outputs and gradients.
//
//   npm run equivalence -- --T 48 --L 8 --S 16 --dk 8 --dv 12 --seed 3 --cache on [--M 8] [--B 1] [--H 1] [--hkv H]
//
// Prints one JSON line (max absolute and relative differences per form and quantity) and exits 1 when an
// absolute difference exceeds 1e-5. TVQ_BACKEND=cpu|wasm|native picks the backend.
import { describeBackend, initBackend } from "../lib/runtime/backend";
import { EquivalenceOptions, runEquivalence } from "../lib/experiments/equivalence";

const TOLERANCE = 1e-5;
const USAGE = "usage: npm run equivalence -- --T 48 --L 8 --S 16 --dk 8 --dv 12 --seed 3 --cache on|off [--M L] [--B 1] [--H 1] [--hkv H]";

function parseArgs(argv: string[]): EquivalenceOptions {
  const named = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith("--") || i + 1 >= argv.length) throw new Error(`cannot read argument '${key}'\n${USAGE}`);
    named.set(key.slice(2), argv[i + 1]);
  }
  const KNOWN = ["T", "L", "M", "S", "dk", "dv", "B", "H", "hkv", "seed", "cache"];
  for (const k of named.keys()) if (!KNOWN.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const int = (k: string, dflt?: number): number | undefined => {
    const v = named.get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < (k === "seed" ? 0 : 1)) throw new Error(`--${k} ${v}: must be a positive integer\n${USAGE}`);
    return n;
  };
  const cache = named.get("cache") ?? "on";
  if (cache !== "on" && cache !== "off") throw new Error(`--cache ${cache}: use on or off\n${USAGE}`);
  const o: EquivalenceOptions = {
    T: int("T", 48)!, L: int("L", 8)!, M: int("M"), S: int("S", 16)!, dK: int("dk", 8)!, dV: int("dv", 12)!,
    B: int("B"), H: int("H"), hKV: int("hkv"), seed: int("seed", 0)!, aggCache: cache === "on",
  };
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  await initBackend();
  const t0 = Date.now();
  const r = runEquivalence(opts);
  const pass = r.maxAbs <= TOLERANCE;
  const { parallelVsRecurrent: _unused, ...rest } = r;
  console.log(JSON.stringify({ ...rest, tolerance: TOLERANCE, pass, seconds: (Date.now() - t0) / 1000, backend: describeBackend() }));
  process.exit(pass ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
});
