// Checks the paper's theorem on one random problem: the linear-time VQ-attention forms (block recurrence and
// block-parallel) against the quadratic definition over quantized keys, outputs and gradients.
//
//   npm run equivalence -- --T 48 --L 8 --S 16 --dk 8 --dv 12 --seed 3 --cache on [--M 8] [--B 1] [--H 1] [--hkv H]
//
// Prints one JSON line (max absolute and relative differences per form and quantity) and exits 1 when an
// absolute difference exceeds 1e-5. TVQ_BACKEND=cpu|wasm|native picks the backend.
import { describeBackend, initBackend } from "../lib/runtime/backend";
import { EquivalenceOptions, runEquivalence } from "../lib/experiments/equivalence";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const TOLERANCE = 1e-5;
const CLI: CommandSpec = {
  command: "npm run equivalence",
  args: "[--T N] [--L N] [--S N] [--dk N] [--dv N] [--seed N] [--cache on|off] [--M N] [--B N] [--H N] [--hkv N]",
  summary: "Checks the theorem on one random problem: the linear-time VQ-attention forms (block recurrence and " +
    "block-parallel) against the quadratic definition over quantized keys, for outputs and gradients. Prints one JSON " +
    `line (max absolute and relative differences per form and quantity).`,
  flags: {
    T: { kind: "number", integer: true, min: 1, help: "sequence length (a multiple of L)", default: "48" },
    L: { kind: "number", integer: true, min: 1, help: "block length", default: "8" },
    M: { kind: "number", integer: true, min: 1, help: "memory length of the relative-position band", default: "L" },
    S: { kind: "number", integer: true, min: 1, help: "codebook size", default: "16" },
    dk: { kind: "number", integer: true, min: 1, help: "key width d_k", default: "8" },
    dv: { kind: "number", integer: true, min: 1, help: "value width d_v", default: "12" },
    B: { kind: "number", integer: true, min: 1, help: "batch size", default: "1" },
    H: { kind: "number", integer: true, min: 1, help: "query heads", default: "1" },
    hkv: { kind: "number", integer: true, min: 1, help: "key/value heads (1 = multi-query)", default: "H" },
    seed: { kind: "number", integer: true, min: 0, help: "seed of the random problem (≥ 0)", default: "0" },
    cache: { kind: "string", value: "on|off", help: "the compressive cache (off: a sliding window of M + L keys)", default: "on" },
  },
  examples: ["npm run equivalence -- --T 48 --L 8 --S 16 --dk 8 --dv 12 --seed 3 --cache on", "npm run equivalence -- --T 64 --L 16 --H 4 --hkv 1 --cache off"],
  notes: [`exit codes: 0 every absolute difference ≤ ${TOLERANCE}, 1 one exceeds it, 2 a bad command line or an error. ` +
    "TVQ_BACKEND=cpu|wasm|native picks the backend."],
};

function parseOptions(argv: string[]): EquivalenceOptions {
  const { flags } = parseCommand(CLI, argv);
  const int = (k: string, dflt?: number): number | undefined => {
    const v = flags[k] as number | undefined;
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < (k === "seed" ? 0 : 1)) throw new UsageError(`--${k} ${v}: must be a ${k === "seed" ? "non-negative" : "positive"} integer`);
    return v;
  };
  const cache = (flags.cache as string | undefined) ?? "on";
  if (cache !== "on" && cache !== "off") throw new UsageError(`--cache ${cache}: use on or off`);
  const o: EquivalenceOptions = {
    T: int("T", 48)!, L: int("L", 8)!, M: int("M"), S: int("S", 16)!, dK: int("dk", 8)!, dV: int("dv", 12)!,
    B: int("B"), H: int("H"), hKV: int("hkv"), seed: int("seed", 0)!, aggCache: cache === "on",
  };
  return o;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  await initBackend();
  const t0 = Date.now();
  const r = runEquivalence(opts);
  const pass = r.maxAbs <= TOLERANCE;
  const { parallelVsRecurrent: _unused, ...rest } = r;
  console.log(JSON.stringify({ ...rest, tolerance: TOLERANCE, pass, seconds: (Date.now() - t0) / 1000, backend: describeBackend() }));
  process.exit(pass ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(e instanceof UsageError ? usageErrorText(e, CLI) : e instanceof Error ? e.message : String(e));
  process.exit(2);
});
