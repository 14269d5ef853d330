package dev.distillery.memory;

import dev.distillery.distill.GradientBuckets;
import dev.distillery.io.TensorInfo;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Bytes a distillation replica allocates, from the models' shapes alone, counted from what the code does: which
 * arrays each step creates and how long each lives (DJL managers close at layer, block, chunk and step ends), and
 * which of them PyTorch's autograd keeps for backward. The student trains in float32.
 *
 * <p>Lasting: weights, gradients, the reduced gradients, AdamW's moments, the teacher, the position tables. A step then
 * passes through phases whose transients add to that, and the peak is the largest: the teacher's forward (one layer's
 * working set), the student's forward, the loss chunks (logits for {@code chunk × vocab} at a time), the backward
 * (with recomputation one layer's graph at a time), and the optimizer step (the squared gradients of the global norm,
 * one tensor's update temporaries).
 */
public final class MemoryPlanner {
  private static final int F32 = Float.BYTES;
  /** Arrays of {@code [chunk, vocab]} floats alive in one KD chunk (logits, probabilities, their logs, gradient). */
  private static final int KD_CHUNK_ARRAYS = 12;
  /** Further {@code [chunk, vocab]} arrays of the cross-entropy term (log-probabilities, one-hot, products). */
  private static final int CE_CHUNK_ARRAYS = 6;
  /** Temporaries of one AdamW parameter update, each the parameter's size (AdamW.update). */
  private static final int UPDATE_TEMPORARIES = 5;

  private MemoryPlanner() {}

  /** Plans one replica of {@code shape}. */
  public static MemoryPlan plan(TrainingShape shape) {
    LlamaConfig s = shape.student();
    long params = s.parameterCount();
    boolean sharded = shape.shardedOptimizer();
    boolean gradientsSharded = shape.shardedGradients();
    long shardParams = sharded ? ceilDiv(params, shape.replicas()) : params;
    long weights = params * F32;
    long gradients = gradientsSharded ? 0 : params * F32; // sharded, the parameters keep no gradients of their own
    // On the CPU (the device is the process) the whole optimizer's reduced gradients are views of one host buffer per
    // bucket; a sharded one copies its shard out of one buffer of the largest bucket. A GPU's host buffers are not
    // on the device.
    long hostBuffer = shape.gpu() || !sharded ? 0 : largestBucket(s) * F32;
    long reduced = shardParams * F32 + hostBuffer;
    // the whole optimizer's CPU buckets and the sharded gradients' sums live all step; else they exist for the update
    boolean reducedLasts = gradientsSharded || !shape.gpu() && !sharded;
    long optimizer = 2 * shardParams * F32;
    long teacherWeights = shape.distils() ? shape.teacher().parameterCount() * shape.teacherBytes() : 0;
    // float16 teacher weights on the CPU compute in float32, each layer's weights widened as it runs
    boolean teacherWidened = shape.distils() && !shape.gpu() && shape.teacherBytes() == 2;
    int teacherCompute = teacherWidened ? F32 : shape.teacherBytes();
    long tables = positionTables(s, shape.rowTokens(), F32)
        + (shape.distils() ? positionTables(shape.teacher(), shape.rowTokens(), teacherCompute) : 0);

    long tokens = shape.tokens();
    long th = tokens * s.hiddenSize() * F32; // one [tokens, hidden] float32 array of the student
    long layers = s.numHiddenLayers();
    long teacherHidden = shape.distils() ? tokens * shape.teacher().hiddenSize() * teacherCompute : 0;
    long teacherHead = teacherWidened ? (long) shape.teacher().vocabSize() * shape.teacher().hiddenSize() * F32 : 0;
    long recordedLayer = layerWorkingSet(s, shape, F32, true);
    long savedLayer = savedPerLayer(s, shape);
    long chunkRows = Math.min(shape.chunkTokens(), tokens);
    long chunk = chunkRows * s.vocabSize() * F32
        * ((shape.distils() ? KD_CHUNK_ARRAYS : 2) + (shape.crossEntropy() ? CE_CHUNK_ARRAYS : 0))
        + (long) s.vocabSize() * s.hiddenSize() * F32; // the lm_head gradient of a chunk, before it is accumulated

    // stored: what the student keeps between its forward and its backward
    long stored = shape.recompute() ? (layers + 1) * th : layers * savedLayer + 2 * th;
    Map<MemoryPlan.Phase, long[]> phases = new EnumMap<>(MemoryPlan.Phase.class); // {saved, workspace, chunk}
    if (shape.distils()) {
      phases.put(MemoryPlan.Phase.TEACHER_FORWARD, new long[] {0,
          2 * teacherHidden + layerWorkingSet(shape.teacher(), shape, teacherCompute, false)
              + (teacherWidened ? layerParameters(shape.teacher()) * F32 : 0), 0});
    }
    phases.put(MemoryPlan.Phase.STUDENT_FORWARD, shape.recompute()
        ? new long[] {(layers + 1) * th, teacherHidden + layerWorkingSet(s, shape, F32, false), 0}
        : new long[] {(layers - 1) * savedLayer, teacherHidden + recordedLayer, 0});
    // sharded gradients: the stage being reduced holds its full gradients, the lm head's through the loss chunks
    long headGradient = gradientsSharded ? (long) s.vocabSize() * s.hiddenSize() * F32 : 0;
    long layerGradients = gradientsSharded ? layerParameters(s) * F32 : 0;
    phases.put(MemoryPlan.Phase.LOSS, new long[] {stored, teacherHidden + teacherHead + 3 * th + headGradient,
        chunk});
    long backwardLayer = Math.max(recordedLayer, savedLayer + backwardTransient(s, shape));
    long[] backward = shape.recompute()
        ? new long[] {layers * th, teacherHidden + 2 * th + backwardLayer + layerGradients, 0}
        : new long[] {layers * savedLayer, teacherHidden + 2 * th + backwardTransient(s, shape), 0};
    long[] embeddingStage = {0, teacherHidden + 2 * th + headGradient, 0}; // its dense [vocab, hidden] gradient
    phases.put(MemoryPlan.Phase.BACKWARD, sum(embeddingStage) > sum(backward) ? embeddingStage : backward);
    MemoryPlan.Phase micro = MemoryPlan.Phase.STUDENT_FORWARD;
    for (Map.Entry<MemoryPlan.Phase, long[]> phase : phases.entrySet()) {
      if (sum(phase.getValue()) > sum(phases.get(micro))) {
        micro = phase.getKey();
      }
    }
    long[] peakMicro = phases.get(micro);
    long maxTensor = LlamaTensors.expectedShapes(s).values().stream().mapToLong(TensorInfo::elementCount).max()
        .orElse(0);
    long optimizerStep = shardParams * F32 // the squared gradients of the global norm live until the step ends
        + UPDATE_TEMPORARIES * Math.min(maxTensor, shardParams) * F32
        + (reducedLasts ? 0 : reduced - hostBuffer);
    long lasting = weights + gradients + (reducedLasts ? reduced : hostBuffer) + optimizer + teacherWeights + tables;
    boolean optimizerPeaks = optimizerStep > sum(peakMicro);
    long peak = lasting + Math.max(optimizerStep, sum(peakMicro));
    // an all-reduce (or reduce-scatter plus all-gather) per step; sharded gradients reduce-scatter every micro-batch
    int passes = gradientsSharded ? shape.microBatches() + 1 : 2;
    long send = shape.ranks() == 1 ? 0 : passes * ceilDiv(params * (shape.ranks() - 1), shape.ranks()) * F32;
    return new MemoryPlan(weights, gradients, reduced, optimizer, teacherWeights, tables, peakMicro[0],
        peakMicro[1], chunk, optimizerStep, lasting, sum(peakMicro), optimizerPeaks ? MemoryPlan.Phase.OPTIMIZER : micro,
        peak, send);
  }

  /**
   * The training state one decoder layer alone needs: its weights, gradients and moments (float32) and its working
   * set at the given shape; a device smaller than this cannot train the model at all.
   */
  public static long oneLayerBytes(TrainingShape shape) {
    LlamaConfig s = shape.student();
    return 4 * layerParameters(s) * F32 + layerWorkingSet(s, shape, F32, true);
  }

  /** Parameters of one decoder layer. */
  private static long layerParameters(LlamaConfig s) {
    return (s.parameterCount() - (long) s.vocabSize() * s.hiddenSize() * (s.tieWordEmbeddings() ? 1 : 2))
        / s.numHiddenLayers();
  }

  /** Floats of the largest gradient bucket ({@link GradientBuckets#layout}). */
  private static long largestBucket(LlamaConfig s) {
    Map<String, Long> sizes = new LinkedHashMap<>();
    LlamaTensors.expectedShapes(s).forEach((name, shape) -> sizes.put(name, TensorInfo.elementCount(shape)));
    return GradientBuckets.layout(sizes).stream()
        .mapToLong(bucket -> bucket.stream().mapToLong(sizes::get).sum()).max().orElse(0);
  }

  /** The causal mask (float32, {@code [seq, seq]}) and the RoPE cos/sin tables ({@code [seq, head_dim]}). */
  private static long positionTables(LlamaConfig c, long seq, int bytes) {
    return seq * seq * F32 + 2 * seq * c.headDim() * bytes;
  }

  /**
   * Every array one decoder layer's forward creates, all alive until the layer's manager closes, plus the largest
   * attention block's scores (blocks have their own managers). When recording, every block's softmax output and
   * grouped queries stay too, kept by the graph.
   *
   * @param p bytes per element of the model's dtype
   */
  private static long layerWorkingSet(LlamaConfig c, TrainingShape shape, int p, boolean recording) {
    long t = shape.tokens();
    long h = c.hiddenSize();
    long q = (long) c.numAttentionHeads() * c.headDim();
    long kv = (long) c.numKeyValueHeads() * c.headDim();
    long norm = t * h * (2L * F32 + p + (p == F32 ? 0 : F32 + p)); // (cast,) square, divide, (cast back,) scale
    long projections = t * (q + 2 * kv) * p;
    long rotary = t * (q + kv) * p * 9 / 2; // x·cos, -x2, cat, ·sin, sum
    long context = 3 * t * q * p; // the blocks' outputs, their concatenation, the transposed copy
    long residuals = 4 * t * h * p; // o_proj, + x, down_proj, + h
    long mlp = 5 * t * c.intermediateSize() * p; // gate, up, sigmoid, gate·sigmoid, ·up
    long scoreBytes = p == F32 ? 4L * F32 : 2L * p + 3L * F32 + p; // scores, scaled, (cast,) + mask, softmax, (cast)
    long block = lastBlockScores(c, shape) * scoreBytes;
    long kept = recording ? t * q * p + allBlockScores(c, shape) * F32 : 0;
    return 2 * norm + projections + rotary + context + residuals + mlp + block + kept;
  }

  /**
   * What autograd keeps of one recorded float32 layer for its backward: the layer input, the normalised inputs of
   * both norms, the grouped queries, keys and values, every block's softmax output, the attention context, the
   * residual sum, and the MLP's five {@code [tokens, intermediate]} arrays: the gate and the sigmoid (the
   * {@code gate · sigmoid} product needs both), their product and the up projection (multiplied next), and the
   * product of those (the down projection's input).
   */
  private static long savedPerLayer(LlamaConfig c, TrainingShape shape) {
    long t = shape.tokens();
    long h = c.hiddenSize();
    long q = (long) c.numAttentionHeads() * c.headDim();
    long kv = (long) c.numKeyValueHeads() * c.headDim();
    long norms = 2 * t * h * 2 * F32;
    return t * h * F32 * 2 + norms + t * (2 * q + 2 * kv) * F32 + allBlockScores(c, shape) * F32
        + 5 * t * c.intermediateSize() * F32;
  }

  /** The gradients alive while one layer back-propagates: MLP-sized ones, one block's scores, one weight's. */
  private static long backwardTransient(LlamaConfig c, TrainingShape shape) {
    long t = shape.tokens();
    long weight = (long) c.intermediateSize() * c.hiddenSize();
    return (4 * t * c.intermediateSize() + 2 * lastBlockScores(c, shape) + weight + 2 * t * c.hiddenSize()) * F32;
  }

  /** Score elements of the last (largest) query block: {@code batch × heads × block × seq}. */
  private static long lastBlockScores(LlamaConfig c, TrainingShape shape) {
    long seq = shape.rowTokens();
    long block = Math.min(shape.queryBlock(), seq);
    return (long) shape.microBatch() * c.numAttentionHeads() * block * seq;
  }

  /** Score elements of every query block: each block's queries times the keys up to its last position. */
  private static long allBlockScores(LlamaConfig c, TrainingShape shape) {
    long seq = shape.rowTokens();
    long total = 0;
    for (long start = 0; start < seq; start += shape.queryBlock()) {
      long end = Math.min(seq, start + shape.queryBlock());
      total += (end - start) * end;
    }
    return (long) shape.microBatch() * c.numAttentionHeads() * total;
  }

  private static long sum(long[] values) {
    long total = 0;
    for (long v : values) {
      total += v;
    }
    return total;
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }
}
