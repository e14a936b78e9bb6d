// lib/ must compile with tslab's own TypeScript (5.0.4, ES2022 typings, CommonJS) and load inside the kernel,
// reached the way notebooks reach it: through a relative symlink `lib -> ../lib` next to the notebook
// (notebooks/lib is committed; tslab roots its compiler at the notebook's folder, so `../lib` would fail).
// The test writes a notebook that imports every module of lib/ into test/artifacts/tslab-lib/, next to such a
// symlink, and runs it with the runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");
const LIB = path.join(REPO, "lib");
const WORK = path.join(REPO, "test", "artifacts", "tslab-lib");

/** Every lib module as a specifier relative to lib/ ("backend", "data/text"), index.ts excluded. */
function libModules(dir = LIB, prefix = ""): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return libModules(path.join(dir, e.name), `${prefix}${e.name}/`);
    if (!e.name.endsWith(".ts") || e.name.endsWith(".d.ts") || (prefix === "" && e.name === "index.ts")) return [];
    return [prefix + e.name.slice(0, -3)];
  });
}

test("notebooks/lib is a committed relative symlink to ../lib", () => {
  const link = path.join(REPO, "notebooks", "lib");
  assert.ok(fs.lstatSync(link).isSymbolicLink(), "notebooks/lib must be a symlink (git clone keeps it)");
  assert.equal(fs.readlinkSync(link), "../lib");
  assert.equal(fs.realpathSync(link), fs.realpathSync(LIB));
});

/** Type-checks lib/ with tslab's bundled TypeScript and options close to tslab's; output names the files. */
function tslabTsc(modules: string[]): { status: number | null; output: string } {
  const tsc = path.join(REPO, "node_modules", "@tslab", "typescript-for-tslab", "bin", "tsc");
  const files = ["index", ...modules].map((m) => path.join(LIB, `${m}.ts`)).filter((f) => fs.existsSync(f));
  const r = spawnSync(
    process.execPath,
    [tsc, "--noEmit", "--target", "ES2022", "--lib", "ES2022", "--module", "commonjs", "--moduleResolution", "node",
      "--esModuleInterop", "--skipLibCheck", "--resolveJsonModule", "--types", "node", ...files],
    { cwd: REPO, encoding: "utf8", timeout: 120_000 },
  );
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

test("lib/ type-checks with tslab's TypeScript 5.0.4 (ES2022 typings, CommonJS)", () => {
  const r = tslabTsc(libModules());
  assert.equal(r.status, 0, `tslab's compiler rejects lib/ (notebooks would fail to import it):\n${r.output}`);
});

test("every lib module compiles and loads inside the tslab kernel; initBackend + describeBackend run there", () => {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  fs.symlinkSync(path.relative(WORK, LIB), path.join(WORK, "lib"));
  const modules = libModules();
  // Notebooks import the kit as `import * as tvq from "./lib/index"`: tslab resolves "./lib/index" to the
  // compiled lib/index.ts, but not the bare folder "./lib" (Cannot find module './lib').
  const entry = fs.existsSync(path.join(LIB, "index.ts")) ? "./lib/index" : "./lib/runtime/backend";
  const cell = (id: string, lines: string[]) => ({ cell_type: "code", execution_count: null, id, metadata: {}, outputs: [], source: lines.join("\n") });
  const cells = [
    cell("entry", [
      `import * as tvq from "${entry}";`,
      `import { ROOT } from "./lib/util/io";`,
      `const info = await tvq.initBackend("cpu");`,
      `console.log("BACKEND " + tvq.describeBackend(info));`,
      `console.log("ROOT " + ROOT);`,
    ]),
    cell("modules", [
      ...modules.map((m, i) => `import * as m${i} from "./lib/${m}";`),
      // Touch every namespace so that none is elided as a type-only import.
      `const loaded = [${modules.map((_, i) => `Object.keys(m${i}).length`).join(", ")}];`,
      `console.log("LOADED " + loaded.length);`,
    ]),
  ];
  const nb = {
    cells,
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  const file = path.join(WORK, "imports.ipynb");
  fs.writeFileSync(file, JSON.stringify(nb, null, 1));
  const out = path.join(WORK, "imports.out.ipynb");
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts", "notebook.ts"), file, "--out", out], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) {
    // tslab's diagnostics give line:col without the file; tslab's own tsc names it.
    const tsc = tslabTsc(modules);
    assert.fail(`the lib did not load in tslab:\n${r.stderr}\n--- tslab's TypeScript 5.0.4 on lib/ says:\n${tsc.output || "(no errors)"}`);
  }
  const saved = JSON.parse(fs.readFileSync(out, "utf8")) as { cells: { outputs: { text?: string | string[] }[] }[] };
  const stdout = saved.cells
    .flatMap((c) => c.outputs)
    .map((o) => (Array.isArray(o.text) ? o.text.join("") : (o.text ?? "")))
    .join("");
  assert.match(stdout, /BACKEND backend: cpu \(/);
  assert.ok(stdout.includes(`ROOT ${REPO}\n`), "io.ROOT is the repository root");
  assert.ok(stdout.includes(`LOADED ${modules.length}\n`));
});
