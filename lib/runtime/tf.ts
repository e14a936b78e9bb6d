/**
 * The one TensorFlow.js namespace the kit uses. `@tensorflow/tfjs` (the union package) registers every
 * gradient and chained op on the shared tfjs-core instance; importing tfjs-core alone does not.
 * Every lib module imports it as `import * as tf from "./tf"`.
 */
export * from "@tensorflow/tfjs";
