/**
 * The kit's seeded randomness. `Rng` is a small PRNG (xoshiro128**, seeded through splitmix32) whose whole state is
 * four uint32 numbers, so a checkpoint can store it as JSON and a resumed run draws exactly the numbers an
 * uninterrupted run would; it draws the training order of sequences (batches.ts), dropout masks (nn/dropout.ts),
 * and the deterministic choices of the data loaders. `mixSeed` derives the seed of one stream (one initialized
 * tensor, one dropout site) from a run seed, so that every stream is a pure function of (seed, stream).
 */

/** splitmix32 step: a well-mixed uint32 from a uint32 state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A 31-bit seed for stream `stream` of run seed `seed`: both multiplied by odd constants and combined, then the
 * lowbias32 integer hash (xor-shift-multiply rounds), so neighbouring pairs get unrelated seeds.
 */
export function mixSeed(seed: number, stream: number): number {
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) & 0x7fffffff;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

export class Rng {
  private s: Uint32Array;

  /** seed: any integer (or a list of integers, e.g. [seed, epoch], mixed into one stream) */
  constructor(seed: number | number[] = 0) {
    const parts = Array.isArray(seed) ? seed : [seed];
    let h = 0x243f6a88;
    for (const p of parts) {
      if (!Number.isSafeInteger(p)) throw new Error(`Rng seed ${p} must be a safe integer`);
      h = splitmix32(h ^ (p >>> 0));
      h = splitmix32(h ^ Math.floor(p / 4294967296) >>> 0);
    }
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) this.s[i] = h = splitmix32(h + i);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** a uniform uint32 */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** uniform in [0, 1) with 32 random bits */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** uniform integer in [0, n), unbiased (rejection sampling); n ≤ 2^32 */
  nextInt(n: number): number {
    if (!(Number.isInteger(n) && n > 0 && n <= 4294967296)) throw new Error(`Rng.nextInt(${n}): n must be an integer in [1, 2^32]`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Fisher–Yates shuffle in place; returns the array */
  shuffle<A extends { length: number; [i: number]: number }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** the full state, for checkpoints */
  getState(): number[] {
    return Array.from(this.s);
  }

  /** an Rng continuing from a saved state */
  static fromState(state: number[]): Rng {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((v) => Number.isInteger(v) && v >= 0 && v < 4294967296)) {
      throw new Error(`Rng state ${JSON.stringify(state)} must be four uint32 numbers (from Rng.getState()); the checkpoint is corrupt`);
    }
    const r = new Rng(0);
    r.s = Uint32Array.from(state);
    return r;
  }
}
