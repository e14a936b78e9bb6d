/**
 * The Transformer-VQ decoder (paper §5.1): token embeddings, then n_layer layers of two gated attention units
 * (GAU, single-head gated attention; no MLP), then an output head and log-softmax. One GAU sublayer computes
 *
 *   x̃ = RMSNorm(x),  q = RMSNorm₀(x̃W_q)·d_k^{-1/4},  k = RMSNorm₀(x̃W_k)·d_k^{-1/4},  v = SiLU(x̃W_v),  g = SiLU(x̃W_g),
 *   x ← x + LayerDrop(Dropout((VQAttn(q, k, v) ⊙ g) W_o)),
 *
 * with VQ-attention in one of four forms (attention.ts, attention-linear.ts; `attnType`; full attention in chunks of
 * `fullChunk` when 0 < fullChunk < n, attention-chunked.ts), each sublayer with its
 * own EMA codebook (vq.ts) and recurrent state (state.ts). For the throughput study, `headType` mha / mqa builds
 * attention (H query heads, H or 1 key heads, d_v = d_k, no gate) + squared-ReLU MLP layers instead. The head is
 * untied (Dense with bias) or tied to the embedding (RMSNorm, logits E x + b, times e_scale). The tensors, their
 * names and their initialization are params.ts.
 */
import * as tf from "../runtime/tf";
import { matMul } from "../runtime/matmul";
import { HostRecipe, hostInput } from "../runtime/graph";
import { mixSeed } from "../runtime/rng";
import { XLBias, fullAttention, vqAttentionQuadratic } from "./attention";
import { fullAttentionChunked } from "./attention-chunked";
import { vqAttentionParallel, vqAttentionRecurrent } from "./attention-linear";
import { dropoutMask } from "./dropout";
import { rmsNorm } from "./norm";
import { Codebook, Model, attentionSublayers, keyHeads } from "./params";
import { relativeKeys, sinusoids } from "./pe";
import { AttnState, RecurrentState, advanceState, carriesState, stopStateGradient } from "./state";
import { CodeStats, codeStats, codebook, commitmentLoss, emaNext, emaUpdate, quantize } from "./vq";

export interface ForwardOptions {
  /** dropout / LayerDrop only when true */
  training: boolean;
  /** dropout RNG seed for this call (deterministic given the seed) */
  seed?: number;
  /** override L for this call (sampling uses 1); the state layout does not depend on it */
  blockLen?: number;
  /** also return each sublayer's keys (before quantization), for inspection */
  returnKeys?: boolean;
  /** the caller checked the ids on its host copy (checkTokenIds), so forward does not read them back from the device */
  idsChecked?: boolean;
}

export interface ForwardOutput {
  /** [B, n, V] log-softmax outputs */
  logProbs: tf.Tensor3D;
  /** state after these n tokens (stop-gradient'ed; gradThruCache acts within a call) */
  state: RecurrentState;
  /** Σ over sublayers of the masked mean commitment loss (not yet times c_beta) */
  commitLoss: tf.Scalar;
  /** per sublayer, over this call's (masked) tokens: what the EMA update needs (empty for full attention) */
  vqStats: CodeStats[];
  /** with opts.returnKeys: per sublayer, the keys [B, h, n, d_k] */
  keys?: tf.Tensor4D[];
}

/** A dropout mask of one forward call: the site (its place in the call) and its shape. */
export interface DropoutSite extends HostRecipe { kind: "dropout"; site: number; rate: number; shape: number[] }

/** The absolute position encodings of one forward call (peAbs): sinusoids of positions pos … pos + n − 1. */
export interface PositionRows extends HostRecipe { kind: "positions"; n: number; width: number; lam: number }

/**
 * What a replayed training graph is fed for a host input of the forward call with dropout seed `seed` at state
 * position `pos` (lib/runtime/graph.ts hostInput): a dropout mask or the absolute position encodings.
 */
export function hostTensor(r: HostRecipe, seed: number, pos: number): tf.Tensor {
  if (r.kind === "dropout") return siteMask(seed, r as DropoutSite);
  if (r.kind === "positions") {
    const p = r as PositionRows;
    return sinusoids(p.n, p.width, p.lam, pos);
  }
  throw new Error(`no host tensor of kind ${String(r.kind)}`);
}

/**
 * The mask of a dropout site in the forward call with seed `seed` (values 0 or 1/(1 − rate)): what Dropper
 * multiplies by, and what a replayed training graph is fed (lib/runtime/graph.ts hostInput).
 */
