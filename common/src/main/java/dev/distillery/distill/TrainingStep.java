package dev.distillery.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.distillery.collective.DirectFloats;
import dev.distillery.model.LlamaModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One synchronous data-parallel optimisation step: forward and backward over this rank's micro-batches
 * (gradient accumulation), gradients summed across ranks in buckets, global-norm clipping, AdamW. Because every
 * rank applies the same summed gradients to the same weights, all ranks hold identical weights after each step.
 */
public final class TrainingStep {
  /** Gradients are all-reduced in buckets of this many floats (64 MB). */
  static final int BUCKET_FLOATS = 16 << 20;

  private final LlamaModel student;
  private final LlamaModel teacher;
  private final ChunkedLogitLoss loss;
  private final AdamW optimizer;
  private final GradientReducer reducer;
  private final double maxGradientNorm;
  private final HiddenStateLoss hiddenLoss;
  private final boolean recomputeLayers;
  private final List<DirectFloats> bucketBuffers = new ArrayList<>();

  /**
   * @param teacher the frozen teacher, or null when the loss needs none
   * @param maxGradientNorm clip the global gradient norm to this; 0 turns clipping off
   */
  public TrainingStep(LlamaModel student, LlamaModel teacher, ChunkedLogitLoss loss, AdamW optimizer,
      GradientReducer reducer, double maxGradientNorm) {
    this(student, teacher, loss, null, optimizer, reducer, maxGradientNorm);
  }

  /**
   * @param hiddenLoss an intermediate-layer cosine term added to the logit loss, or null
   */
  public TrainingStep(LlamaModel student, LlamaModel teacher, ChunkedLogitLoss loss, HiddenStateLoss hiddenLoss,
      AdamW optimizer, GradientReducer reducer, double maxGradientNorm) {
    this(student, teacher, loss, hiddenLoss, optimizer, reducer, maxGradientNorm, false);
  }

  /**
   * @param recomputeLayers keep only each decoder layer's input in the forward pass and recompute the layers in
   *     backward ({@link RecomputedForward}); the same gradients for one more forward pass. Not combined with a
   *     hidden-state loss, whose terms hook the layers' outputs: with one, the recorded forward is used.
   */
  public TrainingStep(LlamaModel student, LlamaModel teacher, ChunkedLogitLoss loss, HiddenStateLoss hiddenLoss,
      AdamW optimizer, GradientReducer reducer, double maxGradientNorm, boolean recomputeLayers) {
    this.recomputeLayers = recomputeLayers && hiddenLoss == null;
    if (hiddenLoss != null) {
      hiddenLoss.check(student, teacher);
    }
    this.hiddenLoss = hiddenLoss;
    this.student = student;
    this.teacher = teacher;
    this.loss = loss;
    this.optimizer = optimizer;
    this.reducer = reducer;
    this.maxGradientNorm = maxGradientNorm;
    student.setTrainable(true);
  }

  /**
   * What one step did, identical on every rank.
   *
   * @param hiddenLoss the weighted hidden-state cosine term (0 without one), included in {@code loss}
   */
  public record Result(double loss, double kdLoss, double ceLoss, double hiddenLoss, double gradientNorm,
      long tokens) {}

  /**
   * Runs one step. The losses are means over the real tokens of the global batch, so a rank or micro-batch of
   * shorter rows weighs by its tokens, not by its rows.
   *
   * @param microBatches this rank's share of the global batch, each {@code [batch][tokens]} token ids; rows may
   *     differ in length (document rows), a micro-batch is then padded to its longest row
   * @param learningRate this step's learning rate
   */
  public Result run(List<long[][]> microBatches, double learningRate) {
    return run(microBatches, null, learningRate);
  }

