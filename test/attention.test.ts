// VQ-attention: the linear forms equal the quadratic definition (outputs and gradients) for every divisor
// combination of T = 12 and a few larger shapes, on the cpu and wasm backends; the definition itself against a
// plain-JS loop; cache identities; state carried across calls; no leaked tensors.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend, testBackends } from "./helpers/backend";
import { EquivalenceOptions, FormDiff, runEquivalence } from "../lib/experiments/equivalence";
import { XLBias, fullAttention, vqAttentionQuadratic } from "../lib/nn/attention";
import { fullAttentionChunked } from "../lib/nn/attention-chunked";
import { countBias, vqAttentionParallel, vqAttentionRecurrent } from "../lib/nn/attention-linear";
import { AttnState, attnStateTensors, initialAttnState } from "../lib/nn/state";
import { quantize } from "../lib/nn/vq";
import { relativeBias, sinusoids } from "../lib/nn/pe";

const TOL = 1e-5; // max |difference| / max |reference|

function assertClose(d: FormDiff | undefined, what: string): void {
  assert.ok(d, `${what}: missing`);
  for (const [k, v] of Object.entries(d)) assert.ok(v.rel <= TOL, `${what} ${k}: max abs diff ${v.abs} (relative ${v.rel}) > ${TOL}`);
}

const divisors12 = [1, 2, 3, 4, 6, 12];

for (const backend of testBackends()) {
  test(`[${backend}] T = 12, every (L, M): recurrent = quadratic; parallel = quadratic when M = L (cache on and off)`, async () => {
    await initBackend(backend);
    let n = 0;
    for (const aggCache of [true, false]) {
      for (const L of divisors12) {
        for (const M of divisors12) {
          const r = runEquivalence({ T: 12, L, M, S: 5, dK: 4, dV: 6, seed: 10 * L + M, aggCache });
          assertClose(r.recurrent, `L=${L} M=${M} cache=${aggCache} recurrent`);
          if (M === L) assertClose(r.parallel, `L=${L} cache=${aggCache} parallel`);
          n++;
        }
      }
    }
    assert.equal(n, 72);
  });

  test(`[${backend}] larger random shapes: batch > 1, heads > 1 (MHA and MQA), cache on/off`, async () => {
    await initBackend(backend);
    const shapes: EquivalenceOptions[] = [
      { T: 48, L: 8, S: 16, dK: 8, dV: 12, seed: 3, aggCache: true },
      { T: 40, L: 8, S: 6, dK: 8, dV: 12, B: 3, seed: 4, aggCache: true },
      { T: 30, L: 5, M: 10, S: 7, dK: 6, dV: 5, B: 2, seed: 5, aggCache: true },
      { T: 32, L: 8, S: 9, dK: 4, dV: 6, B: 2, H: 2, seed: 6, aggCache: true },
      { T: 32, L: 8, S: 9, dK: 4, dV: 6, B: 2, H: 3, hKV: 1, seed: 7, aggCache: false },
      { T: 36, L: 6, S: 9, dK: 4, dV: 6, B: 1, H: 4, hKV: 2, seed: 8, aggCache: true },
    ];
    for (const s of shapes) {
      const r = runEquivalence(s);
      assertClose(r.recurrent, `${JSON.stringify(s)} recurrent`);
      if ((s.M ?? s.L) === s.L) assertClose(r.parallel, `${JSON.stringify(s)} parallel`);
    }
  });

  test(`[${backend}] grad-through-cache off: recurrent and parallel agree, and both differ from the full gradient`, async () => {
    await initBackend(backend);
    const r = runEquivalence({ T: 24, L: 6, S: 7, dK: 4, dV: 6, B: 2, H: 2, seed: 2, aggCache: true, gradThruCache: false });
    assertClose(r.parallelVsRecurrent, "parallel vs recurrent");
    assert.ok(r.recurrent.out.rel <= TOL, "forward unchanged");
    assert.ok(r.recurrent.gradV.rel > 1e-3, "values of earlier blocks get no gradient through the carried state");
  });
}

test("the equivalence check is not vacuous: a wrong band or a wrong window is detected", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const { q, qk, v, C, xl } = problem(1, 1, 1, 24, 9, 4, 5, 11);
    const st = initialAttnState(1, 1, 6, 9, 4, 5);
    const ref = vqAttentionQuadratic(q, qk, v, xl, { memLen: 6, aggCache: true });
    const rec = vqAttentionRecurrent(q, qk, v, C, xl, st, { blockLen: 6, memLen: 6, aggCache: true, gradThruCache: true, pos: 0 }).out;
    assert.ok(maxAbs(ref, rec) < 1e-5);
    assert.ok(maxAbs(ref, vqAttentionQuadratic(q, qk, v, xl, { memLen: 5, aggCache: true })) > 1e-3, "band M matters");
    assert.ok(maxAbs(ref, vqAttentionQuadratic(q, qk, v, xl, { memLen: 6, aggCache: false })) > 1e-3, "cache matters");
  });
});

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
}

