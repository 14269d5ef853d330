package dev.distillery.jobs.distill;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.distill.HiddenStateLoss;
import dev.distillery.distill.LossSpec;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.DeviceNames;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.jobs.spark.TaskDevices;
import java.io.Serializable;

/**
 * The validated configuration of DistillJob, resolved to concrete paths; serializable so that it travels with the
 * barrier tasks.
 */
public record DistillSettings(
    String teacher, String student, String trainTokens, String validTokens, String output, String checkpoints,
    String metrics, int steps, int globalBatch, int microBatch, int worldSize, String loss, double kdWeight,
    double ceWeight, double temperature, double learningRate, double minLearningRate, int warmupSteps,
    double weightDecay, double beta1, double beta2, double clip, int chunkTokens, int checkpointEvery,
    int validateEvery, int validSequences, long seed, String teacherDtype, int collectiveTimeoutSeconds,
    boolean restart, double hiddenWeight, String hiddenLayerMap, String devices, boolean recomputeLayers,
    String teacherLogits, boolean shardOptimizer, boolean shardGradients, int keepCheckpoints,
    int checkpointTimeoutSeconds)
    implements Serializable {
  /** Paths made absolute on the driver, where the settings are made: the ranks run elsewhere. */
  public DistillSettings {
    teacher = Storage.absolute(teacher);
    student = Storage.absolute(student);
    trainTokens = Storage.absolute(trainTokens);
    validTokens = Storage.absolute(validTokens);
    output = Storage.absolute(output);
    checkpoints = Storage.absolute(checkpoints);
    metrics = Storage.absolute(metrics);
    teacherLogits = Storage.absolute(teacherLogits);
  }

  static final ConfigOption<String> TEACHER = StageOptions.TEACHER.optional()
      .doc("Teacher checkpoint (HF directory); required unless loss is 'ce'.");
  static final ConfigOption<String> STUDENT = ConfigOption.string("student")
      .doc("Checkpoint the student starts from (default RUN/student-init; for teacher correction, the teacher).");
  static final ConfigOption<String> TOKENS = StageOptions.TOKENS
      .doc("TokenizeJob output with train/ and valid/ Parquet shards (default RUN/tokens).");
  static final ConfigOption<String> OUTPUT = ConfigOption.string("output")
      .doc("Where the final student is written as an HF checkpoint (default RUN/student).");
  static final ConfigOption<String> CHECKPOINTS = ConfigOption.string("checkpoints")
      .doc("Directory of the resumable checkpoints (default RUN/checkpoints); give each training run its own.");
  static final ConfigOption<String> METRICS = ConfigOption.string("metrics")
      .doc("Per-step metrics, JSON Lines (default RUN/metrics/distill.jsonl); the report plots every "
          + "RUN/metrics/*.jsonl.");
  static final ConfigOption<Integer> STEPS = ConfigOption.integer("steps").defaultValue(100).atLeast(1)
      .doc("Optimisation steps.");
  static final ConfigOption<Integer> GLOBAL_BATCH = ConfigOption.integer("global-batch").defaultValue(8).atLeast(1)
      .doc("Sequences per step over all ranks; must be a multiple of world-size × micro-batch.");
  static final ConfigOption<Integer> MICRO_BATCH = ConfigOption.integer("micro-batch").defaultValue(2).atLeast(1)
      .doc("Sequences per forward/backward on one rank (gradient accumulation covers the rest).");
  static final ConfigOption<Integer> WORLD_SIZE = ConfigOption.integer("world-size").defaultValue(1).atLeast(1)
      .doc("Barrier tasks (ranks): one per executor on a cluster (spark.task.resource.gpu.amount = GPUs per "
          + "executor); in local mode they share the JVM.");
  static final ConfigOption<String> LOSS = ConfigOption.choice("loss", "kl", "reverse-kl", "ce", "kl+ce")
      .defaultValue("kl").doc("Training loss: forward KL(teacher‖student) on logits (Minitron), reverse KL, "
          + "cross-entropy on the labels only (teacher correction), or a weighted mix of KL and CE.");
  static final ConfigOption<Double> KD_WEIGHT = ConfigOption.decimal("kd-weight").defaultValue(1.0).atLeast(0)
      .doc("Weight of the KL term in 'kl+ce'.");
  static final ConfigOption<Double> CE_WEIGHT = ConfigOption.decimal("ce-weight").defaultValue(0.5).atLeast(0)
      .doc("Weight of the cross-entropy term in 'kl+ce'.");
  static final ConfigOption<Double> TEMPERATURE = ConfigOption.decimal("temperature").defaultValue(1.0)
      .greaterThan(0).doc("Softmax temperature of the KL term (its loss is scaled by T²).");
  static final ConfigOption<Double> HIDDEN_WEIGHT = ConfigOption.decimal("hidden-weight").defaultValue(0.0)
      .atLeast(0).doc("Weight of the intermediate hidden-state cosine loss (0 = off); for depth-pruned students, "
          + "whose hidden size equals the teacher's.");
  static final ConfigOption<String> HIDDEN_LAYER_MAP = ConfigOption.string("hidden-layer-map")
      .doc("Student→teacher layer pairs for the hidden-state loss, e.g. '0:0,7:15,15:31' (0-based).");
  static final ConfigOption<Double> LR = ConfigOption.decimal("lr").defaultValue(1e-4).greaterThan(0)
      .doc("Peak learning rate.");
  static final ConfigOption<Double> MIN_LR = ConfigOption.decimal("min-lr").defaultValue(1e-5).atLeast(0)
      .doc("Learning rate at the end of the cosine decay.");
  static final ConfigOption<Integer> WARMUP = ConfigOption.integer("warmup-steps").defaultValue(40).atLeast(0)
      .doc("Linear warm-up steps.");
  static final ConfigOption<Double> WEIGHT_DECAY = ConfigOption.decimal("weight-decay").defaultValue(0.01)
      .atLeast(0).doc("AdamW decoupled weight decay (matrices only; none on norms).");
  static final ConfigOption<Double> BETA1 = ConfigOption.decimal("beta1").defaultValue(0.9).atLeast(0)
      .doc("AdamW β1.");
  static final ConfigOption<Double> BETA2 = ConfigOption.decimal("beta2").defaultValue(0.95).atLeast(0)
      .doc("AdamW β2.");
  static final ConfigOption<Double> CLIP = ConfigOption.decimal("clip").defaultValue(1.0).atLeast(0)
      .doc("Global gradient-norm clipping threshold (0 = off).");
  static final ConfigOption<Integer> CHUNK = ConfigOption.integer("chunk-tokens").defaultValue(512).atLeast(1)
      .doc("Tokens per loss chunk: bounds the vocab-size logits alive at once.");
  static final ConfigOption<Integer> CHECKPOINT_EVERY = ConfigOption.integer("checkpoint-every").defaultValue(50)
      .atLeast(1).doc("Steps between resumable checkpoints (RUN/checkpoints/step-N).");
  static final ConfigOption<Integer> VALIDATE_EVERY = ConfigOption.integer("validate-every").defaultValue(25)
      .atLeast(1).doc("Steps between validation-loss measurements.");
  static final ConfigOption<Integer> VALID_SEQUENCES = ConfigOption.integer("valid-sequences").defaultValue(32)
      .atLeast(1).doc("Validation sequences (from the valid split) per measurement.");
  static final ConfigOption<Long> SEED = ConfigOption.longInteger("seed").defaultValue(1234L)
      .doc("Seed of the training-data order.");
  static final ConfigOption<String> TEACHER_DTYPE = ConfigOption.dtype("teacher-dtype", "float32", "float16")
      .defaultValue("float32").doc("Teacher precision: float16 halves its memory. On a GPU it computes in float16; "
          + "on the CPU, whose half-precision kernels are about a hundred times slower, in float32, each layer's "
          + "weights widened as the layer runs (the results of float32 arithmetic on the float16 weights).");
  static final ConfigOption<Integer> TIMEOUT = ConfigOption.integer("collective-timeout-seconds").defaultValue(300)
      .atLeast(1).doc("A rank waiting longer than this for a peer fails the stage instead of hanging.");
  static final ConfigOption<Integer> CHECKPOINT_TIMEOUT = ConfigOption.integer("checkpoint-timeout-seconds")
      .defaultValue(3600).atLeast(1).doc("How long ranks wait for each other around a checkpoint save and the final "
          + "write, instead of collective-timeout-seconds: every replica writes its share of the weights (and its "
          + "optimizer shard) into the checkpoint's staging directory, then rank 0 commits it while the others wait; "
          + "tens of GB on an object store can take minutes. A save slower than this fails the stage.");
  static final ConfigOption<Boolean> RESTART = ConfigOption.bool("restart").defaultValue(false)
      .doc("Ignore existing checkpoints and start from the student (by default a run resumes).");
  static final ConfigOption<String> DEVICES = ConfigOption.string("devices").defaultValue(TaskDevices.AUTO)
      .check(v -> v.trim().equals(TaskDevices.AUTO) || DeviceNames.isList(v),
          "auto or a comma list of " + DeviceNames.ACCEPTED)
      .doc("Devices each rank trains on: 'auto' (every GPU Spark assigned to the task, "
          + "spark.task.resource.gpu.amount, or the CPU when none) or a comma list of devices, e.g. gpu0,gpu1. "
          + "Each device holds a replica of the student and teacher and takes a share of the rank's micro-batches; "
          + "gradients are summed over the devices before the ring. cpu,cpu runs two replicas on the CPU, which "
          + "exercises that path but is no faster.");
  static final ConfigOption<Boolean> RECOMPUTE = ConfigOption.bool("recompute-layers").defaultValue(true)
      .doc("Keep only each decoder layer's input during the student's forward pass and recompute the layer in "
          + "backward: activation memory is one layer's intermediates plus layers x [tokens, hidden] instead of "
          + "every intermediate of every layer, for one more forward pass (about a third more compute per step); "
          + "same gradients. Set false for small models whose activations fit. Not applied with hidden-weight > 0 "
          + "(that loss hooks the layers' outputs).");

  static final ConfigOption<String> TEACHER_LOGITS = ConfigOption.string("teacher-logits")
      .doc("A teacher-logits table (RUN/teacher-logits, written by the teacher-logits job): the KD term is computed "
          + "from its stored top-k distributions plus tail bucket, and no teacher is loaded. Needs loss 'kl' or "
          + "'kl+ce' at temperature 1 and no hidden-state loss; the table must belong to these token shards (and to "
          + "'teacher', when it is also given).");

  static final ConfigOption<Boolean> SHARD_OPTIMIZER = ConfigOption.bool("shard-optimizer").defaultValue(false)
      .doc("Shard the AdamW moments over all replicas of the job (world-size x devices per rank, ZeRO stage 1): "
          + "gradients are reduce-scattered so each replica sums only its 1/N of every bucket, updates that part, "
          + "and the updated weights are all-gathered; optimizer memory per replica drops from 8 to 8/N bytes per "
          + "parameter for the same traffic as the all-reduce. Checkpoints hold one optimizer shard file per "
          + "replica, each written by its replica; a run resumes exactly with another world size, devices or "
          + "setting of this option. Same losses as unsharded within float rounding.");

  static final ConfigOption<Boolean> SHARD_GRADIENTS = ConfigOption.bool("shard-gradients").defaultValue(false)
      .doc("Also shard the gradients (ZeRO stage 2): each stage of the recomputed backward (the lm head, each "
          + "decoder layer from the top, the embeddings) is reduce-scattered as soon as its gradients exist, and a "
          + "replica keeps only its 1/N of the sums, so gradient memory per replica drops from 4 bytes per parameter "
          + "to 4/N plus one stage's. Needs shard-optimizer and recompute-layers (and so hidden-weight 0); the "
          + "reduce-scatter runs once per micro-batch instead of once per step. Same losses within float rounding; "
          + "checkpoints are those of shard-optimizer.");

  static final ConfigOption<Integer> KEEP_CHECKPOINTS = ConfigOption.integer("keep-checkpoints").defaultValue(3)
      .atLeast(0).doc("Committed resumable checkpoints kept: after each save, older committed ones beyond this many "
          + "are deleted (never the newest, which a resume uses); 0 keeps all. Three bound the disk (a flagship "
          + "checkpoint is ~54 GB) and leave two to fall back on if the newest is damaged.");

  /** The options of {@code distill}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("distill",
      "Distil (or fine-tune) a student on the token shards in a Spark barrier stage, synchronous data-parallel.",
      StageOptions.RUN, TEACHER, STUDENT, TOKENS, OUTPUT, CHECKPOINTS, METRICS, STEPS, GLOBAL_BATCH, MICRO_BATCH, WORLD_SIZE,
      LOSS, KD_WEIGHT, CE_WEIGHT, TEMPERATURE, HIDDEN_WEIGHT, HIDDEN_LAYER_MAP, LR, MIN_LR, WARMUP, WEIGHT_DECAY,
      BETA1, BETA2, CLIP, CHUNK, CHECKPOINT_EVERY, VALIDATE_EVERY,
      VALID_SEQUENCES, SEED, TEACHER_DTYPE, TIMEOUT, CHECKPOINT_TIMEOUT, RESTART, DEVICES, RECOMPUTE, TEACHER_LOGITS,
      SHARD_OPTIMIZER, SHARD_GRADIENTS,
      Preflight.OPTION, KEEP_CHECKPOINTS);

  /** Resolves defaults against the run directory and checks the options that depend on each other. */
  public static DistillSettings from(Config c) {
    String run = c.get(StageOptions.RUN);
    String loss = c.get(LOSS);
    String teacher = c.get(TEACHER);
    String teacherLogits = c.get(TEACHER_LOGITS);
    if (teacherLogits != null) {
      checkStoredTeacher(c, loss);
    } else if (!loss.equals("ce") && teacher == null) {
      throw new ConfigException("option 'teacher' is required with loss '" + loss + "' (or 'teacher-logits')");
    }
    int world = c.get(WORLD_SIZE);
    int global = c.get(GLOBAL_BATCH);
    int micro = c.get(MICRO_BATCH);
    if (global % (world * micro) != 0) {
      throw new ConfigException("global-batch " + global + " must be a multiple of world-size × micro-batch ("
          + world + " × " + micro + ")");
    }
    String devices = c.get(DEVICES).trim();
    if (!devices.equals(TaskDevices.AUTO)) {
      checkDeviceShare(global / world / micro, DeviceNames.parseList(devices).size(),
          "option 'devices' (" + devices + ")");
    }
    if (c.get(HIDDEN_WEIGHT) > 0 && (c.get(HIDDEN_LAYER_MAP) == null || teacher == null)) {
      throw new ConfigException("hidden-weight > 0 needs 'hidden-layer-map' and a 'teacher'");
    }
    if (c.get(HIDDEN_LAYER_MAP) != null) {
      try {
        HiddenStateLoss.parseLayerMap(c.get(HIDDEN_LAYER_MAP));
      } catch (IllegalArgumentException e) {
        throw new ConfigException("option 'hidden-layer-map': " + e.getMessage());
      }
    }
    if (c.get(SHARD_GRADIENTS)) {
      checkShardedGradients(c);
    }
    RunLayout layout = new RunLayout(run);
    String tokens = orDefault(c.get(TOKENS), layout.tokens());
    return new DistillSettings(teacher, orDefault(c.get(STUDENT), layout.studentInit()),
        Storage.resolve(tokens, "train"), Storage.resolve(tokens, "valid"), orDefault(c.get(OUTPUT), layout.student()),
        orDefault(c.get(CHECKPOINTS), layout.checkpoints()), orDefault(c.get(METRICS), layout.metrics("distill")),
        c.get(STEPS), global, micro,
        world, loss, c.get(KD_WEIGHT), c.get(CE_WEIGHT), c.get(TEMPERATURE), c.get(LR), c.get(MIN_LR), c.get(WARMUP),
        c.get(WEIGHT_DECAY), c.get(BETA1), c.get(BETA2), c.get(CLIP), c.get(CHUNK), c.get(CHECKPOINT_EVERY),
        c.get(VALIDATE_EVERY), c.get(VALID_SEQUENCES), c.get(SEED), c.get(TEACHER_DTYPE), c.get(TIMEOUT),
        c.get(RESTART), c.get(HIDDEN_WEIGHT), c.get(HIDDEN_LAYER_MAP), devices,
        c.get(RECOMPUTE), teacherLogits, c.get(SHARD_OPTIMIZER), c.get(SHARD_GRADIENTS), c.get(KEEP_CHECKPOINTS),
        c.get(CHECKPOINT_TIMEOUT));
  }

  /** Sharded gradients are reduced stage by stage in the recomputed backward of a sharded optimizer. */
  private static void checkShardedGradients(Config c) {
    if (!c.get(SHARD_OPTIMIZER)) {
      throw new ConfigException("option 'shard-gradients' needs 'shard-optimizer' true: a replica keeps the gradient "
          + "sums of its own optimizer shard only");
    }
    if (!c.get(RECOMPUTE)) {
      throw new ConfigException("option 'shard-gradients' needs 'recompute-layers' true: gradients are reduced "
          + "layer by layer in the recomputed backward");
    }
    if (c.get(HIDDEN_WEIGHT) > 0) {
      throw new ConfigException("option 'shard-gradients' needs 'hidden-weight' 0: the hidden-state loss turns layer "
          + "recomputation off");
    }
  }

  /** The losses stored distributions can give: forward KL at temperature 1, no teacher hidden states. */
  private static void checkStoredTeacher(Config c, String loss) {
    if (!loss.equals("kl") && !loss.equals("kl+ce")) {
      throw new ConfigException("option 'teacher-logits' needs loss 'kl' or 'kl+ce', not '" + loss + "': "
          + (loss.equals("ce") ? "cross-entropy uses no teacher" : "reverse KL needs the teacher's whole distribution"));
    }
    if (c.get(TEMPERATURE) != 1.0) {
      throw new ConfigException("option 'temperature' must be 1 with 'teacher-logits', not " + c.get(TEMPERATURE)
          + ": the table stores log-probabilities at temperature 1, and its tail bucket cannot be re-tempered "
          + "without the ids inside it");
    }
    if (c.get(HIDDEN_WEIGHT) > 0) {
      throw new ConfigException("option 'hidden-weight' must be 0 with 'teacher-logits': the table holds no "
          + "teacher hidden states");
    }
  }

  /**
   * Fails unless each of a rank's devices gets at least one of its micro-batches per step.
   *
   * @param where the option or task that chose the devices, for the message
   */
  static void checkDeviceShare(int microBatchesPerRank, int devices, String where) {
    if (microBatchesPerRank < devices) {
      throw new ConfigException(where + ": " + devices + " devices per rank, but global-batch / "
          + "(world-size × micro-batch) gives each rank only " + microBatchesPerRank + " micro-batch(es) per step; "
          + "raise global-batch or lower micro-batch");
    }
  }

  private static String orDefault(String value, String fallback) {
    return value != null ? value : fallback;
  }

  /** The loss these settings describe. */
  public LossSpec lossSpec() {
    return switch (loss) {
      case "kl" -> new LossSpec(LossSpec.Divergence.FORWARD_KL, 1, 0, temperature);
      case "reverse-kl" -> new LossSpec(LossSpec.Divergence.REVERSE_KL, 1, 0, temperature);
      case "ce" -> LossSpec.crossEntropy();
      default -> new LossSpec(LossSpec.Divergence.FORWARD_KL, kdWeight, ceWeight, temperature);
    };
  }

  /** The hidden-state loss these settings ask for, or null. */
  HiddenStateLoss hiddenStateLoss() {
    return hiddenWeight > 0 ? new HiddenStateLoss(hiddenWeight, HiddenStateLoss.parseLayerMap(hiddenLayerMap)) : null;
  }

  /** Identifies the settings a checkpoint was made with; resuming under different ones is refused. */
  String fingerprint() {
    String base = String.join("|", student, trainTokens, Integer.toString(globalBatch), loss,
        Double.toString(learningRate), Long.toString(seed), Integer.toString(steps));
    return teacherLogits == null ? base : base + "|teacher-logits=" + teacherLogits;
  }
}
