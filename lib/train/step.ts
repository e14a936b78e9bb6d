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
import { forward, updateCodebooks } from "../nn/model";
import { Model } from "../nn/params";
import { RecurrentState, replaceState, stateTensors } from "../nn/state";
import { CodeStats, codeUsage } from "../nn/vq";
import { Batch } from "../data/batches";
import { maskedNLLSum } from "./evaluate";
import { OptimizerState, UpdateInfo, applyUpdate } from "./optim";

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
function codebookMetrics(stats: CodeStats[], S: number): { codeUsage: number; codeEntropy: number } {
  if (stats.length === 0) return { codeUsage: 0, codeEntropy: 0 };
  let u = 0, e = 0;
  for (const st of stats) {
    const m = codeUsage(st.codeCounts.dataSync(), S);
    u += m.usedFraction;
    e += m.entropyBits;
  }
  return { codeUsage: u / stats.length, codeEntropy: e / stats.length };
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


/**
 * One parameter update on one segment.
 * seg: inputs/targets/lossMask [B·U]; state: the carried recurrent state (not disposed here).
 * Returns the state after the segment (its tensors owned by the caller).
 */
export function trainSegment(model: Model, opt: OptimizerState, cfg: Config, seg: Batch, state: RecurrentState, seed: number,
                             step: number): SegmentResult {
  const { B, T: U } = seg;
  let scored = 0;
  for (let i = 0; i < seg.lossMask.length; i++) scored += seg.lossMask[i];
  const denom = Math.max(scored, 1);
  const keys = [...model.params.keys()];
  const vars = keys.map((k) => model.params.get(k)!);
  let kept: { state: RecurrentState; stats: CodeStats[]; ce: tf.Scalar; commit: tf.Scalar } | undefined;
  const inputs = tf.tensor2d(seg.inputs, [B, U], "int32");
  const mask = tf.tensor2d(seg.lossMask, [B, U]);
  let value: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap = {};
  try {
    const res = tf.variableGrads(() => {
      const o = forward(model, inputs, state, { training: true, seed }, mask);
      const ce = tf.div(maskedNLLSum(o.logProbs, seg.targets, mask), denom) as tf.Scalar;
      const loss = tf.add(ce, tf.mul(o.commitLoss, cfg.model.cBeta)) as tf.Scalar;
      kept = { state: o.state, stats: o.vqStats, ce, commit: o.commitLoss };
      for (const t of [...stateTensors(o.state), ...o.vqStats.flatMap((s) => [s.codeSums, s.codeCounts]), ce, o.commitLoss]) tf.keep(t);
      return loss;
    }, vars);
    value = res.value;
    grads = res.grads;
    const k = kept!;
    const loss = value.dataSync()[0];
    const ce = k.ce.dataSync()[0];
    const commit = k.commit.dataSync()[0];
    if (!Number.isFinite(loss)) {
      throw new NonFiniteLossError(`loss is ${loss} (CE ${ce}, commit ${commit}) at update ${step + 1}`);
    }
    // a parameter off this update's path (e.g. a LayerDrop'ped branch) gets a zero gradient, as in optax
    for (const v of vars) if (!grads[v.name]) grads[v.name] = tf.zerosLike(v);
    const named = new Map<string, tf.Tensor>(keys.map((key, i) => [key, grads[vars[i].name]]));
    const info = applyUpdate(opt, cfg.train, model.params, named);
    const code = codebookMetrics(k.stats, cfg.model.nCode);
    updateCodebooks(model, [k.stats]);
    return { loss, ce, commit, info, code, state: k.state };
  } catch (e) {
    if (kept) replaceState(kept.state, state); // frees what the update made, keeps the carried state
    throw e;
  } finally {
    inputs.dispose();
    mask.dispose();
    value?.dispose();
    for (const g of Object.values(grads)) g.dispose();
    if (kept) {
      for (const s of kept.stats) tf.dispose([s.codeSums, s.codeCounts]);
      tf.dispose([kept.ce, kept.commit]);
    }
  }
}