  /**
   * Runs one step against stored teacher distributions instead of a teacher forward pass (a step built without a
   * teacher): {@code teacherLogits.get(i)[r]} holds the top-k distribution of row {@code r} of micro-batch
   * {@code i}; see {@link ChunkedLogitLoss} for the loss.
   *
   * @param teacherLogits one array per micro-batch, or null for the online teacher
   */
  public Result run(List<long[][]> microBatches, List<TopKLogits[]> teacherLogits, double learningRate) {
    if (teacherLogits != null && teacherLogits.size() != microBatches.size()) {
      throw new IllegalArgumentException(teacherLogits.size() + " sets of stored teacher distributions for "
          + microBatches.size() + " micro-batches");
    }
    Map<String, NDArray> parameters = student.parameters();
    Autograd.zeroGradients(parameters.values());
    List<PaddedBatch> batches = microBatches.stream().map(PaddedBatch::of).toList();
    double[] globalTokens = {0, 0};
    for (PaddedBatch batch : batches) {
      globalTokens[0] += batch.tokens();
      globalTokens[1] += batch.scoredTokens();
    }
    reducer.sumInPlace(globalTokens); // exact: integers far below 2^53
    long globalKd = (long) globalTokens[0];
    long globalCe = (long) globalTokens[1];
    ChunkedLogitLoss.LossSums sums = new ChunkedLogitLoss.LossSums(0, 0, 0, 0);
    double[] hidden = {0};
    try (NDManager scope = NDManager.newBaseManager(student.device())) {
      for (int i = 0; i < batches.size(); i++) {
        TopKTargets stored = teacherLogits == null ? null
            : TopKTargets.of(teacherLogits.get(i), microBatches.get(i));
        sums = sums.plus(microStep(scope, batches.get(i), stored, globalKd, globalCe, hidden));
      }
      double[] totals = {sums.kdSum(), sums.ceSum(), sums.kdTokens(), hidden[0]};
      reducer.sumInPlace(totals);
      double norm;
      if (optimizer.shard() == null) {
        Map<String, NDArray> gradients = reducedGradients(scope, parameters);
        norm = globalNorm(gradients.values());
        clip(gradients.values(), norm);
        optimizer.step(parameters, gradients, learningRate);
      } else {
        norm = shardedUpdate(scope, parameters, learningRate);
      }
      double kd = totals[0] / globalKd;
      double ce = globalCe == 0 ? 0 : totals[1] / globalCe;
      LossSpec spec = loss.spec();
      double total = (spec.needsTeacher() ? spec.kdWeight() * kd : 0) + spec.ceWeight() * ce + totals[3];
      return new Result(total, kd, ce, totals[3], norm, (long) totals[2]);
    }
  }

  private ChunkedLogitLoss.LossSums microStep(NDManager scope, PaddedBatch batch, TopKTargets stored, long globalKd,
      long globalCe, double[] hiddenTotal) {
    try (NDManager micro = scope.newSubManager()) {
      NDArray ids = batch.ids(micro);
      NDArray mask = batch.mask(micro);
      NDArray[] teacherHidden = {null};
      Map<Integer, NDArray> teacherLayers = Map.of();
      if (stored != null && hiddenLoss != null) {
        throw new IllegalArgumentException("the hidden-state loss needs the teacher's hidden states, which stored "
            + "teacher distributions do not hold");
      }
      if ((loss.spec().needsTeacher() && stored == null) || hiddenLoss != null) {
        try (Autograd.Scope off = Autograd.pause()) {
          Runnable forward = () -> teacherHidden[0] = teacher.forwardHidden(ids.toDevice(teacher.device(), false))
              .toDevice(student.device(), false);
          if (hiddenLoss != null) {
            teacherLayers = hiddenLoss.captureTeacher(teacher, micro, forward);
          } else {
            forward.run();
          }
        }
      }
      NDArray teacherHead = loss.spec().needsTeacher() && stored == null ? teacher.lmHeadWeight().toDevice(student.device(), false)
          : null;
      if (recomputeLayers) {
        RecomputedForward pass = RecomputedForward.run(student, ids);
        ChunkedLogitLoss.HiddenGradient logits = logitGradients(pass.hidden(), teacherHidden[0], teacherHead,
            stored, ids, mask, globalKd, globalCe, micro);
        pass.backward(logits.gradient());
        return logits.sums();
      }
      NDArray studentHidden;
      NDArray hiddenTerm = null;
      try (Autograd.Scope on = Autograd.record()) {
        if (hiddenLoss == null) {
          studentHidden = student.forwardHidden(ids);
        } else {
          try (HiddenStateLoss.Accumulator term = hiddenLoss.attach(student, teacherLayers, mask, micro, globalKd)) {
            studentHidden = student.forwardHidden(ids);
            hiddenTerm = term.total();
          }
        }
      }
      ChunkedLogitLoss.HiddenGradient logits = logitGradients(studentHidden, teacherHidden[0], teacherHead, stored,
          ids, mask, globalKd, globalCe, micro);
      if (hiddenTerm == null) {
        Autograd.backward(studentHidden, logits.gradient());
      } else {
        hiddenTotal[0] += hiddenTerm.getFloat();
        NDArray surrogate;
        try (Autograd.Scope on = Autograd.record()) {
          // d/dθ [Σ h·g + term] = (logit-loss gradient through h) + (hidden-loss gradient): one backward pass.
          surrogate = studentHidden.mul(logits.gradient()).sum().add(hiddenTerm);
        }
        Autograd.backward(surrogate, surrogate.onesLike());
      }
      return logits.sums();
    }
  }

