package dev.distillery.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * A Hugging Face {@code LlamaForCausalLM} (or Mistral / Qwen2, see {@link ModelArchitecture}) on DJL (PyTorch engine), computing the same function as transformers'
 * eager implementation.
 *
 * <p>The parameters live in a manager the model owns, on one device, in float32 or float16; {@link #close()} frees
 * them. Each forward pass keeps its temporaries in a sub-manager closed before it returns, and each decoder layer its
 * own in a sub-manager closed when the layer returns; the result is attached to the manager of the token-id array
 * passed in. RoPE tables and causal masks are cached per sequence length in the
 * model's manager. Forward passes may run concurrently; {@link #setTrainable} should not change during one.
 */
public final class LlamaModel implements AutoCloseable {
  private final LlamaConfig config;
  private final DataType dataType;
  private final DataType computeType;
  private final NDManager manager;
  private final Map<String, NDArray> parameters;
  private final float[] inverseFrequencies;
  private final Map<Integer, PositionTables> positionTables = new ConcurrentHashMap<>();
  private final Taps taps = new Taps();
  private volatile boolean trainable;
  private volatile int queryBlock = DEFAULT_QUERY_BLOCK;

  /** Queries per attention block unless {@link #setQueryBlock} says otherwise. */
  public static final int DEFAULT_QUERY_BLOCK = 512;

  private LlamaModel(LlamaConfig config, DataType dataType, DataType computeType, NDManager manager,
      Map<String, NDArray> parameters) {
    this.config = config;
    this.dataType = dataType;
    this.computeType = computeType;
    this.manager = manager;
    this.parameters = Collections.unmodifiableMap(parameters);
    this.inverseFrequencies = RotaryEmbedding.inverseFrequencies(config);
  }

  /** Loads a float32 model on {@code device}. */
  public static LlamaModel load(LlamaConfig config, WeightSource weights, Device device) {
    return load(config, weights, device, DataType.FLOAT32);
  }

  /**
   * Loads every tensor {@link LlamaTensors#expectedShapes} lists from {@code weights} onto {@code device}, computing
   * in {@link #computeTypeFor} the weights' dtype on that device.
   *
   * @param dataType {@link DataType#FLOAT32} or {@link DataType#FLOAT16} (BF16 is not supported by DJL)
   */
  public static LlamaModel load(LlamaConfig config, WeightSource weights, Device device, DataType dataType) {
    return load(config, weights, device, dataType, computeTypeFor(dataType, device));
  }

  /**
   * The dtype a model whose weights are {@code dataType} computes in on {@code device}: the weights' own, except
   * float16 weights on the CPU, which compute in float32 (libtorch's half-precision CPU kernels are about a hundred
   * times slower than its float32 ones): each layer's weights are widened as the layer runs, so the model keeps half
   * the memory and the results are those of float32 arithmetic on the float16 weights.
   */
  public static DataType computeTypeFor(DataType dataType, Device device) {
    return dataType == DataType.FLOAT16 && !device.isGpu() ? DataType.FLOAT32 : dataType;
  }

  /**
   * {@link #load(LlamaConfig, WeightSource, Device, DataType)} computing in {@code computeType}: the weights' dtype,
   * or float32 for float16 weights (widened layer by layer).
   */
  public static LlamaModel load(LlamaConfig config, WeightSource weights, Device device, DataType dataType,
      DataType computeType) {
    if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT16) {
      throw new IllegalArgumentException("parameters must be FLOAT32 or FLOAT16, got " + dataType);
    }
    if (computeType != dataType && computeType != DataType.FLOAT32) {
      throw new IllegalArgumentException("a model of " + dataType + " weights computes in " + dataType
          + " or FLOAT32, not " + computeType);
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
      return new LlamaModel(config, dataType, computeType, manager, parameters);
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
    return run(tokenIds, Set.of(), hidden -> Linear.linear(hidden, lmHeadWeight(hidden.getManager()))
        .singletonOrThrow().toType(DataType.FLOAT32, false));
  }

  /**
   * The final hidden states, after {@code model.norm} and before {@code lm_head}, for losses computed in token
   * chunks (see {@link LanguageModelLoss#crossEntropyChunked}).
   *
   * @param tokenIds int32 or int64, {@code [batch, seq]}
   * @return {@code [batch, seq, hidden]} in {@link #computeType()}, attached to {@code tokenIds}' manager
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
      if (layer < 0 || layer >= config.numHiddenLayers()) {
        throw new IllegalArgumentException("skipped layer " + layer + " is not in [0, " + config.numHiddenLayers()
            + ")");
      }
    }
    return run(tokenIds, skippedLayers, Function.identity());
  }

  private NDArray run(NDArray tokenIds, Set<Integer> skippedLayers, Function<NDArray, NDArray> head) {
    NDManager caller = tokenIds.getManager();
    try (NDManager scope = manager.newSubManager()) {
      NDArray hidden = embed(tokenIds);
      hidden.attach(scope);
      for (int i = 0; i < config.numHiddenLayers(); i++) {
        if (!skippedLayers.contains(i)) {
          NDArray output = layer(i, hidden);
          hidden.close(); // a recorded graph keeps its own reference
          hidden = output;
        }
      }
      NDArray result = head.apply(finalNorm(hidden));
      result.attach(caller);
      return result;
    }
  }

  /*
   * The three stages of a forward pass, public for callers that drive backward layer by layer (layer
   * recomputation). Each runs in its own manager: only its output survives, attached to the manager of its input,
   * while the autograd graph (when recording) keeps what backward needs.
   */

  /**
   * The token embeddings.
   *
   * @param tokenIds int32 or int64, {@code [batch, seq]}
   * @return {@code [batch, seq, hidden]} in {@link #computeType()}, attached to {@code tokenIds}' manager
   */
  public NDArray embed(NDArray tokenIds) {
    return embed(tokenIds, parameters.get(LlamaTensors.EMBED));
  }

  /** {@link #embed(NDArray)} with {@code weight} in place of {@code model.embed_tokens.weight}. */
  public NDArray embed(NDArray tokenIds, NDArray weight) {
    Shape shape = tokenIds.getShape();
    if (shape.dimension() != 2) {
      throw new IllegalArgumentException("token ids must be [batch, seq], got " + shape);
    }
    NDManager caller = tokenIds.getManager();
    try (NDManager scope = manager.newSubManager()) {
      tokenIds.tempAttach(scope);
      NDArray ids = tokenIds.toDevice(manager.getDevice(), false).toType(DataType.INT64, false);
      NDArray hidden = Embedding.embedding(ids, weight, SparseFormat.DENSE).singletonOrThrow()
          .toType(computeType, false);
      hidden.attach(caller);
      return hidden;
    }
  }

  /**
   * Decoder layer {@code index} applied to {@code x} ({@code [batch, seq, hidden]}); the output is attached to
   * {@code x}'s manager and every temporary is freed before this returns.
   */
  public NDArray layer(int index, NDArray x) {
    return layer(index, x, parameters);
  }

  /**
   * {@link #layer(int, NDArray)} with {@code weights} (by name, at least the layer's tensors) in place of the
   * model's own: e.g. gradient-tracking aliases of them, whose gradients a caller collects layer by layer.
   */
  public NDArray layer(int index, NDArray x, Map<String, NDArray> weights) {
    PositionTables positions = positionTables(Math.toIntExact(x.getShape().get(1)));
    return inOwnScope(x, in -> new DecoderLayer(config, index, widened(weights, LlamaTensors.layer(index, ""),
        in.getManager())).forward(in, positions, taps, queryBlock));
  }

  /**
   * {@code weights} as a layer computes with them: themselves, or, when this model widens its float16 weights,
   * float32 copies in {@code scope} of those of the layer {@code stage} ({@link LlamaTensors#stageOf}).
   */
  private Map<String, NDArray> widened(Map<String, NDArray> weights, String stage, NDManager scope) {
    if (computeType == dataType) {
      return weights;
    }
    Map<String, NDArray> wide = new HashMap<>();
    weights.forEach((name, weight) -> {
      if (LlamaTensors.stageOf(name).equals(stage)) {
        wide.put(name, widened(weight, scope));
      }
    });
    return wide;
  }

  /** {@code weight} in the compute dtype: itself, or a copy in {@code scope}. */
  private NDArray widened(NDArray weight, NDManager scope) {
    if (weight.getDataType() == computeType) {
      return weight;
    }
    NDArray wide = weight.toType(computeType, true);
    wide.attach(scope);
    return wide;
  }

  /** {@code model.norm} applied to the last layer's output, attached to {@code x}'s manager. */
  public NDArray finalNorm(NDArray x) {
    return finalNorm(x, parameters.get(LlamaTensors.FINAL_NORM));
  }

  /** {@link #finalNorm(NDArray)} with {@code weight} in place of {@code model.norm.weight}. */
  public NDArray finalNorm(NDArray x, NDArray weight) {
    return inOwnScope(x, in -> {
      NDArray normed = RmsNorm.apply(in, widened(weight, in.getManager()), (float) config.rmsNormEps());
      taps.emit(TapPoint.FINAL_NORM, config.numHiddenLayers(), normed);
      return normed;
    });
  }

  private NDArray inOwnScope(NDArray x, Function<NDArray, NDArray> stage) {
    NDManager keep = x.getManager();
    try (NDManager scope = manager.newSubManager()) {
      x.tempAttach(scope);
      NDArray output = stage.apply(x);
      output.attach(keep);
      return output;
    }
  }

  private PositionTables positionTables(int seqLen) {
    return positionTables.computeIfAbsent(seqLen,
        len -> PositionTables.create(manager, inverseFrequencies, len, computeType,
            config.architecture().slidingWindow()));
  }

  /** The output projection, {@code [vocab, hidden]}: {@code lm_head.weight}, or the embedding when tied. */
  public NDArray lmHeadWeight() {
    return parameters.get(lmHeadName());
  }

  /**
   * {@link #lmHeadWeight()} in the dtype this model computes in, to multiply its hidden states with: the parameter
   * itself, or a float32 copy in {@code scope} when this model widens its float16 weights.
   */
  public NDArray lmHeadWeight(NDManager scope) {
    return widened(lmHeadWeight(), scope);
  }

  /** The name of {@link #lmHeadWeight()}: {@code lm_head.weight}, or the embedding's when tied. */
  public String lmHeadName() {
    return config.tieWordEmbeddings() ? LlamaTensors.EMBED : LlamaTensors.LM_HEAD;
  }

  /** Parameters by Hugging Face name, in checkpoint order; a tied model has no {@code lm_head.weight} entry. */
  public Map<String, NDArray> parameters() {
    return parameters;
  }

  /** Makes every parameter record gradients (in a thread's {@code Autograd.record()} scope), or stops it. */
  public void setTrainable(boolean trainable) {
    for (NDArray parameter : parameters.values()) {
      parameter.setRequiresGradient(trainable);
    }
    this.trainable = trainable;
  }

  /**
   * Attention computes its scores for this many queries at a time ({@code [heads, block, keys]}), so a layer's
   * attention holds O(seq x block) scores rather than O(seq^2); any block gives the same result.
   */
  public void setQueryBlock(int queryBlock) {
    if (queryBlock < 1) {
      throw new IllegalArgumentException("query block must be >= 1, got " + queryBlock);
    }
    this.queryBlock = queryBlock;
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

  /** The dtype of this model's activations: {@link #dataType()}, or float32 for float16 weights widened per layer. */
  public DataType computeType() {
    return computeType;
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
