// Checks the paper's theorem on one random problem: the linear-time VQ-attention forms (block recurrence and
// block-parallel) against the quadratic definition over quantized keys, outputs and gradients, on one backend or
// on each that starts.
//
//   npm run equivalence -- [--T 48 --L 8 --S 16 --dk 8 --dv 12 --seed 0 --cache on] [--backend all] [--json]
//
// Prints a table (one row per backend and form: max |Δ| of the output and of each gradient, PASS or FAIL against
// the tolerance) and a verdict line; --json prints only one JSON line per backend. Exits 1 when a difference
// exceeds the tolerance.
import * as aq from "arquero";
import { BackendName, describeBackend, initBackend, requestedBackend } from "../lib/runtime/backend";
import { EQUIVALENCE_TOLERANCE, EquivalenceOptions, EquivalenceResult, equivalenceDefaults, equivalenceVerdict, runEquivalence } from "../lib/experiments/equivalence";
import { tableText } from "../lib/notebook/tables";
import { CommandSpec, UsageError, parseCommand, usageErrorText } from "./args";

const TOLERANCE = EQUIVALENCE_TOLERANCE;
const TOL_TEXT = TOLERANCE.toExponential(0); // "1e-5"
/**
 * The backends of --backend all: every name requestedBackend (TVQ_BACKEND's parser) knows. gpu goes last: its
 * TensorFlow library cannot load next to native's in one process, and native is the one every machine here has.
 */
const BACKENDS = (["native", "wasm", "cpu", "gpu"] as const).filter((b) => {
  try {
    return requestedBackend(b) === b;
  } catch {
    return false;
  }
}) as BackendName[];
const CLI: CommandSpec = {
  command: "npm run equivalence",
  args: "[--T N] [--L N] [--S N] [--dk N] [--dv N] [--seed N] [--cache on|off] [--M N] [--B N] [--H N] [--hkv N] [--backend NAME|all] [--json]",
  summary: "Checks the theorem on one random problem: the linear-time VQ-attention forms (vq-recurrent, the block " +
    "recurrence, and vq-parallel, the block-parallel training path) against the quadratic definition over quantized " +
    "keys (vq-quadratic), for the outputs and the gradients w.r.t. q, k, v and the sublayer input x. Prints one row " +
    `per backend and form with the max absolute difference of each and PASS or FAIL against the tolerance ${TOL_TEXT}, ` +
    "then a verdict line.",
  flags: {
    T: { kind: "number", integer: true, min: 1, help: "sequence length (a multiple of L)", default: "48" },
    L: { kind: "number", integer: true, min: 1, help: "block length", default: "8" },
    M: { kind: "number", integer: true, min: 1, help: "memory length of the relative-position band (vq-parallel only runs when M = L)", default: "L" },
    S: { kind: "number", integer: true, min: 1, help: "codebook size", default: "16" },
    dk: { kind: "number", integer: true, min: 1, help: "key width d_k", default: "8" },
    dv: { kind: "number", integer: true, min: 1, help: "value width d_v", default: "12" },
    B: { kind: "number", integer: true, min: 1, help: "batch size", default: "1" },
    H: { kind: "number", integer: true, min: 1, help: "query heads (a multiple of --hkv)", default: "1" },
    hkv: { kind: "number", integer: true, min: 1, help: "key/value heads (1 = multi-query)", default: "H" },
    seed: { kind: "number", integer: true, min: 0, help: "seed of the random problem", default: "0" },
    cache: { kind: "string", value: "on|off", help: "the compressive cache (off: a sliding window of M + L keys)", default: "on" },
    backend: { kind: "string", value: "NAME|all", help: `the backend to check on (${BACKENDS.join(", ")}); all = each that starts (one that does not is named and skipped)`, default: "TVQ_BACKEND, else the first that starts" },
    json: { kind: "boolean", help: "print only one JSON line per backend (max absolute and relative differences per form and quantity, tolerance, pass, seconds, backend) instead of the table" },
  },
  examples: [
    "npm run equivalence",
    "npm run equivalence -- --backend all",
    "npm run equivalence -- --T 64 --L 16 --H 4 --hkv 1 --cache off --seed 3",
    "npm run equivalence -- --T 30 --L 5 --M 10 --json",
  ],
  notes: [`exit codes: 0 every absolute difference ≤ ${TOL_TEXT} on every backend checked, 1 one exceeds it, 2 a bad command ` +
    "line or an error (e.g. a requested backend that cannot start). TVQ_BACKEND picks the backend when --backend is not given."],
};

interface Parsed { options: EquivalenceOptions; backends: Array<BackendName | undefined>; all: boolean; json: boolean }

