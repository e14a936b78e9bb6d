/**
 * Backend selection: native TensorFlow (tfjs-node) when its binding loads, else WebAssembly (SIMD), else the
 * plain JavaScript cpu backend. `TVQ_BACKEND=native|wasm|cpu` forces one (and fails loudly if it cannot load);
 * `TVQ_DISABLE_NATIVE=1` makes the native load fail on purpose (tests of the fallback). The native binding is
 * built offline by scripts/setup-native.sh against libtensorflow from PyPI's tensorflow-cpu wheel.
 * Every notebook's first output and every benchmark line reports `describeBackend()`.
 */
import * as tf from "./tf";
import { registerKernelPatches } from "./kernels";

export type BackendName = "native" | "wasm" | "cpu";

export interface BackendInfo {
  /** our name for it */
  name: BackendName;
  /** the name TensorFlow.js registers (tensorflow, wasm, cpu) */
  tfName: string;
  /** version of the backend package (and of libtensorflow for native) */
  version: string;
  /** worker threads the backend computes with */
  threads: number;
  /** extra facts (SIMD, libtensorflow version) */
  detail: string;
  /** why better backends were not used, one entry each */
  fallbacks: string[];
}

let current: BackendInfo | undefined;

const TF_NAMES: Record<BackendName, string> = { native: "tensorflow", wasm: "wasm", cpu: "cpu" };

function errText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].slice(0, 300);
}

/**
 * Requires @tensorflow/tfjs-node, whose binding registers the "tensorflow" backend into the shared tfjs-core
 * instance. It is built offline by scripts/setup-native.sh (libtensorflow from PyPI's tensorflow-cpu wheel).
 * Throws when TVQ_DISABLE_NATIVE=1, or when the package or its binding is missing or broken.
 */
function loadTfjsNode(): { version?: Record<string, string> } {
  if (process.env.TVQ_DISABLE_NATIVE === "1") throw new Error("TVQ_DISABLE_NATIVE=1 (native backend disabled on purpose)");
  // libtensorflow logs a cpu_feature_guard banner to stderr on load; keep warnings and errors only.
  if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = "2";
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require("@tensorflow/tfjs-node") as { version?: Record<string, string> };
}

/**
 * True when the native backend can load in this process (tests add "native" to their backend lists with it).
 * Loading tfjs-node makes "tensorflow" the active backend; the backend active before is restored.
 */
export function nativeAvailable(): boolean {
  const before = tf.engine().backendName as string | null; // null before any backend was chosen
  try {
    loadTfjsNode();
    return true;
  } catch {
    return false;
  } finally {
    // setBackend of an already initialized backend completes synchronously
    if (before && before !== tf.engine().backendName) void tf.setBackend(before);
  }
}

async function tryNative(): Promise<BackendInfo> {
  const node = loadTfjsNode();
  if (!(await tf.setBackend("tensorflow"))) throw new Error("tf.setBackend('tensorflow') returned false");
  const tfjsNode = node.version?.["tfjs-node"] ?? "?";
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  const libtf = binding?.TF_Version ?? "?";
  // TensorFlow sizes its intra-op thread pool to the cores it sees.
  const threads = (await import("node:os")).cpus().length;
  return {
    name: "native", tfName: "tensorflow", version: tfjsNode, threads,
    detail: `libtensorflow ${libtf}, ${threads} threads`, fallbacks: [],
  };
}

/** Listeners that emscripten adds on load: they rethrow every error and make Node print a 10 kB minified line. */
function dropListenersAddedBy<T>(fn: () => Promise<T>): Promise<T> {
  const before = { exc: new Set(process.listeners("uncaughtException")), rej: new Set(process.listeners("unhandledRejection")) };
  return fn().finally(() => {
    for (const l of process.listeners("uncaughtException")) if (!before.exc.has(l)) process.removeListener("uncaughtException", l);
    for (const l of process.listeners("unhandledRejection")) if (!before.rej.has(l)) process.removeListener("unhandledRejection", l);
  });
}

async function tryWasm(): Promise<BackendInfo> {
  let wasm: { version_wasm: string; getThreadsCount(): number } | undefined;
  const ok = await dropListenersAddedBy(async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    wasm = require("@tensorflow/tfjs-backend-wasm");
    return tf.setBackend("wasm");
  });
  if (!ok || !wasm) throw new Error("tf.setBackend('wasm') returned false (the .wasm file did not load)");
  registerKernelPatches("wasm");
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) as boolean;
  const threads = wasm.getThreadsCount();
  return {
    name: "wasm", tfName: "wasm", version: wasm.version_wasm, threads,
    detail: `${simd ? "SIMD" : "no SIMD"}, ${threads} thread${threads === 1 ? "" : "s"} (tfjs disables wasm threads under Node)`,
    fallbacks: [],
  };
}

async function tryCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend("cpu"))) throw new Error("tf.setBackend('cpu') returned false");
  registerKernelPatches("cpu");
  return { name: "cpu", tfName: "cpu", version: tf.version_core, threads: 1, detail: "plain JavaScript", fallbacks: [] };
}

const LOADERS: Record<BackendName, () => Promise<BackendInfo>> = { native: tryNative, wasm: tryWasm, cpu: tryCpu };

/** Parses TVQ_BACKEND (also accepts "tensorflow" and "node" for native). */
export function requestedBackend(value = process.env.TVQ_BACKEND): BackendName | undefined {
  if (value === undefined || value === "" || value === "auto") return undefined;
  const v = value.toLowerCase();
  if (v === "native" || v === "tensorflow" || v === "node" || v === "tfjs-node") return "native";
  if (v === "wasm" || v === "cpu") return v;
  throw new Error(`TVQ_BACKEND=${JSON.stringify(value)} is not a backend: use native, wasm, cpu or auto (unset)`);
}

/**
 * Selects and initializes the backend once per process; later calls return the same info.
 * @param force a backend to use instead of TVQ_BACKEND / auto.
 */
export async function initBackend(force?: BackendName): Promise<BackendInfo> {
  const wanted = force ?? requestedBackend();
  if (current && (wanted === undefined || wanted === current.name)) return current;
  tf.enableProdMode(); // also silences the "Hi, looks like you are running TensorFlow.js in Node.js" banner
  if (wanted) {
    try {
      current = await LOADERS[wanted]();
    } catch (e) {
      throw new Error(`backend '${wanted}' was requested (TVQ_BACKEND or argument) but cannot start: ${errText(e)}. ` +
        (wanted === "native" ? "Run `bash scripts/setup-native.sh` (or `npm run setup`) to build the native binding, or unset TVQ_BACKEND to fall back to wasm." : "Unset TVQ_BACKEND to pick automatically."));
    }
    return current;
  }
  const fallbacks: string[] = [];
  for (const name of ["native", "wasm", "cpu"] as BackendName[]) {
    try {
      current = await LOADERS[name]();
      current.fallbacks = fallbacks;
      return current;
    } catch (e) {
      fallbacks.push(`${name}: ${errText(e)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start:\n  ${fallbacks.join("\n  ")}`);
}

/** The backend in use, or undefined before initBackend. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** One line: "backend: wasm 4.22.0 (SIMD, 1 thread ...); native unavailable: ..." */
export function describeBackend(info: BackendInfo | undefined = current): string {
  if (!info) return "backend: not initialized (call initBackend())";
  const why = info.fallbacks.length ? `; not used: ${info.fallbacks.join("; ")}` : "";
  return `backend: ${info.name} (${TF_NAMES[info.name]} ${info.version}; ${info.detail})${why}`;
}
