/**
 * The TensorFlow graphs of one model (lib/runtime/graph.ts): those of its training steps (step.ts) and those of
 * its evaluation's forward pass (evaluate.ts), made on first use and kept per model. The two are separate graph
 * functions, so that one falling back to eager execution leaves the other on graphs.
 */
import { GraphFunction } from "../runtime/graph";
import { Model } from "../nn/params";

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
