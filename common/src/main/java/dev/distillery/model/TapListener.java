package dev.distillery.model;

import ai.djl.ndarray.NDArray;

/** Receives an activation observed at a {@link TapPoint}. */
@FunctionalInterface
public interface TapListener {

  /**
   * Called during the forward pass. {@code activation} belongs to the forward pass: it is valid only during this call
   * and must not be modified or closed; copy it ({@code duplicate()}, then attach to your own manager) to keep it.
   * When the model is trainable and gradients are being recorded, derive statistics under
   * {@code stopGradient()} so they stay out of the graph.
   */
  void onActivation(TapPoint point, int layer, NDArray activation);
}
