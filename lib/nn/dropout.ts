/**
 * Inverted dropout (paper §5.1/§5.5: residual dropout, LayerDrop, dropout on the relative-position sinusoids):
 * y = x ⊙ m / (1 − p) with m_i ~ Bernoulli(1 − p). The mask comes from a seeded xoshiro128** stream
 * (lib/runtime/rng.ts), so a call is reproducible from its seed (and a few times faster than tf.dropout's seeded
 * path, which draws each number through seedrandom).
 */
import * as tf from "../runtime/tf";
import { Rng } from "../runtime/rng";

/**
 * @param x          any shape
 * @param rate       p in [0, 1)
 * @param seed       integer seed of this mask
 * @param noiseShape shape of the mask, broadcast against x (e.g. [B, 1, 1] for LayerDrop); default x's shape
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number, noiseShape?: number[]): T {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate ${rate} must be in [0, 1)`);
  if (rate === 0) return x;
  return tf.mul(x, dropoutMask(noiseShape ?? (x.shape as number[]), rate, seed)) as T;
}

/** The mask m / (1 − p) of `dropout` (values 0 or 1/(1 − p)), drawn from the seed's stream. */
export function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const keep = 1 / (1 - rate);
  const threshold = rate * 4294967296;
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) mask[i] = rng.nextUint32() < threshold ? 0 : keep;
  return tf.tensor(mask, shape);
}
