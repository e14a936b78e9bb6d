// Progress: the pure formatting (line, duration, curve SVG) and the three renderings driven by a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createProgress, curveSvg, formatDuration, formatProgressLine, progressBar, progressHtml } from "../lib/util/progress";

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
  assert.match(h.out[0], /^eval \[.*\] 1\/100 1% \| 100 window\/s/);
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
