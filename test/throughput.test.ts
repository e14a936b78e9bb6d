// Throughput study: the analytic FLOP count on hand-computed cases, memory estimate and skip / truncated-backprop
// plans, the step timer and profiler on a tiny model (structure and no leaks; no timing assertions), the figure.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "../lib/runtime/tf";
import { initBackend, nativeAvailable } from "../lib/runtime/backend";
import { ModelConfig, getPreset } from "../lib/config";
import {
  StepTiming, completeRow, describeRow, estimateStepBytes, kernelCategory, measureTrainStep, perTokenRatio, planFullChunk, planPoint,
  describeProfile, planThroughputSweep, profileRows, replanAfterMemoryKill, profileTrainStep, speedupRows, throughputSweepRows, throughputConfig, withStepShape,
} from "../lib/experiments/throughput/index";
import { flopSpeedup, flopsPerToken } from "../lib/experiments/cost";
import { throughputFigure } from "../lib/notebook/figures/throughput";

/** d = 4, d_k = 2, d_v = 8, S = 3, L = M = 2, V = 5, one SHGA layer (two GAUs). */
function handModel(over: Partial<ModelConfig> = {}): ModelConfig {
  return getPreset("tiny", { model: { dModel: 4, dK: 2, dV: 8, nCode: 3, blockLen: 2, memLen: 2, vocabSize: 5, nLayer: 1, ...over } }).model;
}

test("flopsPerToken: VQ SHGA by hand", () => {
  const f = flopsPerToken(handModel(), 8);
  // per GAU: projections 2·4·(2+2+8+8) + 2·8·4 + r = 2·D·d·d_k / T with D = M+1 = 3: 48/8 → 160 + 64 + 6 = 230
  assert.equal(f.projections, 2 * 230);
  // per GAU: 2(S + 2L)(d_k + d_v) + 2(L+1)d_k = 2·7·10 + 2·3·2 = 152
  assert.equal(f.attention, 2 * 152);
  assert.equal(f.head, 2 * 4 * 5);
  assert.equal(f.quantizer, 2 * (2 * 3 * 2));
  assert.equal(f.mlp, 0);
  assert.equal(f.forward, 460 + 304 + 40 + 24);
  assert.equal(f.train, 3 * (460 + 304 + 40) + 24);
});

test("flopsPerToken: full attention by hand, dense and causal; the VQ cost does not grow with T", () => {
  const full = handModel({ attnType: "full" });
  const f = flopsPerToken(full, 8);
  // per GAU: projections 160 + 64 + 2·8·4·2/8 = 240; attention 2·8·(2+8) + 2·8·2 = 192
  assert.equal(f.projections, 2 * 240);
  assert.equal(f.attention, 2 * 192);
  assert.equal(f.quantizer, 0);
  assert.equal(f.train, 3 * (480 + 384 + 40));
  assert.equal(flopsPerToken(full, 8, { causal: true }).attention, 192);
  // VQ per token is constant in T except the amortized relative keys; full grows linearly
  const vq = handModel();
  assert.ok(Math.abs(flopsPerToken(vq, 1024).attention - flopsPerToken(vq, 64).attention) < 1e-9);
  assert.ok(flopsPerToken(full, 1024).attention > 100 * flopsPerToken(full, 8).attention);
  assert.ok(flopSpeedup(vq, full, 4096) > flopSpeedup(vq, full, 512));
});

test("flopsPerToken: full attention in chunks counts the causal chunk pairs by hand, and the backward's recomputation", () => {
  // T = 8 in chunks of C = 4: pairs (0,0), (1,0), (1,1); keys 3·16 = 48 → 6 per token; distances 4·7 each → 84 / 8
  const chunked = handModel({ attnType: "full", fullChunk: 4 });
  const f = flopsPerToken(chunked, 8);
  const dK = 2, dV = 8, nSub = 2, H = 1;
  const scores = 6 * dK, positions = (84 / 8) * dK, values = 6 * dV;
  assert.ok(Math.abs(f.attention - nSub * H * 2 * (scores + positions + values)) < 1e-9, `attention ${f.attention}`);
  assert.ok(Math.abs(f.recompute - nSub * H * 2 * (scores + positions)) < 1e-9, `recompute ${f.recompute}`);
  assert.ok(Math.abs(f.train - (3 * (f.forward - f.quantizer) + f.quantizer + f.recompute)) < 1e-9);
  // a chunk of T or more is the dense form; no recomputation
  const dense = flopsPerToken(handModel({ attnType: "full" }), 8);
  assert.deepEqual(flopsPerToken(handModel({ attnType: "full", fullChunk: 8 }), 8), dense);
  assert.equal(dense.recompute, 0);
  // the paper's model at 32k in 64 chunks of 512: keys (n + 1) / 2n of the dense count, distances (n + 1)(2C − 1) / 2T
  const big = getPreset("paper-throughput", { model: { attnType: "full", fullChunk: 512 } }).model;
  const w = flopsPerToken(big, 32768), d = flopsPerToken({ ...big, fullChunk: 0 }, 32768);
  const n = 64, keys = (n + 1) / (2 * n), dist = ((n + 1) * (2 * 512 - 1)) / (2 * 32768);
  const want = (keys * (big.dK + big.dV) + dist * big.dK) / (2 * big.dK + big.dV);
  assert.ok(Math.abs(w.attention / d.attention - want) < 1e-9, `${w.attention / d.attention} vs ${want}`);
});

