/**
 * Progress of long loops (training updates, evaluation windows, sweeps): one API, three renderings.
 * - In a tslab notebook: ONE live output, updated in place, with a progress bar, rate, ETA, the latest metrics
 *   and a small inline-SVG curve of the loss (CE in nats, or bpb = nats / ln 2, whatever the trainer reports).
 * - In a terminal (stderr is a TTY): a single line redrawn with a carriage return.
 * - In logs (stderr is not a TTY, e.g. CI): a plain line every `logEveryPercent` % and at the end.
 * Rendering is throttled (default ≤ 2 per second) so it never costs measurable training time.
 */
import { displayBundle, escapeHtml, inTslab, newDisplayId } from "./display";
import { formatCell } from "./format";

/** Where progress goes: a notebook display, a redrawn terminal line, log lines, or nowhere. */
export type ProgressMode = "tslab" | "tty" | "log" | "silent";

export interface ProgressOptions {
  /** number of steps until done (> 0) */
  total: number;
  /** what runs, e.g. "train 01-enwik8" */
  label?: string;
  /** what one step is, for the rate: "step", "batch", "window" (default "step") */
  unit?: string;
  /** default: tslab inside a kernel, tty when stderr is a TTY, else log; TVQ_PROGRESS=off forces silent */
  mode?: ProgressMode;
  /** minimum time between renders (default 500 ms) */
  minIntervalMs?: number;
  /** log mode: print a line each time progress crosses a multiple of this percentage (default 10) */
  logEveryPercent?: number;
  /** metric drawn as the curve in notebooks (default "loss"; else the first metric reported) */
  curveMetric?: string;
  /** clock in ms (tests inject one) */
  now?: () => number;
  /** when the work started, on that clock (default: now); "took" counts from here */
  startedAt?: number;
  /** tty/log output (default process.stderr) */
  write?: (s: string) => void;
}

export interface Progress {
  /**
   * Reports that `step` steps are done (1-based count, ≤ total), with the latest metrics (e.g. {loss: 2.31}).
   * Renders at most every minIntervalMs.
   */
  update(step: number, metrics?: Record<string, number>): void;
  /** Final render (always shown); later calls do nothing. */
  done(metrics?: Record<string, number>): void;
}

/** "12s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The numbers one progress line shows. */
export interface ProgressState {
  label: string;
  unit: string;
  step: number;
  total: number;
  /** seconds since start */
  elapsed: number;
  /** steps per second (RateEstimator; NaN before two reports); the ETA is (total − step) / rate */
  rate: number;
  metrics: Record<string, number>;
  done: boolean;
}

/** A text bar of `width` cells for fraction f in [0, 1]. */
export function progressBar(f: number, width = 24): string {
  const n = Math.round(Math.min(1, Math.max(0, f)) * width);
  return "█".repeat(n) + "░".repeat(width - n);
}

/** The rate as "3.10 step/s", or "4.2 s/step" when slower than one step per second. */
function formatRate(rate: number, unit: string): string {
  if (!(rate > 0) || !Number.isFinite(rate)) return `— ${unit}/s`;
  const fmt = (x: number) => (x >= 1000 ? formatCell(Math.round(x)) : x.toPrecision(3));
  return rate >= 1 ? `${fmt(rate)} ${unit}/s` : `${fmt(1 / rate)} s/${unit}`;
}

/**
 * One line: "train [██████░░░░] 120/500 24% | 3.10 step/s | ETA 2m03s | loss 2.345".
 * @param s the state to show
 */
export function formatProgressLine(s: ProgressState): string {
  const f = s.total > 0 ? s.step / s.total : 0;
  const eta = s.done ? `took ${formatDuration(s.elapsed)}` : `ETA ${s.rate > 0 ? formatDuration((s.total - s.step) / s.rate) : "?"}`;
  const metrics = Object.entries(s.metrics).map(([k, v]) => `${k} ${formatCell(v, 4)}`);
  return [`${s.label ? s.label + " " : ""}[${progressBar(f)}] ${s.step}/${s.total} ${Math.floor(100 * f)}%`,
    formatRate(s.rate, s.unit), eta, ...metrics].join(" | ");
}

/**
 * A small line chart of (step, value) points as inline SVG, with the first/last step and min/max value labelled.
 * @param points [step, value] pairs in step order
 * @param opts name of the metric; width/height in px
 */