export function siteMask(seed: number, s: DropoutSite): tf.Tensor {
  return dropoutMask(s.shape, s.rate, mixSeed(seed, s.site));
}

/** Dropout with a per-site seed; identity when not training or rate 0. */
class Dropper {
  private site = 0;
  constructor(readonly training: boolean, private readonly seed: number) {}
  /** @param noiseShape e.g. [B, 1, 1] for LayerDrop */
  apply<T extends tf.Tensor>(x: T, rate: number, noiseShape?: number[]): T {
    const site = this.site++;
    if (!this.training || rate === 0) return x;
    const s: DropoutSite = { kind: "dropout", site, rate, shape: noiseShape ?? [...x.shape] };
    return tf.mul(x, hostInput(siteMask(this.seed, s), s)) as T;
  }
}

function param(m: Model, name: string): tf.Variable {
  const p = m.params.get(name);
  if (!p) throw new Error(`parameter '${name}' is missing from the model; was it created from a different config?`);
  return p;
}

/** x [B, n, d] · W [d, c] → [B, n, c] */
function dense(x: tf.Tensor, w: tf.Tensor): tf.Tensor3D {
  const [B, n, d] = x.shape as number[];
  return matMul(x.reshape([B * n, d]), w).reshape([B, n, w.shape[1] as number]) as tf.Tensor3D;
}

