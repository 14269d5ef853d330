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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One synchronous data-parallel optimisation step: forward and backward over this rank's micro-batches
 * (gradient accumulation), gradients summed across ranks in buckets, global-norm clipping, AdamW. Because every
 * rank applies the same summed gradients to the same weights, all ranks hold identical weights after each step.
 */
public final class TrainingStep {
  private final LlamaModel student;
  private final LlamaModel teacher;
  private final ChunkedLogitLoss loss;
  private final AdamW optimizer;
  private final GradientReducer reducer;
  private final double maxGradientNorm;
  private final HiddenStateLoss hiddenLoss;
  private final boolean recomputeLayers;
  private final GradientBuckets host;
  private final ShardedGradients shardedGradients;

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
    this(student, teacher, loss, hiddenLoss, optimizer, reducer, maxGradientNorm, recomputeLayers, false);
  }

  /**
   * @param shardGradients ZeRO stage 2 ({@link ShardedGradients}): each stage's gradients are reduce-scattered as
   *     the recomputed backward produces them and only this replica's shard of the sums is kept; needs the
   *     optimizer sharded and layer recomputation, without a hidden-state loss
   * @throws IllegalArgumentException when {@code shardGradients} lacks what it needs
   */
  public TrainingStep(LlamaModel student, LlamaModel teacher, ChunkedLogitLoss loss, HiddenStateLoss hiddenLoss,
      AdamW optimizer, GradientReducer reducer, double maxGradientNorm, boolean recomputeLayers,
      boolean shardGradients) {
    if (shardGradients && optimizer.shard() == null) {
      throw new IllegalArgumentException("sharded gradients need a sharded optimizer");
    }
    if (shardGradients && (!recomputeLayers || hiddenLoss != null)) {
      throw new IllegalArgumentException("sharded gradients need layer recomputation, which a hidden-state loss "
          + "turns off");
    }
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
    // the reduced gradients of the whole optimizer on the CPU are views of their buckets until the step ends
    this.host = new GradientBuckets(optimizer.shard() == null && !student.device().isGpu());
    this.shardedGradients = shardGradients
        ? new ShardedGradients(student.parameters(), optimizer.shard(), reducer, host) : null;
    student.setTrainable(!shardGradients); // sharded gradients run each stage on gradient-tracking aliases
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
    // the global token counts, then each replica's micro-batch count (sharded gradients reduce once per micro-batch)
    double[] globalCounts = new double[2 + reducer.replicas()];
    for (PaddedBatch batch : batches) {
      globalCounts[0] += batch.tokens();
      globalCounts[1] += batch.scoredTokens();
    }
    globalCounts[2 + reducer.replica()] = batches.size();
    reducer.sumInPlace(globalCounts); // exact: integers far below 2^53
    long globalKd = (long) globalCounts[0];
    long globalCe = (long) globalCounts[1];
    ChunkedLogitLoss.LossSums sums = new ChunkedLogitLoss.LossSums(0, 0, 0, 0);
    double[] hidden = {0};
    try (NDManager scope = NDManager.newBaseManager(student.device())) {
      if (shardedGradients != null) {
        shardedGradients.start(scope);
      }
      for (int i = 0; i < batches.size(); i++) {
        TopKTargets stored = teacherLogits == null ? null
            : TopKTargets.of(teacherLogits.get(i), microBatches.get(i));
        sums = sums.plus(microStep(scope, batches.get(i), stored, globalKd, globalCe, hidden));
      }
      if (shardedGradients != null) {
        double most = Arrays.stream(globalCounts, 2, globalCounts.length).max().orElse(0);
        for (int i = batches.size(); i < most; i++) {
          reduceNothing(scope); // match the collectives of a replica with more micro-batches
        }
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
        norm = shardedUpdate(scope, parameters, shardedGradients != null ? shardedGradients.sums()
            : reduceScattered(scope, parameters), learningRate);
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
      NDArray teacherHead = loss.spec().needsTeacher() && stored == null
          ? teacher.lmHeadWeight(micro).toDevice(student.device(), false)
          : null;
      if (recomputeLayers) {
        RecomputedForward pass = RecomputedForward.run(student, ids);
        List<String> head = List.of(student.lmHeadName());
        ChunkedLogitLoss.HiddenGradient logits;
        try (NDManager stage = micro.newSubManager()) { // a sharded lm head's alias and gradient end here
          NDArray headWeight = shardedGradients == null ? student.lmHeadWeight()
              : shardedGradients.aliases(head, stage).get(head.get(0));
          logits = logitGradients(pass.hidden(), headWeight, teacherHidden[0], teacherHead, stored, ids, mask,
              globalKd, globalCe, micro);
          if (shardedGradients != null) {
            shardedGradients.reduce(stage, head, Map.of(head.get(0), headWeight));
          }
        }
        pass.backward(logits.gradient(), shardedGradients);
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
      ChunkedLogitLoss.HiddenGradient logits = logitGradients(studentHidden, student.lmHeadWeight(),
          teacherHidden[0], teacherHead, stored, ids, mask, globalKd, globalCe, micro);
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

  private ChunkedLogitLoss.HiddenGradient logitGradients(NDArray studentHidden, NDArray studentHead,
      NDArray teacherHidden, NDArray teacherHead, TopKTargets stored, NDArray ids, NDArray mask, long globalKd,
      long globalCe, NDManager keep) {
    return stored == null
        ? loss.logitGradients(studentHidden, studentHead, teacherHidden, teacherHead, ids, mask, globalKd, globalCe,
            keep)
        : loss.logitGradients(studentHidden, studentHead, stored, ids, mask, globalKd, globalCe, keep);
  }

  /** The sharded-gradient collectives of one micro-batch, with nothing to add: the lm head, then every stage. */
  private void reduceNothing(NDManager scope) {
    shardedGradients.reduce(scope, List.of(student.lmHeadName()), Map.of());
    for (List<String> stage : RecomputedForward.backwardStages(student)) {
      shardedGradients.reduce(scope, stage, Map.of());
    }
  }

  /** Every parameter's gradient, summed over ranks in buckets, as arrays in scope. */
  private Map<String, NDArray> reducedGradients(NDManager scope, Map<String, NDArray> parameters) {
    Map<String, NDArray> reduced = new LinkedHashMap<>();
    List<List<Map.Entry<String, NDArray>>> buckets = buckets(parameters);
    for (int b = 0; b < buckets.size(); b++) {
      List<Map.Entry<String, NDArray>> bucket = buckets.get(b);
      DirectFloats flat = host.fill(scope, b, bucket, name -> parameters.get(name).getGradient());
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

  /** The parameters in order, grouped into gradient buckets ({@link GradientBuckets#layout}). */
  static List<List<Map.Entry<String, NDArray>>> buckets(Map<String, NDArray> parameters) {
    Map<String, Long> sizes = new LinkedHashMap<>();
    parameters.forEach((name, p) -> sizes.put(name, p.size()));
    return GradientBuckets.layout(sizes).stream()
        .map(names -> names.stream().map(name -> Map.entry(name, parameters.get(name))).toList()).toList();
  }

  private static long floats(List<Map.Entry<String, NDArray>> bucket) {
    return bucket.stream().mapToLong(p -> p.getValue().size()).sum();
  }

  /**
   * ZeRO stage 1: each bucket's gradients are reduce-scattered, so this replica gets the sums of its shard only,
   * copied out of the bucket's buffer (which the next bucket reuses), by {@link OptimizerShard.Piece#key()}.
   */
  private Map<String, NDArray> reduceScattered(NDManager scope, Map<String, NDArray> parameters) {
    List<List<Map.Entry<String, NDArray>>> buckets = buckets(parameters);
    Map<String, NDArray> gradients = new LinkedHashMap<>();
    for (int b = 0; b < buckets.size(); b++) {
      DirectFloats flat = host.fill(scope, b, buckets.get(b), name -> parameters.get(name).getGradient());
      reducer.reduceScatterSum(flat);
      for (OptimizerShard.Piece piece : optimizer.shard().pieces()) {
        if (piece.bucket() == b) {
          try (NDManager view = scope.newSubManager()) {
            NDArray gradient = view.create(flat.bytes(piece.bucketOffset(), piece.length()), new Shape(piece.length()),
                DataType.FLOAT32).toDevice(student.device(), false).duplicate();
            gradient.attach(scope);
            gradients.put(piece.key(), gradient);
          }
        }
      }
    }
    return gradients;
  }

  /**
   * The sharded update: the global norm is the square root of the shards' squared norms summed over replicas; this
   * replica's AdamW updates its shard of the parameters with its shard of the summed {@code gradients} (by piece
   * key), and the updated shards are all-gathered into every replica's parameters, which so stay identical.
   * Returns the global gradient norm.
   */
  private double shardedUpdate(NDManager scope, Map<String, NDArray> parameters, Map<String, NDArray> gradients,
      double learningRate) {
    OptimizerShard shard = optimizer.shard();
    List<List<Map.Entry<String, NDArray>>> buckets = buckets(parameters);
    Map<String, NDArray> values = new LinkedHashMap<>();
    double[] squares = {0};
    for (NDArray gradient : gradients.values()) {
      squares[0] += gradient.square().sum().getFloat();
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
      DirectFloats flat = host.buffer(b, floats(buckets.get(b))).prefix(Math.toIntExact(floats(buckets.get(b))));
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

  private static double globalNorm(Iterable<NDArray> gradients) {
    double squares = 0;
    for (NDArray g : gradients) {
      squares += g.square().sum().getFloat();
    }
    return Math.sqrt(squares);
  }
}