export function curveSvg(points: Array<[number, number]>, opts: { name?: string; width?: number; height?: number } = {}): string {
  const W = opts.width ?? 320, H = opts.height ?? 110;
  const pad = { l: 46, r: 8, t: 14, b: 18 };
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 2) return "";
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const sy = (y: number) => pad.t + (1 - (y - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
  const path = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  const t = (x: number, y: number, s: string, anchor = "start") =>
    `<text x="${x}" y="${y}" font-size="10" fill="#555" text-anchor="${anchor}">${escapeHtml(s)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" style="font-family:sans-serif">` +
    `<rect x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${H - pad.t - pad.b}" fill="none" stroke="#ccc"/>` +
    `<polyline points="${path}" fill="none" stroke="#0072B2" stroke-width="1.5"/>` +
    t(pad.l - 4, pad.t + 4, formatCell(y1, 4), "end") + t(pad.l - 4, H - pad.b, formatCell(y0, 4), "end") +
    t(pad.l, H - 4, String(x0)) + t(W - pad.r, H - 4, String(x1), "end") +
    (opts.name ? t(pad.l + 4, pad.t - 3, `${opts.name} vs step`) : "") + `</svg>`;
}

/** The notebook rendering: bar, text line, curve. */
export function progressHtml(s: ProgressState, svg: string): string {
  const f = s.total > 0 ? Math.min(1, s.step / s.total) : 0;
  const text = escapeHtml(formatProgressLine(s).split(" | ").slice(1).join(" · "));
  const head = `${escapeHtml(s.label)} ${s.step}/${s.total} (${Math.floor(100 * f)}%)`;
  return `<div style="font-family:sans-serif;font-size:13px;line-height:1.5">` +
    `<div>${head}</div>` +
    `<div style="width:320px;height:8px;background:#e6e6e6;border-radius:4px;overflow:hidden">` +
    `<div style="width:${(100 * f).toFixed(1)}%;height:100%;background:${s.done ? "#009E73" : "#0072B2"}"></div></div>` +
    `<div style="color:#333">${text}</div>${svg}</div>`;
}

/**
 * The rate of a loop from its (step, time) reports, for ETAs that converge to the real remaining time.
 * - The time before the first report is left out: it holds start-up (graph compilation, the first update's warm-up),
 *   or nothing at all when the display starts at the first report of batches of several items (evaluation
 *   windows) — measured from there, the first report claimed thousands of items per second and an ETA of seconds
 *   for a job of minutes.
 * - Later intervals are averaged with weights that decay per step: rate = Σ w·Δsteps / Σ w·Δseconds, each step
 *   weighing (1 − 1/memory) times the one after it. With steps of one speed that is the plain rate; when the speed
 *   changes (a slow or fast start, another process taking the cores) the estimate follows within about `memory`
 *   steps, where an average since the start stays wrong for most of the job.
 */
export class RateEstimator {
  private readonly decay: number;
  private first?: { step: number; t: number };
  private last?: { step: number; t: number };
  private steps = 0;
  private seconds = 0;

  /** @param memory steps over which old intervals fade (≥ 1; createProgress uses a tenth of the total, ≥ 5) */
  constructor(memory: number) {
    if (!(memory >= 1)) throw new Error(`RateEstimator: memory must be ≥ 1 step, got ${memory}`);
    this.decay = 1 - 1 / memory;
  }

  /** Reports that `step` steps are done at time `t` (seconds); a step count that does not grow is ignored. */
  observe(step: number, t: number): void {
    if (!this.last) {
      this.first = this.last = { step, t };
      return;
    }
    const dn = step - this.last.step;
    if (!(dn > 0)) return;
    const w = Math.pow(this.decay, dn);
    this.steps = this.steps * w + dn;
    this.seconds = this.seconds * w + Math.max(0, t - this.last.t);
    this.last = { step, t };
  }

  /** Steps per second now (NaN before two reports or when no time passed). */
  rate(): number {
    return this.seconds > 0 ? this.steps / this.seconds : NaN;
  }

  /** Steps per second from the first report to the last (NaN before two reports): the rate a finished job shows. */
  averageRate(): number {
    if (!this.first || !this.last) return NaN;
    const dt = this.last.t - this.first.t;
    return dt > 0 ? (this.last.step - this.first.step) / dt : NaN;
  }
}

/** Picks the mode for this process. */
export function defaultProgressMode(): ProgressMode {
  if ((process.env.TVQ_PROGRESS ?? "").toLowerCase() === "off") return "silent";
  if (inTslab()) return "tslab";
  return process.stderr.isTTY ? "tty" : "log";
}

/** Keeps at most this many curve points (thinning every other point when full). */
const MAX_CURVE_POINTS = 400;

/**
 * Starts a progress display.
 * @param opts total steps, label, unit and rendering options (see ProgressOptions)
 */
export function createProgress(opts: ProgressOptions): Progress {
  if (!(opts.total > 0) || !Number.isFinite(opts.total)) throw new Error(`createProgress: total must be a positive number of steps, got ${opts.total}`);
  const now = opts.now ?? (() => performance.now());
  const write = opts.write ?? ((s: string) => void process.stderr.write(s));
  const mode = opts.mode ?? defaultProgressMode();
  const minInterval = opts.minIntervalMs ?? 500;
  const logEvery = opts.logEveryPercent ?? 10;
  const displayId = newDisplayId();
  const t0 = opts.startedAt ?? now();
  const rates = new RateEstimator(Math.max(5, opts.total / 10));
  let lastRender = -Infinity;
  let lastLogBucket = -1;
  let shown = false;
  let finished = false;
  let curveName = opts.curveMetric;
  let curve: Array<[number, number]> = [];
  const state: ProgressState = { label: opts.label ?? "", unit: opts.unit ?? "step", step: 0, total: opts.total, elapsed: 0, rate: NaN, metrics: {}, done: false };

  function render(force: boolean): void {
    const t = now();
    if (!force && t - lastRender < minInterval) return;
    lastRender = t;
    state.elapsed = (t - t0) / 1000;
    // a finished job shows its average rate (of the whole run when it reported only once)
    const average = rates.averageRate();
    state.rate = !state.done ? rates.rate() : Number.isFinite(average) ? average : state.elapsed > 0 ? state.step / state.elapsed : NaN;
    if (mode === "silent") return;
    if (mode === "tslab") {
      const html = progressHtml(state, curveName ? curveSvg(curve, { name: curveName }) : "");
      displayBundle({ "text/html": html, "text/plain": formatProgressLine(state) }, { displayId, update: shown });
      shown = true;
    } else if (mode === "tty") {
      write(`\r${formatProgressLine(state)}\x1b[K${state.done ? "\n" : ""}`);
    } else {
      const bucket = Math.floor((100 * state.step) / state.total / logEvery);
      if (state.done || (bucket > lastLogBucket && state.step < state.total)) {
        lastLogBucket = bucket;
        write(formatProgressLine(state) + "\n");
      }
    }
  }

  return {
    update(step: number, metrics?: Record<string, number>): void {
      if (finished) return;
      state.step = Math.min(step, state.total);
      rates.observe(state.step, now() / 1000);
      if (metrics) {
        state.metrics = { ...metrics };
        curveName ??= "loss" in metrics ? "loss" : Object.keys(metrics)[0];
        const v = curveName !== undefined ? metrics[curveName] : undefined;
        if (v !== undefined) {
          curve.push([step, v]);
          if (curve.length > MAX_CURVE_POINTS) curve = curve.filter((_, i) => i % 2 === 0 || i === curve.length - 1);
        }
      }
      // Log mode prints at percentage crossings; check every update, render() throttles the other modes.
      render(mode === "log" && Math.floor((100 * state.step) / state.total / logEvery) > lastLogBucket);
    },
    done(metrics?: Record<string, number>): void {
      if (finished) return;
      if (metrics) state.metrics = { ...metrics };
      state.done = true;
      finished = true;
      render(true);
    },
  };
}

/** A progress display for work that reports (done, total): `report` to pass as the callback, `done` after it. */
export interface ProgressCallback {
  /** undefined when progress is off, so the work skips reporting */
  report?: (done: number, total: number) => void;
  done(): void;
}

/**
 * A progress callback whose display starts on the first report, with the total the work reports (evaluation
 * windows, sampled tokens), so nothing is shown when the work fails before it starts.
 * @param on false: no display, `report` undefined
 * @param label e.g. "evaluate smoke-u3-S4-seed0 validation"; unit: e.g. "window"
 */
export function progressCallback(on: boolean, label: string, unit: string): ProgressCallback {
  let bar: Progress | undefined;
  const startedAt = performance.now(); // "took" includes the work before the first report
  return {
    report: on ? (d, n) => (bar ??= createProgress({ total: n, label, unit, startedAt })).update(d) : undefined,
    done: () => bar?.done(),
  };
}
