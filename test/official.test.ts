// Equality to the official Transformer-VQ code (JAX/Flax, both branches) on the golden fixtures of
// test/fixtures/official/ (how they were made: its README). Every attention form the config of a case allows must
// reproduce the official log-probs within 1e-5 on the current backend (TVQ_BACKEND, else cpu; CI runs this suite
// on cpu, wasm and native). Measured (cpu, wasm, native): ≤ 1.9e-6 on the main branch, ≤ 4.8e-6 for MHA/MQA; the
// official code's own float32-vs-float64 gap is up to 2.9e-6. Negative controls show the comparison can fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "../lib/runtime/tf";
import { initBackend } from "../lib/runtime/backend";
import { testBackend } from "./helpers/backend";
import { disposeModel } from "../lib/nn/params";
import { Config } from "../lib/config";
import { readJSON } from "../lib/util/io";
import {
  GOLDEN_DIR, GOLDEN_TOLERANCE, GoldenCase, LoadedGolden, goldenCases, goldenForms, goldenLogProbs, goldenTable,
  goldenTrainingStep, goldenWindowLoss, loadGolden, maxAbsDiff,
} from "../lib/experiments/golden";

const cases = goldenCases();
const byName = (n: string): GoldenCase => cases.find((c) => c.name === n)!;

function withGolden(c: GoldenCase, fn: (g: LoadedGolden) => void): void {
  const g = loadGolden(c);
  try {
    fn(g);
  } finally {
    disposeModel(g.model);
  }
}

