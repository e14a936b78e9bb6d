// Graph execution (lib/runtime/graph.ts, lib/train/step.ts): a traced function replayed through libtensorflow gives
// what the eager function gives on new data; a value computed on the host makes two traces differ, and the function
// then runs eagerly; host inputs are fed anew; a training step through its graph equals the eager step (with
// dropout, absolute positions, three segments per sequence) and its tensors do not grow; so does evaluation. Native backend only: skips when it is not built.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { GraphFunction, compileGraph, eagerly, hostInput, traceGraph } from "../lib/runtime/graph";
import { getPreset } from "../lib/config";
import { createModel, disposeModel } from "../lib/nn/params";
import { disposeState, initState } from "../lib/nn/state";
import { createOptimizer, disposeOptimizer } from "../lib/train/optim";
import { trainSegment } from "../lib/train/step";
import { disposeModelGraphs, evalGraphsOf, stepGraphsOf } from "../lib/train/graphs";
import { windowNLL } from "../lib/train/evaluate";
import { lcgValues } from "./helpers/backend";

async function native(t: { skip: (why: string) => void }): Promise<boolean> {
  try {
    await initBackend("native");
    return true;
  } catch (e) {
    t.skip(`native backend unavailable (bash scripts/setup-native.sh): ${(e as Error).message.slice(0, 160)}`);
    return false;
  }
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** loss(W) = Σ softmax(X W) ⊙ Y and its gradient: values, a reduction and a backward pass. */
function lossAndGrad([x, w, y]: tf.Tensor[]): tf.Tensor[] {
  const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.softmax(tf.matMul(x as tf.Tensor2D, v as tf.Tensor2D)), y)) as tf.Scalar;
  const { value, grad } = tf.valueAndGrad(f)(w);
  return [value, grad];
}

test("a traced function replays as one graph: values and gradients equal the eager ones on new data (1e-6)", async (t) => {
  if (!(await native(t))) return;
  const make = (seed: number) => [tf.tensor2d(lcgValues(8 * 16, seed), [8, 16]), tf.tensor2d(lcgValues(16 * 10, seed + 1), [16, 10]),
    tf.tensor2d(lcgValues(8 * 10, seed + 2), [8, 10])];
  const first = make(1);
  const traced = traceGraph(lossAndGrad, first);
  const graph = compileGraph(traced);
  try {
    assert.ok(graph.nodeCount > 5, `${graph.nodeCount} nodes`);
    for (const seed of [1, 10, 20]) {
      const ins = make(seed);
      const want = lossAndGrad(ins);
      const got = graph.run(ins);
      assert.equal(got.length, 2);
      for (let i = 0; i < 2; i++) {
        const err = maxRelErr(got[i].dataSync(), want[i].dataSync());
        assert.ok(err <= 1e-6, `output ${i}, data seed ${seed}: relative error ${err}`);
      }
      tf.dispose([...ins, ...want, ...got]);
    }
    assert.throws(() => graph.run([tf.zeros([4, 16]), tf.zeros([16, 10]), tf.zeros([4, 10])]), /traced with \[8,16\]/);
  } finally {
    graph.dispose();
    tf.dispose([...first, ...traced.outputs]);
  }
});

test("a value computed on the host makes two traces differ: the function runs eagerly from then on, and stays right", async (t) => {
  if (!(await native(t))) return;
  // scales x by its own first element read on the host: a graph would freeze the first call's value
  const fn = ([x]: tf.Tensor[]) => [tf.mul(x, tf.scalar(x.dataSync()[0]))];
  const g = new GraphFunction("test function");
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (m: string) => warnings.push(m);
  try {
    for (const v of [2, 3, 5]) {
      const x = tf.tensor1d([v, 1]);
      const [y] = tf.tidy(() => g.call("k", fn, [x], () => []));
      assert.deepEqual([...y.dataSync()], [v * v, v], `x = [${v}, 1]`);
      tf.dispose([x, y]);
    }
  } finally {
    console.warn = warn;
    g.dispose();
  }
  assert.match(g.fallback ?? "", /constant values/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /test function runs eagerly from here on: two traces of its graph differ/);
});

