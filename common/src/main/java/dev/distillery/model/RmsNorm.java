package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Llama RMSNorm: {@code weight * (x / sqrt(mean(x², -1) + eps))}, normalized in float32. */
final class RmsNorm {
  private RmsNorm() {}

  static NDArray apply(NDArray x, NDArray weight, float eps) {
    DataType inputType = x.getDataType();
    NDArray x32 = x.toType(DataType.FLOAT32, false);
    int lastAxis = x.getShape().dimension() - 1;
    NDArray rms = Scalars.plus(x32.square().mean(new int[] {lastAxis}, true), eps).sqrt();
    return x32.div(rms).toType(inputType, false).mul(weight);
  }
}
