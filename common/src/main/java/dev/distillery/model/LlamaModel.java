package dev.distillery.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * A Hugging Face {@code LlamaForCausalLM} (or Mistral / Qwen2, see {@link ModelArchitecture}) on DJL (PyTorch engine), computing the same function as transformers'
 * eager implementation.
 *
 * <p>The parameters live in a manager the model owns, on one device, in float32 or float16; {@link #close()} frees
 * them. Each forward pass keeps its temporaries in a sub-manager closed before it returns; its result is attached to
 * the manager of the token-id array passed in. RoPE tables and causal masks are cached per sequence length in the
 * model's manager. Forward passes may run concurrently; {@link #setTrainable} should not change during one.
 */
public final class LlamaModel implements AutoCloseable {
  private final LlamaConfig config;
  private final DataType dataType;
  private final NDManager manager;
  private final Map<String, NDArray> parameters;
  private final List<DecoderLayer> layers;
  private final float[] inverseFrequencies;
  private final Map<Integer, PositionTables> positionTables = new ConcurrentHashMap<>();
  private final Taps taps = new Taps();
  private volatile boolean trainable;

  private LlamaModel(LlamaConfig config, DataType dataType, NDManager manager, Map<String, NDArray> parameters) {
    this.config = config;
    this.dataType = dataType;
    this.manager = manager;
    this.parameters = Collections.unmodifiableMap(parameters);
    this.inverseFrequencies = RotaryEmbedding.inverseFrequencies(config);
    List<DecoderLayer> built = new ArrayList<>();
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      built.add(new DecoderLayer(config, i, parameters));
    }
    this.layers = List.copyOf(built);
  }

  /** Loads a float32 model on {@code device}. */
  public static LlamaModel load(LlamaConfig config, WeightSource weights, Device device) {
    return load(config, weights, device, DataType.FLOAT32);
  }

  /**
   * Loads every tensor {@link LlamaTensors#expectedShapes} lists from {@code weights} onto {@code device}.
   *
   * @param dataType {@link DataType#FLOAT32} or {@link DataType#FLOAT16} (BF16 is not supported by DJL)
   */
  public static LlamaModel load(LlamaConfig config, WeightSource weights, Device device, DataType dataType) {
    if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT16) {
      throw new IllegalArgumentException("parameters must be FLOAT32 or FLOAT16, got " + dataType);
    }
    NDManager manager = NDManager.newBaseManager(device);
    try {
      Map<String, NDArray> parameters = new LinkedHashMap<>();
      for (Map.Entry<String, long[]> tensor : LlamaTensors.expectedShapes(config).entrySet()) {
        String name = tensor.getKey();
        Shape shape = new Shape(tensor.getValue());
        float[] values = weights.read(name, tensor.getValue());
        if (values.length != shape.size()) {
          throw new IllegalArgumentException("tensor " + name + " has " + values.length + " values, expected "
              + shape);
        }
        NDArray array = manager.create(values, shape);
        if (dataType != DataType.FLOAT32) {
          NDArray converted = array.toType(dataType, false);
          array.close();
          array = converted;
        }
        array.setName(name);
        parameters.put(name, array);
      }
      return new LlamaModel(config, dataType, manager, parameters);
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /**
   * Logits for next-token prediction.
   *
   * @param tokenIds int32 or int64, {@code [batch, seq]}
   * @return float32 {@code [batch, seq, vocab]}, attached to {@code tokenIds}' manager
   */
  public NDArray forward(NDArray tokenIds) {
    return run(tokenIds, Set.of(), hidden -> Linear.linear(hidden, lmHeadWeight()).singletonOrThrow()
        .toType(DataType.FLOAT32, false));
  }

  /**
   * The final hidden states, after {@code model.norm} and before {@code lm_head}, for losses computed in token
   * chunks (see {@link LanguageModelLoss#crossEntropyChunked}).
   *
   * @param tokenIds int32 or int64, {@code [batch, seq]}
   * @return {@code [batch, seq, hidden]} in the parameters' dtype, attached to {@code tokenIds}' manager
   */
  public NDArray forwardHidden(NDArray tokenIds) {
    return run(tokenIds, Set.of(), Function.identity());
  }

  /**
   * {@link #forwardHidden(NDArray)} with decoder layers left out: each skipped layer passes its input through
   * unchanged (as if removed from the model) and emits no taps. Used to measure how much the loss rises without
   * a layer or a block of layers.
   *
   * @param skippedLayers layer indices in {@code [0, numHiddenLayers)}
   */
  public NDArray forwardHidden(NDArray tokenIds, Set<Integer> skippedLayers) {
    for (int layer : skippedLayers) {
      if (layer < 0 || layer >= layers.size()) {
        throw new IllegalArgumentException("skipped layer " + layer + " is not in [0, " + layers.size() + ")");
      }
    }
    return run(tokenIds, skippedLayers, Function.identity());
  }

  private NDArray run(NDArray tokenIds, Set<Integer> skippedLayers, Function<NDArray, NDArray> head) {
    Shape shape = tokenIds.getShape();
    if (shape.dimension() != 2) {
      throw new IllegalArgumentException("token ids must be [batch, seq], got " + shape);
    }
    NDManager caller = tokenIds.getManager();
    try (NDManager scope = manager.newSubManager()) {
      tokenIds.tempAttach(scope);
      NDArray ids = tokenIds.toDevice(manager.getDevice(), false).toType(DataType.INT64, false);
      PositionTables positions = positionTables(Math.toIntExact(shape.get(1)));
      NDArray hidden = Embedding.embedding(ids, parameters.get(LlamaTensors.EMBED), SparseFormat.DENSE)
          .singletonOrThrow();
      for (int i = 0; i < layers.size(); i++) {
        if (!skippedLayers.contains(i)) {
          hidden = layers.get(i).forward(hidden, positions, taps);
        }
      }
      hidden = RmsNorm.apply(hidden, parameters.get(LlamaTensors.FINAL_NORM), (float) config.rmsNormEps());
      taps.emit(TapPoint.FINAL_NORM, config.numHiddenLayers(), hidden);
      NDArray result = head.apply(hidden);
      result.attach(caller);
      return result;
    }
  }

  private PositionTables positionTables(int seqLen) {
    return positionTables.computeIfAbsent(seqLen,
        len -> PositionTables.create(manager, inverseFrequencies, len, dataType,
            config.architecture().slidingWindow()));
  }

  /** The output projection, {@code [vocab, hidden]}: {@code lm_head.weight}, or the embedding when tied. */
  public NDArray lmHeadWeight() {
    return parameters.get(config.tieWordEmbeddings() ? LlamaTensors.EMBED : LlamaTensors.LM_HEAD);
  }

  /** Parameters by Hugging Face name, in checkpoint order; a tied model has no {@code lm_head.weight} entry. */
  public Map<String, NDArray> parameters() {
    return parameters;
  }

  /** Makes every parameter record gradients (under a {@code GradientCollector}), or stops it. */
  public void setTrainable(boolean trainable) {
    for (NDArray parameter : parameters.values()) {
      parameter.setRequiresGradient(trainable);
    }
    this.trainable = trainable;
  }

  /** Whether the parameters currently require gradients. */
  public boolean isTrainable() {
    return trainable;
  }

  /** Activation observation points; see {@link TapPoint}. */
  public Taps taps() {
    return taps;
  }

  public LlamaConfig config() {
    return config;
  }

  public DataType dataType() {
    return dataType;
  }

  public Device device() {
    return manager.getDevice();
  }

  /** Frees the parameters and cached tables. */
  @Override
  public void close() {
    manager.close();
  }
}
