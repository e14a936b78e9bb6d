/** What the notebooks show: Plotly figures and their export, learning curves, samples, tables, the paper comparison file, notebook sweeps. */
export * from "./figures/index";
export * from "./images";
export * from "./plots";
export * from "./profiles";
export * from "./render";
export * from "./record";
export * from "./report";
export * from "./sweep";
export * from "./tables";