function parseOptions(argv: string[]): Parsed {
  const { flags } = parseCommand(CLI, argv);
  const num = (k: string) => flags[k] as number | undefined;
  const cache = (flags.cache as string | undefined) ?? "on";
  if (cache !== "on" && cache !== "off") throw new UsageError(`--cache ${cache}: use on or off`);
  const options: EquivalenceOptions = {
    T: num("T") ?? 48, L: num("L") ?? 8, M: num("M"), S: num("S") ?? 16, dK: num("dk") ?? 8, dV: num("dv") ?? 12,
    B: num("B"), H: num("H"), hKV: num("hkv"), seed: num("seed") ?? 0, aggCache: cache === "on",
  };
  if (options.T % options.L !== 0) throw new UsageError(`--L ${options.L} does not divide --T ${options.T}: T is cut into blocks of L; use e.g. --T ${options.L * Math.max(1, Math.round(options.T / options.L))}`);
  const H = options.H ?? 1, hKV = options.hKV ?? H;
  if (H % hKV !== 0) throw new UsageError(`--H ${H} is not a multiple of --hkv ${hKV}: each key/value head serves H / hkv query heads`);
  const b = flags.backend as string | undefined;
  if (b !== undefined && b !== "all" && !BACKENDS.includes(b as BackendName)) throw new UsageError(`--backend ${b}: use ${BACKENDS.join(", ")} or all`);
  const backends = b === "all" ? BACKENDS : [b === undefined ? requestedBackend() : (b as BackendName)];
  return { options, backends, all: b === "all", json: flags.json === true };
}

/** One backend's check: the result, or why the backend did not start. */
interface Checked { backend: string; result?: EquivalenceResult; seconds?: number; skipped?: string }

/** The readable report: the problem, the verdict table, the skipped backends and the verdict line. */
function report(checked: Checked[], options: EquivalenceOptions): { text: string; pass: boolean } {
  const o = equivalenceDefaults(options);
  const problem = `T=${o.T} L=${o.L} M=${o.M} S=${o.S} d_k=${o.dK} d_v=${o.dV} B=${o.B} H=${o.H} h_kv=${o.hKV} cache ${o.aggCache ? "on" : "off"}, seed ${o.seed}`;
  const v = equivalenceVerdict(checked.flatMap((c) => (c.result ? [{ backend: c.backend, result: c.result }] : [])), TOLERANCE);
  const rows = v.rows.map((r) => ({ ...r, form: `${r.form} vs vq-quadratic` }));
  // numbers right-aligned with 2 significant digits (2.4e-7); max |Δ| is the largest of out and the four gradients
  const lines = [`equivalence of the linear forms with the quadratic definition: ${problem}`, "", tableText(aq.from(rows), { limit: 1000, digits: 2 })];
  if (o.M !== o.L) lines.push("(vq-parallel needs M = L: only vq-recurrent was checked)");
  for (const c of checked) if (c.skipped) lines.push(`${c.backend}: not checked, it does not start (${c.skipped})`);
  lines.push("", v.line);
  return { text: lines.join("\n"), pass: v.pass };
}

async function main(): Promise<void> {
  const { options, backends, all, json } = parseOptions(process.argv.slice(2));
  const checked: Checked[] = [];
  for (const wanted of backends) {
    let info;
    try {
      info = await initBackend(wanted);
    } catch (e) {
      if (!all) throw e; // a backend asked for by name must start
      checked.push({ backend: wanted!, skipped: (e as Error).message.replace(/^backend '\w+' was requested \(TVQ_BACKEND or argument\) but cannot start: /, "").split(". ")[0] });
      continue;
    }
    const t0 = Date.now();
    const result = runEquivalence(options);
    checked.push({ backend: info.name, result, seconds: (Date.now() - t0) / 1000 });
    if (json) {
      const { parallelVsRecurrent: _unused, ...rest } = result;
      console.log(JSON.stringify({ ...rest, tolerance: TOLERANCE, pass: result.maxAbs <= TOLERANCE, seconds: (Date.now() - t0) / 1000, backend: describeBackend(info) }));
    } else console.error(describeBackend(info));
  }
  if (!checked.some((c) => c.result)) throw new Error(`no backend started: ${checked.map((c) => `${c.backend}: ${c.skipped}`).join("; ")}`);
  const pass = checked.every((c) => !c.result || c.result.maxAbs <= TOLERANCE);
  if (!json) console.log(report(checked, options).text);
  process.exit(pass ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(e instanceof UsageError ? usageErrorText(e, CLI) : `error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
});
