/**
 * The kit's one typed public entry: notebooks `import * as tvq from "./lib/index"` (notebooks/lib links to ../lib;
 * tslab's loader does not resolve the folder import "./lib" to index.ts) and scripts import from "../lib". Each line
 * re-exports one module; exported names are unique across modules.
 */
export * from "./util/io";
export * from "./runtime/backend";
export * from "./util/display";
export * from "./notebook/plots";
export * from "./notebook/tables";
export * from "./experiments/results";
export * from "./util/progress";
export * from "./experiments/environment";
export * from "./util/stats";
export * from "./util/format";
export * from "./data/vocab";
export * from "./data/bpe";
export * from "./runtime/rng";
export * from "./data/batches";
export * from "./data/image";
export * from "./data/enwik8";
export * from "./data/pg19";
export * from "./data/imagenet64";
export * from "./data/datasets";
export * from "./experiments/run";
export * from "./train/optim";
export * from "./train/checkpoint";
export * from "./train/evaluate";
export * from "./train/sample";
export * from "./train/loop";
export * from "./notebook/sweep";
export * from "./experiments/ablation";
export * from "./config";
export * from "./runtime/grad";
export * from "./runtime/matmul";
export * from "./nn/dropout";
export * from "./nn/norm";
export * from "./nn/pe";
export * from "./nn/vq";
export * from "./nn/attention";
export * from "./nn/model";
export * from "./experiments/equivalence";
export * from "./experiments/cost";
export * from "./experiments/inspect";
export * from "./experiments/throughput";
