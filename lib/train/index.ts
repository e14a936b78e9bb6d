/** Training and using a model: the truncated-backprop loop and its updates, opening and resuming a run folder, optimizers, checkpoints, evaluation (bpb, perplexity), sampling. */
export * from "./checkpoint";
export * from "./evaluate";
export * from "./loop";
export * from "./optim";
export * from "./resume";
export * from "./run-folder";
export * from "./sample";
export * from "./step";
