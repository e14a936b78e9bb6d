// JupyterLab from the project venv (npm run lab, i.e. scripts/lab.sh) starts on a free local port and lists the
// tslab kernels in /api/kernelspecs; the server is always stopped, also when an assertion fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { REPO, startLab, stopLab } from "./helpers/jupyterlab";

test("JupyterLab from the venv serves the tslab kernels in /api/kernelspecs", async () => {
  const lab = await startLab();
  try {
    const url = `${lab.base}/api/kernelspecs`;
    const res = await fetch(url, { headers: { Authorization: `token ${lab.token}` } });
    assert.ok(res.ok, `GET ${url}: ${res.status}`);
    const specs = (await res.json()) as { default?: string; kernelspecs: Record<string, { spec: { display_name: string; language: string; argv: string[] } }> };
    const tslab = specs.kernelspecs.tslab;
    assert.ok(tslab, `no tslab kernel; found ${Object.keys(specs.kernelspecs).join(", ")}`);
    assert.equal(tslab.spec.language, "typescript");
    assert.equal(tslab.spec.argv[0], path.join(REPO, "node_modules", ".bin", "tslab"), "the kernelspec runs this checkout's tslab");
    assert.ok(specs.kernelspecs.jslab, "the jslab (JavaScript) kernel is registered too");
    // Without the token the API refuses: the server is not open to anyone on the machine.
    const anon = await fetch(url);
    assert.equal(anon.status, 403);
  } finally {
    await stopLab(lab);
  }
});
