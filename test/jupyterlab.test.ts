// JupyterLab from the project venv (npm run lab, i.e. scripts/lab.sh) starts on a free local port and lists the
// tslab kernels in /api/kernelspecs; the server is always stopped, also when an assertion fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

const REPO = path.resolve(__dirname, "..");

/** A TCP port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops the server's whole process group: SIGTERM, then SIGKILL after 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const killer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  }, 5000);
  await exited;
  clearTimeout(killer);
}

test("JupyterLab from the venv serves the tslab kernels in /api/kernelspecs", async () => {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  const child = spawn(
    "bash",
    [path.join(REPO, "scripts", "lab.sh"), `--port=${port}`, "--ServerApp.port_retries=0", "--no-browser", `--IdentityProvider.token=${token}`],
    { cwd: REPO, env: { ...process.env, TVQ_LAB_SETUP: "0" }, detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  try {
    const url = `http://127.0.0.1:${port}/api/kernelspecs`;
    const deadline = Date.now() + 120_000;
    let specs: { default?: string; kernelspecs: Record<string, { spec: { display_name: string; language: string; argv: string[] } }> } | undefined;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(url, { headers: { Authorization: `token ${token}` } });
        if (res.ok) {
          specs = (await res.json()) as typeof specs;
          break;
        }
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(specs, `JupyterLab did not answer on ${url} (exit code ${child.exitCode}):\n${log.slice(-3000)}`);
    const tslab = specs.kernelspecs.tslab;
    assert.ok(tslab, `no tslab kernel; found ${Object.keys(specs.kernelspecs).join(", ")}`);
    assert.equal(tslab.spec.language, "typescript");
    assert.equal(tslab.spec.argv[0], path.join(REPO, "node_modules", ".bin", "tslab"), "the kernelspec runs this checkout's tslab");
    assert.ok(specs.kernelspecs.jslab, "the jslab (JavaScript) kernel is registered too");
    // Without the token the API refuses: the server is not open to anyone on the machine.
    const anon = await fetch(url);
    assert.equal(anon.status, 403);
  } finally {
    await stop(child);
  }
});
