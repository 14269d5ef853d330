package dev.distillery.jobs.memory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.distill.LossSpec;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.DeviceNames;
import dev.distillery.jobs.distill.DistillSettings;
import dev.distillery.jobs.pipeline.PipelineCommand;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.jobs.tokenize.TokenizeSettings;
import dev.distillery.memory.MemoryPlan;
import dev.distillery.memory.MemoryPlanner;
import dev.distillery.memory.TrainingShape;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code distillery memory}: what one device of a distill stage holds, planned from the checkpoints' config.json and
 * safetensors headers and the stage's settings, without loading weights ({@link MemoryPlanner}).
 */
public final class MemoryCommand implements Command {
  static final ConfigOption<String> FILE = ConfigOption.string("file").required()
      .doc("A pipeline file (its distill stage, or --stage) or a distill config; also accepted as '--config FILE'. "
          + "Every distill option given on the command line overrides the file's.");
  static final ConfigOption<String> STAGE = ConfigOption.string("stage").defaultValue("distill")
      .doc("The pipeline stage to plan: distill, teacher-training, scratch or 'round-N distill'.");
  static final ConfigOption<String> DEVICE_MEMORY = ConfigOption.string("device-memory").defaultValue("80GB")
      .doc("Memory of one device, e.g. 80GB (10^9 bytes), 24GiB (2^30) or 141GB.");
  static final ConfigOption<Double> LINK_GBPS = ConfigOption.decimal("link-gbps").defaultValue(100.0).greaterThan(0)
      .doc("Bandwidth of each rank's ring link in gigabits per second, for the all-reduce time.");
  static final ConfigOption<Integer> DEVICES_PER_RANK = ConfigOption.integer("devices-per-rank").atLeast(1)
      .doc("Devices (replicas) per rank; default: the count in the stage's 'devices' list, else 1. The flagship "
          + "runs one rank per 8-GPU node: 8.");
  static final ConfigOption<String> DEVICE = ConfigOption.choice("device", "gpu", "cpu").defaultValue("gpu")
      .doc("What a device is: a GPU (the reduced gradients are copied onto it for the update) or the CPU (the "
          + "process; they stay in the ring's host buckets).");
  static final ConfigOption<Integer> SEQ_LENGTH = ConfigOption.integer("seq-length").atLeast(1)
      .doc("Training context (tokenize seq-length; rows are one token longer); default: the pipeline's tokenize "
          + "section.");
  static final ConfigOption<Boolean> JSON_OUTPUT = ConfigOption.bool("json").defaultValue(false)
      .doc("Print one JSON object (peak_bytes_per_device, device_memory_bytes, every item) instead of the table.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("memory",
      "Plan one device's memory for a distill stage (weights, gradients, optimizer, teacher, activations, logits, "
          + "buffers) and the ring traffic, from checkpoint headers only; also takes every distill option.",
      FILE, STAGE, DEVICE_MEMORY, LINK_GBPS, DEVICES_PER_RANK, DEVICE, SEQ_LENGTH, JSON_OUTPUT);
  private static final ConfigSchema COMMAND_LINE = withDistillOptions();
  /** The share of a device a plan should leave free (allocator fragmentation, CUDA context, libraries). */
  static final double HEADROOM = 0.2;
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern SIZE = Pattern.compile("(?i)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*([kmgt]i?b?|b)?\\s*");

  private final PipelineCommand pipeline;

  /** @param pipeline reads pipeline files into their stages' configurations */
  public MemoryCommand(PipelineCommand pipeline) {
    this.pipeline = pipeline;
  }

  private static ConfigSchema withDistillOptions() {
    List<ConfigOption<?>> options = new ArrayList<>(SCHEMA.options());
    for (ConfigOption<?> option : DistillSettings.SCHEMA.options()) {
      if (SCHEMA.options().stream().noneMatch(o -> o.key().equals(option.key()))) {
        options.add(option.optional());
      }
    }
    return new ConfigSchema(SCHEMA.name(), SCHEMA.summary(), options.toArray(ConfigOption[]::new));
  }

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public ConfigSchema commandLine() {
    return COMMAND_LINE;
  }