test("flopsPerToken: MHA / MQA heads and the MLP", () => {
  const mha = throughputConfig({ attnType: "vq-parallel", headType: "mha", T: 16, B: 1, nLayer: 1, preset: "tiny", model: { dModel: 8, dK: 2, nCode: 3, blockLen: 4, memLen: 4, vocabSize: 5 } }).model;
  assert.equal(mha.nHead, 4); // d_model / d_k
  assert.equal(mha.dV, 2);
  assert.equal(mha.dFF, 32); // 4·d_model
  const f = flopsPerToken(mha, 16);
  // projections: 2·8·(4·2 + 4·2 + 4·2) + 2·4·2·8 + 2·5·8·4·2/16 (D = M+1 = 5)
  assert.equal(f.projections, 2 * 8 * 24 + 128 + 40);
  // attention: 4 heads × [2(3 + 8)(2 + 2) + 2·5·2]
  assert.equal(f.attention, 4 * (88 + 20));
  assert.equal(f.mlp, 2 * 2 * 8 * 32);
  assert.equal(f.quantizer, 4 * 2 * 3 * 2);
  const mqa = throughputConfig({ attnType: "vq-parallel", headType: "mqa", T: 16, B: 1, nLayer: 1, preset: "tiny", model: { dModel: 8, dK: 2, nCode: 3, blockLen: 4, memLen: 4, vocabSize: 5 } }).model;
  assert.equal(mqa.dFF, 40); // 5·d_model
  const g = flopsPerToken(mqa, 16);
  assert.equal(g.projections, 2 * 8 * (8 + 2 + 2) + 128 + 2 * 5 * 8 * 2 / 16);
  assert.equal(g.quantizer, 2 * 3 * 2); // one key head, one codebook
  assert.equal(g.attention, f.attention); // every query head still scores 2L keys and S codes
});

test("throughputConfig: the paper's throughput model per head type", () => {
  const shga = throughputConfig({ attnType: "vq-parallel", headType: "shga", T: 8192, B: 1, nLayer: 2 }).model;
  assert.deepEqual([shga.dModel, shga.dK, shga.dV, shga.nCode, shga.blockLen, shga.memLen, shga.nHead, shga.nLayer], [768, 128, 1536, 512, 512, 512, 1, 2]);
  const mqa = throughputConfig({ attnType: "full", headType: "mqa", T: 8192, B: 1, nLayer: 1 });
  assert.deepEqual([mqa.model.nHead, mqa.model.dV, mqa.model.dFF, mqa.model.attnType], [6, 128, 3840, "full"]);
  assert.equal(mqa.train.updateLen, 8192);
});

