/**
 * One parameter update of truncated backpropagation through time (as the official train_op): on one segment of
 * U = updateLen tokens of a batch, continuing from the carried recurrent state,
 *
 *   loss = CE + c_β · L_commit        (CE: mean nats per non-pad target token),
 *
 * gradients by tf.variableGrads over the trainable parameters, global-norm clipping and AdamW/Adafactor
 * (optim.ts), then the codebook EMA (c ← γc + (1−γ)·stats of this update, nn/vq.ts through updateCodebooks). The
 * state after the segment leaves the gradient tape with it, so the next update sees it as a constant. Dropout
 * seeds are a pure function of (run seed, step, segment), so a resumed run draws the masks an uninterrupted one would.
 */
import * as tf from "../runtime/tf";
import { Rng } from "../runtime/rng";
import { Config } from "../config";
import { graphEnabled } from "../runtime/graph";
import { callModelGraph } from "./graphs";
import { checkTokenIds, codebookNext, codebookTargets, forward } from "../nn/model";
import { Model } from "../nn/params";
import { RecurrentState, replaceState, stateFromTensors, stateTensors } from "../nn/state";
import { CodeStats, codeUsage } from "../nn/vq";
import { Batch } from "../data/batches";
import { maskedNLLSumAt, targetIndices } from "./evaluate";
import { OptimizerState, UpdateInfo, UpdateScalars, assignAll, commitUpdate, nextValues, updateScalars, updateTargets } from "./optim";

/** Thrown when the loss or gradient is NaN/Inf; the run folder keeps the last good checkpoint. */
export class NonFiniteLossError extends Error {}

/** What a logged update says about its learning rate (a StepMetrics line of metrics.jsonl). */
export interface LoggedRate {
  step: number;
  loss: number;
  /** the rate the update used: lrMax · schedule */
  lr: number;
}

/**
 * The last learning rate the run's history shows was stable: that of the last logged update with a finite loss
 * and a rate > 0 (warmup starts at 0, which shows nothing). Undefined without such an update.
 */
export function lastStableRate(history: readonly LoggedRate[]): LoggedRate | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i];
    if (Number.isFinite(h.loss) && Number.isFinite(h.lr) && h.lr > 0) return h;
  }
  return undefined;
}

/**
 * What to do about a diverged run (the end of every divergence message). A run that diverges early in warmup did
 * so at a small fraction of lrMax, so lrMax ÷ 10 can still diverge: the suggestion is the rate of the last update
 * that was finite (at most lrMax ÷ 10), or lrMax ÷ 100 when the history shows no stable rate.
 * @param history the run's logged updates (run.history); without it the suggestion is lrMax ÷ 100
 */
export function divergenceFix(lrMax: number, history: readonly LoggedRate[] = []): string {
  const stable = lastStableRate(history);
  const lr = stable ? Math.min(stable.lr, lrMax / 10) : lrMax / 100;
  const why = !stable ? `lrMax ÷ 100: no logged update shows a stable rate`
    : lr < lrMax / 10 ? `the rate of update ${stable.step}, the last one with a finite loss`
      : `lrMax ÷ 10, below the rate ${stable.lr.toPrecision(2)} of update ${stable.step}, the last one with a finite loss`;
  return `Lower the learning rate (e.g. --set train.lrMax=${lr.toPrecision(2)}: ${why}) or raise train.warmupSteps, then start a fresh --out or --resume`;
}

/** The dropout seed of update `step`, segment `segment` of its sequence: a pure function of the run seed. */
export function dropoutSeed(seed: number, step: number, segment: number): number {
  return (new Rng([seed, step, segment]).nextUint32() >>> 1) || 1; // tfjs treats seed 0 as "unseeded"
}

/** Mean codebook usage (fraction of codes hit) and entropy in bits over sublayers (0, 0 without codebooks). */
function codebookMetrics(counts: tf.Tensor[], S: number): { codeUsage: number; codeEntropy: number } {
  if (counts.length === 0) return { codeUsage: 0, codeEntropy: 0 };
  let u = 0, e = 0;
  for (const c of counts) {
    const m = codeUsage(c.dataSync(), S);
    u += m.usedFraction;
    e += m.entropyBits;
  }
  return { codeUsage: u / counts.length, codeEntropy: e / counts.length };
}

/** What one update did. */
export interface SegmentResult {
  /** CE + c_β · commit */
  loss: number;
  ce: number;
  commit: number;
  info: UpdateInfo;
  code: { codeUsage: number; codeEntropy: number };
  /** the state after the segment (its tensors owned by the caller) */
  state: RecurrentState;
}

/** The tensors of one segment that change from update to update: token ids, flat target indices, mask, scored count. */
interface SegmentFeeds { inputs: tf.Tensor2D; idx: tf.Tensor1D; mask: tf.Tensor2D; denom: tf.Scalar; k: UpdateScalars }

/** What segmentStep gives back: [loss, ce, commit, ‖g‖], the new values of stepTargets, the state, the code counts. */
interface StepOutput { metrics: tf.Tensor; values: tf.Tensor[]; state: RecurrentState; counts: tf.Tensor[] }

/** The variables an update replaces, in the order of StepOutput.values: the optimizer's, then the codebooks'. */
function stepTargets(model: Model, opt: OptimizerState): tf.Variable[] {
  return [...updateTargets(opt, model.params), ...codebookTargets(model)];
}

/**
 * One update as a pure function of tensors (no host read, no assignment): the forward pass on the segment, the
 * gradients, the optimizer's and the codebook EMA's new values. The eager update runs it as it is; on the native
 * backend it is traced once into a TensorFlow graph and replayed (lib/runtime/graph.ts).
 */
