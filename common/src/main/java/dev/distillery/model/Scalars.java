package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Scalar operands for arithmetic that autograd may record. DJL's {@code mul(Number)}, {@code add(Number)} and the
 * like wrap the number in a tensor over a Java direct buffer and close it as soon as the op returns, but autograd
 * keeps that tensor for the backward pass (the derivative of x·c is c); once the garbage collector frees the buffer,
 * backward reads freed memory and the gradients are silently wrong. The scalars made here own their memory inside
 * PyTorch, so they live as long as any graph holds them.
 */
public final class Scalars {
  private Scalars() {}

  /** A 0-dim float32 tensor holding {@code value} on {@code like}'s device, attached to {@code like}'s manager. */
  public static NDArray like(NDArray like, float value) {
    NDArray scalar = like.getManager().full(new Shape(), value, DataType.FLOAT32);
    return scalar.toDevice(like.getDevice(), false);
  }

  /** {@code x * value}, in {@code x}'s dtype. */
  public static NDArray times(NDArray x, float value) {
    return x.mul(like(x, value));
  }

  /** {@code x + value}, in {@code x}'s dtype. */
  public static NDArray plus(NDArray x, float value) {
    return x.add(like(x, value));
  }
}
