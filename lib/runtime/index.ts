/** The execution substrate: TensorFlow.js, the backend choice (gpu > native > wasm > cpu), graph execution on native, kernel patches, gradient helpers, matrix products, the seeded RNG. */
export * from "./backend";
export * from "./grad";
export { GraphFunction, compileGraph, eagerly, graphEnabled, hostInput, sameGraph, traceGraph } from "./graph";
export type { CompiledGraph, HostRecipe, Traced } from "./graph";
export * from "./kernels";
export * from "./matmul";
export * from "./rng";
export * as tf from "./tf";