/** max |Δ log p| of every form of a case against some official log-probs. */
function formDiffs(g: LoadedGolden, official = g.official): Map<string, number> {
  const { B, T, U } = g.case;
  return new Map(goldenForms(g.model.config).map((f) => [f, maxAbsDiff(goldenLogProbs(g.model, f, g.inputs, B, T, U), official).abs]));
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true })
    .reduce((s, e) => s + (e.isDirectory() ? dirBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
}

test("the fixtures: 9 cases of both official branches (cache on/off, 8 blocks in 2 calls, M ≠ L, tied heads, MHA, MQA, full), ≤ 2 MB", () => {
  assert.deepEqual(cases.map((c) => c.name), ["main-base", "main-nocache", "main-long", "main-m8l4", "main-tied", "opt-vq-mha", "opt-vq-mqa", "opt-full", "opt-tied"]);
  const bytes = dirBytes(GOLDEN_DIR);
  assert.ok(bytes <= 2_000_000, `test/fixtures/official holds ${bytes} bytes; keep the fixtures ≤ 2 MB`);
  for (const c of cases) {
    const L = c.model.blockLen ?? readJSON<Config>(path.join(GOLDEN_DIR, c.run, "config.json")).model.blockLen;
    assert.ok(c.T / L >= 4, `${c.name}: T = ${c.T} must span ≥ 4 blocks of L = ${L}`);
    assert.equal(c.inputs.flat().length, c.B * c.T);
  }
  const readme = fs.readFileSync(path.join(GOLDEN_DIR, "README.md"), "utf8");
  for (const c of cases) assert.ok(readme.includes(c.commit), `README names commit ${c.commit} of ${c.name}`);
});

for (const c of cases) {
  test(`${c.name} (official ${c.branch} branch): every attention form reproduces the official log-probs within 1e-5, and windowNLL the official loss`, async () => {
    await initBackend(testBackend());
    const before = tf.memory().numTensors;
    withGolden(c, (g) => {
      const d = formDiffs(g);
      assert.equal(d.size, g.model.config.attnType === "full" ? 1 : g.model.config.memLen === g.model.config.blockLen ? 3 : 2);
      for (const [form, abs] of d) assert.ok(abs <= GOLDEN_TOLERANCE, `${c.name} ${form}: max |Δ log p| = ${abs.toExponential(2)} > ${GOLDEN_TOLERANCE}`);
      // the kit's own evaluation (lib/train/evaluate.ts windowNLL) with the form the run was trained with
      const form = g.model.config.attnType;
      const loss = goldenWindowLoss(g, form);
      assert.ok(Math.abs(loss - c.loss) <= GOLDEN_TOLERANCE, `${c.name} ${form}: windowNLL loss ${loss} vs official ${c.loss}`);
    });
    assert.equal(tf.memory().numTensors, before, `${c.name}: tensors leaked`);
  });
}

for (const c of cases.filter((x) => x.grads)) {
  test(`${c.name}: one training step — every gradient within 1e-5 relative of the official one (measured ≤ 2.1e-6), the codebook EMA too`, async () => {
    await initBackend(testBackend());
    const before = tf.memory().numTensors;
    withGolden(c, (g) => {
      for (const form of goldenForms(g.model.config)) {
        const r = goldenTrainingStep(g, form, c.emaStatsWeight);
        assert.ok(Math.abs(r.ce - c.train!.l_lm) <= GOLDEN_TOLERANCE, `${form}: CE ${r.ce} vs official ${c.train!.l_lm}`);
        assert.ok(Math.abs(r.commit - c.train!.l_commit) <= 1e-5 * c.train!.l_commit, `${form}: L_commit ${r.commit} vs official ${c.train!.l_commit}`);
        assert.equal(r.gradRel.size + r.noOfficial.length, g.model.params.size);
        // the optimized branch's norms have no parameters: the kit's gains and biases are the only extra ones
        assert.deepEqual(r.noOfficial.filter((n) => !/\.ln_[gb]$/.test(n)), [], `${form}: no official gradient for ${r.noOfficial}`);
        if (c.branch === "main") assert.deepEqual(r.noOfficial, []);
        for (const [name, rel] of r.gradRel) assert.ok(rel <= GOLDEN_TOLERANCE, `${form}: gradient of ${name} differs by ${rel.toExponential(2)} (relative)`);
        for (const [name, rel] of r.emaRel) assert.ok(rel <= GOLDEN_TOLERANCE, `${form}: ${name} after the EMA differs by ${rel.toExponential(2)} (relative)`);
      }
    });
    assert.equal(tf.memory().numTensors, before, `${c.name}: tensors leaked`);
  });
}

test("the codebook statistics' weight: the main branch's EMA is the kit's (weight 1), the optimized branch's weights them by R = T/L = 4", async () => {
  await initBackend(testBackend());
  const worst = (m: Map<string, number>) => Math.max(...m.values());
  withGolden(byName("main-base"), (g) => {
    assert.equal(g.case.emaStatsWeight, 1);
    assert.ok(worst(goldenTrainingStep(g, "vq-parallel", 4).emaRel) > 0.1, "weighting by R must not match the main branch");
  });
  withGolden(byName("opt-vq-mha"), (g) => {
    assert.equal(g.case.emaStatsWeight, g.case.T / g.model.config.blockLen);
    assert.ok(worst(goldenTrainingStep(g, "vq-parallel", 1).emaRel) > 0.1, "the kit's own EMA (weight 1) must not match the optimized branch");
  });
});

test("negative controls: u and v swapped, one weight moved by 1e-3, or another case's log-probs break the 1e-5 match", async () => {
  await initBackend(testBackend());
  const before = tf.memory().numTensors;
  const base = byName("main-base");
  withGolden(base, (g) => {
    const p = g.model.params;
    const swap = (a: tf.Variable, b: tf.Variable) => tf.tidy(() => { const t = a.clone(); a.assign(b); b.assign(t); });
    swap(p.get("layer0.attn0.xl_u")!, p.get("layer0.attn0.xl_v")!);
    for (const [form, abs] of formDiffs(g)) assert.ok(abs > 1e-2, `u <-> v swapped: ${form} still within ${abs}`);
    const grad = goldenTrainingStep(g, "vq-parallel");
    assert.ok(Math.max(...grad.gradRel.values()) > 1e-2, "u <-> v swapped: the gradients still match");
    swap(p.get("layer0.attn0.xl_u")!, p.get("layer0.attn0.xl_v")!);
    // one element of one weight matrix moved by 1e-3 (measured: max |Δ log p| 1.8e-4)
    const wo = p.get("layer0.attn1.wo")!;
    const orig = wo.clone();
    tf.tidy(() => wo.assign(tf.add(wo, tf.mul(tf.oneHot([0], wo.size).reshape(wo.shape), 1e-3))));
    for (const [form, abs] of formDiffs(g)) assert.ok(abs > GOLDEN_TOLERANCE, `wo[0,0] + 1e-3: ${form} still within ${abs}`);
    wo.assign(orig);
    orig.dispose();
    for (const [form, abs] of formDiffs(g)) assert.ok(abs <= GOLDEN_TOLERANCE, `restored: ${form} ${abs}`);
    // the same weights against the cache-off case's log-probs (swapped fixtures)
    const other = loadGolden(byName("main-nocache"));
    disposeModel(other.model);
    for (const [form, abs] of formDiffs(g, other.official)) assert.ok(abs > 1e-2, `cache-on model vs cache-off golden: ${form} within ${abs}`);
  });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

test("goldenTable (notebook 21): one passing row per case × form on the current backend; unknown cases are refused", async () => {
  const b = testBackend();
  await initBackend(b);
  const rows = await goldenTable([b], { cases: ["main-m8l4", "opt-full"] });
  assert.deepEqual(rows.map((r) => `${r.case} ${r.form}`), ["main-m8l4 vq-quadratic", "main-m8l4 vq-recurrent", "opt-full full"]);
  for (const r of rows) {
    assert.equal(r.backend, b);
    assert.ok(r.pass && r["max |Δ log p|"] <= r.tolerance, `${r.case} ${r.form}: ${r["max |Δ log p|"]}`);
  }
  await assert.rejects(goldenTable([b], { cases: ["main-nope"] }), /no golden case main-nope; the cases are main-base/);
});
