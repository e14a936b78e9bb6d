// Progress: the pure formatting (line, duration, curve SVG) and the three renderings driven by a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RateEstimator, createProgress, curveSvg, formatDuration, formatProgressLine, progressBar, progressHtml } from "../lib/util/progress";

test("formatDuration and progressBar", () => {
  assert.equal(formatDuration(12.4), "12s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3725), "1h02m");
  assert.equal(formatDuration(NaN), "?");
  assert.equal(progressBar(0.5, 4), "██░░");
  assert.equal(progressBar(2, 3), "███");
});

test("formatProgressLine: bar, count, percent, rate, ETA and metrics", () => {
  const s = { label: "train", unit: "step", step: 120, total: 500, elapsed: 40, rate: 3, metrics: { loss: 2.34567, bpb: 3.3841 }, done: false };
  assert.equal(formatProgressLine(s), "train [██████░░░░░░░░░░░░░░░░░░] 120/500 24% | 3.00 step/s | ETA 2m07s | loss 2.346 | bpb 3.384");
  assert.equal(formatProgressLine({ ...s, rate: 0.25, metrics: {} }), "train [██████░░░░░░░░░░░░░░░░░░] 120/500 24% | 4.00 s/step | ETA 25m20s");
  assert.match(formatProgressLine({ ...s, step: 500, done: true }), /500\/500 100% \| 3\.00 step\/s \| took 40s/);
  assert.match(formatProgressLine({ ...s, rate: NaN }), /— step\/s \| ETA \?/);
});

test("curveSvg draws a polyline with min/max labels; progressHtml holds bar, text and curve", () => {
  const svg = curveSvg([[1, 5], [2, 3], [3, 2.5]], { name: "loss" });
  assert.match(svg, /^<svg [^>]*width="320" height="110"/);
  assert.equal((svg.match(/<polyline points="([^"]+)"/)?.[1] ?? "").split(" ").length, 3);
  assert.ok(svg.includes(">5<") && svg.includes(">2.500<") && svg.includes("loss vs step"));
  assert.equal(curveSvg([[1, 5]]), "", "one point draws nothing");
  const html = progressHtml({ label: "t<1>", unit: "step", step: 1, total: 4, elapsed: 1, rate: 1, metrics: {}, done: false }, svg);
  assert.ok(html.includes("t&lt;1&gt; 1/4 (25%)") && html.includes("width:25.0%") && html.includes("<polyline"));
});

/** A fake clock advanced by the test, and a sink for written text. */
function harness() {
  let t = 0;
  const out: string[] = [];
  return { now: () => t, tick: (ms: number) => void (t += ms), write: (s: string) => void out.push(s), out };
}

test("log mode: one line per 10% crossed plus the final line, whatever the update rate", () => {
  const h = harness();
  const p = createProgress({ total: 100, label: "eval", unit: "window", mode: "log", now: h.now, write: h.write });
  for (let i = 1; i <= 100; i++) {
    h.tick(10);
    p.update(i, { loss: 1 / i });
  }
  p.done();
  p.done();
  assert.equal(h.out.length, 11, h.out.join(""));
  assert.ok(h.out.every((l) => l.endsWith("\n") && !l.includes("\r")));
  assert.match(h.out[0], /^eval \[.*\] 1\/100 1% \| — window\/s \| ETA \?/, "one report gives no rate yet");
  assert.match(h.out[1], /10\/100 10% \| 100 window\/s \| ETA 1s/);
  assert.match(h.out[10], /100\/100 100% \| 100 window\/s \| took 1s \| loss 0\.01000\n$/);
});

test("tty mode: redraws one line at most every minIntervalMs, always on done, then a newline", () => {
  const h = harness();
  const p = createProgress({ total: 10, mode: "tty", minIntervalMs: 500, now: h.now, write: h.write });
  for (let i = 1; i <= 10; i++) {
    h.tick(100);
    p.update(i, { loss: 2 });
  }
  assert.equal(h.out.length, 2, "renders at t=100 ms and t=600 ms only");
  p.done();
  assert.equal(h.out.length, 3);
  assert.ok(h.out.every((l) => l.startsWith("\r")));
  assert.ok(h.out[2].endsWith("\n") && !h.out[1].endsWith("\n"));
});

test("silent mode writes nothing; a bad total throws", () => {
  const h = harness();
  const p = createProgress({ total: 3, mode: "silent", now: h.now, write: h.write });
  p.update(1);
  p.done();
  assert.deepEqual(h.out, []);
  assert.throws(() => createProgress({ total: 0 }), /total must be a positive number of steps, got 0/);
});

/** The ETA (seconds) a tty line shows, e.g. "ETA 1m30s" → 90. */
function etaOf(line: string): number {
  const m = /ETA (?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?/.exec(line);
  assert.ok(m && m[0] !== "ETA ", `no ETA in ${JSON.stringify(line)}`);
  return 3600 * Number(m[1] ?? 0) + 60 * Number(m[2] ?? 0) + Number(m[3] ?? 0);
}

/**
 * Runs a job of `total` steps on a fake clock, step i taking seconds(i), reporting every `every` steps; returns
 * the ETA shown after each report next to the true remaining time. `startAtFirstReport`: the display is created
 * in the first report's callback (as eval does), so the time of the first batch is unseen.
 */
function etaTrace(total: number, seconds: (i: number) => number, opts: { every?: number; startAtFirstReport?: boolean } = {}) {
  const every = opts.every ?? 1;
  const h = harness();
  const times = [0];
  for (let i = 1; i <= total; i++) times[i] = times[i - 1] + 1000 * seconds(i);
  let p = opts.startAtFirstReport ? undefined : createProgress({ total, mode: "tty", minIntervalMs: 0, now: h.now, write: h.write });
  const trace: Array<{ step: number; eta: number; truth: number }> = [];
  for (let step = every; step <= total; step += every) {
    h.tick(times[step] - h.now());
    p ??= createProgress({ total, mode: "tty", minIntervalMs: 0, now: h.now, write: h.write });
    p.update(step);
    const line = h.out[h.out.length - 1];
    if (step < total && !line.includes("ETA ?")) trace.push({ step, eta: etaOf(line), truth: (times[total] - times[step]) / 1000 });
  }
  return trace;
}

test("ETA: the first step's warm-up is left out; a job of one speed gets the exact remaining time", () => {
  // step 1 takes 30 s (compilation), steps 2..100 take 1 s: after step 10 the truth is 90 s
  const trace = etaTrace(100, (i) => (i === 1 ? 30 : 1));
  assert.equal(trace[0].step, 2, "the second report gives the first ETA");
  for (const r of trace) assert.ok(Math.abs(r.eta - r.truth) <= 1, `step ${r.step}: ETA ${r.eta}s, truth ${r.truth}s`);
});

test("ETA: a display started by the first report of a batch of windows (eval) is not fooled by it", () => {
  // 8,000 windows in batches of 2 at 0.05 s per window = 400 s in all; the bar starts at the first report
  const trace = etaTrace(8000, () => 0.05, { every: 2, startAtFirstReport: true });
  assert.ok(trace.length > 3000);
  const first = trace[0];
  assert.ok(Math.abs(first.eta - first.truth) <= 1, `first ETA ${first.eta}s for ${first.truth}s left (an average from the bar's start said 0s)`);
  for (const r of trace) assert.ok(Math.abs(r.eta - r.truth) <= 1, `window ${r.step}: ETA ${r.eta}s, truth ${r.truth}s`);
});

test("ETA: after a slow start or a fast start the estimate converges to the remaining time", () => {
  // 200 steps; the first 40 take 3 s (slow start) or 0.2 s (fast start), the other 160 take 1 s
  for (const [name, early] of [["slow start", 3], ["fast start", 0.2]] as const) {
    const trace = etaTrace(200, (i) => (i <= 40 ? early : 1));
    // by step 120 (80 steps of the new speed, four times the estimator's memory of 20 steps) within 5 %
    for (const r of trace.filter((x) => x.step >= 120)) {
      assert.ok(Math.abs(r.eta - r.truth) <= Math.max(1, 0.05 * r.truth), `${name}, step ${r.step}: ETA ${r.eta}s, truth ${r.truth}s`);
    }
    // an average since the start is still off by a fifth or more there: the trace must not be that
    const at120 = trace.find((x) => x.step === 120)!;
    const naive = (200 - 120) * (40 * early + 80) / 120;
    assert.ok(Math.abs(naive - at120.truth) > 0.2 * at120.truth && Math.abs(at120.eta - at120.truth) < 0.05 * at120.truth,
      `${name}: ETA ${at120.eta}s, truth ${at120.truth}s, average since start ${naive}s`);
  }
});

test("RateEstimator: the plain rate for one speed, NaN before two reports, bad memory refused", () => {
  const r = new RateEstimator(10);
  assert.ok(Number.isNaN(r.rate()));
  r.observe(3, 100); // a first report after a long start-up: not measured
  assert.ok(Number.isNaN(r.rate()) && Number.isNaN(r.averageRate()));
  r.observe(5, 101);
  r.observe(9, 103);
  r.observe(9, 104); // no progress: ignored
  assert.equal(r.rate(), 2);
  assert.equal(r.averageRate(), 2);
  assert.throws(() => new RateEstimator(0), /memory must be ≥ 1 step, got 0/);
});

test("startedAt: a display created at the first report says how long the whole job took", () => {
  const h = harness();
  h.tick(5000); // the first batch: 5 s before the display exists
  const p = createProgress({ total: 4, mode: "log", now: h.now, write: h.write, startedAt: 0 });
  p.update(2);
  h.tick(5000);
  p.update(4);
  p.done();
  // the rate is measured after the first report (2 steps in 5 s); the time taken counts from startedAt
  assert.match(h.out[h.out.length - 1], /4\/4 100% \| 2\.50 s\/step \| took 10s\n$/);
});
