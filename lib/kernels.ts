/**
 * Kernel patches for TensorFlow.js backends.
 *
 * `UnsortedSegmentSum` is the gradient of every `tf.gather`. The wasm backend has no kernel for it
 * (training any embedding throws "Kernel 'UnsortedSegmentSum' not registered for backend 'wasm'"), and
 * the cpu backend's kernel is O(numSegments × size) and keeps every intermediate alive (12 GB seen on a
 * small model). This file registers one linear-time kernel for both. The native backend is left alone.
 */
import * as tf from "./tf";

interface BackendLike {
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): Float32Array | Int32Array;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

/** out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo;
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  const backend = args.backend as BackendLike;
  const xv = backend.readSync(x.dataId) as Float32Array | Int32Array;
  const ids = backend.readSync(segmentIds.dataId) as Int32Array | Float32Array;
  const inner = segmentIds.shape.length === 0 ? xv.length : x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const acc = x.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) acc[dst + j] += xv[src + j];
  }
  if (backend.makeOutput && backend.typedArrayFromHeap) {
    const out = backend.makeOutput(outShape, x.dtype);
    backend.typedArrayFromHeap(out).set(acc);
    return out;
  }
  return backend.makeTensorInfo!(outShape, x.dtype, acc);
}

/** Registers the linear-time UnsortedSegmentSum for `backendName` (wasm or cpu). Idempotent. */
export function registerKernelPatches(backendName: string): void {
  if (backendName !== "wasm" && backendName !== "cpu") return;
  if (tf.getKernel("UnsortedSegmentSum", backendName)) tf.unregisterKernel("UnsortedSegmentSum", backendName);
  tf.registerKernel({ kernelName: "UnsortedSegmentSum", backendName, kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
}