  private ChunkedLogitLoss.HiddenGradient logitGradients(NDArray studentHidden, NDArray teacherHidden,
      NDArray teacherHead, TopKTargets stored, NDArray ids, NDArray mask, long globalKd, long globalCe,
      NDManager keep) {
    return stored == null
        ? loss.logitGradients(studentHidden, student.lmHeadWeight(), teacherHidden, teacherHead, ids, mask, globalKd,
            globalCe, keep)
        : loss.logitGradients(studentHidden, student.lmHeadWeight(), stored, ids, mask, globalKd, globalCe, keep);
  }

  /** Every parameter's gradient, summed over ranks in buckets of {@link #BUCKET_FLOATS}, as arrays in scope. */
  private Map<String, NDArray> reducedGradients(NDManager scope, Map<String, NDArray> parameters) {
    Map<String, NDArray> reduced = new LinkedHashMap<>();
    List<List<Map.Entry<String, NDArray>>> buckets = buckets(parameters);
    for (int b = 0; b < buckets.size(); b++) {
      List<Map.Entry<String, NDArray>> bucket = buckets.get(b);
      DirectFloats flat = fillBucket(scope, bucket, bucketBuffer(b, floats(bucket)));
      reducer.sumInPlace(flat);
      int offset = 0;
      for (Map.Entry<String, NDArray> p : bucket) {
        NDArray parameter = p.getValue();
        int n = Math.toIntExact(parameter.size());
        reduced.put(p.getKey(), scope.create(flat.bytes(offset, n), parameter.getShape(), DataType.FLOAT32)
            .toDevice(parameter.getDevice(), false));
        offset += n;
      }
    }
    return reduced;
  }

  /**
   * The parameters in order, grouped into gradient buckets of at most {@link #BUCKET_FLOATS} (a larger parameter
   * makes a bucket of its own).
   */
  static List<List<Map.Entry<String, NDArray>>> buckets(Map<String, NDArray> parameters) {
    List<List<Map.Entry<String, NDArray>>> buckets = new ArrayList<>();
    List<Map.Entry<String, NDArray>> bucket = new ArrayList<>();
    long bucketSize = 0;
    for (Map.Entry<String, NDArray> p : parameters.entrySet()) {
      long size = p.getValue().size();
      if (!bucket.isEmpty() && bucketSize + size > BUCKET_FLOATS) {
        buckets.add(bucket);
        bucket = new ArrayList<>();
        bucketSize = 0;
      }
      bucket.add(p);
      bucketSize += size;
    }
    buckets.add(bucket);
    return buckets;
  }

  private static long floats(List<Map.Entry<String, NDArray>> bucket) {
    return bucket.stream().mapToLong(p -> p.getValue().size()).sum();
  }

