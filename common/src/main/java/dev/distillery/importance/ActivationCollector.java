package dev.distillery.importance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TapPoint;
import dev.distillery.model.Taps;
import java.util.ArrayList;
import java.util.List;

/**
 * Gathers {@link ImportanceStatistics} from a teacher's forward passes through its {@link Taps}. Per sample and
 * unit, token magnitudes (a head's L2 norm over head_dim; a neuron's and a channel's absolute value) are aggregated
 * over the sequence on the model's device, and only those {@code [batch, units]} rows come back to the JVM.
 *
 * <p>Registers its listeners on construction and removes them on {@link #close()}. The taps see every forward pass
 * of the model, so one collector must have the model to itself while it observes (callers serialize on the model).
 */
public final class ActivationCollector implements AutoCloseable {
  private static final int[] SEQUENCE_AXIS = {1};
  private static final int[] LAST_AXIS_3D = {2};
  private static final int[] HEAD_DIM_AXIS = {3};

  private final LlamaModel model;
  private final ImportanceStatistics statistics;
  private final List<Taps.Registration> registrations = new ArrayList<>();
  private NDManager pass;
  private NDArray layerInput;
  private float[] channelSums;

  public ActivationCollector(LlamaModel model, Aggregation sequenceAggregation) {
    if (model.isTrainable()) {
      throw new IllegalStateException("calibration runs forward passes only; the model must not be trainable");
    }
    LlamaConfig c = model.config();
    this.model = model;
    this.statistics = new ImportanceStatistics(c.numHiddenLayers(), c.numAttentionHeads(), c.intermediateSize(),
        c.hiddenSize(), sequenceAggregation);
    Taps taps = model.taps();
    registrations.add(taps.on(TapPoint.ATTENTION_HEADS, (p, layer, x) -> inScope(x, () -> onHeads(layer, x))));
    registrations.add(taps.on(TapPoint.MLP_ACTIVATION, (p, layer, x) -> inScope(x, () -> onNeurons(layer, x))));
    registrations.add(taps.on(TapPoint.INPUT_NORM, (p, layer, x) -> inScope(x, () -> onNorm(x))));
    registrations.add(taps.on(TapPoint.POST_ATTENTION_NORM, (p, layer, x) -> inScope(x, () -> onNorm(x))));
    registrations.add(taps.on(TapPoint.FINAL_NORM, (p, layer, x) -> inScope(x, () -> onNorm(x))));
    registrations.add(taps.on(TapPoint.LAYER_INPUT, (p, layer, x) -> inScope(x, () -> onLayerInput(x))));
    registrations.add(taps.on(TapPoint.LAYER_OUTPUT, (p, layer, x) -> inScope(x, () -> onLayerOutput(layer, x))));
  }

  /** Runs one forward pass over {@code tokenIds} ({@code [batch, seq]}) and adds its statistics. */
  public void observe(NDArray tokenIds) {
    int batch = Math.toIntExact(tokenIds.getShape().get(0));
    channelSums = new float[batch * model.config().hiddenSize()];
    try (NDManager scope = tokenIds.getManager().newSubManager(model.device())) {
      pass = scope;
      model.forwardHidden(tokenIds).close();
      statistics.channels().add(channelSums, batch);
      statistics.addTokens(tokenIds.getShape().size());
    } finally {
      pass = null;
      layerInput = null;
      channelSums = null;
    }
  }

  /** The statistics gathered so far (live: later observations keep adding to them). */
  public ImportanceStatistics statistics() {
    return statistics;
  }

  /** Runs {@code action} with the arrays it derives from {@code activation} freed afterwards. */
  private static void inScope(NDArray activation, Runnable action) {
    try (NDManager scope = activation.getManager().newSubManager()) {
      activation.tempAttach(scope);
      action.run();
    }
  }

  private void onHeads(int layer, NDArray x) {
    NDArray perToken = float32(x).square().sum(HEAD_DIM_AXIS).sqrt();
    addRows(statistics.heads(layer), perToken);
  }

  private void onNeurons(int layer, NDArray x) {
    addRows(statistics.neurons(layer), float32(x).abs());
  }

  private void onNorm(NDArray x) {
    float[] values = overSequence(float32(x).abs()).toFloatArray();
    for (int i = 0; i < values.length; i++) {
      channelSums[i] += values[i];
    }
  }

  /** Keeps a copy of the layer's input, in the pass's manager, until the next layer replaces it. */
  private void onLayerInput(NDArray x) {
    if (layerInput != null) {
      layerInput.close();
    }
    layerInput = float32(x).duplicate();
    layerInput.attach(pass);
  }

  private void onLayerOutput(int layer, NDArray x) {
    NDArray out = float32(x);
    NDArray dot = layerInput.mul(out).sum(LAST_AXIS_3D);
    NDArray norms = layerInput.square().sum(LAST_AXIS_3D).mul(out.square().sum(LAST_AXIS_3D)).sqrt();
    NDArray cosine = dot.div(norms.maximum(1e-12f));
    statistics.addLayerCosines(layer, cosine.toType(DataType.FLOAT64, false).sum().getDouble());
  }

  /** Adds per-sample rows of {@code perToken} ({@code [batch, seq, units]}) aggregated over the sequence. */
  private void addRows(UnitMoments moments, NDArray perToken) {
    moments.add(overSequence(perToken).toFloatArray(), Math.toIntExact(perToken.getShape().get(0)));
  }

  private NDArray overSequence(NDArray perToken) {
    return switch (statistics.sequenceAggregation()) {
      case MEAN -> perToken.mean(SEQUENCE_AXIS);
      case L2 -> perToken.square().sum(SEQUENCE_AXIS).sqrt();
      case VAR -> perToken.square().mean(SEQUENCE_AXIS).sub(perToken.mean(SEQUENCE_AXIS).square()).maximum(0f);
    };
  }

  private static NDArray float32(NDArray x) {
    return x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
  }

  @Override
  public void close() {
    registrations.forEach(Taps.Registration::close);
  }
}