  @Override
  public void run(Config config, PrintStream out) throws IOException {
    String file = config.get(FILE);
    String text = read(file);
    JsonNode root = YAML.readTree(text);
    boolean isPipeline = root != null && root.isObject() && (root.has("corpus") || root.has("distill"));
    Map<String, Object> values = new LinkedHashMap<>();
    Integer seqLength = config.get(SEQ_LENGTH);
    Map<String, Object> planTarget = Map.of();
    String source = file;
    if (isPipeline) {
      String stage = config.get(STAGE);
      Config stageConfig = pipeline.stageConfig(text, file, stage).orElseThrow(() -> new ConfigException(
          "option 'stage': " + file + " has no stage '" + stage + "'"));
      values.putAll(stageConfig.effective());
      if (seqLength == null) {
        seqLength = pipeline.stageConfig(text, file, "tokenize").map(c -> c.get(TokenizeSettings.SEQ_LENGTH))
            .orElse(null);
      }
      planTarget = pipeline.stageConfig(text, file, "plan").map(Config::effective).orElse(Map.of());
      source = file + " stage '" + stage + "'";
    } else if (root != null && root.isObject()) {
      values.putAll(Config.values(root));
    }
    for (ConfigOption<?> option : COMMAND_LINE.options().subList(SCHEMA.options().size(),
        COMMAND_LINE.options().size())) { // the distill options
      if (config.isSet(option)) {
        values.put(option.key(), config.get(option));
      }
    }
    DistillSettings settings = DistillSettings.from(Config.resolve(DistillSettings.SCHEMA, values, source));
    if (seqLength == null) {
      throw new ConfigException("option 'seq-length' is required for a distill config (the tokenize seq-length)");
    }
    LossSpec loss = settings.lossSpec();
    boolean sharded = settings.shardOptimizer();
    // with stored teacher logits (teacher-logits) no teacher is loaded on the training devices
    boolean needsTeacher = (loss.needsTeacher() && settings.teacherLogits() == null) || settings.hiddenWeight() > 0;
    LlamaConfig teacher = needsTeacher ? modelConfig(settings.teacher(), "teacher", null, Map.of()) : null;
    LlamaConfig student = modelConfig(settings.student(), "student", teacher, planTarget);
    int devices = config.isSet(DEVICES_PER_RANK) ? config.get(DEVICES_PER_RANK)
        : settings.devices().trim().equals(TaskDevices.AUTO) ? 1 : DeviceNames.parseList(settings.devices()).size();
    int microBatchesPerRank = settings.globalBatch() / settings.worldSize() / settings.microBatch();
    if (microBatchesPerRank % devices != 0) {
      throw new ConfigException("world-size " + settings.worldSize() + " with devices-per-rank " + devices
          + " does not divide the step's work evenly: each rank has " + microBatchesPerRank + " micro-batch(es) for "
          + devices + " devices; choose global-batch a multiple of world-size x micro-batch x devices-per-rank");
    }
    int replicas = settings.worldSize() * devices;
    TrainingShape shape = new TrainingShape(student, teacher, settings.teacherDtype().equals("float16") ? 2 : 4,
        settings.microBatch(), microBatchesPerRank / devices, seqLength + 1, settings.chunkTokens(),
        LlamaModel.DEFAULT_QUERY_BLOCK, settings.recomputeLayers() && settings.hiddenWeight() == 0,
        loss.ceWeight() > 0, sharded, settings.shardGradients(), settings.worldSize(), replicas,
        config.get(DEVICE).equals("gpu"));
    if (sharded) {
      OptimizerShard.checkReplicas(student.parameterCount(), replicas, "world-size " + settings.worldSize()
          + " x devices-per-rank " + devices);
    }
    long deviceMemory = parseBytes(config.get(DEVICE_MEMORY));
    long oneLayer = MemoryPlanner.oneLayerBytes(shape);
    if (deviceMemory < oneLayer) {
      throw new ConfigException("option 'device-memory' (" + config.get(DEVICE_MEMORY) + ") cannot hold even one "
          + "decoder layer's training state and working set (" + gb(oneLayer) + ")");
    }
    MemoryPlan plan = MemoryPlanner.plan(shape);
    boolean canRecompute = settings.hiddenWeight() == 0;
    if (config.get(JSON_OUTPUT)) {
      out.println(json(plan, shape, deviceMemory, config.get(LINK_GBPS)));
    } else {
      print(out, source, plan, shape, deviceMemory, config.get(LINK_GBPS));
      verdict(out, plan, shape, deviceMemory, canRecompute);
    }
  }

