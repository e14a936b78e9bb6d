/**
 * Backend selection, first that loads: gpu (TensorFlow's CUDA build through tfjs-node-gpu, only when that build is
 * installed and a GPU is visible), native TensorFlow (tfjs-node), WebAssembly (SIMD), plain JavaScript (cpu).
 * When the GPU build is installed but no GPU is visible, it would only run on the CPU, so native goes first and
 * gpu second. `TVQ_BACKEND=gpu|native|wasm|cpu` forces one (and fails loudly if it cannot load; a forced gpu
 * without a GPU runs on the CPU and says so); `TVQ_DISABLE_NATIVE=1` makes the native load fail on purpose (tests
 * of the fallback). Both TensorFlow builds are made offline: scripts/setup-native.sh (tensorflow-cpu wheel) and
 * scripts/setup-gpu.sh (tensorflow wheel + NVIDIA's CUDA wheels; opt-in, `npm run setup -- --gpu`).
 * Every notebook's first output and every benchmark line reports `describeBackend()`.
 */
import * as tf from "./tf";
import { registerKernelPatches } from "./kernels";
import { gpuBuildInstalled, visibleGpus } from "./gpu";

export type BackendName = "gpu" | "native" | "wasm" | "cpu";

export interface BackendInfo {
  /** our name for it */
  name: BackendName;
  /** the name TensorFlow.js registers (tensorflow, wasm, cpu) */
  tfName: string;
  /** version of the backend package (and of libtensorflow for native) */
  version: string;
  /** worker threads the backend computes with */
  threads: number;
  /** extra facts (SIMD, libtensorflow version; for gpu, the device it computes on) */
  detail: string;
  /** gpu only: true when TensorFlow computes on a GPU, false when the CUDA build runs on the CPU */
  onGpu?: boolean;
  /** why better backends were not used, one entry each */
  fallbacks: string[];
}

let current: BackendInfo | undefined;

const TF_NAMES: Record<BackendName, string> = { gpu: "tensorflow", native: "tensorflow", wasm: "wasm", cpu: "cpu" };

function errText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].slice(0, 300);
}

const TF_PACKAGES = { native: "@tensorflow/tfjs-node", gpu: "@tensorflow/tfjs-node-gpu" } as const;
type TfBuild = keyof typeof TF_PACKAGES;

/** The TensorFlow build this process has loaded: both register the backend "tensorflow", so only one can. */
function loadedBuild(): TfBuild | undefined {
  for (const b of ["native", "gpu"] as TfBuild[]) {
    try {
      if (require.cache[require.resolve(TF_PACKAGES[b])]) return b;
    } catch {
      // not installed
    }
  }
  return undefined;
}

/**
 * Requires @tensorflow/tfjs-node (native, built by scripts/setup-native.sh) or @tensorflow/tfjs-node-gpu (gpu,
 * built by scripts/setup-gpu.sh), whose binding registers the "tensorflow" backend into the shared tfjs-core
 * instance. Throws when TVQ_DISABLE_NATIVE=1 (native), when the other build is already loaded in this process, or
 * when the package or its binding is missing or broken.
 */
function loadTfjsNode(build: TfBuild = "native"): { version?: Record<string, string> } {
  if (build === "native" && process.env.TVQ_DISABLE_NATIVE === "1") throw new Error("TVQ_DISABLE_NATIVE=1 (native backend disabled on purpose)");
  const other = loadedBuild();
  if (other && other !== build) {
    throw new Error(`${TF_PACKAGES[other]} (the ${other} backend) is already loaded in this process, and ${TF_PACKAGES[build]} cannot be ` +
      `loaded next to it (both are TensorFlow's C library under the backend name "tensorflow"); run ${build} in its own process (TVQ_BACKEND=${build})`);
  }
  // libtensorflow logs a cpu_feature_guard banner to stderr on load; keep warnings and errors only.
  if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = "2";
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(TF_PACKAGES[build]) as { version?: Record<string, string> };
}

/**
 * True when the native backend can load in this process (tests add "native" to their backend lists with it).
 * Loading tfjs-node makes "tensorflow" the active backend; the backend active before is restored.
 */
export function nativeAvailable(): boolean {
  return buildLoads("native");
}

/**
 * True when the gpu backend (the CUDA build) can load in this process: it is installed and native is not already
 * loaded here. It says nothing about a GPU being visible (`visibleGpus()`). The active backend is restored.
 */
export function gpuAvailable(): boolean {
  return buildLoads("gpu");
}

function buildLoads(build: TfBuild): boolean {
  const before = tf.engine().backendName as string | null; // null before any backend was chosen
  try {
    loadTfjsNode(build);
    return true;
  } catch {
    return false;
  } finally {
    // setBackend of an already initialized backend completes synchronously
    if (before && before !== tf.engine().backendName) void tf.setBackend(before);
  }
}

interface TfBinding {
  TF_Version?: string;
  /** true when the binding's TFE context lists a GPU device (tfjs_backend.cc: TFE_ContextListDevices) */
  isUsingGpuDevice?: () => boolean;
}

async function startTensorflow(build: TfBuild): Promise<{ version: string; binding: TfBinding; threads: number }> {
  const node = loadTfjsNode(build);
  if (!(await tf.setBackend("tensorflow"))) throw new Error("tf.setBackend('tensorflow') returned false");
  const binding = (tf.backend() as unknown as { binding?: TfBinding }).binding ?? {};
  // TensorFlow sizes its intra-op thread pool to the cores it sees.
  const threads = (await import("node:os")).cpus().length;
  return { version: node.version?.["tfjs-node"] ?? node.version?.["tfjs-node-gpu"] ?? "?", binding, threads };
}

