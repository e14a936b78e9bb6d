/** What the notebooks show: Plotly figures and their export, tables, notebook sweeps. */
export * from "./plots";
export * from "./profiles";
export * from "./sweep";
export * from "./tables";
