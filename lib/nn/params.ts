/**
 * The model's tensors, from the config alone (paper §4.1 architecture, §4.4 initialization): `paramShapes(cfg)`
 * lists every tensor in creation order without allocating anything, and is the one source of truth for
 * `createModel`, `countParamsOf` and checkpoints. Initialization: embeddings N(0, 1), kernels N(0, 1/fan_in),
 * biases and u, v zero, c_sum N(0, 1/(h·S)), c_count ones; tensor i draws from the seed `mixSeed(seed, i)`.
 *
 * Parameter names are checkpoint keys: `emb`, `layer{i}.attn{j}.{ln_g, ln_b, wq, wk, wv, wg, wr, xl_u, xl_v, wo}`
 * (mha/mqa: `layer{i}.attn.*`, `layer{i}.mlp.{ln_g, ln_b, w1, w2}`), `pe_scale`, `out_ln_{g,b}`, `out_w`, `out_b`;
 * codebooks `<sublayer>.c_sum` / `<sublayer>.c_count` (non-trainable: the EMA of vq.ts updates them).
 */
import * as tf from "../runtime/tf";
import { ModelConfig, validateModelConfig } from "../config";
import { mixSeed } from "../runtime/rng";

/** One codebook per attention sublayer; non-trainable, updated by EMA. */
export interface Codebook {
  /** [h, S, d_k] */
  cSum: tf.Variable;
  /** [h, S] */
  cCount: tf.Variable;
  /** sublayer prefix, e.g. "layer0.attn1" (checkpoint keys are `${name}.c_sum`, `${name}.c_count`) */
  name: string;
}

export interface Model {
  config: ModelConfig;
  /** trainable parameters by stable name (the names are checkpoint keys), insertion order fixed */
  params: Map<string, tf.Variable>;
  /** one per attention sublayer, in layer order */
  codebooks: Codebook[];
}

type Init = "normal" | "fanIn" | "zeros" | "ones" | "codebook";

/** One tensor of the model, before allocation. */
export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
  /** false for the codebook's c_sum and c_count */
  trainable: boolean;
}

/** Key heads h: H for shga/mha, 1 for mqa. */
export function keyHeads(cfg: ModelConfig): number {
  return cfg.headType === "mqa" ? 1 : cfg.nHead;
}

/** Attention sublayer prefixes in order: two GAUs per layer (shga) or one attention per layer (mha/mqa). */
export function attentionSublayers(cfg: ModelConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < cfg.nLayer; i++) {
    if (cfg.headType === "shga") out.push(`layer${i}.attn0`, `layer${i}.attn1`);
    else out.push(`layer${i}.attn`);
  }
  return out;
}

/**
 * Every tensor of the model in creation order, from the config alone (nothing allocated): the one source of
 * truth for createModel, countParamsOf and checkpoints.
 */
export function paramShapes(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, dModel: d, dK, dV, nHead: H, nCode: S } = cfg;
  const h = keyHeads(cfg);
  const specs: ParamSpec[] = [];
  const add = (name: string, shape: number[], init: Init, trainable = true) => specs.push({ name, shape, init, trainable });
  add("emb", [V, d], "normal");
  if (cfg.peAbs) add("pe_scale", [], "zeros");
  for (let i = 0; i < cfg.nLayer; i++) {
    const attns = cfg.headType === "shga" ? [`layer${i}.attn0`, `layer${i}.attn1`] : [`layer${i}.attn`];
    for (const p of attns) {
      add(`${p}.ln_g`, [d], "ones");
      add(`${p}.ln_b`, [d], "zeros");
      add(`${p}.wq`, [d, H * dK], "fanIn");
      add(`${p}.wk`, [d, h * dK], "fanIn");
      add(`${p}.wv`, [d, h * dV], "fanIn");
      if (cfg.headType === "shga") add(`${p}.wg`, [d, H * dV], "fanIn");
      add(`${p}.wr`, [d, h * dK], "fanIn");
      add(`${p}.xl_u`, [H * dK], "zeros");
      add(`${p}.xl_v`, [H * dK], "zeros");
      add(`${p}.wo`, [H * dV, d], "fanIn");
      if (cfg.attnType !== "full") {
        add(`${p}.c_sum`, [h, S, dK], "codebook", false);
        add(`${p}.c_count`, [h, S], "ones", false);
      }
    }
    if (cfg.headType !== "shga") {
      add(`layer${i}.mlp.ln_g`, [d], "ones");
      add(`layer${i}.mlp.ln_b`, [d], "zeros");
      add(`layer${i}.mlp.w1`, [d, cfg.dFF], "fanIn");
      add(`layer${i}.mlp.w2`, [cfg.dFF, d], "fanIn");
    }
  }
  if (cfg.ePreln) {
    add("out_ln_g", [d], "ones");
    add("out_ln_b", [d], "zeros");
  }
  if (!cfg.eTie) add("out_w", [d, V], "fanIn");
  add("out_b", [V], "zeros");
  return specs;
}

/**
 * Number of scalars, codebook c_sum and c_count included: of a config's model from its shapes (nothing
 * allocated), or of an allocated model from its variables.
 */
export function countParamsOf(of: ModelConfig | Model): number {
  if ("params" in of) {
    let n = 0;
    for (const v of of.params.values()) n += v.size;
    for (const c of of.codebooks) n += c.cSum.size + c.cCount.size;
    return n;
  }
  return paramShapes(of).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

function initTensor(spec: ParamSpec, seed: number): tf.Tensor {
  const { shape, init } = spec;
  switch (init) {
    case "zeros": return tf.zeros(shape);
    case "ones": return tf.ones(shape);
    case "normal": return tf.randomNormal(shape, 0, 1, "float32", seed);
    case "fanIn": return tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0]), "float32", seed);
    // flax variance scaling on [h, S, d_k]: fan_in = h · S
    case "codebook": return tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0] * shape[1]), "float32", seed);
  }
}

let variableCounter = 0;

/**
 * Allocates and initializes a model (deterministic given the seed).
 * @param cfg  validated model config
 * @param seed init seed
 */
export function createModel(cfg: ModelConfig, seed: number): Model {
  validateModelConfig(cfg);
  const params = new Map<string, tf.Variable>();
  const codebooks: Codebook[] = [];
  const pending = new Map<string, tf.Variable>();
  paramShapes(cfg).forEach((spec, i) => {
    const value = tf.tidy(() => initTensor(spec, mixSeed(seed, i)));
    const variable = tf.variable(value, spec.trainable, `${spec.name}#${++variableCounter}`); // tfjs names are global
    value.dispose();
    if (spec.trainable) params.set(spec.name, variable);
    else pending.set(spec.name, variable);
  });
  for (const name of attentionSublayers(cfg)) {
    const cSum = pending.get(`${name}.c_sum`);
    const cCount = pending.get(`${name}.c_count`);
    if (cSum && cCount) codebooks.push({ cSum, cCount, name });
  }
  return { config: { ...cfg }, params, codebooks };
}

export function disposeModel(m: Model): void {
  for (const v of m.params.values()) v.dispose();
  for (const c of m.codebooks) tf.dispose([c.cSum, c.cCount]);
  m.params.clear();
  m.codebooks.length = 0;
}