async function tryNative(): Promise<BackendInfo> {
  const { version, binding, threads } = await startTensorflow("native");
  return {
    name: "native", tfName: "tensorflow", version, threads,
    detail: `libtensorflow ${binding.TF_Version ?? "?"}, ${threads} threads`, fallbacks: [],
  };
}

/**
 * The CUDA build. Whether it computes on a GPU is TensorFlow's own answer (the binding's isUsingGpuDevice());
 * without one it runs on the CPU, which the detail says, with the driver's view as the reason.
 */
async function tryGpu(): Promise<BackendInfo> {
  if (!gpuBuildInstalled()) throw new Error("the CUDA build is not installed (build it: npm run setup -- --gpu, or bash scripts/setup-gpu.sh)");
  const { version, binding, threads } = await startTensorflow("gpu");
  if (typeof binding.isUsingGpuDevice !== "function") throw new Error("the tfjs-node-gpu binding has no isUsingGpuDevice(); rebuild it: bash scripts/setup-gpu.sh --force");
  const onGpu = binding.isUsingGpuDevice();
  const lib = `tfjs-node-gpu ${version}, libtensorflow ${binding.TF_Version ?? "?"}`;
  const vis = visibleGpus();
  let detail: string;
  if (onGpu) {
    const names = vis.names.length ? vis.names.join(", ") : "an NVIDIA GPU";
    detail = `tensorflow (CUDA build) on ${names}${vis.names.length > 1 ? " (tfjs-node-gpu uses the last GPU TensorFlow lists)" : ""}; ${lib}`;
  } else {
    const why = vis.visible
      ? `the driver lists ${vis.names.join(", ") || "a GPU"} but TensorFlow did not take it; TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's reason`
      : vis.reason;
    detail = `tensorflow (CUDA build), no GPU visible: running on CPU; ${lib}, ${threads} threads (${why})`;
  }
  return { name: "gpu", tfName: "tensorflow", version, threads, detail, fallbacks: [], onGpu };
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

const LOADERS: Record<BackendName, () => Promise<BackendInfo>> = { gpu: tryGpu, native: tryNative, wasm: tryWasm, cpu: tryCpu };

/** Parses TVQ_BACKEND (also accepts "tensorflow" and "node" for native, "cuda" and "tfjs-node-gpu" for gpu). */
export function requestedBackend(value = process.env.TVQ_BACKEND): BackendName | undefined {
  if (value === undefined || value === "" || value === "auto") return undefined;
  const v = value.toLowerCase();
  if (v === "native" || v === "tensorflow" || v === "node" || v === "tfjs-node") return "native";
  if (v === "gpu" || v === "cuda" || v === "tfjs-node-gpu") return "gpu";
  if (v === "wasm" || v === "cpu") return v;
  throw new Error(`TVQ_BACKEND=${JSON.stringify(value)} is not a backend: use gpu, native, wasm, cpu or auto (unset)`);
}

/**
 * The automatic order, and notes on gpu for describeBackend: gpu first only when its build is installed and a
 * GPU is visible; installed without a visible GPU, it comes after native (it would run on the CPU).
 */
export function autoOrder(gpuInstalled: boolean, gpu: { visible: boolean; reason: string }): { order: BackendName[]; note?: string } {
  if (gpu.visible) {
    return gpuInstalled
      ? { order: ["gpu", "native", "wasm", "cpu"] }
      : { order: ["native", "wasm", "cpu"], note: "gpu: a GPU is visible but the CUDA build is not installed (npm run setup -- --gpu)" };
  }
  if (!gpuInstalled) return { order: ["native", "wasm", "cpu"] };
  return { order: ["native", "gpu", "wasm", "cpu"], note: `gpu: the CUDA build is installed but ${gpu.reason}; TVQ_BACKEND=gpu runs it on the CPU` };
}

const FIXES: Record<BackendName, string> = {
  gpu: "Run `npm run setup -- --gpu` (or `bash scripts/setup-gpu.sh`) to build the CUDA backend, or unset TVQ_BACKEND to pick automatically.",
  native: "Run `bash scripts/setup-native.sh` (or `npm run setup`) to build the native binding, or unset TVQ_BACKEND to fall back to wasm.",
  wasm: "Unset TVQ_BACKEND to pick automatically.",
  cpu: "Unset TVQ_BACKEND to pick automatically.",
};

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
      throw new Error(`backend '${wanted}' was requested (TVQ_BACKEND or argument) but cannot start: ${errText(e)}. ${FIXES[wanted]}`);
    }
    return current;
  }
  const fallbacks: string[] = [];
  const { order, note } = autoOrder(gpuBuildInstalled(), visibleGpus());
  for (const name of order) {
    try {
      current = await LOADERS[name]();
      // the note on gpu matters only when gpu was not the one chosen
      current.fallbacks = note && name !== "gpu" ? [...fallbacks, note] : fallbacks;
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

/**
 * One line: "backend: wasm (wasm 4.22.0; SIMD, 1 thread ...); not used: native: ...", or for the CUDA build
 * "backend: gpu (tensorflow (CUDA build) on NVIDIA ...; ...)" / "backend: gpu (tensorflow (CUDA build), no GPU
 * visible: running on CPU; ...)".
 */
export function describeBackend(info: BackendInfo | undefined = current): string {
  if (!info) return "backend: not initialized (call initBackend())";
  const why = info.fallbacks.length ? `; not used: ${info.fallbacks.join("; ")}` : "";
  if (info.name === "gpu") return `backend: gpu (${info.detail})${why}`;
  return `backend: ${info.name} (${TF_NAMES[info.name]} ${info.version}; ${info.detail})${why}`;
}
