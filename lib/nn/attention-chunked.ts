/**
 * Form (d), full causal attention, in query × key chunks: the memory-efficient quadratic baseline. It computes
 * the same function as `fullAttention` (attention.ts) with an online softmax over key chunks, so no T×T tensor
 * exists in either pass; memory grows as T·C (chunk C), while the work stays quadratic. For query chunk I and key
 * chunks J = 0 … I (rows i of I, columns j of J):
 *
 *   s_IJ = (q_I + u) k_Jᵀ + rel((q_I + v) r_Dᵀ) + mask        (D: the 2C − 1 distances i − j the pair spans)
 *   m_I ← max(m_I, max_j s_ij),   ℓ_I ← ℓ_I e^{m_old − m_I} + Σ_j e^{s_ij − m_I},   a_I ← a_I e^{m_old − m_I} + e^{s_IJ − m_I} v_J
 *   o_I = a_I / ℓ_I,   λ_I = m_I + log ℓ_I   (the row's log-normalizer, kept for the backward pass).
 *
 * The backward pass (a custom gradient) recomputes s_IJ pair by pair instead of keeping it: with P = e^{s_IJ − λ_I}
 * and δ_I = rowsum(dO_I ⊙ o_I),
 *
 *   dv_J += Pᵀ dO_I,   dS = P ⊙ (dO_I v_Jᵀ − δ_I),   d(q+u)_I += dS k_J,   dk_J += dSᵀ (q+u)_I,
 *   and through rel(·): d(q+v)_I += rel⁻¹(dS) r_D,   dr_D += rel⁻¹(dS)ᵀ (q+v)_I.
 *
 * Attention itself has no dropout (as in `fullAttention`); the dropout of the relative keys happens before, in
 * pe.ts, and is unchanged. Chunks are C long except the last (T need not be a multiple of C).
 */
import * as tf from "../runtime/tf";
import { matMul } from "../runtime/matmul";
import { XLBias, addHeadBias, dimsOf, groupHeads, reversedRelativeKeys, scoreMask } from "./attention";

/** The chunks [start, size] of 0 … T−1 (size C, the last one shorter). */
function chunksOf(T: number, C: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < T; s += C) out.push([s, Math.min(C, T - s)]);
  return out;
}

/**
 * rel(·) of a chunk pair: pr [N, G·cq, P] (P = cq + ck − 1; column c ↔ distance dmax − c) → [N, G·cq, ck] with
 * out[i, j] = pr[i, cq − 1 − i + j] (i the row within the chunk): a flat slice at offset cq − 1 read as rows of
 * P − 1, no gather (one query row needs no shift).
 */
function skew(pr: tf.Tensor, G: number, cq: number, ck: number): tf.Tensor {
  const [N, , P] = pr.shape as number[];
  if (cq === 1) return pr; // one query row: P = ck columns, already in place
  const flat = pr.reshape([N * G, cq * P]);
  const rows = tf.slice(flat, [0, cq - 1], [N * G, cq * (P - 1)]).reshape([N * G, cq, P - 1]);
  return tf.slice(rows, [0, 0, 0], [N * G, cq, ck]).reshape([N, G * cq, ck]);
}

/** The adjoint of `skew`: dS [N, G·cq, ck] placed back on the [N, G·cq, P] grid (zeros elsewhere). */
function unskew(dS: tf.Tensor, G: number, cq: number, ck: number): tf.Tensor {
  const N = dS.shape[0] as number, P = cq + ck - 1;
  if (cq === 1) return dS;
  const rows = tf.pad(dS.reshape([N * G, cq, ck]), [[0, 0], [0, 0], [0, P - 1 - ck]]);
  const flat = tf.pad(rows.reshape([N * G, cq * (P - 1)]), [[0, 0], [cq - 1, 1]]);
  return flat.reshape([N, G * cq, P]);
}

/** One chunk pair's operands and scores. */
interface Pair { qu: tf.Tensor; qw: tf.Tensor; k: tf.Tensor; v: tf.Tensor; r: tf.Tensor; s: tf.Tensor; start: number }

/**
 * Scores of query chunk [i0, i0+cq) against key chunk [j0, j0+ck) (j0 ≤ i0). quAll / qwAll [N, G, T, d_k],
 * k [N, T, d_k], v [N, T, d_v], rr [N, T + C − 1, d_k] (row ρ ↔ distance T − 1 − ρ; rows past T − 1 are zero,
 * the negative distances of the diagonal pair, which the mask hides).
 */
