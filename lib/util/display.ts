/**
 * Notebook plumbing: the one place that talks to the tslab kernel. Figures, tables and progress bars of the
 * reproduction are shown through these calls, so a notebook cell stays one line (`tvq.showFigure(fig)`).
 *
 * Inside a tslab kernel we write Jupyter `display_data` messages; a display may hold several mime types at once
 * (Plotly JSON + PNG + text), which tslab's public API cannot do (it sends one mime type per output), so we use
 * its internal writer `tslab/dist/jupyter`.lastWriteDisplayData (present and unchanged in tslab 1.0.22).
 * Outside a kernel (scripts, tests) nothing is displayed: callers print a text line instead.
 */
import * as crypto from "node:crypto";

/** A Jupyter mime bundle: mime type -> string (base64 for binary types) or JSON object (for `+json` types). */
export type MimeBundle = Record<string, unknown>;

interface TslabJupyter {
  lastWriteDisplayData: ((msg: unknown, update: boolean) => void) | null;
}

/**
 * The kernel's writer module, or undefined when no tslab kernel runs this process. We only look at modules the
 * kernel already loaded (require.cache), so calling this from a script never loads tslab or zeromq.
 */
function tslabJupyter(): TslabJupyter | undefined {
  let file: string;
  try {
    file = require.resolve("tslab/dist/jupyter");
  } catch {
    return undefined;
  }
  const mod = require.cache[file]?.exports as TslabJupyter | undefined;
  return mod && typeof mod.lastWriteDisplayData === "function" ? mod : undefined;
}

/** True when this code runs inside a tslab Jupyter kernel (then display calls produce notebook outputs). */
export function inTslab(): boolean {
  return tslabJupyter() !== undefined;
}

/**
 * Emits ONE display_data output holding every mime type of `bundle`.
 * @param bundle mime type -> payload, e.g. {"text/html": "<b>x</b>", "text/plain": "x"}
 * @param opts.metadata per-mime metadata, e.g. {"image/png": {width: 800, height: 500}}
 * @param opts.displayId an id from `newDisplayId()`; with `update` true the output with this id is replaced
 * @returns false (and shows nothing) outside a tslab kernel
 */
export function displayBundle(bundle: MimeBundle, opts: { metadata?: Record<string, unknown>; displayId?: string; update?: boolean } = {}): boolean {
  const jupyter = tslabJupyter();
  if (!jupyter || !jupyter.lastWriteDisplayData) return false;
  const transient = opts.displayId ? { display_id: opts.displayId } : {};
  jupyter.lastWriteDisplayData({ data: bundle, metadata: opts.metadata ?? {}, transient }, opts.update ?? false);
  return true;
}

/** A fresh id for a display that later calls update in place (progress bars). */
export function newDisplayId(): string {
  return crypto.randomBytes(8).toString("hex");
}

/**
 * Shows HTML in a notebook (with a plain-text fallback), or prints `text` outside a kernel.
 * @param html the HTML fragment
 * @param text the plain-text form, printed to stdout outside tslab
 */
export function displayHtml(html: string, text: string): void {
  if (!displayBundle({ "text/html": html, "text/plain": text })) console.log(text);
}

/** Escapes &, <, >, " for HTML text and attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const shutdownHooks: Array<() => Promise<void> | void> = [];
let shutdownPatched = false;

/**
 * Runs `fn` when the tslab kernel shuts down (before it closes its sockets), so resources such as the shared
 * headless browser do not keep the kernel process alive after Jupyter asks it to exit. No-op outside tslab.
 * @param fn cleanup; may be async (the kernel exits once the returned promise settles)
 */
export function onKernelShutdown(fn: () => Promise<void> | void): void {
  shutdownHooks.push(fn);
  if (shutdownPatched || !inTslab()) return;
  const file = require.resolve("tslab/dist/jupyter");
  const proto = (require.cache[file]?.exports as { JupyterHandlerImpl?: { prototype: { close(): void } } }).JupyterHandlerImpl?.prototype;
  if (!proto) return;
  const close = proto.close;
  proto.close = function (this: unknown) {
    for (const hook of shutdownHooks.splice(0)) {
      try {
        void Promise.resolve(hook()).catch(() => undefined);
      } catch {
        /* cleanup must never block shutdown */
      }
    }
    return close.call(this);
  };
  shutdownPatched = true;
}
