// The architecture of lib/ as rules a change cannot break silently: which folder may import which (the paper in
// lib/nn/ imports no plumbing), and no module grows past what a reader holds in their head.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const LIB = path.resolve(__dirname, "..", "lib");
const MAX_LINES = 400;

/** Every .ts file below lib/, as paths relative to lib/ ("nn/vq.ts"). */
function libFiles(dir = LIB): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return libFiles(p);
    return e.name.endsWith(".ts") ? [path.relative(LIB, p)] : [];
  });
}

/** The layer of a lib-relative path: its top folder, or the file stem for top-level files ("config", "index"). */
function layer(rel: string): string {
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : parts[0].replace(/\.ts$/, "");
}

/** The lib-relative targets of a file's relative imports (static, type-only, dynamic and require). */
function kitImports(rel: string, src = fs.readFileSync(path.join(LIB, rel), "utf8")): string[] {
  // Comments may quote imports (module docs show how notebooks import the kit): drop them first.
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1");
  const specs = [...code.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)]
    .map((m) => m[1]);
  return specs.map((s) => path.relative(LIB, path.resolve(path.dirname(path.join(LIB, rel)), s)))
    .filter((t) => !t.startsWith(".."));
}

/** Which layers each layer may import (besides itself). util/ is the leaf every layer may use. */
const ALLOWED: Record<string, string[]> = {
  runtime: [],
  util: [],
  config: ["util"],
  nn: ["runtime", "config"],
  data: ["runtime", "util"],
  train: ["nn", "data", "runtime", "config", "util"],
  experiments: ["train", "nn", "data", "runtime", "config", "util"],
  notebook: ["experiments", "train", "nn", "data", "runtime", "config", "util"],
  index: ["runtime", "nn", "config", "train", "data", "experiments", "notebook", "util"],
};

test("every lib/ folder imports only the layers below it (lib/nn/: only nn, runtime and config)", () => {
  const files = libFiles();
  assert.ok(files.some((f) => f.startsWith(`nn${path.sep}`)), "lib/nn/ holds the paper's modules");
  const bad: string[] = [];
  for (const f of files) {
    const from = layer(f);
    const allowed = ALLOWED[from];
    if (!allowed) {
      bad.push(`lib/${f}: folder '${from}' is not one of the kit's layers (${Object.keys(ALLOWED).join(", ")})`);
      continue;
    }
    for (const t of kitImports(f)) {
      const to = layer(t);
      if (to !== from && !allowed.includes(to)) bad.push(`lib/${f} imports lib/${t} (${from} may import: ${allowed.join(", ") || "nothing"})`);
    }
  }
  assert.deepEqual(bad, [], `layering violations:\n${bad.join("\n")}`);
});

test(`no lib/ module is longer than ${MAX_LINES} lines`, () => {
  const long = libFiles()
    .map((f) => ({ f, n: fs.readFileSync(path.join(LIB, f), "utf8").split("\n").length }))
    .filter((x) => x.n > MAX_LINES)
    .map((x) => `lib/${x.f}: ${x.n} lines`);
  assert.deepEqual(long, [], `split these modules:\n${long.join("\n")}`);
});

test("the import scan sees static, type-only and dynamic imports (so the layering test can fail)", () => {
  const src = `/** e.g. import { a } from "../util/io" */\n// import "../data/vocab"\nimport type { X } from "../notebook/plots";\nimport "./side-effect";\nconst y = require("../train/loop");\n` +
    `const z = import("../experiments/run");\nimport * as fs from "node:fs";\n`;
  assert.deepEqual(kitImports(path.join("nn", "probe.ts"), src).sort(),
    [path.join("experiments", "run"), path.join("nn", "side-effect"), path.join("notebook", "plots"), path.join("train", "loop")]);
});
