// JupyterLab from the project venv (scripts/lab.sh: hermetic JUPYTER_* folders, server root = the repository) on a
// free local port with a random token, for tests. `stopLab` always ends the whole process group.
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

export const REPO = path.resolve(__dirname, "..", "..");

/** A running JupyterLab: its base URL (no trailing slash), token, process and stderr so far. */
export interface Lab {
  base: string;
  port: number;
  token: string;
  child: ChildProcess;
  log(): string;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
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

/**
 * Starts scripts/lab.sh (setup skipped) on a free port and waits until /api/kernelspecs answers.
 * @param extraArgs more `jupyter lab` arguments, e.g. ["--ContentsManager.allow_hidden=True"]
 * @param timeoutMs how long to wait for the server
 * Throws (after stopping the server) when it does not answer in time; call stopLab(lab) when done.
 */
export async function startLab(extraArgs: string[] = [], timeoutMs = 120_000): Promise<Lab> {
  const port = await freePort();
  const token = randomBytes(16).toString("hex");
  const child = spawn(
    "bash",
    [path.join(REPO, "scripts", "lab.sh"), `--port=${port}`, "--ServerApp.port_retries=0", "--no-browser", `--IdentityProvider.token=${token}`, ...extraArgs],
    { cwd: REPO, env: { ...process.env, TVQ_LAB_SETUP: "0" }, detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const lab: Lab = { base: `http://127.0.0.1:${port}`, port, token, child, log: () => log };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const res = await fetch(`${lab.base}/api/kernelspecs`, { headers: { Authorization: `token ${token}` } });
      if (res.ok) return lab;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await stopLab(lab);
  throw new Error(`JupyterLab did not answer on ${lab.base} within ${timeoutMs / 1000} s (exit code ${child.exitCode}):\n${log.slice(-3000)}`);
}

/** Shuts down every kernel of the server through its API (kernels run in their own sessions, outside the group). */
export async function shutdownKernels(lab: Lab): Promise<void> {
  const headers = { Authorization: `token ${lab.token}` };
  try {
    const res = await fetch(`${lab.base}/api/kernels`, { headers });
    if (!res.ok) return;
    for (const k of (await res.json()) as { id: string }[]) await fetch(`${lab.base}/api/kernels/${k.id}`, { method: "DELETE", headers });
  } catch {
    /* server already gone */
  }
}

/** Stops the server's whole process group: SIGTERM, then SIGKILL after 5 s. */
export async function stopLab(lab: Lab): Promise<void> {
  const child = lab.child;
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
