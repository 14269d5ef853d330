package dev.distillery.jobs.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.collective.LocalReducer;
import dev.distillery.collective.RingAllReduce;
import dev.distillery.config.ConfigException;
import dev.distillery.distill.Autograd;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.LearningRateSchedule;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.distill.OrderedSequences;
import dev.distillery.distill.RingReducer;
import dev.distillery.distill.StepMetrics;
import dev.distillery.distill.StepReadAhead;
import dev.distillery.distill.StoredRow;
import dev.distillery.distill.TopKLogits;
import dev.distillery.distill.TrainingCheckpoint;
import dev.distillery.distill.TrainingStep;
import dev.distillery.io.BadInputException;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.model.LanguageModelLoss;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TokenLoss;
import dev.distillery.prune.CheckpointPruner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.apache.spark.TaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training loop of one rank: loads the student (from the latest checkpoint when resuming) and the teacher
 * (once per executor JVM), runs the synchronous steps on this rank's slice of every global batch, measures the
 * validation loss, and on rank 0 writes metrics, checkpoints and the final student.
 */
final class RankTrainer {
  private static final Logger LOG = LoggerFactory.getLogger(RankTrainer.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();
  /** Steps of sequences read ahead of the step being trained. */
  static final int READ_AHEAD_STEPS = 2;

  private final DistillSettings settings;
  private final RingAllReduce ring;
  private final List<Device> devices;
  private final Storage storage;
  private final TaskContext task;

  /**
   * @param devices where this rank trains: one replica of the student each, sharing the micro-batches
   * @param task the Spark task this rank runs in: its kill requests stop training at the next step
   */
  RankTrainer(DistillSettings settings, RingAllReduce ring, List<Device> devices, TaskContext task) {
    this.settings = settings;
    this.ring = ring;
    this.devices = List.copyOf(devices);
    this.task = task;
    this.storage = Storage.of(settings.checkpoints());
  }

  /**
   * Trains and returns this rank's summary (JSON).
   *
   * @param data the training sequences in the data order (with {@code teacher-logits}, {@link StoredRow} records);
   *     this rank reads global sequences {@code i} with {@code i % worldSize == rank}, at most
   *     {@value #READ_AHEAD_STEPS} steps ahead of training
   * @param usableSequences global sequences in the data order (a multiple of the global batch)
   * @param validation every validation sequence; this rank evaluates those with index ≡ rank (mod world)
   */
  String train(OrderedSequences data, long usableSequences, long[][] validation) {
    int rank = ring.rank();
    int world = ring.worldSize();
    DistillSettings.checkDeviceShare(settings.globalBatch() / world / settings.microBatch(), devices.size(),
        "rank " + rank + " (devices " + devices + ")");
    if (settings.shardOptimizer()) { // devices 'auto' are known only here
      try {
        OptimizerShard.checkReplicas(studentParameters(), world * devices.size(),
            "world-size " + world + " x " + devices.size() + " devices per rank");
      } catch (ConfigException e) {
        throw new BadInputException(e.getMessage());
      }
    }
    Optional<String> resume = settings.restart() ? Optional.empty()
        : TrainingCheckpoint.latest(storage, settings.checkpoints());
    int startStep = 0;
    if (resume.isPresent()) { // the newest that validates; the driver checked it belongs to this run (checkInputs)
      startStep = TrainingCheckpoint.readState(storage, resume.get()).step();
      LOG.info("rank {}: resuming from {} at step {}", rank, resume.get(), startStep);
    }
    ring.checkSame(startStep, "the step every rank resumes from");
    String source = resume.map(r -> Storage.resolve(r, "model")).orElse(settings.student());
    List<StepMetrics> metrics = rank == 0 ? existingMetrics(startStep) : new ArrayList<>();
    List<Replica> replicas = new ArrayList<>();
    try (ReplicaThreads threads = new ReplicaThreads(devices.size(), rank);
        StepReadAhead ahead = new StepReadAhead(s -> sequencesOf(data, usableSequences, s, rank, world), startStep,
            settings.steps(), READ_AHEAD_STEPS)) {
      List<GradientReducer> reducers = reducers();
      for (int d = 0; d < devices.size(); d++) {
        LlamaModel teacher = (settings.lossSpec().needsTeacher() && settings.teacherLogits() == null)
            || settings.hiddenWeight() > 0
            ? teacher(devices.get(d)) : null;
        replicas.add(Replica.load(settings, source, resume.orElse(null), devices.get(d), teacher, reducers.get(d)));
      }
      Replica lead = replicas.get(0);
      LlamaConfig studentConfig = lead.student.config();
      LearningRateSchedule schedule = new LearningRateSchedule(settings.learningRate(),
          Math.min(settings.minLearningRate(), settings.learningRate()), settings.warmupSteps(), settings.steps());
      Progress progress = new Progress(startStep, settings.steps());
      TrainingStep.Result last = null;
      double validationLoss = Double.NaN;
      for (int s = startStep; s < settings.steps(); s++) {
        // A cancelled job or a preempted task stops here; the ring's closing fails the other ranks at once.
        task.killTaskIfInterrupted();
        double lr = schedule.at(s);
        List<int[]> records = ahead.take(s);
        List<TopKLogits[]> teacherLogits = null;
        if (settings.teacherLogits() != null) {
          List<StoredRow> rows = records.stream().map(r -> StoredRow.fromRecord(r, settings.teacherLogits())).toList();
          records = rows.stream().map(StoredRow::ids).toList();
          teacherLogits = inMicroBatches(rows.stream().map(StoredRow::logits).toList()).stream()
              .map(m -> m.toArray(TopKLogits[]::new)).toList();
        }
        List<long[][]> microBatches = microBatches(records, studentConfig.vocabSize(), s);
        List<TopKLogits[]> stored = teacherLogits;
        last = threads.runOnEach(d -> replicas.get(d).step.run(Replica.share(microBatches, d, replicas.size()),
            Replica.share(stored, d, replicas.size()), lr)).get(0);
        boolean final_ = s + 1 == settings.steps();
        StepMetrics line = new StepMetrics(s + 1, lr, last.loss(), last.kdLoss(), last.ceLoss(), last.hiddenLoss(),
            last.gradientNorm(), last.tokens(), progress.step(last.tokens()), null);
        if ((s + 1) % settings.validateEvery() == 0 || final_) {
          validationLoss = validate(lead, validation, rank, world);
          line = line.withValidationLoss(validationLoss);
          ring.checkSame(fingerprint(replicas), "student weights after step " + (s + 1));
        }
        boolean checkpoint = (s + 1) % settings.checkpointEvery() == 0 && !final_;
        if (rank == 0) {
          LOG.info("distill step {}/{}: loss {} (kd {}, ce {}), lr {}, grad norm {}{}, {} tokens/s, ETA {}",
              s + 1, settings.steps(), f(last.loss()), f(last.kdLoss()), f(last.ceLoss()), String.format("%.2e", lr),
              f(last.gradientNorm()), line.validationLoss() != null ? ", val loss " + f(validationLoss) : "",
              String.format("%.0f", line.tokensPerSecond()), progress.eta());
          metrics.add(line);
          // With every checkpoint, so that a run resumed from it keeps the metrics of the steps before it.
          if (line.validationLoss() != null || final_ || checkpoint) {
            writeMetrics(metrics);
          }
        }
        if (checkpoint) {
          saveCheckpoint(s + 1, threads, replicas, studentConfig);
        }
      }
      if (rank == 0) {
        writeFinal(lead.student, studentConfig, source);
      }
      ring.barrier(checkpointTimeout()); // the others wait while rank 0 writes the student
      ObjectNode summary = JSON.createObjectNode();
      summary.put("rank", rank);
      summary.put("start_step", startStep);
      summary.put("stage_attempt", task.stageAttemptNumber());
      summary.put("steps", settings.steps());
      summary.put("loss", last == null ? Double.NaN : last.loss());
      summary.put("val_loss", validationLoss);
      summary.put("tokens_per_s", progress.overallTokensPerSecond());
      return summary.toString();
    } finally {
      replicas.forEach(Replica::close);
    }
  }

  /**
   * Writes and commits the checkpoint of step {@code step} with every replica of the job writing in parallel: rank 0
   * stages it and shares the staging id; each replica writes its share of the weights and its optimizer shard
   * straight into the staging directory; rank 0 adds the state, waits for every part, commits and prunes old
   * checkpoints. Ranks wait for each other under checkpoint-timeout-seconds, not the collective timeout, so a slow
   * storage delays the next step instead of failing it.
   */
  private void saveCheckpoint(int step, ReplicaThreads threads, List<Replica> replicas, LlamaConfig config) {
    int rank = ring.rank();
    Duration timeout = checkpointTimeout();
    StagedDirectory staged = null;
    try {
      long id = 0;
      if (rank == 0) {
        id = RANDOM.nextLong() & Long.MAX_VALUE;
        staged = TrainingCheckpoint.stage(storage, settings.checkpoints(), step, Long.toHexString(id));
      }
      String staging = TrainingCheckpoint.stagingPath(settings.checkpoints(), step,
          Long.toHexString(ring.allGather(id, timeout)[0])); // once rank 0 has staged it
      int all = ring.worldSize() * replicas.size();
      threads.runOnEach(d -> {
        Replica replica = replicas.get(d);
        TrainingCheckpoint.writePart(storage, staging, config, replica.student.parameters(), replica.optimizer,
            rank * replicas.size() + d, all);
        return d;
      });
      if (rank == 0) {
        Replica lead = replicas.get(0);
        TrainingCheckpoint.writeState(storage, staging, new TrainingCheckpoint.State(step,
            (long) step * settings.globalBatch(), settings.fingerprint()), lead.student.parameters(), lead.optimizer);
      }
      ring.barrier(timeout); // every part written
      if (rank == 0) {
        staged.commit();
        if (settings.keepCheckpoints() > 0) {
          TrainingCheckpoint.retain(storage, settings.checkpoints(), settings.keepCheckpoints())
              .forEach(old -> LOG.info("deleted checkpoint {} (keep-checkpoints {})", old, settings.keepCheckpoints()));
        }
      }
      ring.barrier(timeout); // committed
    } finally {
      if (staged != null) {
        staged.close(); // aborts unless committed
      }
    }
  }

  private Duration checkpointTimeout() {
    return Duration.ofSeconds(settings.checkpointTimeoutSeconds());
  }

  /**
   * Each device's gradient reducer: the ring itself for one device; else a sum over the rank's devices whose
   * device 0 then runs the ring.
   */
  private List<GradientReducer> reducers() {
    RingReducer global = new RingReducer(ring);
    if (devices.size() == 1) {
      return List.of(global);
    }
    LocalReducer local = new LocalReducer(devices.size(), global::sumInPlace, global::sumInPlace, ring,
        Duration.ofSeconds(settings.collectiveTimeoutSeconds()));
    List<GradientReducer> reducers = new ArrayList<>();
    for (int d = 0; d < devices.size(); d++) {
      reducers.add(new DeviceReducer(local, d, ring.rank() * devices.size() + d, ring.worldSize() * devices.size()));
    }
    return reducers;
  }

  private long studentParameters() {
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.student()), settings.student())) {
      return reader.config().parameterCount();
    }
  }

  private LlamaModel teacher(Device device) {
    String path = settings.teacher();
    DataType dtype = settings.teacherDtype().equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32;
    String fingerprint;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(path), path)) {
      fingerprint = Fingerprints.checkpoint(Storage.of(path), reader);
    }
    return ExecutorModels.get(path, fingerprint, device, dtype);
  }


  /** This rank's sequences of global step {@code step}: global batch slots {@code j ≡ rank (mod world)}. */
  private List<int[]> sequencesOf(OrderedSequences data, long usable, int step, int rank, int world) {
    List<int[]> batch = new ArrayList<>();
    for (int j = rank; j < settings.globalBatch(); j += world) {
      batch.add(data.get(((long) step * settings.globalBatch() + j) % usable));
    }
    return batch;
  }

  /**
   * A step's sequences in micro-batches, as the long ids the model takes.
   *
   * @throws BadInputException on an empty sequence or an id outside the student's vocabulary
   */
  private List<long[][]> microBatches(List<int[]> batch, int vocabSize, int step) {
    for (int[] ids : batch) {
      if (ids.length == 0) {
        throw new BadInputException(settings.trainTokens() + ": an empty row of input_ids in step " + (step + 1)
            + "; every row needs at least one token");
      }
      for (int t = 0; t < ids.length; t++) {
        if (ids[t] < 0 || ids[t] >= vocabSize) {
          throw new BadInputException(settings.trainTokens() + ": input_ids holds token id " + ids[t]
              + " at position " + t + " (a row of step " + (step + 1) + "), outside the student's vocab_size "
              + vocabSize + " (config.json); were the shards tokenized with another tokenizer?");
        }
      }
    }
    return inMicroBatches(batch).stream()
        .map(m -> m.stream().map(ids -> Arrays.stream(ids).asLongStream().toArray()).toArray(long[][]::new)).toList();
  }

  /** A step's items in consecutive micro-batches of {@code micro-batch}. */
  private <T> List<List<T>> inMicroBatches(List<T> batch) {
    List<List<T>> micro = new ArrayList<>();
    for (int i = 0; i < batch.size(); i += settings.microBatch()) {
      micro.add(batch.subList(i, Math.min(batch.size(), i + settings.microBatch())));
    }
    return micro;
  }

  /** Mean next-token cross-entropy of the student on the validation sequences, over all ranks. */
  private double validate(Replica replica, long[][] validation, int rank, int world) {
    LlamaModel student = replica.student;
    double[] sums = new double[2];
    try (Autograd.Scope off = Autograd.pause(); NDManager manager = NDManager.newBaseManager(replica.device)) {
      for (int i = rank; i < validation.length; i += world) {
        try (NDManager one = manager.newSubManager()) {
          NDArray ids = one.create(new long[][] {validation[i]});
          NDArray hidden = student.forwardHidden(ids);
          TokenLoss loss = LanguageModelLoss.crossEntropyChunked(hidden, student.lmHeadWeight(), ids,
              LanguageModelLoss.IGNORE_INDEX, settings.chunkTokens());
          sums[0] += loss.mean().getFloat() * loss.tokens();
          sums[1] += loss.tokens();
        }
      }
    }
    new RingReducer(ring).sumInPlace(sums);
    return sums[1] == 0 ? Double.NaN : sums[0] / sums[1];
  }

  /**
   * A cheap identity of the weights, which ranks compare to catch divergence; the rank's replicas must agree
   * on it first.
   */
  private static long fingerprint(List<Replica> replicas) {
    long lead = fingerprint(replicas.get(0).student);
    for (Replica replica : replicas.subList(1, replicas.size())) {
      if (fingerprint(replica.student) != lead) {
        throw new IllegalStateException("the student replica on " + replica.device
            + " diverged from the one on " + replicas.get(0).device);
      }
    }
    return lead;
  }

  private static long fingerprint(LlamaModel model) {
    long hash = 17;
    for (NDArray p : model.parameters().values()) {
      hash = 31 * hash + Arrays.hashCode(p.toFloatArray());
    }
    return hash;
  }

  private List<StepMetrics> existingMetrics(int upToStep) {
    if (upToStep == 0 || !storage.exists(settings.metrics())) {
      return new ArrayList<>();
    }
    return new ArrayList<>(StepMetrics.parseLines(storage.readText(settings.metrics()), settings.metrics()).stream()
        .filter(m -> m.step() <= upToStep).toList());
  }

  /** Rewrites the metrics file (small: one line per step) whole. */
  private void writeMetrics(List<StepMetrics> lines) {
    storage.replaceText(settings.metrics(), StepMetrics.toJsonLines(lines));
  }

  /** The trained student as an HF checkpoint in the dtype the student started in, tokenizer files copied. */
  private void writeFinal(LlamaModel student, LlamaConfig trained, String source) {
    String initial = Storage.resolve(settings.student(), CheckpointReader.CONFIG_FILE);
    String torchDtype = LlamaConfig.fromJson(Storage.of(initial).readText(initial), initial).torchDtype();
    LlamaConfig config = trained.withTorchDtype(torchDtype);
    DType dtype = DType.fromTorchDtype(torchDtype);
    Storage out = Storage.of(settings.output());
    try (CheckpointWriter writer = CheckpointWriter.create(out, settings.output(), config, dtype,
        CheckpointWriter.DEFAULT_MAX_SHARD_BYTES, true)) {
      for (String name : writer.tensorNames()) {
        writer.write(name, student.parameters().get(name).toFloatArray());
      }
      Storage from = Storage.of(settings.student());
      for (String file : CheckpointPruner.TOKENIZER_FILES) {
        String path = Storage.resolve(settings.student(), file);
        if (from.exists(path)) {
          writer.copyFile(from, path);
        }
      }
      writer.commit();
    }
    LOG.info("wrote the distilled student to {} ({}, from {})", settings.output(), dtype, source);
  }

  private static String f(double v) {
    return String.format("%.4f", v);
  }

  /** Tokens/s and ETA over the steps of this run (a resumed run counts from where it resumed). */
  private static final class Progress {
    private final long start = System.nanoTime();
    private final int firstStep;
    private final int totalSteps;
    private long lastTime = start;
    private long tokens;
    private int done;

    Progress(int firstStep, int totalSteps) {
      this.firstStep = firstStep;
      this.totalSteps = totalSteps;
    }

    /** Records a finished step; returns its tokens/s. */
    double step(long stepTokens) {
      long now = System.nanoTime();
      double rate = stepTokens / Math.max(1e-9, (now - lastTime) / 1e9);
      lastTime = now;
      tokens += stepTokens;
      done++;
      return rate;
    }

    double overallTokensPerSecond() {
      return tokens / Math.max(1e-9, (System.nanoTime() - start) / 1e9);
    }

    String eta() {
      double perStep = (System.nanoTime() - start) / 1e9 / Math.max(1, done);
      long seconds = Math.round(perStep * (totalSteps - firstStep - done));
      return String.format("%d:%02d:%02d", seconds / 3600, (seconds / 60) % 60, seconds % 60);
    }
  }
}
