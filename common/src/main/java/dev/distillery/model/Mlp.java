package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;

/** The SwiGLU feed-forward block of one Llama layer: {@code down(silu(gate(x)) · up(x))}. */
final class Mlp {
  private final NDArray gateWeight;
  private final NDArray upWeight;
  private final NDArray downWeight;

  Mlp(NDArray gateWeight, NDArray upWeight, NDArray downWeight) {
    this.gateWeight = gateWeight;
    this.upWeight = upWeight;
    this.downWeight = downWeight;
  }

  NDArray forward(NDArray x, Taps taps, int layer) {
    NDArray gate = Linear.linear(x, gateWeight).singletonOrThrow();
    NDArray up = Linear.linear(x, upWeight).singletonOrThrow();
    NDArray activation = gate.mul(Activation.sigmoid(gate)).mul(up);
    taps.emit(TapPoint.MLP_ACTIVATION, layer, activation);
    return Linear.linear(activation, downWeight).singletonOrThrow();
  }
}
