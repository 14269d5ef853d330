package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.LlamaTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

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
    backward(hiddenGradient, null);
  }

  /**
   * {@link #backward(NDArray)}; with {@code sharded} not null, each stage instead runs on gradient-tracking aliases
   * of its weights and is reduced as soon as its backward ends ({@link ShardedGradients}), in the order of
   * {@link #backwardStages}.
   */
  void backward(NDArray hiddenGradient, ShardedGradients sharded) {
    List<List<String>> stages = backwardStages(model);
    int layers = model.config().numHiddenLayers();
    NDArray gradient = throughStage(layerInputs.get(layers), stages.get(0), (x, w) -> model.finalNorm(x,
        w.get(LlamaTensors.FINAL_NORM)), hiddenGradient, sharded);
    for (int i = layers - 1; i >= 0; i--) {
      int index = i;
      NDArray below = throughStage(layerInputs.get(i), stages.get(layers - i), (x, w) -> model.layer(index, x, w),
          gradient, sharded);
      gradient.close();
      gradient = below;
    }
    try (NDManager stage = tokenIds.getManager().newSubManager()) {
      Map<String, NDArray> weights = weights(stages.get(layers + 1), sharded, stage);
      NDArray embeddings;
      try (Autograd.Scope on = Autograd.record()) {
        embeddings = model.embed(tokenIds, weights.get(LlamaTensors.EMBED));
      }
      Autograd.backward(embeddings, gradient);
      embeddings.close();
      gradient.close();
      if (sharded != null) {
        sharded.reduce(stage, stages.get(layers + 1), weights);
      }
    }
  }

  /**
   * The names of the parameters each stage of {@link #backward} trains, in its order: the final norm, the decoder
   * layers from the top, the embeddings.
   */
  static List<List<String>> backwardStages(LlamaModel model) {
    List<List<String>> stages = new ArrayList<>();
    stages.add(List.of(LlamaTensors.FINAL_NORM));
    for (int i = model.config().numHiddenLayers() - 1; i >= 0; i--) {
      String layer = LlamaTensors.layer(i, "");
      stages.add(model.parameters().keySet().stream().filter(name -> LlamaTensors.stageOf(name).equals(layer))
          .toList());
    }
    stages.add(List.of(LlamaTensors.EMBED));
    return stages;
  }

  /**
   * Recomputes {@code stage} on {@code input} with a graph, back-propagates {@code outputGradient} through it and
   * returns the gradient with respect to {@code input}, which is freed.
   */
  private NDArray throughStage(NDArray input, List<String> names,
      BiFunction<NDArray, Map<String, NDArray>, NDArray> stage, NDArray outputGradient, ShardedGradients sharded) {
    try (NDManager scope = input.getManager().newSubManager()) {
      Map<String, NDArray> weights = weights(names, sharded, scope);
      input.setRequiresGradient(true);
      NDArray output;
      try (Autograd.Scope on = Autograd.record()) {
        output = stage.apply(input, weights);
      }
      Autograd.backward(output, outputGradient);
      NDArray inputGradient = input.getGradient();
      output.close();
      input.close();
      if (sharded != null) {
        sharded.reduce(scope, names, weights);
      }
      return inputGradient;
    }
  }

  /** The weights a stage runs on: the model's own, or with {@code sharded} gradient-tracking aliases in scope. */
  private Map<String, NDArray> weights(List<String> names, ShardedGradients sharded, NDManager scope) {
    return sharded == null ? model.parameters() : sharded.aliases(names, scope);
  }
}
