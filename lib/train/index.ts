/** Training and using a model: the truncated-backprop loop and its updates, opening, locking and resuming a run folder, stopping on a signal, optimizers, checkpoints, evaluation (bpb, perplexity), sampling, the memory check before a run, TensorBoard event files. */
export * from "./checkpoint";
export * from "./evaluate";
export * from "./graphs";
export * from "./interrupt";
export * from "./lock";
export * from "./loop";
export * from "./memory";
export * from "./optim";
export * from "./resume";
export * from "./run-folder";
export * from "./sample";
export * from "./step";
export * from "./tensorboard";