/** [B, n, H·d] → [B, H, n, d] (a reshape when H = 1) */
function splitHeads(x: tf.Tensor, H: number, d: number): tf.Tensor4D {
  const [B, n] = x.shape as number[];
  if (H === 1) return x.reshape([B, 1, n, d]) as tf.Tensor4D;
  return tf.transpose(x.reshape([B, n, H, d]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** [B, H, n, d] → [B, n, H·d] */
function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [B, H, n, d] = x.shape as number[];
  if (H === 1) return x.reshape([B, n, d]) as tf.Tensor3D;
  return tf.transpose(x, [0, 2, 1, 3]).reshape([B, n, H * d]) as tf.Tensor3D;
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

interface SublayerResult { res: tf.Tensor3D; keys: tf.Tensor4D; state?: AttnState; commit?: tf.Scalar; stats?: CodeStats }

/**
 * One attention sublayer (GAU for shga). x [B, n, d] → residual branch [B, n, d].
 */
function attentionSublayer(m: Model, prefix: string, cb: Codebook | undefined, x: tf.Tensor3D, st: AttnState | undefined,
                           pos: number, L: number, drop: Dropper, mask?: tf.Tensor2D): SublayerResult {
  const c = m.config;
  const p = (n: string) => param(m, `${prefix}.${n}`);
  const H = c.nHead, h = keyHeads(c), n = x.shape[1];
  const scale = Math.pow(c.dK, -0.25);
  const xt = rmsNorm(x, p("ln_g"), p("ln_b"));
  const q = tf.mul(rmsNorm(splitHeads(dense(xt, p("wq")), H, c.dK)), scale) as tf.Tensor4D; // [B, H, n, d_k]
  const k = tf.mul(rmsNorm(splitHeads(dense(xt, p("wk")), h, c.dK)), scale) as tf.Tensor4D; // [B, h, n, d_k]
  const vLin = dense(xt, p("wv"));
  const v = splitHeads(c.headType === "shga" ? silu(vLin) : vLin, h, c.dV); // [B, h, n, d_v]
  const nDistance = c.attnType === "full" ? n : c.memLen + 1;
  const sinDrop = c.pDropSin > 0 ? (sin: tf.Tensor2D) => drop.apply(sin, c.pDropSin) : undefined;
  const xl: XLBias = {
    r: relativeKeys(p("wr"), nDistance, c.dK, c.peLam, drop.training ? sinDrop : undefined),
    u: tf.mul(p("xl_u"), scale).reshape([H, c.dK]) as tf.Tensor2D,
    w: tf.mul(p("xl_v"), scale).reshape([H, c.dK]) as tf.Tensor2D,
  };
  let out: tf.Tensor4D;
  const result: Partial<SublayerResult> = { keys: k };
  if (c.attnType === "full") {
    const C = c.fullChunk ?? 0;
    out = C > 0 && C < n ? fullAttentionChunked(q, k, v, xl, C) : fullAttention(q, k, v, xl);
  } else {
    if (!cb) throw new Error(`sublayer ${prefix} has no codebook`);
    const C = codebook(cb.cSum, cb.cCount);
    const qk = quantize(k, C);
    result.commit = commitmentLoss(k, qk.cz, mask);
    result.stats = codeStats(k, qk.z, c.nCode, mask);
    if (!st) throw new Error(`sublayer ${prefix} needs a recurrent state; pass initState(model, batchSize)`);
    if (c.attnType === "vq-quadratic" && pos === 0) {
      // the definition, for a sequence start, with the linear forms' straight-through rule (so all VQ forms
      // train with the same gradients); the state for continuing is built without outputs
      out = vqAttentionQuadratic(q, qk, v, xl, { memLen: c.memLen, aggCache: c.aggCache, stBlockLen: c.blockLen });
      result.state = advanceState(st, qk, v, c.nCode);
    } else {
      // the linear forms (a vq-quadratic model continuing a sequence, e.g. sampling, uses the recurrence)
      const opts = { blockLen: L, memLen: c.memLen, aggCache: c.aggCache, gradThruCache: c.gradThruCache, pos };
      const parallel = c.attnType === "vq-parallel" && L === c.memLen;
      const r = parallel ? vqAttentionParallel(q, qk, v, C, xl, st, opts) : vqAttentionRecurrent(q, qk, v, C, xl, st, opts);
      out = r.out;
      result.state = r.state;
    }
  }
  let o: tf.Tensor = mergeHeads(out); // [B, n, H·d_v]
  if (c.headType === "shga") o = tf.mul(o, silu(dense(xt, p("wg"))));
  const res = drop.apply(dense(o, p("wo")), c.pDropRes);
  return { ...result, res } as SublayerResult;
}

/** Squared-ReLU MLP residual branch (mha/mqa layers). */
function mlpSublayer(m: Model, prefix: string, x: tf.Tensor3D, drop: Dropper): tf.Tensor3D {
  const p = (n: string) => param(m, `${prefix}.${n}`);
  const hdn = tf.relu(dense(rmsNorm(x, p("ln_g"), p("ln_b")), p("w1")));
  return drop.apply(dense(tf.square(hdn), p("w2")), m.config.pDropRes);
}

/** Throws unless every id is an integer in [0, V). */
function checkTokens(inputs: tf.Tensor, V: number): void {
  if (inputs.dtype !== "int32") throw new Error(`token ids must be an int32 tensor, got ${inputs.dtype}; build them with tf.tensor2d(ids, shape, "int32")`);
  checkTokenIds(inputs.dataSync(), V);
}

/** Throws unless every id is an integer in [0, V) (checkTokens on the host's copy of the ids). */
export function checkTokenIds(ids: ArrayLike<number>, V: number): void {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= V) {
      throw new Error(`token id ${ids[i]} at flat position ${i} is outside the vocabulary [0, ${V}); check the tokenizer or set model.vocabSize ≥ ${ids[i] + 1}`);
    }
  }
}

/**
 * Runs the model on n tokens per sequence, continuing from `state`.
 * @param inputs   [B, n] int32 token ids, n a multiple of the block length
 * @param state    from initState (sequence start) or a previous call
 * @param lossMask [B, n] float, 1 = real token (commitment loss and codebook statistics only count these)
 */
export function forward(m: Model, inputs: tf.Tensor2D, state: RecurrentState, opts: ForwardOptions,
                        lossMask?: tf.Tensor2D): ForwardOutput {
  const c = m.config;
  if (inputs.rank !== 2) throw new Error(`inputs must be [B, n] token ids, got shape [${inputs.shape}]`);
  const [B, n] = inputs.shape;
  const L = opts.blockLen ?? c.blockLen;
  const stateful = carriesState(c);
  const wholeQuadratic = c.attnType === "vq-quadratic" && state.pos === 0;
  if (stateful && !wholeQuadratic && n % L !== 0) throw new Error(`the ${n} tokens per sequence of this call are not a multiple of the block length L = ${L}; pad the input or change blockLen`);
  if (!stateful && state.pos !== 0) {
    throw new Error(`attnType ${c.attnType} carries no state between calls, but state.pos = ${state.pos}; pass initState(model, B) and whole sequences (updateLen = sequenceLen)`);
  }
  if (stateful && (state.layers.length !== attentionSublayers(c).length || state.layers[0]?.kHat.shape[0] !== B)) {
    throw new Error(`the state holds ${state.layers.length} sublayers for batch ${state.layers[0]?.kHat.shape[0]}; the model needs ${attentionSublayers(c).length} for batch ${B}: use initState(model, ${B})`);
  }
  if (lossMask && lossMask.shape.join() !== `${B},${n}`) throw new Error(`lossMask has shape [${lossMask.shape}], inputs [${inputs.shape}]; they must match`);
  if (!opts.idsChecked) checkTokens(inputs, c.vocabSize);

  const drop = new Dropper(opts.training, opts.seed ?? 0);
  let x = tf.gather(param(m, "emb"), inputs) as tf.Tensor3D; // [B, n, d]
  if (c.peAbs) {
    const rows: PositionRows = { kind: "positions", n, width: c.dModel, lam: c.peLam };
    x = tf.add(x, tf.mul(param(m, "pe_scale"), hostInput(sinusoids(n, c.dModel, c.peLam, state.pos), rows))) as tf.Tensor3D;
  }
  x = drop.apply(x, c.pDropEmb);

  const newLayers: AttnState[] = [];
  const commits: tf.Scalar[] = [];
  const vqStats: CodeStats[] = [];
  const keys: tf.Tensor4D[] = [];
  const layerDrop = (r: tf.Tensor3D) => drop.apply(r, c.pDropLyr, [B, 1, 1]);
  const names = attentionSublayers(c);
  names.forEach((name, a) => {
    const r = attentionSublayer(m, name, m.codebooks.find((cb) => cb.name === name), x, state.layers[a], state.pos, L, drop, lossMask);
    x = tf.add(x, layerDrop(r.res)) as tf.Tensor3D;
    if (r.state) newLayers.push(r.state);
    if (r.commit) commits.push(r.commit);
    if (r.stats) vqStats.push(r.stats);
    if (opts.returnKeys) keys.push(r.keys);
    if (c.headType !== "shga") x = tf.add(x, layerDrop(mlpSublayer(m, name.replace(/\.attn$/, ".mlp"), x, drop))) as tf.Tensor3D;
  });

  if (c.ePreln) x = rmsNorm(x, param(m, "out_ln_g"), param(m, "out_ln_b"));
  let logits: tf.Tensor = c.eTie
    ? tf.add(matMul(x.reshape([B * n, c.dModel]), param(m, "emb"), false, true), param(m, "out_b"))
    : tf.add(matMul(x.reshape([B * n, c.dModel]), param(m, "out_w")), param(m, "out_b"));
  if (c.eScale !== 1) logits = tf.mul(logits, c.eScale);
  const logProbs = tf.logSoftmax(logits).reshape([B, n, c.vocabSize]) as tf.Tensor3D;

  // the state leaves this call under stop-gradient, every tensor of it new (the caller owns it whole)
  const sgState = (s: AttnState): AttnState => ({ ...stopStateGradient(s), z: s.z.clone() });
  return {
    logProbs,
    state: { pos: state.pos + n, layers: newLayers.map(sgState) },
    commitLoss: (commits.length ? tf.addN(commits) : tf.scalar(0)) as tf.Scalar,
    vqStats,
    ...(opts.returnKeys ? { keys } : {}),
  };
}

/**
 * EMA update of every codebook with the statistics of all forward calls of one parameter update:
 * c_sum ← γ c_sum + (1−γ) Σ_calls codeSums; c_count ← γ c_count + (1−γ) Σ_calls codeCounts.
 * @param stats per call, per sublayer (ForwardOutput.vqStats)
 */
export function updateCodebooks(m: Model, stats: CodeStats[][]): void {
  m.codebooks.forEach((cb, i) => emaUpdate(cb.cSum, cb.cCount, sublayerStats(m, stats, i), m.config.cGamma));
}

/** The codebook variables updateCodebooks changes, in the order of codebookNext: c_sum, c_count per codebook. */
export function codebookTargets(m: Model): tf.Variable[] {
  return m.codebooks.flatMap((cb) => [cb.cSum, cb.cCount]);
}

/** updateCodebooks as a pure function: the new values of codebookTargets (the caller owns them). */
export function codebookNext(m: Model, stats: CodeStats[][]): tf.Tensor[] {
  return m.codebooks.flatMap((cb, i) => emaNext(cb.cSum, cb.cCount, sublayerStats(m, stats, i), m.config.cGamma));
}

function sublayerStats(m: Model, stats: CodeStats[][], i: number): CodeStats[] {
  return stats.map((s, j) => {
    if (s.length !== m.codebooks.length) throw new Error(`call ${j} has stats for ${s.length} sublayers, the model has ${m.codebooks.length} codebooks`);
    return s[i];
  });
}
