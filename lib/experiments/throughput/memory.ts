/**
 * Which points of the throughput study fit in memory. Memory, not time, ends the quadratic model on a CPU
 * machine: it keeps a few fp32 T×T score tensors per sublayer alive for the backward pass, while Transformer-VQ's
 * activations are linear in T (its scores are blocks of L × (2L + S)). `estimateStepBytes` is a fitted estimate of
 * one update's peak bytes; `planPoint` decides from it whether a point runs whole, runs with truncated
 * backpropagation (the VQ forms only: they carry a recurrent state) or is skipped, with the reason.
 */
import { Config, isQuadraticForm } from "../../config";
import { attentionSublayers, countParamsOf } from "../../nn/index";
import { withStepShape } from "./measure";

/** Live-tensor multipliers of estimateStepBytes (fitted; see its comment) and the runtime's own bytes. */
export const MEMORY_FIT = { vqLin: 9, blocks: 12, fullLin: 7, quad: 8, mlp: 4, runtimeBytes: 512 * 2 ** 20 };

/**
 * Rough peak bytes of one parameter update of U = train.updateLen tokens per sequence (fp32 activations kept for
 * the backward pass, transients of the backward pass, parameters with gradients and AdamW slots, the runtime),
 * used to decide which points fit in memory before running them. Per attention sublayer, sequence and token it
 * counts `lin` row tensors of width W = 2·d_model + 3·H·d_k + 6·H·d_v, plus `blocks` score rows of width
 * H·(2L + S) for the VQ forms or `quad` T×T score tensors per query head for the quadratic forms; `mlp` rows of
 * width d_ff per MLP. The constants are fitted to the process RSS of this kit's steps on the native backend
 * (paper config, SHGA, T = 1k … 4k: VQ ≈ 0.43 MB per token and GAU; full ≈ 0.30 MB per token and GAU plus
 * 8 fp32 T×T tensors), rounded up: the estimate errs on the large side.
 * @param cfg a config from throughputConfig (B = train.batchSize, U = train.updateLen)
 */
export function estimateStepBytes(cfg: Config): number {
  const m = cfg.model;
  const B = cfg.train.batchSize, U = cfg.train.updateLen;
  const H = m.nHead, nSub = attentionSublayers(m).length;
  const W = 2 * m.dModel + 3 * H * m.dK + 6 * H * m.dV;
  const perSub = isQuadraticForm(m.attnType)
    ? MEMORY_FIT.fullLin * U * W + MEMORY_FIT.quad * H * U * U
    : MEMORY_FIT.vqLin * U * W + MEMORY_FIT.blocks * U * H * (2 * m.blockLen + m.nCode);
  const mlp = m.headType === "shga" ? 0 : MEMORY_FIT.mlp * m.nLayer * U * m.dFF;
  const head = 3 * U * m.vocabSize;
  // parameters: value, gradient and two AdamW slots, fp32
  return MEMORY_FIT.runtimeBytes + 16 * countParamsOf(m) + 4 * B * (nSub * perSub + mlp + head);
}

/** Whether a point runs, with which update length, and if not why (recorded in the results as skipped). */
export interface PointPlan {
  run: boolean;
  /** tokens per parameter update: T when the whole sequence fits, else the largest fitting T / 2^k (VQ only) */
  U: number;
  /** estimated peak bytes of one update of U tokens */
  estimatedBytes: number;
  /** why the point is skipped, or how it deviates (truncated backprop); empty otherwise */
  reason: string;
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

/**
 * Decides how a point runs within `budgetBytes`: the whole sequence in one update (U = T) when its estimated
 * memory fits. Otherwise the linear VQ forms train the sequence in T / U updates of U tokens (truncated
 * backpropagation, the recurrent state carried as in trainRun: the same work per token, gradients cut every U
 * tokens), with the largest U = T / 2^k ≥ `minUpdateLen` that fits; the quadratic forms carry no state, so they
 * are skipped.
 * @param cfg a config from throughputConfig (U = T)
 * @param budgetBytes e.g. 12 GiB
 */
export function planPoint(cfg: Config, budgetBytes: number, minUpdateLen = 2048): PointPlan {
  const T = cfg.train.sequenceLen, L = cfg.model.blockLen;
  const estimate = (U: number) => estimateStepBytes(withStepShape(cfg, { U }));
  const whole = estimate(T);
  if (whole <= budgetBytes) return { run: true, U: T, estimatedBytes: whole, reason: "" };
  const quadratic = isQuadraticForm(cfg.model.attnType);
  if (!quadratic) {
    for (let U = T / 2; Number.isInteger(U) && U % L === 0 && U >= Math.max(minUpdateLen, L); U /= 2) {
      const est = estimate(U);
      if (est <= budgetBytes) {
        return { run: true, U, estimatedBytes: est, reason: `truncated backprop: ${T / U} updates of U = ${U} tokens (one update over T = ${T} needs ~${gib(whole)} GiB > budget ${gib(budgetBytes)} GiB)` };
      }
    }
  }
  const what = quadratic ? `the T×T score tensors of ${cfg.model.attnType} attention at T = ${T}` : `activations at T = ${T}`;
  return {
    run: false, U: T, estimatedBytes: whole,
    reason: `estimated step memory ${gib(whole)} GiB exceeds the budget of ${gib(budgetBytes)} GiB (${what}); raise --budget-gb if the machine has the memory`,
  };
}
