/**
 * RMS layer normalization (paper §5.1): x̃ = x / sqrt(mean(x²) + ε) · g + b. The GAU input and the optional
 * output pre-norm have gain and bias (legacy code, matching the paper's parameter count); queries and keys use
 * the plain form without either (RMSNorm₀), then a d_k^{-1/4} scale so that q·k carries 1/√d_k.
 */
import * as tf from "../runtime/tf";

export const RMS_EPS = 1e-6;

/**
 * @param x [..., d]
 * @param g [d] gain (optional)
 * @param b [d] bias (optional)
 */
export function rmsNorm<T extends tf.Tensor>(x: T, g?: tf.Tensor, b?: tf.Tensor): T {
  let y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), RMS_EPS)));
  if (g) y = tf.mul(y, g);
  if (b) y = tf.add(y, b);
  return y as T;
}