test("a graph larger than maxNodes is not compiled: the function runs eagerly from its first call, with the reason", async (t) => {
  if (!(await native(t))) return;
  const g = new GraphFunction("a test graph", 10);
  try {
    const ins = [tf.tensor2d(lcgValues(8 * 16, 1), [8, 16]), tf.tensor2d(lcgValues(16 * 10, 2), [16, 10]), tf.tensor2d(lcgValues(8 * 10, 3), [8, 10])];
    const want = lossAndGrad(ins);
    const got = g.call("k", lossAndGrad, ins, () => []);
    assert.match(g.fallback ?? "", /its graph has \d+ nodes, more than the 10 worth compiling/);
    assert.equal(g.graphCount, 0);
    for (let i = 0; i < 2; i++) assert.deepEqual([...got[i].dataSync()], [...want[i].dataSync()]);
    tf.dispose([...ins, ...want, ...got]);
  } finally {
    g.dispose();
  }
});

test("hostInput: a tensor made in JavaScript is a graph input, made anew from its recipe at every replay", async (t) => {
  if (!(await native(t))) return;
  let call = 0;
  const fn = ([x]: tf.Tensor[]) => [tf.mul(x, hostInput(tf.tensor1d([call, call, call]), { what: "call number" }))];
  const g = new GraphFunction("host-input function");
  try {
    for (call = 1; call <= 4; call++) {
      const x = tf.tensor1d([1, 2, 3]);
      const [y] = tf.tidy(() => g.call("k", fn, [x], (recipes) => {
        assert.deepEqual(recipes, [{ what: "call number" }]);
        return [tf.fill([3], call)];
      }));
      assert.deepEqual([...y.dataSync()], [call, 2 * call, 3 * call], `call ${call}`);
      tf.dispose([x, y]);
    }
    assert.equal(g.fallback, undefined, "the traces agree: the host tensor is not a constant");
  } finally {
    g.dispose();
  }
});

/**
 * `updates` updates of a tiny model with dropout and absolute position encodings (both host inputs of the graph),
 * T = 192 in three segments of 64; losses and final parameters.
 */
function trainTiny(updates: number, retraceAt = -1): { losses: number[]; params: Map<string, Float32Array>; tensors: number[]; graphs?: number; fallback?: string } {
  const cfg = getPreset("cpu-small", {
    model: { dModel: 32, dK: 8, dV: 64, nLayer: 2, nCode: 16, blockLen: 16, memLen: 16, pDropSin: 0.1, pDropRes: 0.1, peAbs: true },
    train: { batchSize: 2, sequenceLen: 192, updateLen: 64, gradClip: 0.05 },
  });
  const model = createModel(cfg.model, 3);
  const opt = createOptimizer(cfg.train.optimizer, model.params);
  const B = 2, U = 64, V = cfg.model.vocabSize;
  const losses: number[] = [], tensors: number[] = [];
  let state = initState(model, B);
  for (let s = 0; s < updates; s++) {
    if (s % 3 === 0) { disposeState(state); state = initState(model, B); } // a new sequence every three segments
    if (s === retraceAt) disposeModelGraphs(model); // as a resumed run in a new process: trace again from here
    const ids = Int32Array.from(lcgValues(B * (U + 1), 100 + s), (v) => Math.floor((v + 1) * 0.5 * 120) % V);
    const seg = { B, T: U, inputs: ids.slice(0, B * U), targets: ids.slice(1, B * U + 1), lossMask: new Float32Array(B * U).fill(1) };
    const r = trainSegment(model, opt, cfg, seg as never, state, 7000 + s, s);
    disposeState(state);
    state = r.state;
    losses.push(r.loss);
    tensors.push(tf.memory().numTensors);
  }
  disposeState(state);
  const params = new Map([...model.params].map(([k, v]) => [k, v.dataSync() as Float32Array]));
  const g = stepGraphsOf(model);
  const out = { losses, params, tensors, graphs: g?.graphCount, fallback: g?.fallback };
  disposeModelGraphs(model);
  disposeOptimizer(opt);
  disposeModel(model);
  return out;
}

