/**
 * Which points of the throughput study fit in memory. Memory, not time, ends the quadratic model on a CPU
 * machine: it keeps a few fp32 T×T score tensors per sublayer alive for the backward pass, while Transformer-VQ's
 * activations are linear in T (its scores are blocks of L × (2L + S)). `estimateStepBytes` (lib/train/memory.ts,
 * where training also refuses a run too large for the machine) is a fitted estimate of one update's peak bytes;
 * `planPoint` decides from it whether a point runs whole, runs with truncated backpropagation (the VQ forms only:
 * they carry a recurrent state), runs full attention in chunks (model.fullChunk) or is skipped, with the reason.
 */
import { Config, isQuadraticForm } from "../../config";
import { MEMORY_FIT, estimateStepBytes, fullChunkOf } from "../../train/memory";
import { withStepShape } from "./measure";

// The study plans its points with the numbers training checks a run with (one memory model).
export { MEMORY_FIT, estimateStepBytes, fullChunkOf };

/** Whether a point runs, with which update length, and if not why (recorded in the results as skipped). */
export interface PointPlan {
  run: boolean;
  /** tokens per parameter update: T when the whole sequence fits, else the largest fitting T / 2^k (VQ only) */
  U: number;
  /** full attention: the chunk length it runs with (model.fullChunk) when the T×T scores do not fit; else absent */
  fullChunk?: number;
  /** estimated peak bytes of one update of U tokens */
  estimatedBytes: number;
  /** why the point is skipped, or how it deviates (truncated backprop); empty otherwise */
  reason: string;
}

/** The chunk the plan gives full attention up to T = 32·FULL_CHUNK (its C×C pair scores stay small next to the T·C rows). */
export const FULL_CHUNK = 512;

/**
 * At most this many chunks per sequence: a step's TensorFlow graph is unrolled over the n(n + 1)/2 chunk pairs (the
 * kit has no graph loop), and compiling it costs memory and time that grow with them. Measured on native, paper
 * config: 16 chunks (136 pairs, 34,000 nodes) took 1.2 GiB and ~20 s to compile; 32 chunks of 1,024 at T = 32k
 * (528 pairs) peaked at 21 GiB with the eager trace; 64 chunks of 512 there ran out of 24 GiB. Past
 * lib/runtime/graph.ts MAX_GRAPH_NODES a step runs eagerly instead.
 */
export const MAX_FULL_CHUNKS = 32;

/** The chunk length of full attention in chunks at T tokens, block length L: min(L, FULL_CHUNK), or T / MAX_FULL_CHUNKS when larger. */
export function planFullChunk(T: number, L: number): number {
  return Math.max(Math.min(L, FULL_CHUNK), Math.ceil(T / MAX_FULL_CHUNKS));
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

/**
 * Decides how a point runs within `budgetBytes`: the whole sequence in one update (U = T) when its estimated
 * memory fits. Otherwise the linear VQ forms train the sequence in T / U updates of U tokens (truncated
 * backpropagation, the recurrent state carried as in trainRun: the same work per token, gradients cut every U
 * tokens), with the largest U = T / 2^k ≥ `minUpdateLen` that fits; full attention runs in query/key chunks of
 * planFullChunk(T, L) instead (the same function, memory T·C); what still does not fit is skipped.
 * @param cfg a config from throughputConfig (U = T)
 * @param budgetBytes e.g. 12 GiB
 */
export function planPoint(cfg: Config, budgetBytes: number, minUpdateLen = 2048): PointPlan {
  const T = cfg.train.sequenceLen, L = cfg.model.blockLen;
  const estimate = (U: number) => estimateStepBytes(withStepShape(cfg, { U }));
  const whole = estimate(T);
  if (whole <= budgetBytes) return { run: true, U: T, estimatedBytes: whole, reason: "" };
  const quadratic = isQuadraticForm(cfg.model.attnType);
  if (cfg.model.attnType === "full" && !(cfg.model.fullChunk ?? 0)) {
    // full attention in query/key chunks of one block (nn/attention-chunked.ts): the same function, memory T·C
    const C = planFullChunk(T, L);
    const chunked = estimateStepBytes({ ...cfg, model: { ...cfg.model, fullChunk: C } });
    if (C < T && chunked <= budgetBytes) {
      return { run: true, U: T, fullChunk: C, estimatedBytes: chunked, reason: `chunked quadratic attention: C = ${C} (T×T scores need ~${gib(whole)} GiB > budget ${gib(budgetBytes)} GiB)` };
    }
  }
  if (!quadratic) {
    for (let U = T / 2; Number.isInteger(U) && U % L === 0 && U >= Math.max(minUpdateLen, L); U /= 2) {
      const est = estimate(U);
      if (est <= budgetBytes) {
        return { run: true, U, estimatedBytes: est, reason: `truncated backprop: ${T / U} updates of U = ${U} tokens (one update over T = ${T} needs ~${gib(whole)} GiB > budget ${gib(budgetBytes)} GiB)` };
      }
    }
  }
  const C = planFullChunk(T, L);
  const chunked = cfg.model.attnType === "full" && C < T ? estimateStepBytes({ ...cfg, model: { ...cfg.model, fullChunk: C } }) : 0;
  const what = chunked ? `T×T scores; in chunks of C = ${C}: ~${gib(chunked)} GiB of activations at T = ${T}`
    : quadratic ? `the T×T score tensors of ${cfg.model.attnType} attention at T = ${T}` : `activations at T = ${T}`;
  return {
    run: false, U: T, estimatedBytes: whole,
    reason: `estimated step memory ${gib(whole)} GiB exceeds the budget of ${gib(budgetBytes)} GiB (${what}); raise --budget-gb if the machine has the memory`,
  };
}
