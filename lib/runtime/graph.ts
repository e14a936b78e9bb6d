/**
 * Graph execution on the native backend: trace a pure function of tensors once, replay it as one TensorFlow graph.
 *
 * Eager tfjs-node pays ~100-270 µs of JavaScript, binding and eager-dispatch overhead per op, and a training step
 * of a small model is ~1,500 ops: the overhead, not the arithmetic, is the step (environment.md, "Where a training
 * step's time goes"). TensorFlow's graph executor dispatches an op in a few µs. So:
 *
 *   1. trace: run `fn(inputs)` eagerly with the binding's two entry points wrapped — every `executeOp` becomes a
 *      NodeDef (op name, attributes, inputs by producer), every tensor uploaded from JavaScript becomes a Const;
 *      the inputs become Placeholders, and so do tensors marked with `hostInput` (values JavaScript makes anew at
 *      every call, e.g. dropout masks, with the recipe to make them);
 *   2. compile: the GraphDef goes into a SavedModel (tag "serve", no variables) that libtensorflow loads into a
 *      session (tfjs-node's `loadSavedModel`), so no addon is needed;
 *   3. replay: `run(inputs, hostInputs)` is one TF_SessionRun.
 *
 * What the function may do: any tfjs op, including gradients (the backward pass is ops too); read any tensor it
 * is given. What it may not: read values on the host and branch on them or upload them (they would be frozen into
 * the graph as constants), or mutate variables (return the new values instead). `sameGraph` compares two traces
 * of one function on different data: a constant that changed between them is such a value, and the caller falls
 * back to eager execution. The graph's arithmetic is the same kernels', but TensorFlow's graph optimizer (grappler)
 * may fuse or reorder some of them: results agree with eager ones to float32 rounding, not bitwise.
 */
import * as tf from "./tf";
import { backendInfo } from "./backend";
import { CompiledGraph, compileGraph, nativeBackend, tfDtype } from "./graph-session";
export { compileGraph };
export type { CompiledGraph };

/** What JavaScript makes anew at each call for a hostInput (the caller's own description, e.g. a dropout site). */
export type HostRecipe = Record<string, unknown>;

export interface NodeSpec { name: string; op: string; inputs: string[]; attrs: NativeAttr[]; value?: ConstValue }
export interface NativeAttr { name: string; type: number; value: unknown }
export interface ConstValue { shape: number[]; dtype: number; bytes: Uint8Array }
export interface Trace { nodes: NodeSpec[]; named: number; source: Map<number, string>; dtypes: Map<string, number>; hosts: { name: string; recipe: HostRecipe; shape: number[]; dtype: number }[] }

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

let active: Trace | undefined;

/** Wraps the binding's executeOp and createTensor so that they record into `trace`; returns the function that unwraps. */
function hookBinding(backend: Any, trace: Trace): () => void {
  const native = backend.binding;
  const binding = Object.create(native); // the native object's properties are read-only: shadow them
  Object.defineProperty(binding, "createTensor", {
    value: (shape: number[], dtype: number, values: ArrayBufferView) => {
      const id = native.createTensor(shape, dtype, values);
      const name = `c${trace.named++}`;
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
      trace.nodes.push({ name, op: "Const", inputs: [], attrs: [], value: { shape: [...shape], dtype, bytes } });
      trace.source.set(id, name);
      trace.dtypes.set(name, dtype);
      return id;
    },
  });
  Object.defineProperty(binding, "executeOp", {
    value: (op: string, attrs: NativeAttr[], ids: number[], nOut: number) => {
      const out = native.executeOp(op, attrs, ids, nOut);
      const name = `n${trace.named++}`;
      const inputs = ids.map((id) => trace.source.get(id) ?? missingInput(op, id));
      const copied = attrs.map((a) => ({ ...a, value: copyAttr(a.value) }));
      for (const [i, attr] of (INFERRED_TYPES[op] ?? []).entries()) {
        if (!copied.some((a) => a.name === attr)) copied.push({ name: attr, type: native.TF_ATTR_TYPE, value: trace.dtypes.get(inputs[i]) });
      }
      trace.nodes.push({ name, op, inputs, attrs: copied });
      (out as { id: number; dtype: number }[]).forEach((m, i) => {
        trace.source.set(m.id, `${name}:${i}`);
        trace.dtypes.set(`${name}:${i}`, m.dtype);
      });
      return out;
    },
  });
  backend.binding = binding;
  return () => { backend.binding = native; };
}

/**
 * Type attributes that tfjs-node leaves to eager execution to infer from the inputs, but a NodeDef must carry:
 * op → the attribute of each input, in input order.
 */
const INFERRED_TYPES: Record<string, string[]> = { ExpandDims: ["T", "Tdim"] };

function copyAttr(v: unknown): unknown {
  return Array.isArray(v) ? [...v] : v;
}

