/**
 * Will one parameter update fit in memory? A run too large for the machine otherwise fails deep inside its first
 * update ("Array buffer allocation failed", or the process is killed) after the data and the model were built.
 * `estimateStepBytes` is a fitted estimate of one update's peak bytes (also the throughput study's memory plan,
 * lib/experiments/throughput/memory.ts); `checkRunFits` compares it with the machine's memory before any tensor
 * is allocated and refuses with the estimate, the memory there is and the knobs that shrink the update. It also
 * refuses data shorter than one sequence (lib/train/evaluate.ts checkSplitsHoldSequence).
 */
import * as os from "node:os";
import { Config, isQuadraticForm } from "../config";
import { attentionSublayers, countParamsOf } from "../nn/index";
import { Dataset } from "../data/datasets";
import { checkSplitsHoldSequence } from "./evaluate";

/** Live-tensor multipliers of estimateStepBytes (fitted; see its comment) and the runtime's own bytes. */
export const MEMORY_FIT = { vqLin: 9, blocks: 12, fullLin: 7, chunkLin: 5, quad: 8, mlp: 4, runtimeBytes: 512 * 2 ** 20 };

/** The chunk length full attention runs with on U tokens (nn/model.ts): model.fullChunk when 0 < C < U, else 0 (T×T). */
export function fullChunkOf(m: Config["model"], U: number): number {
  const C = m.attnType === "full" ? m.fullChunk ?? 0 : 0;
  return C > 0 && C < U ? C : 0;
}

/**
 * Rough peak bytes of one parameter update of U = train.updateLen tokens per sequence (fp32 activations kept for
 * the backward pass, transients of the backward pass, parameters with gradients and AdamW slots, the runtime).
 * Per attention sublayer, sequence and token it counts `lin` row tensors of width W = 2·d_model + 3·H·d_k +
 * 6·H·d_v, plus `blocks` score rows of width H·(2L + S) for the VQ forms or `quad` T×T score tensors per query
 * head for the quadratic forms (full attention in chunks of C: `chunkLin` rows and `quad` C×C tensors; fitted to
 * 7.0 / 13.5 GiB RSS at T = 16k / 32k, C = 512, paper config, native: 0.20 MB per token and GAU); `mlp` rows of
 * width d_ff per MLP. The constants are fitted to the process RSS of
 * this kit's steps on the native backend (paper config, SHGA, T = 1k … 4k: VQ ≈ 0.43 MB per token and GAU; full ≈
 * 0.30 MB per token and GAU plus 8 fp32 T×T tensors), rounded up: the estimate errs on the large side for eager
 * steps. A step run as one TensorFlow graph peaks higher (the eager trace, the compile, then the session's own
 * buffers; 3 December 2026, paper config: VQ 9.1 / 17.0 GiB at T = 8k / 16k against estimates of 7.9 / 15.2, full
 * attention unchunked at 8k 15.2 against 9.4): the throughput study plans a killed point again (planPoint).
 * @param cfg a training config (B = train.batchSize, U = train.updateLen)
 */
export function estimateStepBytes(cfg: Config): number {
  const m = cfg.model;
  const B = cfg.train.batchSize, U = cfg.train.updateLen;
  const H = m.nHead, nSub = attentionSublayers(m).length;
  const W = 2 * m.dModel + 3 * H * m.dK + 6 * H * m.dV;
  const C = fullChunkOf(m, U);
  const perSub = C > 0 // chunked full attention: `chunkLin` rows, C×C pair scores instead of T×T ones
    ? MEMORY_FIT.chunkLin * U * W + MEMORY_FIT.quad * H * C * C
    : isQuadraticForm(m.attnType)
      ? MEMORY_FIT.fullLin * U * W + MEMORY_FIT.quad * H * U * U
      : MEMORY_FIT.vqLin * U * W + MEMORY_FIT.blocks * U * H * (2 * m.blockLen + m.nCode);
  const mlp = m.headType === "shga" ? 0 : MEMORY_FIT.mlp * m.nLayer * U * m.dFF;
  const head = 3 * U * m.vocabSize;
  // parameters: value, gradient and two AdamW slots, fp32
  return MEMORY_FIT.runtimeBytes + 16 * countParamsOf(m) + 4 * B * (nSub * perSub + mlp + head);
}