/** Random q [B,H,T,dK], keys quantized with a random codebook, v, XL tensors with T distances. */
function problem(B: number, H: number, h: number, T: number, S: number, dK: number, dV: number, seed: number) {
  const rnd = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, "float32", seed++);
  const q = rnd([B, H, T, dK], 0.7);
  const k = rnd([B, h, T, dK], 0.7);
  const v = rnd([B, h, T, dV]);
  const C = rnd([h, S, dK], 0.7) as tf.Tensor3D;
  const xl: XLBias = { r: rnd([h, T, dK], 0.5) as tf.Tensor3D, u: rnd([H, dK], 0.3) as tf.Tensor2D, w: rnd([H, dK], 0.3) as tf.Tensor2D };
  return { q, k, v, C, xl, qk: quantize(k, C) };
}

test("the quadratic definition matches a plain-JS loop over s_ij = (q_i+u)·k̂_j + 1[i−j ≤ M](q_i+v)·r_{i−j}", async () => {
  await initBackend(testBackend());
  const T = 7, dK = 3, dV = 2, M = 2;
  for (const aggCache of [true, false]) {
    tf.tidy(() => {
      const { q, v, xl, qk } = problem(1, 1, 1, T, 4, dK, dV, 21);
      const out = vqAttentionQuadratic(q, qk, v, xl, { memLen: M, aggCache }).dataSync();
      const Q = q.arraySync() as number[][][][], K = qk.kHat.arraySync() as number[][][][], V = v.arraySync() as number[][][][];
      const R = xl.r.arraySync() as number[][][], U = xl.u.arraySync() as number[][], W = xl.w.arraySync() as number[][];
      const dot = (a: number[], b: number[]) => a.reduce((acc, x, i) => acc + x * b[i], 0);
      for (let i = 0; i < T; i++) {
        const qi = Q[0][0][i];
        const s: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (!aggCache && i - j > M) continue;
          s[j] = dot(qi.map((x, c) => x + U[0][c]), K[0][0][j]) + (i - j <= M ? dot(qi.map((x, c) => x + W[0][c]), R[0][i - j]) : 0);
        }
        const mx = Math.max(...s.filter((x) => x !== undefined));
        let den = 0;
        const num = new Array(dV).fill(0);
        s.forEach((sj, j) => {
          if (sj === undefined) return;
          const e = Math.exp(sj - mx);
          den += e;
          for (let c = 0; c < dV; c++) num[c] += e * V[0][0][j][c];
        });
        for (let c = 0; c < dV; c++) assert.ok(Math.abs(out[i * dV + c] - num[c] / den) < 1e-5, `o[${i}][${c}] cache=${aggCache}`);
      }
    });
  }
});

test("full attention = the quadratic VQ form when keys are exactly codewords and the band covers T", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const T = 10;
    const { q, v, xl, qk } = problem(2, 2, 2, T, 5, 4, 3, 31);
    const full = fullAttention(q, qk.cz, v, xl);
    const vq = vqAttentionQuadratic(q, qk, v, xl, { memLen: T - 1, aggCache: true });
    assert.ok(maxAbs(full, vq) < 1e-5);
  });
});

for (const backend of testBackends()) {
  test(`[${backend}] chunked full attention = full attention: values and gradients of q, k, v, r, u, v_xl (≤ 1e-5), any chunk, no leaks`, async () => {
    await initBackend(backend);
    // [B, H, h, T, C]: T a multiple of C, T not a multiple (a short last chunk, also of one row), C ≥ T, C = 1, MHA, MQA
    const cases = [[1, 1, 1, 16, 4], [2, 1, 1, 23, 5], [1, 1, 1, 13, 4], [1, 1, 1, 9, 16], [1, 1, 1, 7, 1], [2, 2, 2, 20, 6], [1, 3, 1, 18, 8]];
    for (const [B, H, h, T, C] of cases) {
      const what = `B=${B} H=${H} h=${h} T=${T} C=${C}`;
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { q, k, v, xl } = problem(B, H, h, T, 3, 4, 5, 40 + T);
        const w = tf.randomNormal([B, H, T, 5], 0, 1, "float32", 7); // a random linear loss: every output matters
        const loss = (attn: typeof fullAttention) =>
          (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, r: tf.Tensor, u: tf.Tensor, wx: tf.Tensor) =>
            tf.sum(tf.mul(attn(qq, kk, vv, { r: r as tf.Tensor3D, u: u as tf.Tensor2D, w: wx as tf.Tensor2D }), w)) as tf.Scalar;
        const chunked: typeof fullAttention = (qq, kk, vv, x) => fullAttentionChunked(qq, kk, vv, x, C);
        const rel = (a: tf.Tensor, b: tf.Tensor) => maxAbs(a, b) / tf.max(tf.abs(a)).dataSync()[0];
        assert.ok(rel(fullAttention(q, k, v, xl), chunked(q, k, v, xl)) <= TOL, `${what}: output`);
        const inputs = [q, k, v, xl.r, xl.u, xl.w];
        const ref = tf.grads(loss(fullAttention))(inputs), got = tf.grads(loss(chunked))(inputs);
        ["q", "k", "v", "r", "u", "v_xl"].forEach((n, i) => assert.ok(rel(ref[i], got[i]) <= TOL, `${what}: d${n} relative ${rel(ref[i], got[i])}`));
      });
      assert.equal(tf.memory().numTensors, before, `${what}: leaked tensors`);
    }
  });
}