  /**
   * The configuration of the model at {@code path} from its config.json (validated against the safetensors headers
   * when the weights are there); for a student a later stage writes, the teacher's shape with the plan's explicit
   * target sizes.
   */
  private static LlamaConfig modelConfig(String path, String role, LlamaConfig teacher, Map<String, Object> target) {
    Storage storage = Storage.of(path);
    String configFile = Storage.resolve(path, CheckpointReader.CONFIG_FILE);
    boolean present;
    try {
      present = storage.exists(configFile);
    } catch (RuntimeException e) { // e.g. a bucket without credentials here
      if (teacher == null || target.isEmpty()) {
        throw new ConfigException("option '" + role + "': cannot read " + configFile + ": " + e.getMessage());
      }
      present = false;
    }
    if (present) {
      boolean hasWeights = storage.exists(Storage.resolve(path, CheckpointReader.INDEX_FILE))
          || storage.exists(Storage.resolve(path, "model.safetensors"));
      if (!hasWeights) {
        return LlamaConfig.fromJson(storage.readText(configFile), configFile);
      }
      try (CheckpointReader reader = CheckpointReader.open(storage, path)) {
        return reader.config();
      }
    }
    if (teacher != null && (target.containsKey("target.hidden-size") || target.containsKey("target.ffn-size")
        || target.containsKey("target.layers") || target.containsKey("target.drop-layers"))) {
      int layers = target.containsKey("target.drop-layers") ? teacher.numHiddenLayers()
          - dev.distillery.prune.PruneTarget.parseLayers(String.valueOf(target.get("target.drop-layers"))).size()
          : size(target, "target.layers", teacher.numHiddenLayers());
      return teacher.withShape(size(target, "target.hidden-size", teacher.hiddenSize()),
          size(target, "target.ffn-size", teacher.intermediateSize()), layers, teacher.numAttentionHeads(),
          teacher.numKeyValueHeads(), teacher.headDim());
    }
    throw new ConfigException("option '" + role + "': no " + CheckpointReader.CONFIG_FILE + " at " + path
        + " (a directory with the model's config.json, safetensors headers optional, is enough)");
  }

  private static int size(Map<String, Object> target, String key, int otherwise) {
    Object value = target.get(key);
    return value == null ? otherwise : ((Number) value).intValue();
  }

  /** Bytes of a size such as 80GB, 80 GB, 24GiB, 512MiB or 1000000 (decimal units are powers of 10). */
  static long parseBytes(String text) {
    Matcher m = SIZE.matcher(text);
    if (!m.matches()) {
      throw new ConfigException("option 'device-memory': '" + text + "' is not a size such as 80GB or 24GiB");
    }
    String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
    int power = "bkmgt".indexOf(unit.charAt(0));
    double base = unit.contains("i") ? 1024 : 1000;
    return (long) (Double.parseDouble(m.group(1)) * Math.pow(base, power));
  }

  private static void print(PrintStream out, String source, MemoryPlan plan, TrainingShape shape, long deviceMemory,
      double gbps) {
    out.printf("Memory per device: %s%n", source);
    out.printf("  student %.2fB parameters (float32), teacher %s; rows of %d tokens, micro-batch %d, loss chunk %d, "
            + "query block %d%n", shape.student().parameterCount() / 1e9, shape.distils()
            ? String.format("%.2fB (%s)", shape.teacher().parameterCount() / 1e9, shape.teacherBytes() == 2
                ? "float16" : "float32") : "none", shape.rowTokens(), shape.microBatch(), shape.chunkTokens(),
        shape.queryBlock());
    out.printf("  %d ranks x %d devices = %d replicas (%s); optimizer %s; gradients %s; recomputation %s%n",
        shape.ranks(), shape.replicas() / shape.ranks(), shape.replicas(), shape.gpu() ? "gpu" : "cpu",
        shape.shardedOptimizer() ? "sharded" : "whole on every replica",
        shape.shardedGradients() ? "sharded" : "whole", shape.recompute() ? "on" : "off");
    plan.items().forEach((name, bytes) -> out.printf("  %-20s %10s%n", name.replace('_', ' '), gb(bytes)));
    out.printf("  %-20s %10s  (lasting %s + transients of the %s)%n", "peak", gb(plan.peak()), gb(plan.lasting()),
        plan.peakPhase());
    out.printf("  %-20s %10s  %.0f%% used, %.0f%% headroom%s%n", "device memory", gb(deviceMemory),
        100.0 * plan.peak() / deviceMemory, 100.0 - 100.0 * plan.peak() / deviceMemory,
        plan.peak() > deviceMemory ? "  DOES NOT FIT" : "");
    out.printf("  ring: each rank sends %s per step, %.2f s at %.0f Gb/s%n", gb(plan.sendBytesPerStep()),
        plan.allReduceSeconds(gbps), gbps);
  }