function missingInput(op: string, id: number): never {
  throw new Error(`graph trace: op ${op} reads a tensor (native id ${id}) that the traced function neither made nor got ` +
    `as an input (a variable or a tensor made before the trace): pass it in the inputs`);
}

/** The native id of each tensor (uploading values tfjs-node still holds in JavaScript). */
function nativeIds(backend: Any, ts: tf.Tensor[]): number[] {
  return backend.getInputTensorIds(ts) as number[];
}

/**
 * Marks `t`, made in JavaScript inside a traced function, as an input of the graph: replays feed a new tensor made
 * from `recipe` instead of freezing this one's values. Outside a trace it does nothing. Returns t.
 */
export function hostInput<T extends tf.Tensor>(t: T, recipe: HostRecipe): T {
  const trace = active;
  if (!trace) return t;
  const backend = tf.backend() as Any;
  const [id] = nativeIds(backend, [t]);
  const made = trace.source.get(id);
  const at = trace.nodes.findIndex((n) => n.name === made && n.op === "Const");
  if (at < 0) throw new Error(`hostInput: the tensor was not uploaded inside this trace; make it inside the traced function`);
  trace.nodes.splice(at, 1);
  const name = `h${trace.hosts.length}`;
  trace.hosts.push({ name, recipe, shape: [...t.shape], dtype: tfDtype(backend, t.dtype) });
  trace.source.set(id, name);
  trace.dtypes.set(name, tfDtype(backend, t.dtype));
  return t;
}

/** A traced function: its graph's nodes, and the eager outputs of the traced call (the caller owns them). */
export interface Traced { trace: Trace; outputs: tf.Tensor[]; inputSpecs: { shape: number[]; dtype: number }[]; outputNames: string[] }

/**
 * Runs fn(inputs) eagerly while recording its ops. inputs: every tensor fn reads that it does not make (variables
 * included); fn returns the tensors the graph should give back.
 */
export function traceGraph(fn: (inputs: tf.Tensor[]) => tf.Tensor[], inputs: tf.Tensor[]): Traced {
  const backend = nativeBackend();
  if (active) throw new Error("graph traces do not nest");
  const ids = nativeIds(backend, inputs);
  const trace: Trace = { nodes: [], named: 0, source: new Map(), dtypes: new Map(), hosts: [] };
  ids.forEach((id, i) => {
    if (trace.source.has(id)) return; // the same tensor twice: its first placeholder
    trace.source.set(id, `in${i}`);
    trace.dtypes.set(`in${i}`, tfDtype(backend, inputs[i].dtype));
  });
  active = trace;
  const unhook = hookBinding(backend, trace);
  let outputs: tf.Tensor[];
  try {
    outputs = fn(inputs);
    nativeIds(backend, outputs); // outputs still held in JavaScript become Consts of this trace
  } finally {
    unhook();
    active = undefined;
  }
  const outputNames = nativeIds(backend, outputs).map((id, i) => {
    const src = trace.source.get(id);
    if (src === undefined) throw new Error(`graph trace: output ${i} is a tensor made before the trace; return a tensor the function computes`);
    if (/^n\d+:\d+$/.test(src)) return src;
    const name = `out${i}`; // an input or a constant returned as is: an Identity gives it a fetchable name
    trace.nodes.push({ name, op: "Identity", inputs: [src], attrs: [{ name: "T", type: backend.binding.TF_ATTR_TYPE, value: trace.dtypes.get(src) }] });
    return `${name}:0`;
  });
  const inputSpecs = inputs.map((t) => ({ shape: [...t.shape], dtype: tfDtype(backend, t.dtype) }));
  return { trace, outputs, inputSpecs, outputNames };
}

/**
 * Where two traces of one function differ (undefined when they are the same graph): a node whose op, inputs,
 * attributes or constant values differ is a value the function computed in JavaScript from its data.
 */
