/**
 * The kit's one matrix product. Everywhere it is `tf.matMul`, except on the wasm backend: its fast kernel
 * (XNNPACK) serves only products without transpose flags, and the gradient of every product (dy·bᵀ and aᵀ·dy)
 * uses those flags, which fall back to a naive loop 10–20× slower. On wasm the transposes are therefore
 * materialized (a copy, cheap next to the product) in the forward pass and in the gradient.
 */
import * as tf from "./tf";

/** Swaps the last two axes. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

function onWasm(): boolean {
  return tf.getBackend() === "wasm";
}

/** a · b with a gradient made of un-transposed products only. */
function matMulPlainGrad(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as tf.Tensor[];
    const save = args[2] as tf.GradSaveFunc;
    save([x, y]);
    return {
      value: tf.matMul(x, y),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor;
        return [tf.matMul(g, transposeLast2(saved[1])), tf.matMul(transposeLast2(saved[0]), g)];
      },
    };
  });
  return f(a, b);
}

/**
 * a · b (optionally transposed), batched over leading axes of equal shape.
 * @param a [..., m, k] (or [..., k, m] with transposeA)
 * @param b [..., k, n] (or [..., n, k] with transposeB)
 * @returns [..., m, n]
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (!onWasm()) return tf.matMul(a, b, transposeA, transposeB);
  return matMulPlainGrad(transposeA ? transposeLast2(a) : a, transposeB ? transposeLast2(b) : b);
}

/**
 * a · bᵀ per key head, b shared over the batch (tfjs's broadcasting matMul has no correct gradient, so b is
 * tiled; with one head the product is a single 2-D one).
 * @param a [B, h, N, k]
 * @param b [h, P, k]
 * @returns [B, h, N, P]
 */
export function matMulPerHead(a: tf.Tensor, b: tf.Tensor): tf.Tensor4D {
  const [B, h, N, k] = a.shape as number[];
  const P = b.shape[1] as number;
  if (b.shape[0] !== h || b.shape[2] !== k) throw new Error(`matMulPerHead: a [${a.shape}] and b [${b.shape}] disagree on heads or width`);
  if (h === 1) return matMul(a.reshape([B * N, k]), b.reshape([P, k]), false, true).reshape([B, 1, N, P]) as tf.Tensor4D;
  return matMul(a, tf.tile(b.expandDims(0), [B, 1, 1, 1]), false, true) as tf.Tensor4D;
}
