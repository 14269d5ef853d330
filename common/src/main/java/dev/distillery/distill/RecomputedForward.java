package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import dev.distillery.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Layer recomputation (activation checkpointing) driven layer by layer, since DJL has no checkpoint function. The
 * forward pass records no graph and keeps only each decoder layer's input; {@link #backward} then walks the model
 * from the top, recomputing one stage at a time with a gradient-tracking input, back-propagating the upstream
 * gradient through it and passing the input's gradient down. Activation memory is one layer's intermediates plus
 * {@code layers + 1} arrays of {@code [batch, seq, hidden]}, instead of every intermediate of every layer; the
 * price is one more forward pass. The parameter gradients equal those of a recorded forward.
 *
 * <p>Every array lives in the manager of the token ids passed to {@link #run}; each stage's recomputed graph and
 * the layer inputs are freed as {@link #backward} passes them.
 */
final class RecomputedForward {
  private final LlamaModel model;
  private final NDArray tokenIds;
  private final List<NDArray> layerInputs; // embedding output, then each layer's output; the last feeds the norm
  private final NDArray hidden;

  private RecomputedForward(LlamaModel model, NDArray tokenIds, List<NDArray> layerInputs, NDArray hidden) {
    this.model = model;
    this.tokenIds = tokenIds;
    this.layerInputs = layerInputs;
    this.hidden = hidden;
  }

  /** The forward pass of {@code model} without a graph, keeping each layer's input. */
  static RecomputedForward run(LlamaModel model, NDArray tokenIds) {
    try (Autograd.Scope off = Autograd.pause()) {
      List<NDArray> inputs = new ArrayList<>();
      NDArray x = model.embed(tokenIds);
      for (int i = 0; i < model.config().numHiddenLayers(); i++) {
        inputs.add(x);
        x = model.layer(i, x);
      }
      inputs.add(x);
      return new RecomputedForward(model, tokenIds, inputs, model.finalNorm(x));
    }
  }

  /** The final hidden states (after {@code model.norm}), {@code [batch, seq, hidden]}, without a graph. */
  NDArray hidden() {
    return hidden;
  }

  /**
   * Adds into the parameters' gradients the gradient of a loss whose gradient with respect to {@link #hidden()}
   * is {@code hiddenGradient}. Call once.
   */
  void backward(NDArray hiddenGradient) {
    int layers = model.config().numHiddenLayers();
    NDArray gradient = throughStage(layerInputs.get(layers), model::finalNorm, hiddenGradient);
    for (int i = layers - 1; i >= 0; i--) {
      int index = i;
      NDArray below = throughStage(layerInputs.get(i), x -> model.layer(index, x), gradient);
      gradient.close();
      gradient = below;
    }
    NDArray embeddings;
    try (Autograd.Scope on = Autograd.record()) {
      embeddings = model.embed(tokenIds);
    }
    Autograd.backward(embeddings, gradient);
    embeddings.close();
    gradient.close();
  }

  /**
   * Recomputes {@code stage} on {@code input} with a graph, back-propagates {@code outputGradient} through it and
   * returns the gradient with respect to {@code input}, which is freed.
   */
  private static NDArray throughStage(NDArray input, UnaryOperator<NDArray> stage, NDArray outputGradient) {
    input.setRequiresGradient(true);
    NDArray output;
    try (Autograd.Scope on = Autograd.record()) {
      output = stage.apply(input);
    }
    Autograd.backward(output, outputGradient);
    NDArray inputGradient = input.getGradient();
    output.close();
    input.close();
    return inputGradient;
  }
}
