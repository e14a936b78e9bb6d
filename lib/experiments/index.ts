/** What the notebooks measure: one experiment run with its results row, ablations, throughput, the cost model, the equivalence check, the official golden fixtures, the paper's numbers. */
export * from "./ablation";
export * from "./cost";
export * from "./environment";
export * from "./equivalence";
export * from "./golden";
export * as official from "./official/index";
export * from "./inspect";
export * from "./paper";
export * from "./recall";
export * from "./results";
export * from "./row";
export * from "./run";
export * from "./throughput/index";