test("exp(count bias) = counts (and −∞ for empty codes)", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const counts = tf.range(0, 1024);
    const b = countBias(counts);
    const e = tf.exp(b).dataSync();
    counts.dataSync().forEach((c, i) => assert.ok(Math.abs(e[i] - c) <= 1e-4 * c, `count ${c}`));
    assert.equal(b.dataSync()[0], Math.fround(-1e30));
  });
});

test("state carried across calls: two calls of 12 = one call of 24 (parallel and recurrent); blockLen 1 = blockLen L", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const B = 2, h = 1, T = 24, S = 6, dK = 4, dV = 3, L = 4;
    const { q, v, C, xl, qk } = problem(B, 1, h, T, S, dK, dV, 41);
    const opts = { blockLen: L, memLen: L, aggCache: true, gradThruCache: true, pos: 0 };
    const st0 = initialAttnState(B, h, L, S, dK, dV);
    const whole = vqAttentionParallel(q, qk, v, C, xl, st0, opts);
    const half = (x: tf.Tensor, i: number) => tf.slice(x, [0, 0, 12 * i], [-1, -1, 12]);
    const qkHalf = (i: number) => ({ z: half(qk.z, i) as tf.Tensor3D, cz: half(qk.cz, i) as tf.Tensor4D, kHat: half(qk.kHat, i) as tf.Tensor4D });
    for (const form of [vqAttentionParallel, vqAttentionRecurrent]) {
      const a = form(half(q, 0), qkHalf(0), half(v, 0), C, xl, st0, opts);
      const b = form(half(q, 1), qkHalf(1), half(v, 1), C, xl, a.state, { ...opts, pos: 12 });
      assert.ok(maxAbs(tf.concat([a.out, b.out], 2), whole.out) < 1e-5);
      attnStateTensors(b.state).forEach((t, i) => assert.ok(maxAbs(t, attnStateTensors(whole.state)[i]) < 1e-5, `state part ${i}`));
    }
    const one = vqAttentionRecurrent(q, qk, v, C, xl, st0, { ...opts, blockLen: 1 });
    assert.ok(maxAbs(one.out, whole.out) < 1e-5, "sampling-style blockLen 1");
    const st: AttnState = one.state;
    assert.deepEqual(st.upperDivLower.shape, [B, h, S, dV]);
  });
});

test("no tensors leak from a full equivalence run", async () => {
  await initBackend(testBackend());
  runEquivalence({ T: 12, L: 4, S: 5, dK: 4, dV: 6, seed: 1, aggCache: true });
  const before = tf.memory().numTensors;
  runEquivalence({ T: 12, L: 4, S: 5, dK: 4, dV: 6, seed: 1, aggCache: true });
  assert.equal(tf.memory().numTensors, before);
});

test("sinusoids: [sin | cos] with inverse wavelengths λ^{-2i/d}; offsets; cached tables give equal tensors", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const s = sinusoids(3, 4, 100, 5).arraySync() as number[][];
    s.forEach((row, p) => {
      const x = p + 5;
      [Math.sin(x), Math.sin(x / 10), Math.cos(x), Math.cos(x / 10)].forEach((v, j) => assert.ok(Math.abs(row[j] - v) < 1e-6, `row ${p} col ${j}`));
    });
    assert.equal(maxAbs(sinusoids(3, 4, 100, 5), sinusoids(3, 4, 100, 5)), 0);
  });
});

test("relativeBias places (q_i + v)·r_d at distance d = i − j + K − Q, zero beyond D", async () => {
  await initBackend(testBackend());
  tf.tidy(() => {
    const Q = 3, K = 5, D = 3;
    // pRev[i, c] encodes query i and distance D−1−c as 100 i + d
    const pRev = tf.tensor2d(Array.from({ length: Q * D }, (_, n) => 100 * Math.floor(n / D) + (D - 1 - (n % D))), [Q, D]);
    const out = relativeBias(pRev, K).arraySync() as number[][];
    for (let i = 0; i < Q; i++) for (let j = 0; j < K; j++) {
      const d = i - j + K - Q;
      if (d >= 0) assert.equal(out[i][j], d < D ? 100 * i + d : 0, `(${i}, ${j})`);
    }
  });
});
