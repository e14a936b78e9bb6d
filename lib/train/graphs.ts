/**
 * The TensorFlow graphs of one model (lib/runtime/graph.ts): those of its training steps (step.ts) and those of
 * its evaluation's forward pass (evaluate.ts), made on first use and kept per model. The two are separate graph
 * functions, so that one falling back to eager execution leaves the other on graphs.
 */
import * as tf from "../runtime/tf";
import { GraphFunction } from "../runtime/graph";
import { hostTensor } from "../nn/model";
import { Model } from "../nn/params";
import { RecurrentState } from "../nn/state";

/** Which of a model's computations a graph function runs. */
export type GraphKind = "step" | "eval";

const LABELS: Record<GraphKind, string> = { step: "the training step's graph", eval: "the evaluation's graph" };

const graphs = new WeakMap<Model, Map<GraphKind, GraphFunction>>();
/** a model collected without disposeModelGraphs still frees its sessions */
const sessions = new FinalizationRegistry<Map<GraphKind, GraphFunction>>((m) => m.forEach((g) => g.dispose()));

/** The graph function of one of a model's computations, made on first use. */
export function modelGraph(model: Model, kind: GraphKind): GraphFunction {
  let m = graphs.get(model);
  if (!m) {
    graphs.set(model, m = new Map());
    sessions.register(model, m, model);
  }
  let g = m.get(kind);
  if (!g) m.set(kind, g = new GraphFunction(LABELS[kind]));
  return g;
}

/**
 * fn() through the model's graph of `kind` for this state and these inputs (call inside tf.tidy). One graph for a
 * sequence's first segment and one for the segments that carry a state, per input shapes; the host inputs (dropout
 * masks of `seed`, absolute position encodings at state.pos) are made anew for each replay. A graph that depended on
 * the position in another way would differ between its two traces (segments 2 and 3) and run eagerly.
 * @param inputs every tensor fn reads that it does not make (variables, state, feeds)
 */
export function callModelGraph(model: Model, kind: GraphKind, state: RecurrentState, seed: number, fn: () => tf.Tensor[], inputs: tf.Tensor[]): tf.Tensor[] {
  const key = `${state.pos === 0 ? "sequence start" : "carried state"}; inputs ${inputs.map((t) => t.shape.join("x")).join(",")}`;
  return modelGraph(model, kind).call(key, fn, inputs, (recipes) => recipes.map((r) => hostTensor(r, seed, state.pos)));
}

/** The graphs of a model's training steps, if any ran (graphCount, and why they fell back to eager, if they did). */
export function stepGraphsOf(model: Model): GraphFunction | undefined {
  return graphs.get(model)?.get("step");
}

/** The graphs of a model's evaluation, if any ran. */
export function evalGraphsOf(model: Model): GraphFunction | undefined {
  return graphs.get(model)?.get("eval");
}

/** Frees the TensorFlow sessions of a model's graphs (disposeModel's companion for a trained or evaluated model). */
export function disposeModelGraphs(model: Model): void {
  const m = graphs.get(model);
  if (!m) return;
  m.forEach((g) => g.dispose());
  sessions.unregister(model);
  graphs.delete(model);
}
