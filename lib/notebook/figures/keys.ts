/**
 * The quantizer, seen: the keys of one attention sublayer on their two leading principal axes, coloured by
 * shortcode, with the codewords in use projected on the same axes, so a codeword sits among the keys it stands
 * for when the codebook fits them (lib/experiments/inspect.ts computes keys, codes and axes).
 */
import { KeysAndCodes, principalAxes2, project2 } from "../../experiments/inspect";
import { PlotlyFigure, paperLayout } from "../plots";

/**
 * Keys as dots coloured by shortcode and the codewords in use as black crosses, on the keys' two principal axes.
 * @param kc from keysAndCodes
 * @param title figure title
 */
export function keysFigure(kc: KeysAndCodes, title?: string): PlotlyFigure {
  const basis = principalAxes2(kc.keys);
  const pk = project2(kc.keys, basis);
  const used = [...new Set(kc.codes)].sort((a, b) => a - b);
  const pc = project2(used.map((s) => kc.codewords[s]), basis);
  return {
    data: [
      { type: "scattergl", mode: "markers", name: "keys (colour = shortcode)", x: pk.map((p) => p[0]), y: pk.map((p) => p[1]),
        text: kc.codes.map((z) => `code ${z}`), marker: { size: 4, opacity: 0.55, color: kc.codes, colorscale: "Rainbow" } },
      { type: "scatter", mode: "markers", name: "codewords in use", x: pc.map((p) => p[0]), y: pc.map((p) => p[1]),
        text: used.map((s) => `codeword ${s}`), marker: { size: 9, symbol: "x", color: "#000", line: { width: 1 } } },
    ],
    layout: paperLayout({ title, x: "first principal axis of the keys", y: "second principal axis" }),
  };
}