test("planPoint: fits, truncated backprop for VQ past the budget, skip for the quadratic model with the reason", () => {
  const GiB = 2 ** 30;
  const small = throughputConfig({ attnType: "full", headType: "shga", T: 1024, B: 1, nLayer: 1 });
  const p = planPoint(small, 12 * GiB);
  assert.equal(p.run, true);
  assert.equal(p.U, 1024);
  assert.equal(p.reason, "");
  const full = throughputConfig({ attnType: "full", headType: "shga", T: 65536, B: 1, nLayer: 1 });
  const q = planPoint(full, 12 * GiB);
  assert.equal(q.run, false);
  // at most 32 chunks (a step's graph is unrolled over the chunk pairs): C = 512 up to 16k, then T / 32
  assert.deepEqual([8192, 16384, 32768, 65536].map((T) => planFullChunk(T, 512)), [512, 512, 1024, 2048]);
  assert.equal(planFullChunk(1024, 64), 64);
  assert.match(q.reason, /^estimated step memory .* GiB exceeds the budget of 12\.0 GiB \(T×T scores; in chunks of C = 2048: ~.* GiB of activations at T = 65536\)/);
  const vq = throughputConfig({ attnType: "vq-parallel", headType: "shga", T: 131072, B: 1, nLayer: 1 });
  const r = planPoint(vq, 12 * GiB);
  assert.equal(r.run, true);
  assert.ok(r.U < 131072 && 131072 % r.U === 0 && r.U >= 2048, `U = ${r.U}`);
  assert.ok(r.estimatedBytes <= 12 * GiB);
  assert.match(r.reason, /truncated backprop: \d+ updates of U = \d+ tokens/);
  // nothing fits: the VQ point is skipped too
  const none = planPoint(vq, 0.1 * GiB);
  assert.equal(none.run, false);
  assert.match(none.reason, /activations at T = 131072/);
  // the estimate: quadratic in T for full attention, linear for VQ
  const est = (attnType: "full" | "vq-parallel", T: number) => estimateStepBytes(throughputConfig({ attnType, headType: "shga", T, B: 1, nLayer: 1 }));
  const grow = (a: "full" | "vq-parallel") => (est(a, 16384) - est(a, 8192)) / (est(a, 8192) - est(a, 4096));
  assert.ok(grow("full") > 2.5, `full grows ${grow("full")}`);
  assert.ok(Math.abs(grow("vq-parallel") - 2) < 1e-6);
});