  /**
   * ZeRO stage 1: each bucket's gradients are reduce-scattered, so this replica gets the sums of its shard only; the
   * global norm is the square root of the shards' squared norms summed over replicas; this replica's AdamW updates
   * its shard of the parameters, and the updated shards are all-gathered into every replica's parameters, which so
   * stay identical. Returns the global gradient norm.
   */
  private double shardedUpdate(NDManager scope, Map<String, NDArray> parameters, double learningRate) {
    OptimizerShard shard = optimizer.shard();
    List<List<Map.Entry<String, NDArray>>> buckets = buckets(parameters);
    Map<String, NDArray> gradients = new LinkedHashMap<>();
    Map<String, NDArray> values = new LinkedHashMap<>();
    double[] squares = {0};
    for (int b = 0; b < buckets.size(); b++) {
      DirectFloats flat = fillBucket(scope, buckets.get(b), bucketBuffer(b, floats(buckets.get(b))));
      reducer.reduceScatterSum(flat);
      for (OptimizerShard.Piece piece : shard.pieces()) {
        if (piece.bucket() == b) {
          NDArray gradient = scope.create(flat.bytes(piece.bucketOffset(), piece.length()), new Shape(piece.length()),
              DataType.FLOAT32).toDevice(student.device(), false);
          squares[0] += gradient.square().sum().getFloat();
          gradients.put(piece.key(), gradient);
        }
      }
    }
    reducer.sumInPlace(squares);
    double norm = Math.sqrt(squares[0]);
    clip(gradients.values(), norm);
    try (Autograd.Scope off = Autograd.pause()) {
      for (OptimizerShard.Piece piece : shard.pieces()) {
        try (NDArray flatParameter = parameters.get(piece.parameter()).reshape(-1);
            NDArray view = flatParameter.get(new NDIndex("{}:{}", piece.offset(), piece.offset() + piece.length()))) {
          NDArray value = view.duplicate(); // views are closed, the parameter's memory stays
          value.attach(scope);
          values.put(piece.key(), value);
        }
      }
    }
    optimizer.step(values, gradients, learningRate);
    for (int b = 0; b < buckets.size(); b++) {
      DirectFloats flat = bucketBuffer(b, floats(buckets.get(b))).prefix(Math.toIntExact(floats(buckets.get(b))));
      for (OptimizerShard.Piece piece : shard.pieces()) {
        if (piece.bucket() == b) {
          flat.bytes(piece.bucketOffset(), piece.length()).put(values.get(piece.key()).toByteBuffer(true));
        }
      }
      reducer.allGather(flat);
      int offset = 0;
      try (Autograd.Scope off = Autograd.pause()) {
        for (Map.Entry<String, NDArray> p : buckets.get(b)) {
          NDArray parameter = p.getValue();
          int n = Math.toIntExact(parameter.size());
          try (NDManager copy = scope.newSubManager()) {
            // index_put_ copies into the parameter's own memory (NDArray.set(Buffer) would alias the buffer)
            parameter.set(new NDIndex(":"), copy.create(flat.bytes(offset, n), parameter.getShape(), DataType.FLOAT32)
                .toDevice(parameter.getDevice(), false));
          }
          offset += n;
        }
      }
    }
    return norm;
  }

  private void clip(Iterable<NDArray> gradients, double norm) {
    if (maxGradientNorm > 0 && norm > maxGradientNorm) {
      float scale = (float) (maxGradientNorm / (norm + 1e-6));
      gradients.forEach(g -> g.muli(scale));
    }
  }

  /**
   * The host buffer of bucket {@code index}, kept across steps. On the CPU the reduced gradient arrays are views
   * of it until the step ends, so each bucket has its own; on a GPU they are copied to the device, so all buckets
   * share one.
   */
  private DirectFloats bucketBuffer(int index, long floats) {
    int slot = student.device().isGpu() ? 0 : index;
    while (bucketBuffers.size() <= slot) {
      bucketBuffers.add(null);
    }
    DirectFloats buffer = bucketBuffers.get(slot);
    if (buffer == null || buffer.length() < floats) {
      buffer = DirectFloats.allocate(Math.toIntExact(floats));
      bucketBuffers.set(slot, buffer);
    }
    return buffer;
  }

  /** Copies the bucket's gradients, as float32, into {@code buffer}; returns the filled prefix. */
  private static DirectFloats fillBucket(NDManager scope, List<Map.Entry<String, NDArray>> bucket,
      DirectFloats buffer) {
    int offset = 0;
    for (Map.Entry<String, NDArray> p : bucket) {
      try (NDManager conversion = scope.newSubManager()) {
        NDArray gradient = p.getValue().getGradient();
        gradient.attach(conversion); // it and its float32 host copy, if one is needed, close here
        NDArray values = gradient.toDevice(Device.cpu(), false).toType(DataType.FLOAT32, false);
        int n = Math.toIntExact(values.size());
        buffer.bytes(offset, n).put(values.toByteBuffer(true)); // a view of the tensor's memory, copied once
        offset += n;
      }
    }
    return buffer.prefix(offset);
  }

  private static double globalNorm(Iterable<NDArray> gradients) {
    double squares = 0;
    for (NDArray g : gradients) {
      squares += g.square().sum().getFloat();
    }
    return Math.sqrt(squares);
  }
}