export function sameGraph(a: Traced, b: Traced): string | undefined {
  const na = a.trace.nodes, nb = b.trace.nodes;
  if (na.length !== nb.length) return `the traces have ${na.length} and ${nb.length} nodes`;
  for (let i = 0; i < na.length; i++) {
    const x = na[i], y = nb[i];
    const why = x.op !== y.op ? `op ${x.op} vs ${y.op}` : x.inputs.join() !== y.inputs.join() ? "inputs"
      : JSON.stringify(x.attrs) !== JSON.stringify(y.attrs) ? "attributes"
        : x.value && y.value && (x.value.shape.join() !== y.value.shape.join() || !bytesEqual(x.value.bytes, y.value.bytes)) ? "constant values" : undefined;
    if (why) return `node ${i} (${x.op}) differs: ${why}`;
  }
  if (JSON.stringify(a.trace.hosts) !== JSON.stringify(b.trace.hosts)) return "the host inputs differ";
  if (a.outputNames.join() !== b.outputNames.join()) return "the outputs differ";
  return undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/**
 * Whether training steps run as graphs: on the native backend (initBackend's "native") unless TVQ_GRAPH=0. On cpu
 * and wasm, and on the GPU build (whose graph path was never run on a GPU), they run eagerly.
 */
export function graphEnabled(): boolean {
  return eagerDepth === 0 && backendInfo()?.name === "native" && tf.getBackend() === "tensorflow" && process.env.TVQ_GRAPH !== "0";
}

let eagerDepth = 0;

/** fn() with graph execution off (e.g. to profile the eager op stream, or as the reference of a comparison). */
export function eagerly<T>(fn: () => T): T {
  eagerDepth++;
  try {
    return fn();
  } finally {
    eagerDepth--;
  }
}

interface Entry { first?: Traced; graph: CompiledGraph }

/**
 * A function run through its graphs, one per key (the caller's name for everything the trace depends on besides
 * the inputs' values: shapes, positions, flags). The first call of a key traces and compiles, the second traces
 * again and compares (sameGraph), later calls replay. Every call's result comes from the graph, so a run gives the
 * same numbers whether a step was traced or replayed. When two traces differ the function falls back to eager
 * execution for good, with one warning that names the difference.
 */
/**
 * The largest graph compiled: past it a step runs eagerly. The kit's graphs are unrolled (no graph loops), and
 * compiling costs memory and time that grow with the nodes: a full-attention step in 16 chunks (34,000 nodes) took
 * 1.2 GiB and ~20 s to compile, one in 64 chunks (~520,000 nodes) ran out of 24 GiB.
 */
export const MAX_GRAPH_NODES = 150_000;

export class GraphFunction {
  private readonly entries = new Map<string, Entry>();
  /** why the function runs eagerly (undefined while it runs as graphs) */
  fallback?: string;

  /** @param maxNodes graphs larger than this run eagerly (default MAX_GRAPH_NODES) */
  constructor(readonly label: string, readonly maxNodes = MAX_GRAPH_NODES) {}

  /**
   * fn(inputs), through the graph of `key`. hosts makes the host inputs of a replay from their recipes (the caller's
   * own kind, e.g. dropout masks for this call's seed). Call inside tf.tidy: the outputs are ordinary tensors.
   */
  call(key: string, fn: (inputs: tf.Tensor[]) => tf.Tensor[], inputs: tf.Tensor[], hosts: (recipes: HostRecipe[]) => tf.Tensor[]): tf.Tensor[] {
    if (this.fallback !== undefined) return fn(inputs);
    const entry = this.entries.get(key);
    if (entry && !entry.first) return this.replay(entry.graph, inputs, hosts);
    let traced: Traced, graph: CompiledGraph | undefined;
    try {
      traced = traceGraph(fn, inputs);
      const n = traced.trace.nodes.length;
      if (n > this.maxNodes) {
        return this.eagerFromHere(`its graph has ${n.toLocaleString("en-US")} nodes, more than the ${this.maxNodes.toLocaleString("en-US")} worth compiling ` +
          "(full attention in many chunks: raise model.fullChunk)", () => traced.outputs);
      }
      if (!entry) graph = compileGraph(traced);
    } catch (e) {
      // a function the tracer cannot express (an op it cannot write, a tensor from outside): eager, said once
      return this.eagerFromHere(`it could not be traced: ${(e as Error).message.split("\n")[0]}`, () => fn(inputs));
    }
    if (graph) {
      tf.dispose(traced.outputs);
      this.entries.set(key, { first: traced, graph });
      return this.replay(graph, inputs, hosts);
    }
    const second = entry!; // the key's second trace: it must give the first one's graph
    const diff = sameGraph(second.first!, traced);
    if (diff !== undefined) {
      return this.eagerFromHere(`two traces of its graph differ (${diff}): a value computed in JavaScript from the data`, () => traced.outputs);
    }
    tf.dispose(traced.outputs);
    second.first = undefined; // verified: replay from now on
    return this.replay(second.graph, inputs, hosts);
  }

  private eagerFromHere(why: string, outputs: () => tf.Tensor[]): tf.Tensor[] {
    this.fallback = why;
    console.warn(`${this.label} runs eagerly from here on: ${why}`);
    this.dispose();
    return outputs();
  }

  private replay(graph: CompiledGraph, inputs: tf.Tensor[], hosts: (recipes: HostRecipe[]) => tf.Tensor[]): tf.Tensor[] {
    const h = hosts(graph.hostRecipes);
    try {
      return graph.run(inputs, h);
    } finally {
      tf.dispose(h);
    }
  }

  /** Graphs traced so far (verified or not). */
  get graphCount(): number {
    return this.entries.size;
  }

  dispose(): void {
    for (const e of this.entries.values()) e.graph.dispose();
    this.entries.clear();
  }
}