test("measureTrainStep on cpu: median of the timed steps, throughput fields, truncated backprop, no leaked tensors", async () => {
  await initBackend("cpu");
  const cfg = throughputConfig({ attnType: "vq-parallel", headType: "shga", T: 32, B: 2, nLayer: 1, preset: "tiny" });
  const before = tf.memory().numTensors;
  const t = measureTrainStep(cfg, { reps: 3, warmup: 1 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(t.times.length, 3);
  assert.deepEqual([t.B, t.T, t.U], [2, 32, 32]);
  assert.ok(t.seconds > 0 && t.seconds >= Math.min(...t.times) && t.seconds <= Math.max(...t.times));
  assert.ok(Math.abs(t.tokensPerSec - 64 / t.seconds) < 1e-6);
  assert.equal(t.flopsPerToken, flopsPerToken(cfg.model, 32).train);
  assert.equal(t.execution, "eager"); // cpu: no graphs
  assert.ok(t.peakTensorBytes > 0 && t.peakRssBytes > 0);
  assert.ok(Math.abs(t.firstLoss - Math.log(cfg.model.vocabSize)) < 1.5, `first loss ${t.firstLoss}`);
  // two updates of 16 tokens per step
  const u = measureTrainStep(withStepShape(cfg, { U: 16 }), { reps: 1, warmup: 0 });
  assert.equal(u.U, 16);
  assert.ok(Number.isFinite(u.firstLoss));
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => measureTrainStep(cfg, { reps: 0 }), /reps = 0 must be an integer ≥ 1/);
});

test("profileTrainStep: kernel times by name and category, engine hooks restored, no leaks", async () => {
  await initBackend("cpu");
  const cfg = throughputConfig({ attnType: "full", headType: "shga", T: 16, B: 1, nLayer: 1, preset: "tiny" });
  const engine = tf.engine() as unknown as { runKernelFunc: unknown; disposeTensor: unknown };
  const [run, dispose] = [engine.runKernelFunc, engine.disposeTensor];
  const kernelFuncs = tf.getKernelsForBackend("cpu").map((k) => [k, k.kernelFunc] as const);
  const before = tf.memory().numTensors;
  const p = profileTrainStep(cfg, { reps: 1, warmup: 1 });
  assert.equal(engine.runKernelFunc, run);
  assert.equal(engine.disposeTensor, dispose);
  for (const [k, f] of kernelFuncs) assert.equal(k.kernelFunc, f, `${k.kernelName}: kernel function restored`);
  // per op by layer: the parts sum to the whole; cpu has no binding; a training step reads the loss on the host
  const l = p.perOp;
  assert.ok(p.ops > 0 && l.totalUs > 0);
  assert.ok(Math.abs(l.engineUs + l.backendJsUs + l.bindingUs + l.kernelUs + l.hostSyncUs - l.totalUs) < 1e-6 * l.totalUs);
  assert.equal(l.bindingUs, 0);
  assert.ok(p.hostSyncs.calls >= 1, `host reads ${p.hostSyncs.calls}`);
  assert.equal(p.opsByCategory.reduce((a, c) => a + c.calls, 0), p.ops);
  const rows = profileRows("cpu", "t", cfg, p, 1);
  assert.deepEqual([...new Set(rows.map((r) => r.kind))], ["category", "layer", "host"]);
  assert.equal(describeProfile(rows).length, 3);
  assert.equal(tf.memory().numTensors, before);
  const mm = p.kernels.find((k) => k.kernel === "BatchMatMul");
  assert.ok(mm && mm.calls > 0 && mm.category === "matmul");
  const share = p.categories.reduce((a, c) => a + c.share, 0);
  assert.ok(share > 0.5 && share < 1.5, `shares sum to ${share}`);
  assert.equal(kernelCategory("Softmax"), "softmax/exp");
  assert.equal(kernelCategory("Transpose"), "transpose");
  assert.equal(kernelCategory("ConcatV2"), "concat/slice/pad/tile");
  const detailed = profileTrainStep(cfg, { reps: 1, warmup: 0, byShape: true });
  assert.ok(detailed.kernels.some((k) => k.kernel === "BatchMatMul" && /a\[.*\] b\[/.test(k.shapes ?? "")));
});

test("profileTrainStep on native: the binding's executeOp is timed (binding + TF kernel > 0) and the binding restored", { skip: !nativeAvailable() && "native binding not built" }, async () => {
  await initBackend("native");
  const cfg = throughputConfig({ attnType: "vq-parallel", headType: "shga", T: 16, B: 1, nLayer: 1, preset: "tiny" });
  const backend = tf.backend() as unknown as { binding: unknown };
  const binding = backend.binding;
  const p = profileTrainStep(cfg, { reps: 1, warmup: 1 });
  assert.equal(backend.binding, binding);
  assert.ok(p.perOp.bindingFloorUs > 0 && p.perOp.bindingUs > 0 && p.perOp.kernelUs >= 0, JSON.stringify(p.perOp));
  await initBackend("cpu");
});

test("a point killed for memory is planned again against the budget shrunk by the estimate's error", () => {
  const [vq, full] = planThroughputSweep("native", { Ts: [8192], heads: ["shga"], B: 1, nLayer: 1, reps: 1, warmup: 0, budgetBytes: 12 * 2 ** 30 });
  assert.equal(vq.cfg!.train.updateLen, 8192);
  assert.equal(full.cfg!.model.fullChunk ?? 0, 0); // planned whole: the 8k T×T scores fit the estimate
  assert.equal(vq.pair, full.row);
  // full attention killed at twice its estimate: reruns in chunks of 512, the same pair, the reason says why
  const fullNext = replanAfterMemoryKill(full, 2 * full.row.est_mb * 2 ** 20)!;
  assert.equal(fullNext.cfg!.model.fullChunk, 512);
  assert.equal(fullNext.row.full_chunk, 512);
  assert.ok(fullNext.row.est_mb < full.row.est_mb / 2, `${fullNext.row.est_mb} vs ${full.row.est_mb}`);
  assert.match(fullNext.row.reason, /chunked quadratic attention: C = 512.*a first run with the whole sequence was killed at \d+\.\d GiB RSS \(estimated \d+\.\d GiB\)/);
  // VQ killed at 1.6× its estimate: truncated backprop with the largest U whose estimate fits 12 GiB / 1.6
  const vqNext = replanAfterMemoryKill(vq, 1.6 * vq.row.est_mb * 2 ** 20)!;
  const U = vqNext.cfg!.train.updateLen;
  assert.ok(U < 8192 && 8192 % U === 0, `U = ${U}`);
  assert.ok(vqNext.row.est_mb * 2 ** 20 <= (12 * 2 ** 30) / 1.6 && vq.row.est_mb * 2 ** 20 > (12 * 2 ** 30) / 1.6);
  assert.equal(vqNext.pair, full.row);
  // the FLOP ratio counts each form as it runs: full attention in chunks computes only the causal chunk pairs
  const dense = vq.row.flop_ratio!;
  vq.pair = fullNext.row;
  throughputSweepRows([vq]);
  assert.ok(Math.abs(vq.row.flop_ratio! - fullNext.row.flops_per_token / vq.row.flops_per_token) < 1e-12);
  assert.ok(vq.row.flop_ratio! < dense, `chunked ${vq.row.flop_ratio} vs dense ${dense}`);
  // killed below its estimate (another process took the memory) or nothing smaller fits: no rerun
  assert.equal(replanAfterMemoryKill(vq, 0.5 * vq.row.est_mb * 2 ** 20), undefined);
  assert.equal(replanAfterMemoryKill(fullNext, 100 * fullNext.row.est_mb * 2 ** 20), undefined);
});

test("sweep plan, speedup table with extrapolation, per-token ratio and the figure", () => {
  const points = planThroughputSweep("cpu", { Ts: [1024, 2048, 4096, 65536], heads: ["shga"], B: 1, nLayer: 1, reps: 3, warmup: 1, budgetBytes: 12 * 2 ** 30, small: { B: 8, T: 512 } });
  assert.deepEqual(points.map((p) => `${p.row.model}:${p.row.T}:${p.row.status}`),
    ["vq:1024:ok", "full:1024:ok", "vq:2048:ok", "full:2048:ok", "vq:4096:ok", "full:4096:ok", "vq:65536:ok", "full:65536:skipped", "small:512:ok"]);
  assert.ok(points[6].cfg!.train.updateLen < 65536); // VQ at 64k: truncated backprop to fit 12 GiB
  // full attention at 16k: the T×T scores do not fit 12 GiB, so it runs in chunks of 512 (the same function)
  const [, full16] = planThroughputSweep("cpu", { Ts: [16384], heads: ["shga"], B: 1, nLayer: 1, reps: 1, warmup: 0, budgetBytes: 12 * 2 ** 30 });
  assert.equal(full16.row.status, "ok");
  assert.equal(full16.cfg!.model.fullChunk, 512);
  assert.equal(full16.row.full_chunk, 512);
  assert.match(full16.row.reason, /chunked quadratic attention: C = 512/);
  assert.equal(points[1].row.full_chunk, 0);
  assert.equal(points[7].cfg, undefined);
  assert.equal(points[0].pair, points[1].row);
  assert.ok(points[0].row.flop_ratio! < 1 && points[4].row.flop_ratio! > 1); // at T = 1k VQ does more work (S + 2L = 1536 > T)
  // fake timings: VQ 100 µs/token everywhere; full 50 + 0.05·T µs/token
  const timing = (T: number, usPerToken: number): StepTiming => ({
    B: 1, T, U: T, seconds: (T * usPerToken) / 1e6, secondsStd: 0, times: [], tokensPerSec: 1e6 / usPerToken, secondsPerToken: usPerToken / 1e6,
    flopsPerToken: 1e6, achievedGflops: 1e6 / usPerToken / 1e3, peakTensorBytes: 1, peakRssBytes: 1, firstLoss: 5, loadAvg: 1, execution: "graph",
  });
  for (const p of points) {
    if (!p.cfg) continue;
    completeRow(p.row, timing(p.row.T, p.row.model === "full" ? 50 + 0.05 * p.row.T : 100), 100, 3, 1);
  }
  const rows = throughputSweepRows(points);
  assert.ok(Math.abs(rows[4].speedup! - (50 + 0.05 * 4096) / 100) < 1e-9);
  assert.equal(rows[4].frac_of_peak, rows[4].achieved_gflops! / 100);
  const table = speedupRows(rows);
  assert.deepEqual(table.map((r) => r["speedup from"]), ["measured", "measured", "measured", "quadratic extrapolated (a + bT fit)"]);
  assert.ok(Math.abs((table[3].speedup as number) - (50 + 0.05 * 65536) / 100) < 1e-6, `extrapolated ${table[3].speedup}`);
  assert.equal(perTokenRatio(rows, "shga", 1024, 65536), 1);
  assert.match(describeRow(rows[4]), /^\[bench\] cpu +shga vq-parallel +T=4096 +B=1 .* tok\/s.*speedup 2\.55×/);
  assert.match(describeRow(rows[7]), /skipped: estimated step memory/);
  const fig = throughputFigure(rows);
  // VQ and quadratic throughput; measured, extrapolated, FLOP ratio and paper speedups
  assert.deepEqual(fig.data.map((t) => t.name), ["Transformer-VQ (SHGA)", "quadratic (SHGA)", "measured (SHGA)", "vs extrapolated quadratic (SHGA)", "FLOP ratio (SHGA)", "paper, TPU v3 (SHGA)"]);
  assert.ok(fig.data.slice(2).every((t) => t.xaxis === "x2" && t.yaxis === "y2"));
  assert.equal((fig.layout.yaxis2 as { type: string }).type, "log");
  assert.throws(() => throughputFigure(rows.map((r) => ({ ...r, status: "skipped" as const }))), /no measured points/);
});