/** The memory a run may use, and where that number comes from. */
export interface MemoryBudget {
  bytes: number;
  /** "TVQ_MEMORY_BYTES" or "this machine's total memory" */
  source: string;
  /** memory free right now (shown, not compared: other processes come and go) */
  freeBytes: number;
}

/**
 * TVQ_MEMORY_BYTES when set (tests; a container's limit that os.totalmem does not see), else the machine's total
 * memory. Total, not free, memory is the limit: a refusal must mean "cannot fit", not "other processes use memory
 * now", and the estimate already errs on the large side.
 */
export function memoryBudget(env: NodeJS.ProcessEnv = process.env): MemoryBudget {
  const raw = env.TVQ_MEMORY_BYTES;
  if (raw !== undefined && raw.trim() !== "") {
    const bytes = Number(raw);
    if (!(Number.isFinite(bytes) && bytes > 0)) throw new Error(`TVQ_MEMORY_BYTES=${raw} must be a number of bytes > 0 (e.g. 8589934592 for 8 GiB), or unset`);
    return { bytes, source: "TVQ_MEMORY_BYTES", freeBytes: Math.min(bytes, os.freemem()) };
  }
  return { bytes: os.totalmem(), source: "this machine's total memory", freeBytes: os.freemem() };
}

/** "5.2 GiB" (two significant digits below 10). */
function gib(bytes: number): string {
  const g = bytes / 2 ** 30;
  return `${g < 10 ? g.toPrecision(2) : g.toFixed(0)} GiB`;
}

/** `cfg` with some train fields replaced (estimates of smaller updates). */
function withTrain(cfg: Config, train: Partial<Config["train"]>): Config {
  return { ...cfg, train: { ...cfg.train, ...train } };
}

/**
 * Throws, before anything is allocated, when one update of `cfg` cannot fit in `budget`: the message names the
 * estimate, the memory there is and what the knobs would need (batch 1, updates of one block L, the parameters).
 */
export function checkMemoryFits(cfg: Config, budget: MemoryBudget = memoryBudget()): void {
  const need = estimateStepBytes(cfg);
  if (need <= budget.bytes) return;
  const { batchSize: B, updateLen: U, sequenceLen: T } = cfg.train;
  const L = cfg.model.blockLen;
  const params = countParamsOf(cfg.model);
  const knobs = [
    B > 1 ? `train.batchSize (${B}; at 1: ${gib(estimateStepBytes(withTrain(cfg, { batchSize: 1 })))})` : "",
    U > L ? `train.updateLen (${U}; a divisor of T = ${T} and a multiple of L = ${L}, truncated backprop; at ${L}: ${gib(estimateStepBytes(withTrain(cfg, { updateLen: L })))})` : "",
    B > 1 && U > L ? `both: ${gib(estimateStepBytes(withTrain(cfg, { batchSize: 1, updateLen: L })))}` : "",
    fullChunkOf(cfg.model, U) === 0 && cfg.model.attnType === "full" && U > L
      ? `model.fullChunk (full attention in chunks, the same values: at ${L}: ${gib(estimateStepBytes({ ...cfg, model: { ...cfg.model, fullChunk: L } }))})` : "",
    `the model: model.dModel (${cfg.model.dModel}), model.dV (${cfg.model.dV}), model.nLayer (${cfg.model.nLayer}), ` +
      `model.vocabSize (${cfg.model.vocabSize}); its ${params.toLocaleString("en-US")} parameters with gradients and optimizer state alone take ${gib(16 * params)}`,
  ].filter(Boolean);
  throw new Error(`this run cannot fit in memory: one update of B = ${B} sequences × U = ${U} tokens needs about ${gib(need)} ` +
    `(the kit's memory model, lib/train/memory.ts), and the limit is ${gib(budget.bytes)} (${budget.source}; ${gib(budget.freeBytes)} free now). ` +
    `Nothing was allocated. Make the update smaller with --set: ${knobs.join("; ")}. ` +
    `A machine with more memory runs it as it is (TVQ_MEMORY_BYTES sets the limit when the total is not what the run may use).`);
}

/**
 * What a run is refused for before anything is allocated (openRun calls it first): a step the machine's memory
 * cannot hold, and data shorter than one sequence.
 */
export function checkRunFits(cfg: Config, data: Dataset): void {
  checkSplitsHoldSequence(data, cfg.train.sequenceLen);
  checkMemoryFits(cfg);
}