function segmentStep(model: Model, opt: OptimizerState, cfg: Config, x: SegmentFeeds, state: RecurrentState, seed: number): StepOutput {
  const keys = [...model.params.keys()];
  const vars = keys.map((k) => model.params.get(k)!);
  let kept: { state: RecurrentState; stats: CodeStats[]; ce: tf.Scalar; commit: tf.Scalar } | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const o = forward(model, x.inputs, state, { training: true, seed, idsChecked: true }, x.mask); // trainSegment checked them
    const ce = tf.div(maskedNLLSumAt(o.logProbs, x.idx, x.mask), x.denom) as tf.Scalar;
    const loss = tf.add(ce, tf.mul(o.commitLoss, cfg.model.cBeta)) as tf.Scalar;
    kept = { state: o.state, stats: o.vqStats, ce, commit: o.commitLoss };
    for (const t of [...stateTensors(o.state), ...o.vqStats.flatMap((s) => [s.codeSums, s.codeCounts]), ce, o.commitLoss]) tf.keep(t);
    return loss;
  }, vars);
  const k = kept!;
  // a parameter off this update's path (e.g. a LayerDrop'ped branch) gets a zero gradient, as in optax
  for (const v of vars) if (!grads[v.name]) grads[v.name] = tf.zerosLike(v);
  const named = new Map<string, tf.Tensor>(keys.map((key, i) => [key, grads[vars[i].name]]));
  const upd = nextValues(opt, cfg.train, model.params, named, x.k);
  const metrics = tf.stack([value, k.ce, k.commit, upd.gradNorm]);
  const values = [...upd.values, ...codebookNext(model, [k.stats])];
  tf.dispose([value, k.ce, k.commit, ...k.stats.map((s) => s.codeSums)]); // kept past variableGrads' scope, used up now
  return { metrics, values, state: k.state, counts: k.stats.map((s) => s.codeCounts) };
}

/** segmentStep through its graph: inputs are the variables, the state, the feeds; outputs as StepOutput, flattened. */
function graphStep(model: Model, opt: OptimizerState, cfg: Config, x: SegmentFeeds, state: RecurrentState, seed: number): StepOutput {
  const targets = stepTargets(model, opt);
  const st = stateTensors(state);
  const feeds = [x.inputs, x.idx, x.mask, x.denom, x.k.lr, x.k.bc1, x.k.bc2, x.k.decay, x.k.decayC];
  const consts = opt.flat ? [opt.flat.decayMask] : [];
  const inputs = [...targets, ...consts, ...st, ...feeds];
  const nC = model.codebooks.length;
  // the step reads its inputs where they are (variables, state, feeds): `inputs` names them for the graph
  const fn = () => {
    const o = segmentStep(model, opt, cfg, x, state, seed);
    return [o.metrics, ...o.values, ...stateTensors(o.state), ...o.counts];
  };
  const out = callModelGraph(model, "step", state, seed, fn, inputs);
  const nV = targets.length, nS = out.length - 1 - nV - nC;
  return { metrics: out[0], values: out.slice(1, 1 + nV), state: stateFromTensors(state.pos + x.inputs.shape[1], out.slice(1 + nV, 1 + nV + nS)), counts: out.slice(1 + nV + nS) };
}

/**
 * One parameter update on one segment.
 * seg: inputs/targets/lossMask [B·U]; state: the carried recurrent state (not disposed here).
 * Returns the state after the segment (its tensors owned by the caller). On the native backend the update runs as
 * one TensorFlow graph (graphEnabled; TVQ_GRAPH=0 runs it eagerly), the same function to float32 rounding.
 */
export function trainSegment(model: Model, opt: OptimizerState, cfg: Config, seg: Batch, state: RecurrentState, seed: number,
                             step: number): SegmentResult {
  const { B, T: U } = seg;
  const V = cfg.model.vocabSize;
  checkTokenIds(seg.inputs, V);
  let scored = 0;
  for (let i = 0; i < seg.lossMask.length; i++) scored += seg.lossMask[i];
  const { k, lr } = updateScalars(opt, cfg.train);
  const x: SegmentFeeds = {
    inputs: tf.tensor2d(seg.inputs, [B, U], "int32"), idx: tf.tensor1d(targetIndices(seg.targets, V), "int32"),
    mask: tf.tensor2d(seg.lossMask, [B, U]), denom: tf.scalar(Math.max(scored, 1)), k,
  };
  let out: StepOutput | undefined;
  try {
    // everything but the outputs is freed here (the trace's, the gradients', the intermediate values)
    out = tf.tidy(() => (graphEnabled() ? graphStep(model, opt, cfg, x, state, seed) : segmentStep(model, opt, cfg, x, state, seed)) as unknown as tf.TensorContainerObject) as unknown as StepOutput;
    const [loss, ce, commit, gradNorm] = out.metrics.dataSync();
    if (!Number.isFinite(loss)) {
      throw new NonFiniteLossError(`loss is ${loss} (CE ${ce}, commit ${commit}) at update ${step + 1}`);
    }
    const code = codebookMetrics(out.counts, cfg.model.nCode);
    const codebooks = codebookTargets(model);
    commitUpdate(opt, model.params, out.values.splice(0, out.values.length - codebooks.length), gradNorm); // leaves the codebooks'
    assignAll(codebooks, out.values);
    out.values = [];
    return { loss, ce, commit, info: { lr, gradNorm }, code, state: out.state };
  } catch (e) {
    if (out) {
      replaceState(out.state, state); // frees what the update made, keeps the carried state
      tf.dispose(out.values);
    }
    throw e;
  } finally {
    tf.dispose([x.inputs, x.idx, x.mask, x.denom, ...Object.values(k)]);
    if (out) tf.dispose([out.metrics, ...out.counts]);
  }
}
