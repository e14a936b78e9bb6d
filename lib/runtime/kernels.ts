/**
 * Kernel patches for TensorFlow.js backends.
 *
 * `UnsortedSegmentSum` is the gradient of every `tf.gather`. The wasm backend has no kernel for it
 * (training any embedding throws "Kernel 'UnsortedSegmentSum' not registered for backend 'wasm'"), and
 * the cpu backend's kernel is O(numSegments × size) and keeps every intermediate alive (12 GB seen on a
 * small model). This file registers one linear-time kernel for both. The native backend is left alone.
 *
 * `Identity` (and `Cast` to the same dtype) on wasm copies its input. The engine clones every tensor a gradient
 * needs (saved inputs and outputs of each op) and many gradients cast to float32, so a training step on wasm spent
 * seconds copying. The patches share the data (reference count), as the cpu backend's Identity and the wasm
 * backend's own Reshape already do.
 *
 * `BatchMatMul` on wasm uses its fast XNNPACK path only for one un-transposed 2-D product; batched products
 * (attention's per-block products) fall to a naive loop about 10× slower. The patch runs batched un-transposed
 * products as one 2-D XNNPACK product per batch element (fresh operand buffers each time: the backend caches
 * packed weights by buffer id). Transposed products keep the stock path (lib/runtime/matmul.ts avoids them on wasm).
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

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

/** Batched a·b as 2-D products on the fast path; anything else goes to the stock kernel. */
function batchMatMulBy2D(stock: tf.KernelFunc): tf.KernelFunc {
  return ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const lead = a.shape.slice(0, -2);
    const batch = lead.reduce((x, y) => x * y, 1);
    const sameBatch = lead.join() === b.shape.slice(0, -2).join();
    if (transposeA || transposeB || batch <= 1 || !sameBatch || a.dtype !== "float32") return stock(args as never);
    const backend = args.backend as WasmBackendLike;
    const [m, k] = a.shape.slice(-2);
    const n = b.shape[b.shape.length - 1];
    const out = backend.makeOutput([...lead, m, n], "float32");
    for (let i = 0; i < batch; i++) {
      const ai = backend.makeOutput([m, k], "float32");
      const bi = backend.makeOutput([k, n], "float32");
      // heap views are re-read after every allocation: growing wasm memory detaches old views
      backend.typedArrayFromHeap(ai).set(backend.typedArrayFromHeap(a).subarray(i * m * k, (i + 1) * m * k));
      backend.typedArrayFromHeap(bi).set(backend.typedArrayFromHeap(b).subarray(i * k * n, (i + 1) * k * n));
      const ci = stock({ inputs: { a: ai, b: bi }, backend: args.backend, attrs: { transposeA: false, transposeB: false } } as never) as tf.TensorInfo;
      backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(ci), i * m * n);
      backend.disposeData(ai.dataId);
      backend.disposeData(bi.dataId);
      backend.disposeData(ci.dataId);
    }
    return out;
  }) as unknown as tf.KernelFunc;
}

const stockKernels = new Map<string, tf.KernelFunc>();

/** Cast to the dtype the tensor already has: a shared reference; real casts go to the stock kernel. */
function castSharingSameDtype(stock: tf.KernelFunc): tf.KernelFunc {
  return ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const x = args.inputs.x as tf.TensorInfo;
    if ((args.attrs as { dtype: tf.DataType }).dtype === x.dtype && x.dtype !== "string") return sharedIdentity(args);
    return stock(args as never);
  }) as unknown as tf.KernelFunc;
}

/** Replaces `kernelName` on `backendName` by wrap(stock kernel), remembering the stock kernel once. */
function wrapKernel(kernelName: string, backendName: string, wrap: (stock: tf.KernelFunc) => tf.KernelFunc): void {
  const current = tf.getKernel(kernelName, backendName);
  if (!current) return;
  const key = `${backendName}:${kernelName}`;
  if (!stockKernels.has(key)) stockKernels.set(key, current.kernelFunc);
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ ...current, kernelFunc: wrap(stockKernels.get(key)!) });
}

/** Identity without a copy: one more reference to the same data (wasm). */
function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Registers the linear-time UnsortedSegmentSum for `backendName` (wasm or cpu) and, on wasm, the copy-free
 *  Identity and same-dtype Cast and the 2-D-path BatchMatMul. Idempotent. */
export function registerKernelPatches(backendName: string): void {
  if (backendName !== "wasm" && backendName !== "cpu") return;
  if (tf.getKernel("UnsortedSegmentSum", backendName)) tf.unregisterKernel("UnsortedSegmentSum", backendName);
  tf.registerKernel({ kernelName: "UnsortedSegmentSum", backendName, kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
  if (backendName === "wasm") {
    if (tf.getKernel("Identity", backendName)) tf.unregisterKernel("Identity", backendName);
    tf.registerKernel({ kernelName: "Identity", backendName, kernelFunc: sharedIdentity as unknown as tf.KernelFunc });
    wrapKernel("BatchMatMul", backendName, batchMatMulBy2D);
    wrapKernel("Cast", backendName, castSharingSameDtype);
  }
}