  /** Bytes a device needs for {@code peak} to leave {@link #HEADROOM} of it free. */
  static long neededForHeadroom(long peak) {
    return (long) Math.ceil(peak / (1 - HEADROOM));
  }

  /**
   * Whether the plan leaves {@link #HEADROOM} of the device free and, when not, what would: the options of the stage
   * that are off, and otherwise the device it needs.
   */
  private static void verdict(PrintStream out, MemoryPlan plan, TrainingShape shape, long deviceMemory,
      boolean canRecompute) {
    long needed = neededForHeadroom(plan.peak());
    if (needed <= deviceMemory) {
      out.printf("  fits with %.0f%% headroom%n", 100 * HEADROOM);
      return;
    }
    out.printf("  DOES NOT FIT with %.0f%% headroom: that needs %s per device%n", 100 * HEADROOM, gb(needed));
    boolean recompute = shape.recompute() || canRecompute;
    TrainingShape best = shape;
    MemoryPlan bestPlan = plan;
    if (!shape.shardedOptimizer() || !shape.shardedGradients() && recompute || !shape.recompute() && canRecompute) {
      best = shape.with(true, recompute, recompute);
      bestPlan = MemoryPlanner.plan(best);
      long peak = bestPlan.peak();
      out.printf("  with%s%s%s: %s, %.0f%% headroom%n", shape.shardedOptimizer() ? "" : " --shard-optimizer true",
          shape.shardedGradients() || !recompute ? "" : " --shard-gradients true",
          shape.recompute() || !canRecompute ? "" : " --recompute-layers true", gb(peak),
          100.0 - 100.0 * peak / deviceMemory);
      if (neededForHeadroom(peak) <= deviceMemory) {
        return;
      }
      needed = neededForHeadroom(peak);
    }
    long weightsAndGradients = bestPlan.studentWeights() + bestPlan.gradients();
    if (weightsAndGradients > (1 - HEADROOM) * deviceMemory) {
      out.printf("  the float32 weights%s alone are %s (%.0f%% of the device): it needs a device of %s%s,%n"
          + "    or %seach replica split over GPUs (tensor parallelism), which distill does not do%n",
          best.shardedGradients() ? "" : " and gradients", gb(weightsAndGradients),
          100.0 * weightsAndGradients / deviceMemory, gb(needed), needed <= 80e9 ? " (e.g. an 80 GB H100)"
              : needed <= 141e9 ? " (e.g. a 141 GB H200)" : "", best.shardedGradients() ? ""
              : "the gradients sharded (--shard-gradients true, which needs layer recomputation) or ");
    } else {
      out.printf("  it needs a device of %s, or shorter rows (seq-length), a smaller micro-batch or chunk-tokens%n",
          gb(needed));
    }
  }

  private static String json(MemoryPlan plan, TrainingShape shape, long deviceMemory, double gbps) {
    ObjectNode node = JSON.createObjectNode();
    node.put("peak_bytes_per_device", plan.peak());
    node.put("device_memory_bytes", deviceMemory);
    node.put("fits", plan.peak() <= deviceMemory);
    node.put("headroom_fraction", 1.0 - (double) plan.peak() / deviceMemory);
    node.put("fits_with_headroom", neededForHeadroom(plan.peak()) <= deviceMemory);
    node.put("device_memory_for_headroom_bytes", neededForHeadroom(plan.peak()));
    node.put("peak_phase", plan.peakPhase().toString());
    plan.items().forEach((name, bytes) -> node.put(name + "_bytes", bytes));
    node.put("lasting_bytes", plan.lasting());
    node.put("student_parameters", shape.student().parameterCount());
    node.put("teacher_parameters", shape.distils() ? shape.teacher().parameterCount() : 0);
    node.put("replicas", shape.replicas());
    node.put("sharded_optimizer", shape.shardedOptimizer());
    node.put("sharded_gradients", shape.shardedGradients());
    node.put("recompute_layers", shape.recompute());
    node.put("row_tokens", shape.rowTokens());
    node.put("send_bytes_per_step", plan.sendBytesPerStep());
    node.put("all_reduce_seconds", plan.allReduceSeconds(gbps));
    node.put("link_gbps", gbps);
    return node.toString();
  }

  private static String gb(long bytes) {
    return String.format("%.2f GB", bytes / 1e9);
  }

  private static String read(String file) {
    try {
      return Files.readString(Path.of(file), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException("cannot read '" + file + "': " + e);
    }
  }
}
