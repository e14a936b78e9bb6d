/**
 * One plain typed config for model and training, with presets as data.
 * Letters follow the paper: T = sequence length, L = block length, M = memory length (= L),
 * S = codebook size, d_k / d_v = key / value widths.
 *
 * OWNER: core (issue 3) completes presets (`paper-enwik8`, `paper-pg19`, `paper-imagenet64`, `tiny`,
 * `cpu-small`, ...) and `validateConfig`. The type shapes below are the contract the other modules use.
 */

/** How attention is computed; the three vq-* forms compute the same function. */
export type AttnType = "vq-linear" | "vq-parallel" | "vq-quadratic" | "full";
/** SHGA: single-head gated attention (GAU); MHA / MQA only for the throughput study. */
export type HeadType = "shga" | "mha" | "mqa";
export type OptimizerName = "adamw" | "adafactor";

export interface ModelConfig {
  /** vocabulary size V (259 for bytes: 0 pad, 1 eos, 2 unk, byte b -> b+3) */
  vocabSize: number;
  dModel: number;
  /** d_k */
  dK: number;
  /** d_v (SHGA: 2·d_model) */
  dV: number;
  headType: HeadType;
  /** query heads (1 for shga) */
  nHead: number;
  /** layers; shga: two GAUs per layer, no MLP; mha/mqa: attention + MLP */
  nLayer: number;
  /** MLP width (0 for shga) */
  dFF: number;
  /** codebook size S */
  nCode: number;
  /** block length L */
  blockLen: number;
  /** memory length M (the paper uses M = L) */
  memLen: number;
  attnType: AttnType;
  /** compressive cache on/off (off: window of M + L keys with locality mask) */
  aggCache: boolean;
  /** let gradients flow through the carried cache within one update */
  gradThruCache: boolean;
  /** absolute sinusoid times a learnable scalar (images) */
  peAbs: boolean;
  /** max wavelength of the sinusoids */
  peLam: number;
  pDropEmb: number;
  pDropSin: number;
  pDropRes: number;
  /** LayerDrop */
  pDropLyr: number;
  /** commitment loss coefficient */
  cBeta: number;
  /** codebook EMA rate */
  cGamma: number;
  /** tied input/output embedding */
  eTie: boolean;
  /** RMSNorm before the output head */
  ePreln: boolean;
  /** output scale (tied head) */
  eScale: number;
}

export interface TrainConfig {
  /** global batch size B */
  batchSize: number;
  /** T: the recurrent state is reset every T tokens; evaluation windows are T long */
  sequenceLen: number;
  /** tokens per parameter update (truncated backprop window); divides T, multiple of L */
  updateLen: number;
  optimizer: OptimizerName;
  lrMax: number;
  warmupSteps: number;
  /** parameter updates in the run (also the cosine schedule's length) */
  maxSteps: number;
  /** the cosine schedule ends at lrFinalFrac × lrMax (paper: 0.1) */
  lrFinalFrac: number;
  adamB1: number;
  adamB2: number;
  adamEps: number;
  /** decoupled weight decay, not scaled by the learning rate (paper 4.4); 0 = off */
  wdLam: number;
  /** global-norm clip; 0 = off */
  gradClip: number;
  /** evaluate every this many updates (0 = only at the end) */
  evalEvery: number;
  /** checkpoint every this many updates */
  saveEvery: number;
  /** tokens of the validation split per periodic evaluation (0 = all) */
  evalTokens: number;
  seed: number;
}

export interface SamplingConfig {
  /** nucleus p */
  topP: number;
  temperature: number;
}

export interface Config {
  /** preset name this config came from */
  preset: string;
  model: ModelConfig;
  train: TrainConfig;
  sampling: SamplingConfig;
}