function pairScores(quAll: tf.Tensor, qwAll: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rr: tf.Tensor, T: number,
                    [i0, cq]: [number, number], [j0, ck]: [number, number]): Pair {
  const [N, G, , dK] = quAll.shape as number[];
  const dV = v.shape[2] as number;
  const qu = tf.slice(quAll, [0, 0, i0, 0], [N, G, cq, dK]).reshape([N, G * cq, dK]);
  const qw = tf.slice(qwAll, [0, 0, i0, 0], [N, G, cq, dK]).reshape([N, G * cq, dK]);
  const kJ = tf.slice(k, [0, j0, 0], [N, ck, dK]);
  const vJ = tf.slice(v, [0, j0, 0], [N, ck, dV]);
  const dMax = i0 + cq - 1 - j0, P = cq + ck - 1;
  const start = T - 1 - dMax;
  const rD = tf.slice(rr, [0, start, 0], [N, P, dK]); // distances dMax … dMax − P + 1
  let s = tf.add(matMul(qu, kJ, false, true), skew(matMul(qw, rD, false, true), G, cq, ck)); // [N, G·cq, ck]
  if (j0 + ck - 1 > i0) { // the diagonal pair: causal mask (i0 = j0, cq = ck)
    s = tf.add(s.reshape([N, G, cq, ck]), scoreMask(cq, ck)).reshape([N, G * cq, ck]);
  }
  return { qu, qw, k: kJ, v: vJ, r: rD, s, start };
}

/** Replaces acc[i] by acc[i] + x (disposing the old sum). */
function accumulate(acc: (tf.Tensor | undefined)[], i: number, x: tf.Tensor): void {
  const old = acc[i];
  acc[i] = old ? tf.keep(tf.add(old, x)) : tf.keep(x.clone());
  old?.dispose();
}

/**
 * The custom op on grouped tensors: quAll, qwAll [N, G, T, d_k] (q + u, q + v), k [N, T, d_k], v [N, T, d_v],
 * rr [N, T + C − 1, d_k] → [N, G, T, d_v].
 */
