/**
 * The kit's one typed public entry: notebooks `import * as tvq from "./lib/index"` (notebooks/lib links to ../lib;
 * tslab's loader does not resolve the folder import "./lib" to index.ts) and scripts import from "../lib". Each line
 * re-exports one module; exported names are unique across modules.
 */
export * from "./io";
export * from "./backend";
export * from "./display";
export * from "./plots";
export * from "./tables";
export * from "./results";
export * from "./progress";
export * from "./bench";
export * from "./data/vocab";
export * from "./data/bpe";
export * from "./data/rng";
export * from "./data/batches";
export * from "./data/image";
export * from "./data/enwik8";
export * from "./data/pg19";
export * from "./data/imagenet64";
export * from "./data/datasets";
export * from "./experiment";
export * from "./optim";
export * from "./checkpoint";
export * from "./evaluate";
export * from "./sample";
export * from "./train";
export * from "./sweep";
export * from "./ablation";
export * from "./config";
export * from "./grad";
export * from "./matmul";
export * from "./dropout";
export * from "./norm";
export * from "./pe";
export * from "./vq";
export * from "./attention";
export * from "./model";
export * from "./equivalence";
export * from "./cost";
export * from "./inspect";
export * from "./throughput";
