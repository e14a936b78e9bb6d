/** Training and using a model: the truncated-backprop loop, optimizers, checkpoints, evaluation (bpb, perplexity), sampling. */
export * from "./checkpoint";
export * from "./evaluate";
export * from "./loop";
export * from "./optim";
export * from "./sample";
