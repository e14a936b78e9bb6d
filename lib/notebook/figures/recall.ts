/**
 * What notebook 13 (long-range recall) shows beyond the ablation figures: recall accuracy against the distance from
 * the query back to its pair, per setting, with chance and the edge of the exact window marked.
 */
import { mean, std } from "../../util/stats";
import type { AblationRun } from "../../experiments/ablation";
import { accuracyByDistance, readRecallRecords } from "../../experiments/recall";
import { PlotlyFigure, Series, lineFigure } from "../plots";

/**
 * Recall accuracy against the distance to the pair, one line per setting: the mean over seeds per distance bin,
 * ± the sample std over seeds; a dashed line marks chance and a dotted vertical line the window edge 2L.
 * @param runs the ablation's runs (each with recall.json); edges: distance bin edges; L: the block length (unset
 *   when the settings differ in L: no window edge is drawn)
 */
export function recallFigure(runs: AblationRun[], opts: { edges: number[]; L?: number; chance: number; title?: string }): PlotlyFigure {
  const names = [...new Set(runs.map((r) => r.name))];
  const mids = opts.edges.slice(0, -1).map((e, i) => (e + opts.edges[i + 1]) / 2);
  const series: Series[] = names.map((name) => {
    const perSeed = runs.filter((r) => r.name === name).map((r) => accuracyByDistance(readRecallRecords(r.result.runDir), opts.edges));
    const x: number[] = [], y: number[] = [], error: number[] = [];
    mids.forEach((mid, i) => {
      const accs = perSeed.map((bins) => bins.find((b) => b.from === opts.edges[i])?.accuracy).filter((a): a is number => a !== undefined);
      if (!accs.length) return;
      x.push(mid); y.push(mean(accs)); error.push(accs.length > 1 ? std(accs) : 0);
    });
    const setting = runs.find((r) => r.name === name)!.setting;
    return { name: setting.label ?? name, x, y, error };
  });
  const xMax = opts.edges[opts.edges.length - 1];
  series.push({ name: `chance (1/${Math.round(1 / opts.chance)})`, x: [0, xMax], y: [opts.chance, opts.chance], dash: "dash", color: "#777777", mode: "lines" });
  const fig = lineFigure(series, {
    title: opts.title, x: { title: "distance from the query back to its pair (tokens)", range: [0, xMax] }, y: { title: "recall accuracy", range: [0, 1.04] },
  });
  if (opts.L === undefined) return fig;
  const edge = 2 * opts.L;
  fig.layout.shapes = [{ type: "line", x0: edge, x1: edge, y0: 0, y1: 1, yref: "y", line: { color: "#444", width: 1.5, dash: "dot" } }];
  fig.layout.annotations = [{ x: edge, y: 1, yref: "y", text: `window edge 2L = ${edge}`, showarrow: false, xanchor: "left", yanchor: "top", font: { size: 13 } }];
  return fig;
}

