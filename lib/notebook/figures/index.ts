/** Figures of the notebooks, one module per kind. */
export * from "./ablation";
export * from "./curves";
export * from "./keys";
export * from "./recall";
export * from "./throughput";