function chunkedCore(C: number): (...xs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [quAll, qwAll, k, v, rr] = args as tf.Tensor[];
    const save = args[5] as tf.GradSaveFunc;
    const [N, G, T] = quAll.shape as number[];
    const dV = v.shape[2] as number;
    const chunks = chunksOf(T, C);
    const outs: tf.Tensor[] = [], lses: tf.Tensor[] = [];
    for (let I = 0; I < chunks.length; I++) {
      let m: tf.Tensor | undefined, l: tf.Tensor | undefined, a: tf.Tensor | undefined;
      for (let J = 0; J <= I; J++) {
        const next = tf.tidy(() => {
          const { s, v: vJ } = pairScores(quAll, qwAll, k, v, rr, T, chunks[I], chunks[J]);
          const mJ = tf.max(s, -1, true);
          if (!m) { // first key chunk: every row sees key 0, so m is finite from here on
            const e = tf.exp(tf.sub(s, mJ));
            return [mJ, tf.sum(e, -1, true), matMul(e, vJ)];
          }
          const mNew = tf.maximum(m, mJ);
          const alpha = tf.exp(tf.sub(m, mNew));
          const e = tf.exp(tf.sub(s, mNew));
          return [mNew, tf.add(tf.mul(l!, alpha), tf.sum(e, -1, true)), tf.add(tf.mul(a!, alpha), matMul(e, vJ))];
        });
        tf.dispose([m!, l!, a!].filter(Boolean));
        [m, l, a] = next;
      }
      const cq = chunks[I][1];
      outs.push(tf.tidy(() => tf.div(a!, l!).reshape([N, G, cq, dV])));
      lses.push(tf.tidy(() => tf.add(m!, tf.log(l!)).reshape([N, G, cq, 1])));
      tf.dispose([m!, l!, a!]);
    }
    const out = outs.length === 1 ? outs[0] : tf.concat(outs, 2);
    const lse = lses.length === 1 ? lses[0] : tf.concat(lses, 2);
    if (outs.length > 1) tf.dispose([...outs, ...lses]);
    save([quAll, qwAll, k, v, rr, out, lse]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [qu0, qw0, k0, v0, rr0, o0, lse0] = saved;
        const dO = dy as tf.Tensor;
        const delta = tf.sum(tf.mul(dO, o0), -1, true); // [N, G, T, 1]
        const dQu: (tf.Tensor | undefined)[] = [], dQw: (tf.Tensor | undefined)[] = [];
        const dK: (tf.Tensor | undefined)[] = [], dVs: (tf.Tensor | undefined)[] = [];
        const dR = new Map<string, tf.Tensor | undefined>(); // per window of distances (start, length)
        for (let I = 0; I < chunks.length; I++) {
          const [i0, cq] = chunks[I];
          // query chunk I's rows of lse, dO and delta, sliced once for all its key chunks
          const rows = (x: tf.Tensor, w: number) => tf.slice(x, [0, 0, i0, 0], [N, G, cq, w]).reshape([N, G * cq, w]);
          const [lseI, dOI, deltaI] = tf.tidy(() => [rows(lse0, 1), rows(dO, dV), rows(delta, 1)]);
          for (let J = 0; J <= I; J++) {
            tf.tidy(() => {
              const ck = chunks[J][1];
              const p = pairScores(qu0, qw0, k0, v0, rr0, T, chunks[I], chunks[J]);
              const P = tf.exp(tf.sub(p.s, lseI)); // the softmax weights, recomputed
              accumulate(dVs, J, matMul(P, dOI, true, false));
              const dS = tf.mul(P, tf.sub(matMul(dOI, p.v, false, true), deltaI));
              accumulate(dQu, I, matMul(dS, p.k));
              accumulate(dK, J, matMul(dS, p.qu, true, false));
              const dPr = unskew(dS, G, cq, ck);
              accumulate(dQw, I, matMul(dPr, p.r));
              const key = `${p.start},${cq + ck - 1}`;
              const acc = [dR.get(key)];
              accumulate(acc, 0, matMul(dPr, p.qw, true, false));
              dR.set(key, acc[0]);
            });
          }
          tf.dispose([lseI, dOI, deltaI]);
        }
        return tf.tidy(() => {
          const dKdim = k0.shape[2] as number, R = rr0.shape[1] as number;
          const byQuery = (xs: (tf.Tensor | undefined)[]) => tf.concat(xs.map((x, I) => x!.reshape([N, G, chunks[I][1], dKdim])), 2);
          const gR = [...dR.entries()].map(([key, x]) => {
            const [start, len] = key.split(",").map(Number);
            return tf.pad(x!, [[0, 0], [start, R - start - len], [0, 0]]);
          });
          const grads = [byQuery(dQu), byQuery(dQw), tf.concat(dK as tf.Tensor[], 1), tf.concat(dVs as tf.Tensor[], 1),
            gR.length === 1 ? gR[0] : tf.addN(gR)];
          tf.dispose([delta, ...dQu, ...dQw, ...dK, ...dVs, ...dR.values()].filter((x): x is tf.Tensor => !!x));
          return grads;
        });
      },
    };
  });
}

/**
 * (d) in chunks of C queries and C keys: the value and gradients of `fullAttention(q, k, v, xl)` without a T×T
 * tensor.
 * @param q [B, H, T, d_k], k [B, h, T, d_k] (not quantized), v [B, h, T, d_v]
 * @param xl XL biases with r covering T distances
 * @param C  chunk length (≥ 1; T need not be a multiple)
 * @returns [B, H, T, d_v]
 */
export function fullAttentionChunked(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, xl: XLBias, C: number): tf.Tensor4D {
  if (!Number.isInteger(C) || C < 1) throw new Error(`fullAttentionChunked: chunk length ${C} must be an integer ≥ 1`);
  const { B, H, h, G, T, dK, dV } = dimsOf(q, k, v, xl);
  const N = B * h, c = Math.min(C, T);
  const qu = groupHeads(addHeadBias(q, xl.u), h).reshape([N, G, T, dK]);
  const qw = groupHeads(addHeadBias(q, xl.w), h).reshape([N, G, T, dK]);
  // relative keys reversed (row ρ ↔ distance T − 1 − ρ), then c − 1 zero rows for the diagonal pair's negative
  // distances, one copy per sequence
  const rPad = tf.pad(reversedRelativeKeys(xl.r, T), [[0, 0], [0, c - 1], [0, 0]]); // [h, T + c − 1, d_k]
  const rr = B === 1 ? rPad : tf.tile(rPad.expandDims(0), [B, 1, 1, 1]);
  const out = chunkedCore(c)(qu, qw, k.reshape([N, T, dK]), v.reshape([N, T, dV]), rr.reshape([N, T + c - 1, dK]));
  return out.reshape([B, H, T, dV]) as tf.Tensor4D;
}

