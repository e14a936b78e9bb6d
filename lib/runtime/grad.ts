/**
 * Gradient surgery the paper needs and TensorFlow.js lacks: stop-gradient sg(x) (forward x, backward 0) and the
 * straight-through estimator k̂ = sg(C_z) + k − sg(k) (forward C_z, backward identity to k), paper §5.2.
 *
 * Both are built with `tf.customGrad`. Ops run inside a customGrad forward are not recorded on the gradient
 * tape, so `noGrad(fn)` is also the cheap way to compute something (shortcodes, cache statistics, masks) from
 * taped tensors without paying for a backward pass through it.
 */
import * as tf from "./tf";

/** sg(x): the value of x with zero gradient. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: (args[0] as tf.Tensor).clone(),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
  }));
  return f(x) as T;
}


/**
 * fn(...inputs) computed off the gradient tape: no gradient flows from the result back to its inputs.
 * The custom op's only tape input is a fresh constant, not `inputs`, so the backward pass never reaches the
 * inputs through it: no zero gradients are allocated, and nothing upstream that only feeds this result (e.g. the
 * per-block code sums' product with the one-hot codes, or the max subtracted before a softmax) is differentiated.
 * @param fn a function of tensors returning one tensor (may be int32, e.g. argMin)
 */
export function noGrad(fn: (...xs: tf.Tensor[]) => tf.Tensor, ...inputs: tf.Tensor[]): tf.Tensor {
  const anchor = tf.scalar(0);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: fn(...inputs),
    gradFunc: () => tf.zerosLike(args[0] as tf.Tensor),
  }));
  const out = f(anchor);
  anchor.dispose();
  return out;
}

/**
 * Straight-through estimator: forward value `quantized`, gradient passed unchanged to `x`
 * (k̂ = sg(C_z) + k − sg(k) without the three ops).
 * @param x        [..., d] the vectors that were quantized (keys k)
 * @param quantized [..., d] their codewords C_z (no gradient flows into it)
 */
export function straightThrough<T extends tf.Tensor>(x: T, quantized: tf.Tensor): T {
  if (x.shape.join() !== quantized.shape.join()) {
    throw new Error(`straightThrough: x has shape [${x.shape}] but quantized has [${quantized.shape}]; they must match`);
  }
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const q = args[1] as tf.Tensor;
    const qShape = q.shape;
    return { value: q.clone(), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [(dy as tf.Tensor).clone(), tf.zeros(qShape)] };
  });
  return f(x, quantized) as T;
}

