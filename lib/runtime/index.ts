/** The execution substrate: TensorFlow.js, the backend choice (gpu > native > wasm > cpu), kernel patches, gradient helpers, matrix products, the seeded RNG. */
export * from "./backend";
export * from "./grad";
export * from "./kernels";
export * from "./matmul";
export * from "./rng";
export * as tf from "./tf";