test("a training step through its graph equals the eager step: losses and parameters after 9 updates (1e-5); no tensor growth", async (t) => {
  if (!(await native(t))) return;
  const before = process.env.TVQ_GRAPH;
  try {
    process.env.TVQ_GRAPH = "0";
    const eager = trainTiny(9);
    assert.equal(eager.graphs, undefined, "TVQ_GRAPH=0 runs eagerly");
    delete process.env.TVQ_GRAPH;
    const graph = trainTiny(9);
    assert.equal(graph.fallback, undefined, `the step's traces agree (${graph.fallback})`);
    assert.equal(graph.graphs, 2, "one graph for a sequence's first segment, one for the segments that carry a state");
    const lossErr = maxRelErr(graph.losses, eager.losses);
    assert.ok(lossErr <= 1e-5, `losses ${graph.losses} vs eager ${eager.losses}: relative error ${lossErr}`);
    for (const [k, want] of eager.params) {
      const err = maxRelErr(graph.params.get(k)!, want);
      assert.ok(err <= 1e-5, `parameter ${k}: relative error ${err}`);
    }
    // from the second sequence on every update replays: the live tensors after each update repeat sequence by sequence
    assert.deepEqual(graph.tensors.slice(6, 9), graph.tensors.slice(3, 6), `live tensors after each update: ${graph.tensors}`);
  } finally {
    if (before === undefined) delete process.env.TVQ_GRAPH; else process.env.TVQ_GRAPH = before;
  }
});

test("a run whose graphs are traced anew mid-run (as after a resume) gives the uninterrupted run's numbers bitwise", async (t) => {
  if (!(await native(t))) return;
  const whole = trainTiny(9);
  const retraced = trainTiny(9, 4);
  assert.deepEqual(retraced.losses, whole.losses);
  for (const [k, want] of whole.params) assert.deepEqual(retraced.params.get(k), want, `parameter ${k}`);
});

test("evaluation through its graph equals the eager evaluation (1e-5) on batches of three segments; no tensor growth", async (t) => {
  if (!(await native(t))) return;
  const cfg = getPreset("cpu-small", {
    model: { dModel: 32, dK: 8, dV: 64, nLayer: 2, nCode: 16, blockLen: 16, memLen: 16, peAbs: true },
    train: { batchSize: 2, sequenceLen: 192, updateLen: 64 },
  });
  const model = createModel(cfg.model, 5);
  const B = 2, T = 192, V = cfg.model.vocabSize;
  const batch = (seed: number) => {
    const ids = Int32Array.from(lcgValues(B * (T + 1), seed), (v) => Math.floor((v + 1) * 0.5 * 120) % V);
    const lossMask = new Float32Array(B * T).fill(1).fill(0, B * T - 40); // a padded tail scores nothing
    return { B, T, inputs: ids.slice(0, B * T), targets: ids.slice(1, B * T + 1), lossMask } as never;
  };
  try {
    const tensors: number[] = [];
    for (const seed of [1, 2, 3, 4]) {
      const want = eagerly(() => windowNLL(model, batch(seed), 64));
      const got = windowNLL(model, batch(seed), 64);
      tensors.push(tf.memory().numTensors);
      assert.equal(got.tokens, want.tokens);
      assert.equal(got.tokens, B * T - 40);
      const err = Math.abs(got.nats - want.nats) / want.nats;
      assert.ok(err <= 1e-5, `batch ${seed}: ${got.nats} nats vs eager ${want.nats} (relative error ${err})`);
    }
    const g = evalGraphsOf(model);
    assert.equal(g?.fallback, undefined, `the evaluation's traces agree (${g?.fallback})`);
    assert.equal(g?.graphCount, 2, "one graph for a window's first segment, one for the segments that carry a state");
    assert.equal(stepGraphsOf(model), undefined, "evaluation makes no training graph");
    assert.deepEqual(tensors.slice(2), [tensors[1], tensors[1]], `live tensors after each batch: ${tensors}`);
  } finally {
    disposeModelGraphs(model);
    disposeModel(model);
  }
});
